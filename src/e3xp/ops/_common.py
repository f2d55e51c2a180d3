"""Shared input handling of the operations: IrrepsArray checks, backend inference, broadcasting."""

from __future__ import annotations

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
