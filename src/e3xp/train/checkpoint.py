"""Framework-neutral checkpoints: one ``.npz`` written atomically.

Contents: the parameters (``params/<path>``), Adam's state (``opt/step``,
``opt/m/<path>``, ``opt/v/<path>``) as NumPy arrays, and a JSON string ``meta``
with the :class:`ModelConfig` (species, energy shift and scale included), the
global step, the training options and the loss history. The parameter dict is
the same on every framework, so a checkpoint written by torch loads on JAX.

>>> import tempfile, os
>>> from e3xp.train.config import ModelConfig
>>> from e3xp.train.model import init_params
>>> cfg = ModelConfig(hidden_irreps="4x0e", num_layers=1, lmax=0)
>>> path = os.path.join(tempfile.mkdtemp(), "checkpoint.npz")
>>> save_checkpoint(path, params=init_params(cfg, 0), config=cfg, step=3)
>>> ck = load_checkpoint(path)
>>> ck.step, ck.config == cfg, ck.params["readout"]["weight"].shape
(3, True, (4,))
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile

import numpy as np

from .config import ModelConfig
from .model import flatten_tree, params_to_backend, unflatten_tree

__all__ = ["Checkpoint", "save_checkpoint", "load_checkpoint"]

FORMAT = "e3xp.train.checkpoint/1"


@dataclasses.dataclass
class Checkpoint:
    """A loaded checkpoint: ``params`` (nested dict, NumPy or the requested backend)."""

    params: dict
    config: ModelConfig
    step: int
    opt_state: dict | None
    meta: dict


def save_checkpoint(path, *, params: dict, config: ModelConfig, step: int, opt_state: dict | None = None,
                    meta: dict | None = None) -> None:
    """Write ``path`` atomically (temporary file in the same folder, then ``os.replace``)."""
    arrays = {f"params/{k}": np.asarray(v) for k, v in flatten_tree(params).items()}
    if opt_state is not None:
        arrays["opt/step"] = np.asarray(int(opt_state["step"]))
        for which in ("m", "v"):
            arrays.update({f"opt/{which}/{k}": np.asarray(v) for k, v in opt_state[which].items()})
    info = {"format": FORMAT, "config": config.to_dict(), "step": int(step), **(meta or {})}
    arrays["meta"] = np.asarray(json.dumps(info))
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".checkpoint-", suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # readers see the old file or the new one, never half of one
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_checkpoint(path, backend: str | None = None, dtype: str = "float64", device=None) -> Checkpoint:
    """Read a checkpoint; ``backend`` ("torch", "jax", "numpy") converts the parameters.

    Raises
    ------
    ValueError
        Not a checkpoint of this format.
    """
    with np.load(path, allow_pickle=False) as z:
        if "meta" not in z.files:
            raise ValueError(f"{path}: not an e3xp.train checkpoint (no 'meta' entry)")
        meta = json.loads(str(z["meta"]))
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: checkpoint format {meta.get('format')!r}, expected {FORMAT!r}")
        params = unflatten_tree({k[len("params/"):]: z[k] for k in z.files if k.startswith("params/")})
        opt_state = None
        if "opt/step" in z.files:
            opt_state = {"step": int(z["opt/step"])}
            for which in ("m", "v"):
                pre = f"opt/{which}/"
                opt_state[which] = {k[len(pre):]: z[k] for k in z.files if k.startswith(pre)}
    if backend is not None:
        if backend == "jax" and dtype == "float64":
            from .jax_backend import enable_dtype

            enable_dtype(dtype)
        params = params_to_backend(params, backend, dtype=dtype, device=device)
    config = ModelConfig.from_dict(meta.pop("config"))
    return Checkpoint(params, config, int(meta.pop("step")), opt_state, meta)
