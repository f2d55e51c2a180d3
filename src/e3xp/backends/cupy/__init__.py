"""The CuPy backend: ``cupyx.scatter_add`` for scatter sums, the generic executor otherwise.

Imported (by the registry) only when the ``"cupy"`` backend is requested; it
needs CuPy and a CUDA device. No segment kind has a native kernel here yet.
"""

from __future__ import annotations

import cupy
import numpy as np

from ..base import Backend
from ..numpy import NumpyDtypes

__all__ = ["CupyBackend", "make_backend"]


class CupyBackend(NumpyDtypes, Backend):
    """:class:`Backend` for ``cupy.ndarray`` (array-API view: ``array_api_compat.cupy``).

    Examples
    --------
    >>> from e3xp.backends import get_backend
    >>> be = get_backend("cupy")  # doctest: +SKIP
    >>> print(be.to_numpy(be.asarray([1.0, 2.0])))  # doctest: +SKIP
    [1. 2.]
    """

    def is_array(self, x) -> bool:
        return isinstance(x, cupy.ndarray)

    def asarray(self, x, *, dtype=None, device=None):
        dtype = self._resolve_dtype(dtype)
        if device is None:
            return cupy.asarray(x, dtype=dtype)
        with device:
            return cupy.asarray(x, dtype=dtype)

    def to_numpy(self, x) -> np.ndarray:
        return cupy.asnumpy(x)

    def device(self, x):
        return x.device


    def _zeros(self, shape, like):
        with like.device:
            return cupy.zeros(tuple(shape), dtype=like.dtype)

    def _materialize(self, np_array, like):
        with like.device:
            return cupy.asarray(np.asarray(np_array, dtype=like.dtype))

    def _concrete_index(self, index):
        return cupy.asnumpy(index)

    def _scatter_sum(self, data, index, num_segments, axis):
        import cupyx

        moved = cupy.moveaxis(data, axis, 0)
        with data.device:
            out = cupy.zeros((num_segments,) + moved.shape[1:], dtype=data.dtype)
        cupyx.scatter_add(out, index, moved)
        return cupy.moveaxis(out, 0, axis)

    def _from_dlpack(self, x):
        return cupy.from_dlpack(x)

    def _to_device(self, x, device):
        with device:
            return cupy.asarray(x)


_backend = None


def make_backend() -> Backend:
    """The CuPy backend; ValueError when CuPy has no CUDA device to run on.

    Examples
    --------
    >>> make_backend()  # doctest: +SKIP
    Backend('cupy')
    """
    global _backend
    if _backend is None:
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as e:  # noqa: BLE001 - CUDA driver errors come in many types
            raise ValueError(f"backend 'cupy' needs a CUDA device, but CUDA reports: {e}") from None
        if count == 0:
            raise ValueError("backend 'cupy' needs a CUDA device, but none is visible")
        import array_api_compat.cupy as xp

        _backend = CupyBackend("cupy", xp)
    return _backend
