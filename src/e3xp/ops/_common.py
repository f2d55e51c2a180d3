"""Shared input handling of the operations: IrrepsArray checks, backend inference, broadcasting,
and what the functional layers have in common (immutability, the parameter dict)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..backends import backend_of
from ..irreps_array import IrrepsArray


def as_irreps_array(x, what: str) -> IrrepsArray:
    if not isinstance(x, IrrepsArray):
        raise TypeError(
            f"{what} must be an IrrepsArray, got {type(x).__module__}.{type(x).__qualname__}; "
            "wrap the array with e3xp.IrrepsArray(irreps, array)"
        )
    return x


def broadcast_pair(x: IrrepsArray, y: IrrepsArray, what: str):
    """``(backend, a, b)``: the two arrays on one backend, same dtype, same leading shape."""
    backend = backend_of(x.array, y.array)
    xp = backend.xp
    a, b = x.array, y.array
    if a.dtype != b.dtype:
        dtype = xp.result_type(a, b)
        a, b = xp.astype(a, dtype), xp.astype(b, dtype)
    la, lb = tuple(a.shape[:-1]), tuple(b.shape[:-1])
    if la != lb:
        try:
            lead = tuple(np.broadcast_shapes(la, lb))
        except ValueError:
            raise ValueError(
                f"{what}: the leading shapes {la} and {lb} of the two inputs do not broadcast"
            ) from None
        a = xp.broadcast_to(a, lead + (a.shape[-1],))
        b = xp.broadcast_to(b, lead + (b.shape[-1],))
    return backend, a, b


# --------------------------------------------------------------------------- layers


class FrozenLayer:
    """Base of the functional layers (``Linear`` and the weighted tensor products).

    A layer is a value: its configuration is fixed in ``__init__`` and nothing
    else is ever stored on it, so sharing one between threads, jitted functions
    or processes cannot leak state from one call into the next. Subclasses set
    their attributes once with :meth:`_set` and describe themselves by
    :meth:`_init_args`, the (canonical) constructor arguments, which give

    * read-only attributes (assigning or deleting one raises ``AttributeError``);
    * ``==`` and ``hash`` by configuration;
    * pickling, ``copy.copy`` and ``copy.deepcopy`` by calling the constructor
      again (the default slot/dict restore would go through the refusing
      ``__setattr__``; rebuilding also re-derives the plan instead of storing it).
    """

    def _set(self, **attributes) -> None:
        for name, value in attributes.items():
            object.__setattr__(self, name, value)

    def _init_args(self) -> tuple:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def __setattr__(self, name, value):
        raise AttributeError(
            f"{type(self).__name__} is immutable: cannot set {name!r}; build a new layer instead"
        )

    def __delattr__(self, name):
        raise AttributeError(f"{type(self).__name__} is immutable: cannot delete {name!r}")

    def __reduce__(self):
        return (type(self), self._init_args())

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self._init_args() == other._init_args()

    def __hash__(self) -> int:
        return hash((type(self).__qualname__, self._init_args()))


def init_from_spec(spec, seed, x: IrrepsArray) -> dict:
    """Initial parameters of a :class:`~e3xp.core.layer_spec.LayerSpec` on ``x``'s backend, device, dtype.

    ``"normal"`` parameters are drawn by the backend from ``seed`` (an int gives the
    same numbers on every backend); a spec with several of them draws one vector
    and splits it, so no two share samples.
    """
    backend = x.backend
    normal = [p for p in spec.params if p.init == "normal"]
    total = sum(p.size for p in normal)
    draws = backend.normal(seed, (total,), dtype=x.dtype, device=x.device) if normal else None
    out, at = {}, 0
    for p in spec.params:
        if p.init == "normal":
            a = draws[at : at + p.size]
            at += p.size
            a = backend.xp.reshape(a, p.shape) if p.std == 1.0 else p.std * backend.xp.reshape(a, p.shape)
        elif p.init == "zeros":
            a = backend.xp.zeros(p.shape, dtype=x.dtype, device=x.device)
        else:
            a = backend.xp.ones(p.shape, dtype=x.dtype, device=x.device)
        out[p.name] = a
    return out


_OLD_PARAM_KEYS = ("w", "b")  # the names before e3nn's "weight" / "bias"


def _params_form(keys: tuple) -> str:
    return "{" + ", ".join(f"'{k}': ..." for k in keys) + "}"


def param_array(value, name: str, what: str):
    """``value`` if it is a plain array (not an IrrepsArray, list, scalar ...), else TypeError."""
    if isinstance(value, IrrepsArray):
        raise TypeError(f"{what}: {name} must be a plain array, got an IrrepsArray ({value.irreps})")
    if getattr(value, "shape", None) is None or getattr(value, "dtype", None) is None:
        raise TypeError(
            f"{what}: {name} must be an array, got {type(value).__name__}; convert it with the "
            "inputs' framework (e.g. xp.asarray)"
        )
    return value


def unpack_params(params, keys: tuple, what: str, extra_hint: str = "") -> tuple:
    """The arrays ``params[k]`` for ``k`` in ``keys``, from a dict as a layer's ``init`` returns.

    Anything else is a TypeError that says what to pass: a bare array, the old
    ``{"w", "b"}`` keys, a missing or unexpected key, a value that is not an array.
    """
    form = _params_form(keys)
    if not isinstance(params, Mapping):
        got = f"a bare {type(params).__name__}" if hasattr(params, "shape") else type(params).__name__
        wrap = "{'weight': weights}" if keys == ("weight",) else form
        raise TypeError(f"{what}: params must be the dict {form} that init returns, got {got}; pass {wrap}")
    old = [k for k in _OLD_PARAM_KEYS if k in params]
    if old:
        raise TypeError(
            f"{what}: params has the old keys {', '.join(repr(k) for k in old)}; the parameters are now "
            f"named as in e3nn: pass {form} (what init returns)"
        )
    for k in keys:
        if k not in params:
            raise TypeError(f"{what}: params[{k!r}] is missing; expected {form} (what init returns)")
    extra = sorted(map(str, set(params) - set(keys)))
    if extra:
        raise TypeError(f"{what}: unexpected key {extra[0]!r} in params; expected {form}{extra_hint}")
    return tuple(param_array(params[k], f"params[{k!r}]", what) for k in keys)
