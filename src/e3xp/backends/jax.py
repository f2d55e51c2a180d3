"""The JAX backend: ``jax.numpy`` executors, ``segment_sum``, tracer-aware constants.

Plans whose paths are all grouped channelwise ones (MACE / NequIP convolutions)
run on a native fast path, :func:`_grouped_tp`: fused multiply-adds written in
place, with a ``custom_jvp`` so that their derivatives stay cheap.

Everything is written with ``jnp`` and static Python over shapes, so it works
under ``jax.jit``, ``jax.vmap`` and (nested) ``jax.grad``. Constants are cached
only when concrete: inside a trace the float64 NumPy constant is converted
afresh and baked into the computation, so no tracer ever enters the cache.
"""

from __future__ import annotations

import numpy as np

from .base import Backend

__all__ = ["JaxBackend", "make_backend", "x64_enabled"]

jax = None  # the framework, bound by make_backend() so importing this module is free
jnp = None

_X64_MESSAGE = (
    "float64 requested but JAX runs without x64: set "
    "jax.config.update('jax_enable_x64', True) or use float32"
)


def x64_enabled() -> bool:
    """Whether JAX was configured with ``jax_enable_x64``.

    Examples
    --------
    >>> _ = make_backend()
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

    def normal(self, seed, shape, dtype=None, device=None):
        from .base import _check_shape, _is_jax_key

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
        from .array_api import _ls_tuple

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


def _tensor_product(be, plan, x1, x2, w):
    from . import array_api

    shared, batch = array_api.check_tp_inputs(be, plan, x1, x2, w)
    schedule, consts = be._prepared("tp", plan, x1)
    if schedule[4] is None or any(seg[0] != "grp" for seg in schedule[4][1]):
        # the custom derivative below relies on every path being a grouped one
        return array_api.execute_tp(be, schedule, consts, x1, x2, w, shared, batch)
    return _grouped_tp(plan, schedule, x1, x2, w, batch)


def _grouped_tp(plan, schedule, x1, x2, w, batch):
    """Channelwise paths as broadcast multiply-adds written in place into the output.

    The contraction over ``d1 = 2 l1 + 1`` is tiny, so instead of a batched dot
    (its own kernel, whose result the concatenation copies) each group is
    ``sum_i (a_i W) B_i``: elementwise work that XLA fuses, together with the
    ``dynamic_update_slice`` into a single output buffer, into loops that write the
    output once. A concatenation is not fused by XLA here (the reshapes between
    the pieces and it stop the fusion), so the forward writes in place; the
    derivative (a ``custom_jvp``: the map is linear in each argument) uses the
    concatenation, whose transpose is plain slices of the cotangent, where the
    transpose of ``dynamic_update_slice`` would copy the whole cotangent per piece.
    """
    from jax.custom_derivatives import SymbolicZero

    from .array_api import prepare

    segs = schedule[4][1]
    dtype = x1.dtype
    # The float64 host constant, not the backend's copy: inside a trace that is a
    # tracer, and the custom_jvp function below must not close over tracers.
    call = np.asarray(prepare("tp", plan)[1][schedule[4][0]], dtype=np.dtype(dtype))

    def pieces(x1, x2, w, fused=True):
        bc = jnp.matmul(x2, call)
        b1, b2, wb = x1.shape[:-1], bc.shape[:-1], w.shape[:-1]
        out = []
        for _, st1, mul1, d1, d3, n, col0, off, _ in segs:
            a = x1[..., st1 : st1 + mul1 * d1].reshape(b1 + (1, mul1, d1))
            bg = bc[..., col0 : col0 + n * d1 * d3].reshape(b2 + (n, d1, d3))
            aw = a * w[..., off : off + n * mul1].reshape(wb + (n, mul1, 1))
            if fused:
                bg = bg[..., None, :, :]
                z = aw[..., 0:1] * bg[..., 0, :]
                for i in range(1, d1):
                    z = z + aw[..., i : i + 1] * bg[..., i, :]
            else:
                # a batched dot: its transposes are dots too (the broadcast form's
                # are reductions XLA materialises full-size broadcasts for)
                z = jnp.matmul(aw, bg)
            z = z.reshape(z.shape[:-3] + (n * mul1 * d3,))
            out.append(jnp.broadcast_to(z, batch + z.shape[-1:]))
        return out

    @jax.custom_jvp
    def f(x1, x2, w):
        parts = pieces(x1, x2, w)
        out = jnp.zeros(batch + (sum(p.shape[-1] for p in parts),), dtype=dtype)
        at = 0
        for p in parts:
            out = jax.lax.dynamic_update_slice_in_dim(out, p, at, axis=len(batch))
            at += p.shape[-1]
        return out

    def f_jvp(primals, tangents):
        terms = []
        for k, t in enumerate(tangents):
            if not isinstance(t, SymbolicZero):
                args = list(primals)
                args[k] = t
                terms.append(jnp.concatenate(pieces(*args, fused=False), axis=-1))
        out = f(*primals)
        return out, (sum(terms[1:], terms[0]) if terms else jnp.zeros_like(out))

    f.defjvp(f_jvp, symbolic_zeros=True)
    return f(x1, x2, w)


def _jitted() -> dict:
    if not _jit_cache:
        from . import array_api

        be = make_backend()
        _jit_cache["tp"] = jax.jit(lambda plan, x1, x2, w: _tensor_product(be, plan, x1, x2, w), static_argnums=0)
        _jit_cache["linear"] = jax.jit(
            lambda plan, x, w, b: array_api.linear(be, plan, x, w, b), static_argnums=0
        )
        _jit_cache["sh"] = jax.jit(
            lambda plan, v, ls, normalize, normalization: array_api.spherical_harmonics(
                be, plan, v, ls, normalize, normalization
            ),
            static_argnums=(0, 2, 3, 4),
        )
    return _jit_cache


def make_backend() -> Backend:
    """The JAX backend (imports jax).

    Examples
    --------
    >>> make_backend()
    Backend('jax')
    """
    global jax, jnp, _backend
    if _backend is None:
        import jax as _jax
        import jax.numpy as _jnp

        jax, jnp = _jax, _jnp
        _backend = JaxBackend("jax", jnp)
    return _backend
