"""PyTorch wrapper and trainer of the potential (imports torch; load it lazily).

:class:`TorchPotential` is a ``torch.nn.Module`` whose parameters are
``nn.Parameter`` leaves of a ``ModuleDict`` / ``ParameterDict`` tree mirroring the
NumPy parameter dict, so ``state_dict``, ``.to()`` and optimizers work as usual;
its forward is the framework-neutral :func:`e3xp.train.model.energy`.

>>> import torch
>>> from e3xp.train.config import ModelConfig
>>> from e3xp.train.data import toy_batch
>>> cfg = ModelConfig(hidden_irreps="4x0e+2x1o", num_layers=1, lmax=1)
>>> pot = TorchPotential(cfg, seed=0)
>>> e, f = pot.energy_and_forces(batch_to_torch(toy_batch()))
>>> tuple(e.shape), tuple(f.shape)
((2,), (8, 3))
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from . import model
from .loss import DEFAULT_ENERGY_WEIGHT, DEFAULT_FORCE_WEIGHT, loss as loss_fn

__all__ = ["TorchPotential", "TorchTrainer", "batch_to_torch"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def batch_to_torch(batch: dict, dtype: str = "float64", device=None) -> dict:
    """NumPy batch -> torch tensors (floats in ``dtype``, indices int64)."""
    out = {}
    for k, v in batch.items():
        v = np.asarray(v)
        t = torch.as_tensor(v, dtype=_DTYPES[dtype] if v.dtype.kind == "f" else torch.int64)
        out[k] = t.to(device) if device is not None else t
    return out


def _to_module(tree: dict, dtype, device):
    if all(isinstance(v, dict) for v in tree.values()):
        return nn.ModuleDict({k: _to_module(v, dtype, device) for k, v in tree.items()})
    return nn.ParameterDict(
        # torch.tensor copies: a Parameter must never alias (and Adam mutate) the caller's NumPy array
        {k: nn.Parameter(torch.tensor(np.array(v), dtype=dtype, device=device)) for k, v in tree.items()}
    )


def _to_tree(mod) -> dict:
    if isinstance(mod, nn.ModuleDict):
        return {k: _to_tree(m) for k, m in mod.items()}
    return {k: p for k, p in mod.items()}


class TorchPotential(nn.Module):
    """The potential as a ``torch.nn.Module``; ``forward(batch)`` returns energies per graph.

    Parameters
    ----------
    config : ModelConfig
    params : dict of NumPy arrays, optional
        Default: :func:`e3xp.train.model.init_params` of ``seed``.
    seed : int
    dtype : "float32" or "float64"
    device : torch device, optional
    """

    def __init__(self, config, params=None, seed: int = 0, dtype: str = "float64", device=None):
        super().__init__()
        self.config = config
        params = model.init_params(config, seed) if params is None else params
        self.params = _to_module(params, _DTYPES[dtype], device)

    def param_tree(self) -> dict:
        """The parameters as a nested dict of ``nn.Parameter`` (the layout of :func:`model.init_params`)."""
        return _to_tree(self.params)

    def forward(self, batch: dict):
        return model.energy(self.param_tree(), batch, self.config)

    def energy_and_forces(self, batch: dict, create_graph: bool = False):
        """``(energy per graph, forces = -dE/dpositions)``; ``create_graph=True`` to train on forces."""
        pos = batch["positions"].detach().requires_grad_(True)
        e = self.forward({**batch, "positions": pos})
        (g,) = torch.autograd.grad(e.sum(), pos, create_graph=create_graph)
        return e, -g


def _flat(tree: dict):
    return model.flatten_tree(tree).items()


class TorchTrainer:
    """Adam on :class:`TorchPotential` with the energy + force loss.

    ``step(batch)`` returns the loss before the update; the optimizer state moves
    in and out as NumPy (``{"step", "m", "v"}``, the trees of Adam's first and
    second moments) so checkpoints are framework-neutral.
    """

    def __init__(self, config, params, *, lr=1e-2, dtype="float64", device=None,
                 energy_weight=DEFAULT_ENERGY_WEIGHT, force_weight=DEFAULT_FORCE_WEIGHT,
                 opt_state=None, betas=(0.9, 0.999), eps=1e-8):
        self.config, self.dtype, self.device = config, dtype, device
        self.weights = (energy_weight, force_weight)
        self.module = TorchPotential(config, params, dtype=dtype, device=device)
        self.names = [n for n, _ in _flat(self.module.param_tree())]
        self.opt = torch.optim.Adam(self._param_list(), lr=lr, betas=betas, eps=eps)
        if opt_state is not None:
            self.load_opt_state(opt_state)

    def _param_list(self):
        return [p for _, p in _flat(self.module.param_tree())]

    def step(self, batch_np: dict) -> float:
        batch = batch_to_torch(batch_np, self.dtype, self.device)
        self.opt.zero_grad(set_to_none=True)
        e, f = self.module.energy_and_forces(batch, create_graph=True)
        loss = loss_fn(e, f, batch, *self.weights)
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def predict(self, batch_np: dict):
        """NumPy ``(energies, forces)`` of a padded batch."""
        batch = batch_to_torch(batch_np, self.dtype, self.device)
        e, f = self.module.energy_and_forces(batch)
        return e.detach().cpu().numpy().astype(np.float64), f.detach().cpu().numpy().astype(np.float64)

    def params_numpy(self) -> dict:
        return model.params_to_numpy(self.module.param_tree())

    def opt_state_numpy(self) -> dict:
        m, v, step = {}, {}, 0
        for name, p in zip(self.names, self._param_list()):
            st = self.opt.state.get(p, {})
            step = int(st["step"]) if "step" in st else 0
            m[name] = st["exp_avg"].detach().cpu().numpy() if st else np.zeros(tuple(p.shape))
            v[name] = st["exp_avg_sq"].detach().cpu().numpy() if st else np.zeros(tuple(p.shape))
        return {"step": step, "m": m, "v": v}

    def load_opt_state(self, state: dict):
        if int(state["step"]) == 0:
            return
        for name, p in zip(self.names, self._param_list()):
            self.opt.state[p] = {
                "step": torch.tensor(float(state["step"])),
                "exp_avg": torch.as_tensor(state["m"][name], dtype=p.dtype, device=p.device).clone(),
                "exp_avg_sq": torch.as_tensor(state["v"][name], dtype=p.dtype, device=p.device).clone(),
            }
