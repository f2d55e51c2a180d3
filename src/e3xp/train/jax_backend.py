"""JAX / Flax wrapper and trainer of the potential (imports jax, flax, optax; load lazily).

:class:`FlaxPotential` is a ``flax.linen`` Module whose parameters are created by
``self.param`` from the NumPy initialisation (:func:`e3xp.train.model.init_params`),
so ``module.init`` gives the same numbers as the torch wrapper; its ``__call__`` is
the framework-neutral :func:`e3xp.train.model.energy`.

>>> import jax
>>> from e3xp.train.config import ModelConfig
>>> from e3xp.train.data import toy_batch
>>> cfg = ModelConfig(hidden_irreps="4x0e+2x1o", num_layers=1, lmax=1)
>>> mod = FlaxPotential(cfg, seed=0, dtype="float32")
>>> variables = mod.init(jax.random.PRNGKey(0), batch_to_jax(toy_batch(), "float32"))
>>> mod.apply(variables, batch_to_jax(toy_batch(), "float32")).shape
(2,)
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import model
from .config import ModelConfig
from .loss import DEFAULT_ENERGY_WEIGHT, DEFAULT_FORCE_WEIGHT, loss as loss_fn

__all__ = ["FlaxPotential", "JaxTrainer", "batch_to_jax", "enable_dtype"]


def enable_dtype(dtype: str):
    """float64 on JAX needs ``jax_enable_x64`` (e3xp refuses a silent downcast)."""
    if dtype == "float64" and not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)


def batch_to_jax(batch: dict, dtype: str = "float64", device=None) -> dict:
    """NumPy batch -> JAX arrays (floats in ``dtype``, indices int32)."""
    enable_dtype(dtype)
    out = {}
    for k, v in batch.items():
        v = np.asarray(v)
        out[k] = jnp.asarray(v, dtype=dtype if v.dtype.kind == "f" else jnp.int32)
        if device is not None:
            out[k] = jax.device_put(out[k], device)
    return out


@functools.lru_cache(maxsize=8)
def _numpy_init(config: ModelConfig, seed: int) -> dict:
    return model.init_params(config, seed)


class FlaxPotential(nn.Module):
    """The potential as a ``flax.linen.Module``: ``apply(variables, batch)`` -> energies per graph."""

    config: ModelConfig
    seed: int = 0
    dtype: str = "float64"

    @nn.compact
    def __call__(self, batch: dict):
        enable_dtype(self.dtype)
        names = list(_numpy_init(self.config, self.seed))
        # each top-level entry is one flax param holding a sub-tree; the values are the
        # NumPy init of `seed` (the PRNG key is ignored), so torch and JAX start equal
        params = {
            k: self.param(k, lambda _key, k=k: model.tree_map(lambda a: jnp.asarray(a, dtype=self.dtype),
                                                              _numpy_init(self.config, self.seed)[k]))
            for k in names
        }
        return model.energy(params, batch, self.config)


class JaxTrainer:
    """optax.adam on :class:`FlaxPotential` with the energy + force loss (jitted step).

    Same interface as :class:`e3xp.train.torch_backend.TorchTrainer`.
    """

    def __init__(self, config, params, *, lr=1e-2, dtype="float64", device=None,
                 energy_weight=DEFAULT_ENERGY_WEIGHT, force_weight=DEFAULT_FORCE_WEIGHT,
                 opt_state=None, betas=(0.9, 0.999), eps=1e-8, jit=True):
        enable_dtype(dtype)
        self.config, self.dtype = config, dtype
        self.device = jax.devices(device)[0] if isinstance(device, str) else device
        self.module = FlaxPotential(config, dtype=dtype)
        self.params = self._put(model.tree_map(lambda a: jnp.asarray(a, dtype=dtype), params))
        self.tx = optax.adam(lr, b1=betas[0], b2=betas[1], eps=eps)
        self.opt_state = self.tx.init(self.params)
        if opt_state is not None:
            self.load_opt_state(opt_state)
        weights = (energy_weight, force_weight)
        module, tx = self.module, self.tx

        def energy_and_forces(p, batch):
            def total(pos):
                e = module.apply({"params": p}, {**batch, "positions": pos})
                return e.sum(), e

            g, e = jax.grad(total, has_aux=True)(batch["positions"])
            return e, -g

        def objective(p, batch):
            e, f = energy_and_forces(p, batch)
            return loss_fn(e, f, batch, *weights)

        def step(p, s, batch):
            value, grads = jax.value_and_grad(objective)(p, batch)
            updates, s = tx.update(grads, s, p)
            return optax.apply_updates(p, updates), s, value

        wrap = jax.jit if jit else (lambda f: f)
        self._step = wrap(step)
        self._predict = wrap(energy_and_forces)

    def _put(self, tree):
        return jax.device_put(tree, self.device) if self.device is not None else tree

    def step(self, batch_np: dict) -> float:
        batch = batch_to_jax(batch_np, self.dtype, self.device)
        self.params, self.opt_state, value = self._step(self.params, self.opt_state, batch)
        return float(value)

    def predict(self, batch_np: dict):
        e, f = self._predict(self.params, batch_to_jax(batch_np, self.dtype, self.device))
        return np.asarray(e, dtype=np.float64), np.asarray(f, dtype=np.float64)

    def params_numpy(self) -> dict:
        return model.params_to_numpy(self.params)

    def _adam_state(self):
        (adam, *_rest) = self.opt_state
        return adam

    def opt_state_numpy(self) -> dict:
        adam = self._adam_state()
        return {"step": int(adam.count), "m": model.flatten_tree(model.params_to_numpy(adam.mu)),
                "v": model.flatten_tree(model.params_to_numpy(adam.nu))}

    def load_opt_state(self, state: dict):
        adam, *rest = self.opt_state
        conv = lambda t: self._put(model.tree_map(lambda a: jnp.asarray(a, dtype=self.dtype), model.unflatten_tree(t)))  # noqa: E731
        adam = adam._replace(count=jnp.asarray(int(state["step"]), dtype=adam.count.dtype),
                             mu=conv(state["m"]), nu=conv(state["v"]))
        self.opt_state = (adam, *rest)
