"""The NumPy backend: ``np.add.at`` for scatter sums, the generic executor otherwise.

Two choices differ from the generic executor, both made by
:func:`tensor_product_path` / :meth:`NumpyBackend.spherical_harmonics` here: full
products run path by path (NumPy runs a broadcast matmul of small matrices one
BLAS call per matrix, so grouping them measured slower), and the harmonics run by
blocks written in place (:func:`e3xp.backends.harmonics.spherical_harmonics_in_place`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import array_api
from ..base import Backend
from ..harmonics import sh_selection, spherical_harmonics_in_place
from ..validation import check_sh_inputs, check_tp_inputs

__all__ = ["NumpyBackend", "make_backend", "tensor_product_path"]


class NumpyDtypes:
    """Dtype handling for backends whose dtypes are NumPy dtypes (numpy and cupy)."""

    def float_dtype(self, name: str):
        if name not in ("float16", "float32", "float64"):
            raise TypeError(
                f"unknown floating dtype {name!r} for backend {self.name!r}: expected 'float32' or 'float64'"
            )
        return np.dtype(name)

    def _dtype_name(self, dtype) -> str:
        return np.dtype(dtype).name

    def _is_real_float(self, dtype) -> bool:
        return np.dtype(dtype).kind == "f"

    def default_float_dtype(self, device=None):
        return np.dtype(np.float64)


class _InPlace:
    """The ``out=`` calls of :func:`~e3xp.backends.harmonics.spherical_harmonics_in_place`."""

    empty = staticmethod(lambda shape, like: np.empty(shape, dtype=like.dtype))
    mul = staticmethod(lambda a, b, out: np.multiply(a, b, out=out))
    matmul = staticmethod(lambda a, b, out: np.matmul(a, b, out=out))
    rows = staticmethod(lambda x: np.ascontiguousarray(x.T))


SH_CHUNK = 16384  # rows per block of the harmonics: the intermediates stay in cache


def tensor_product_path(schedule) -> str:
    """``"per_path"`` (the generic executor without its grouped segments) when the plan has
    unweighted ``"cg"`` segments, else ``"generic"``.

    Examples
    --------
    >>> from e3xp.core.plans import full_tensor_product_plan
    >>> from e3xp.core.schedule import prepare
    >>> tensor_product_path(prepare("tp", full_tensor_product_plan("2x0e", "1o"))[0])
    'per_path'
    """
    return "per_path" if schedule.grouped is not None and "cg" in schedule.grouped.kinds else "generic"


class NumpyBackend(NumpyDtypes, Backend):
    """:class:`Backend` for NumPy arrays (the array-API view is ``array_api_compat.numpy``).

    Examples
    --------
    >>> be = make_backend()
    >>> print(be.name, be.float_dtype("float32"), be.device(np.zeros(1)))
    numpy float32 cpu
    """

    def is_array(self, x) -> bool:
        return isinstance(x, (np.ndarray, np.generic)) and not isinstance(x, (bool, int, float, complex))

    def asarray(self, x, *, dtype=None, device=None):
        if device is not None and device != "cpu":
            raise ValueError(f"numpy arrays live on the 'cpu' device, got device={device!r}")
        return np.asarray(x, dtype=self._resolve_dtype(dtype))

    def to_numpy(self, x) -> np.ndarray:
        return np.asarray(x)

    def device(self, x):
        return "cpu"

    def tensor_product(self, plan, x1, x2, weights=None):
        shared, batch = check_tp_inputs(self, plan, x1, x2, weights)
        schedule, consts = self._prepared("tp", plan, x1)
        if tensor_product_path(schedule) == "per_path":
            # NumPy runs a broadcast matmul of small matrices one BLAS call per
            # matrix: for unweighted full products the path-by-path contractions
            # measured 2x faster
            schedule = dataclasses.replace(schedule, grouped=None)
        return array_api.execute_tp(self, schedule, consts, x1, x2, weights, shared, batch)

    def spherical_harmonics(self, sh_plan, vectors, ls, normalize=True, normalization="component"):
        """The recursion by blocks written in place (:func:`~e3xp.backends.harmonics.spherical_harmonics_in_place`).

        Several times faster than the generic executor (samples outermost: ``(n, 2l -
        1, 3)`` outer products and ``(n, 3 (2l - 1)) @ (3 (2l - 1), 2l + 1)`` products
        over the whole array).
        """
        ls = check_sh_inputs(self, sh_plan, vectors, ls, normalization)
        schedule, mats = self._prepared("sh", (sh_plan.lmax, ls, normalization), vectors)
        flat = np.reshape(vectors, (-1, 3))
        sel = sh_selection(schedule).astype(flat.dtype)
        mats_t = [np.ascontiguousarray(m.T) for m in mats]
        out = spherical_harmonics_in_place(_InPlace, self._ops, flat, schedule.lmax, mats_t, sel, normalize, SH_CHUNK)
        return out.reshape(tuple(vectors.shape[:-1]) + (sel.shape[1],))

    def _zeros(self, shape, like):
        return np.zeros(tuple(shape), dtype=like.dtype)

    def _materialize(self, np_array, like):
        # No copy when the dtype already matches: the core's constants are read-only
        # float64, and a copy would hold the memory of high-degree harmonics twice.
        out = np.asarray(np_array, dtype=like.dtype)
        out.setflags(write=False)  # shared through the cache
        return out

    def _concrete_index(self, index):
        return np.asarray(index)

    def _scatter_sum(self, data, index, num_segments, axis):
        moved = np.moveaxis(data, axis, 0)
        out = np.zeros((num_segments,) + moved.shape[1:], dtype=data.dtype)
        np.add.at(out, index, moved)
        return np.moveaxis(out, 0, axis)

    def _from_dlpack(self, x):
        return np.from_dlpack(x)

    def _to_device(self, x, device):
        return self.asarray(x, device=device)


def make_backend() -> Backend:
    """The NumPy backend.

    Examples
    --------
    >>> make_backend()
    Backend('numpy')
    """
    import array_api_compat.numpy as xp

    return NumpyBackend("numpy", xp)
