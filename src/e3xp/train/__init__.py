"""Train an equivariant interatomic potential with e3xp on PyTorch or JAX.

Modules (each does one thing; only ``torch_backend`` / ``jax_backend`` import a
framework, and only when used, so ``import e3xp.train`` needs neither):

* :mod:`.config` -- :class:`ModelConfig`, the JSON description of a model;
* :mod:`.model` -- the NequIP-style potential, one framework-neutral forward;
* :mod:`.data` -- ASE files, the embedded Cu-Au dataset, padded batches;
* :mod:`.loss` -- energy-per-atom + force MSE;
* :mod:`.torch_backend`, :mod:`.jax_backend` -- nn.Module / flax Module and trainers;
* :mod:`.checkpoint` -- atomic framework-neutral checkpoints;
* :mod:`.loop` -- the training loop, metrics and plots;
* :mod:`.cli` -- ``python -m e3xp train`` and ``train-demo``;
* :mod:`.calculator` -- the ASE calculator and the NVE drift check.

>>> from e3xp.train import ModelConfig
>>> ModelConfig().r_max
4.0
"""

from .config import ModelConfig

__all__ = ["ModelConfig"]
