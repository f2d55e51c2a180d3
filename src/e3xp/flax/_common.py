"""What the flax modules share: input handling, parameter specs checked against the params."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..core.irreps import Irreps
from ..irreps_array import IrrepsArray

_ELEMENT_PATH = {"element": 0.0, "path": 1.0}


def normalization_exponent(value, name: str, what: str, default: str) -> float:
    """e3nn-jax's ``{"element": 0.0, "path": 1.0}`` (or a number); None reads ``e3xp.config(default)``."""
    if value is None:
        from ..e3nn_config import config

        value = config(default)
    if isinstance(value, str):
        if value not in _ELEMENT_PATH:
            raise ValueError(f"{what}: {name}={value!r} must be 'element', 'path' or a number")
        return _ELEMENT_PATH[value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what}: {name}={value!r} must be 'element', 'path' or a number")
    return float(value)


def to_irreps_array(x, what: str) -> IrrepsArray:
    """An e3xp IrrepsArray of JAX arrays from an IrrepsArray, a JAX array (``Nx0e``) or an e3nn-jax IrrepsArray."""
    if isinstance(x, IrrepsArray):
        if isinstance(x.array, jax.Array):
            return x
        # e.g. NumPy arrays (what e3xp.normal makes by default): flax modules compute in JAX
        return IrrepsArray(x.irreps, jnp.asarray(x.array), zero_flags=x.zero_flags)
    irreps = getattr(x, "irreps", None)
    array = getattr(x, "array", None)
    if irreps is not None and array is not None:  # e3nn-jax's IrrepsArray (or alike)
        return IrrepsArray(Irreps(str(irreps)), array)
    if getattr(x, "shape", None) is None or getattr(x, "dtype", None) is None:
        raise TypeError(f"{what} must be an IrrepsArray or an array, got {type(x).__name__}")
    x = jnp.asarray(x)
    if x.ndim == 0:
        raise ValueError(f"{what}: a scalar (shape ()) has no irreps axis; give it shape (..., n)")
    if x.dtype.kind in "biu":
        x = x.astype(jnp.float32)
    return IrrepsArray(Irreps(f"{x.shape[-1]}x0e"), x)


def check_params(module, spec, what: str, collection: str = "params") -> None:
    """When applying (not initialising), check the module's ``params`` against ``spec``.

    Raises a ValueError naming the key and both shapes (e.g. a checkpoint of another
    irreps configuration), or naming the missing / unexpected key and listing what
    the params hold. Sub-modules' entries (dicts) are not this module's parameters.
    """
    if module.is_initializing():
        return
    present = {k: v for k, v in module.variables.get(collection, {}).items() if hasattr(v, "shape")}
    path = "/".join(module.scope.path) or "<root>"
    try:
        spec.check(present, f"{what} (module {path}, {collection})")
    except KeyError as e:
        held = ", ".join(f"{k!r} {tuple(v.shape)}" for k, v in sorted(present.items())) or "nothing"
        raise ValueError(f"{e.args[0]}; the {collection} hold {held}") from None
