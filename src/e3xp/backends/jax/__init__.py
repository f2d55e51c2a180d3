"""The JAX backend: the adapter, and the one function per operation that picks its kernel.

Which code runs is decided here only, by :func:`tensor_product_path` and
:func:`harmonics_path`: the generic executor of :mod:`e3xp.backends.array_api` on
``jax.numpy``, or a native kernel with a ``custom_jvp`` (:mod:`.kernels`: grouped
channelwise / full products, fully connected products with shared weights;
:mod:`.harmonics`: the spherical harmonics as fused elementwise code or a dense
recursion). Every operation runs as one jitted program per (plan, shapes, dtypes).

Everything is written with ``jnp`` and static Python over shapes, so it works
under ``jax.jit``, ``jax.vmap`` and (nested) ``jax.grad``. Constants are cached
only when concrete: inside a trace the float64 NumPy constant is converted
afresh and baked into the computation, so no tracer ever enters the cache.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from e3xp.core.schedule import prepare

from .. import array_api
from ..base import Backend
from ..harmonics import SH_POLYNOMIAL_LMAX, unit_vectors
from ..validation import _ls_tuple, check_sh_inputs, check_tp_inputs
from .harmonics import SH_SPARSE_LMAX, dense_harmonics, polynomial_harmonics, sparse_harmonics
from .kernels import fully_connected_tp, grouped_tp

__all__ = ["JaxBackend", "make_backend", "x64_enabled", "tensor_product_path", "harmonics_path"]

_X64_MESSAGE = (
    "float64 requested but JAX runs without x64: set "
    "jax.config.update('jax_enable_x64', True) or use float32"
)


def x64_enabled() -> bool:
    """Whether JAX was configured with ``jax_enable_x64``.

    Examples
    --------
    >>> isinstance(x64_enabled(), bool)
    True
    """
    return bool(jax.config.read("jax_enable_x64"))


def _is_tracer(x) -> bool:
    return isinstance(x, jax.core.Tracer)


class JaxBackend(Backend):
    """:class:`Backend` for ``jax.Array`` (tracers included).

    Examples
    --------
    >>> from e3xp.backends import get_backend
    >>> be = get_backend("jax")
    >>> x = be.asarray([1.0, 2.0], dtype="float32")
    >>> print(be.is_array(x), be.to_numpy(x), x.dtype)
    True [1. 2.] float32
    """

    def is_array(self, x) -> bool:
        return isinstance(x, jax.Array)

    def _resolve_dtype(self, dtype):
        dtype = super()._resolve_dtype(dtype)
        if dtype is not None and np.dtype(dtype) == np.float64 and not x64_enabled():
            raise TypeError(_X64_MESSAGE)
        return dtype

    def asarray(self, x, *, dtype=None, device=None):
        dtype = self._resolve_dtype(dtype)
        if dtype is None and isinstance(x, (np.ndarray, np.float64)) and x.dtype == np.float64:
            if not x64_enabled():
                raise TypeError(_X64_MESSAGE)  # a float64 array would be silently halved
        out = jnp.asarray(x, dtype=dtype)
        return out if device is None else jax.device_put(out, device)

    def to_numpy(self, x) -> np.ndarray:
        return np.asarray(x)

    def device(self, x):
        return x.device

    def float_dtype(self, name: str):
        if name not in ("float16", "bfloat16", "float32", "float64"):
            raise TypeError(f"unknown floating dtype {name!r} for backend 'jax': expected 'float32' or 'float64'")
        if name == "float64" and not x64_enabled():
            raise TypeError(_X64_MESSAGE)
        return getattr(jnp, name)

    def _dtype_name(self, dtype) -> str:
        return np.dtype(dtype).name

    def _is_real_float(self, dtype) -> bool:
        return bool(jnp.issubdtype(dtype, jnp.floating))

    def default_float_dtype(self, device=None):
        return jnp.float64 if x64_enabled() else jnp.float32

    def _zeros(self, shape, like):
        return jnp.zeros(tuple(shape), dtype=like.dtype)

    def _cache_key(self, source, like):
        if _is_tracer(like):
            return None  # inside a trace: no device to key on, nothing to keep
        return super()._cache_key(source, like)

    def _cacheable(self, value) -> bool:
        values = value if isinstance(value, tuple) else (value,)
        return not any(_is_tracer(v) for v in values)

    def _materialize(self, np_array, like):
        host = np.asarray(np_array, dtype=np.dtype(like.dtype))
        if _is_tracer(like):
            return jnp.asarray(host)
        return jax.device_put(host, like.device)

    def stop_gradient(self, x):
        return jax.lax.stop_gradient(x)

    def normal(self, seed, shape, dtype=None, device=None):
        from ..base import _check_shape, _is_jax_key

        if _is_jax_key(seed):
            dtype = self._resolve_dtype(dtype) or self.default_float_dtype()
            if not self._is_real_float(dtype):
                raise TypeError(f"normal() needs a real floating dtype, got {dtype}")
            out = jax.random.normal(seed, _check_shape(shape), dtype=dtype)
            return out if device is None else jax.device_put(out, device)
        return super().normal(seed, shape, dtype=dtype, device=device)

    def _concrete_index(self, index):
        return None if _is_tracer(index) else np.asarray(index)

    def _scatter_sum(self, data, index, num_segments, axis):
        moved = jnp.moveaxis(data, axis, 0)
        out = jax.ops.segment_sum(moved, index, num_segments=num_segments)
        return jnp.moveaxis(out, 0, axis)

    # Executors run as one jitted program per (plan, shapes, dtypes): eager JAX
    # would otherwise dispatch (and compile) every small op separately. Under an
    # outer jit / grad / vmap the inner jit is simply inlined.
    def tensor_product(self, plan, x1, x2, weights=None):
        return _jitted()["tp"](plan, x1, x2, weights)

    def linear(self, plan, x, weights, bias=None):
        return _jitted()["linear"](plan, x, weights, bias)

    def spherical_harmonics(self, sh_plan, vectors, ls, normalize=True, normalization="component"):
        return _jitted()["sh"](sh_plan, vectors, _ls_tuple(ls), bool(normalize), normalization)

    def _from_foreign(self, x, dtype=None, device=None):
        if dtype is None and not x64_enabled() and "float64" in str(getattr(x, "dtype", "")):
            raise TypeError(_X64_MESSAGE)
        return super()._from_foreign(x, dtype=dtype, device=device)

    def _from_dlpack(self, x):
        # A copy: JAX assumes its buffers never change, the source may be mutated.
        return jnp.from_dlpack(x, copy=True)

    def _to_device(self, x, device):
        return jax.device_put(x, device)


_backend = None
_jit_cache = {}


def tensor_product_path(schedule, shared: bool) -> str:
    """The kernel a tensor product runs on JAX.

    ``"fully_connected"`` (only ``"uvw"`` segments, shared weights:
    :func:`~.kernels.fully_connected_tp`), ``"grouped"`` (only ``"grp"`` or only
    ``"cg"`` segments: :func:`~.kernels.grouped_tp`, whose custom derivative relies
    on every path being grouped) or ``"generic"``.

    Examples
    --------
    >>> from e3xp.core.plans import channelwise_tensor_product_plan
    >>> tensor_product_path(prepare("tp", channelwise_tensor_product_plan("2x0e+1o", "0e+1o"))[0], False)
    'grouped'
    """
    kinds = schedule.grouped.kinds if schedule.grouped is not None else {"blk"}
    if kinds == {"uvw"} and shared:
        return "fully_connected"
    if kinds in ({"grp"}, {"cg"}):
        return "grouped"
    return "generic"


def harmonics_path(schedule) -> str:
    """The kernel the spherical harmonics run on JAX: ``"polynomial"`` (``lmax <=
    SH_POLYNOMIAL_LMAX``), ``"sparse"`` (``lmax <= SH_SPARSE_LMAX``) or ``"dense"``.

    Examples
    --------
    >>> [harmonics_path(prepare("sh", (8, (l,), "norm"))[0]) for l in (3, 5, 8)]
    ['polynomial', 'sparse', 'dense']
    """
    if schedule.lmax > SH_SPARSE_LMAX:
        return "dense"
    return "polynomial" if schedule.lmax <= SH_POLYNOMIAL_LMAX else "sparse"


def tensor_product(be, plan, x1, x2, w):
    """:meth:`JaxBackend.tensor_product` before ``jax.jit``: validation and dispatch."""
    shared, batch = check_tp_inputs(be, plan, x1, x2, w)
    schedule, consts = be._prepared("tp", plan, x1)
    path = tensor_product_path(schedule, shared)
    if path == "fully_connected":
        return fully_connected_tp(plan, schedule, x1, x2, w, batch)
    if path == "grouped":
        return grouped_tp(plan, schedule, x1, x2, w, batch)
    return array_api.execute_tp(be, schedule, consts, x1, x2, w, shared, batch)


def spherical_harmonics(be, plan, vectors, ls, normalize, normalization):
    """:meth:`JaxBackend.spherical_harmonics` before ``jax.jit``: validation and dispatch."""
    ls = check_sh_inputs(be, plan, vectors, ls, normalization)
    key = (plan.lmax, ls, normalization)
    schedule, mats = prepare("sh", key)
    x = unit_vectors(jnp, vectors, jax.lax.stop_gradient) if normalize else vectors
    path = harmonics_path(schedule)
    if path == "dense":
        return dense_harmonics(schedule, mats)(x)
    if path == "polynomial":
        return polynomial_harmonics(x, key)
    return sparse_harmonics(x, key, schedule)


def _jitted() -> dict:
    if not _jit_cache:
        be = make_backend()
        _jit_cache["tp"] = jax.jit(lambda plan, x1, x2, w: tensor_product(be, plan, x1, x2, w), static_argnums=0)
        _jit_cache["linear"] = jax.jit(
            lambda plan, x, w, b: array_api.linear(be, plan, x, w, b), static_argnums=0
        )
        _jit_cache["sh"] = jax.jit(
            lambda plan, v, ls, normalize, normalization: spherical_harmonics(
                be, plan, v, ls, normalize, normalization
            ),
            static_argnums=(0, 2, 3, 4),
        )
    return _jit_cache


def make_backend() -> Backend:
    """The JAX backend.

    Examples
    --------
    >>> make_backend()
    Backend('jax')
    """
    global _backend
    if _backend is None:
        _backend = JaxBackend("jax", jnp)
    return _backend
