"""The JAX backend: ``jax.numpy`` executors, ``segment_sum``, tracer-aware constants.

Plans whose paths are all grouped channelwise ones (MACE / NequIP convolutions)
run on a native fast path, :func:`_grouped_tp`: fused multiply-adds, with a
``custom_jvp`` so that their derivatives stay cheap; fully connected plans with
``mul2 == 1`` and shared weights on :func:`_fully_connected_tp`.

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
    kinds = schedule.grouped.kinds if schedule.grouped is not None else {"blk"}
    if kinds == {"uvw"} and shared:
        return _fully_connected_tp(plan, schedule, x1, x2, w, batch)
    if kinds not in ({"grp"}, {"cg"}):
        # the custom derivative of _grouped_tp relies on every path being a grouped one
        return array_api.execute_tp(be, schedule, consts, x1, x2, w, shared, batch)
    return _grouped_tp(plan, schedule, x1, x2, w, batch)


def _assemble(parts, batch):
    """Flat output from 4-D pieces ``(..., n, mul, d3)`` in output order.

    Consecutive pieces of one ``(mul, d3)`` become one ``(..., N, mul, d3)`` block
    (one irrep of the output), and only these blocks are flattened and joined:
    XLA:CPU runs a fused loop whose root is the flat slice ``(..., n mul d3)``
    several times slower than the same loop over the 4-D shape (measured 5x on
    a (10000, 2, 64, 7) piece), as it recomputes ``(n, u, k)`` from the column.
    """
    runs = []
    for z in parts:
        if runs and runs[-1][-1].shape[-2:] == z.shape[-2:]:
            runs[-1].append(z)
        else:
            runs.append([z])
    blocks = [r[0] if len(r) == 1 else jnp.concatenate(r, axis=-3) for r in runs]
    flat = [b.reshape(batch + (b.shape[-3] * b.shape[-2] * b.shape[-1],)) for b in blocks]
    return flat[0] if len(flat) == 1 else jnp.concatenate(flat, axis=-1)


def _trilinear(primal, tangent_x1w, tangent_x2, batch, weighted=True):
    """``f(x1, x2, w) = _assemble(primal(x1, x2, w))``, with a ``custom_jvp`` for a map linear in each argument.

    ``primal`` gives the output pieces in the forward's (fused) form;
    ``tangent_x1w(x1, x2, w, t1, tw)`` the tangent pieces along ``(x1, w)`` in one
    pass (``t1`` or ``tw`` may be None); ``tangent_x2(x1, t2, w)`` those along ``x2``.
    The tangents are free to use another form than the forward: reverse mode
    transposes *them*, so each is written so that its transpose is cheap.
    ``weighted=False``: a bilinear map of ``(x1, x2)``; ``w`` is ignored and the
    functions get ``w = tw = None``.
    """
    from jax.custom_derivatives import SymbolicZero

    def tangent(out, x1, x2, w, t1, t2, tw):
        t1, t2, tw = (None if isinstance(t, SymbolicZero) else t for t in (t1, t2, tw))
        terms = []
        if t1 is not None or tw is not None:
            terms.append(_assemble(tangent_x1w(x1, x2, w, t1, tw), batch))
        if t2 is not None:
            terms.append(_assemble(tangent_x2(x1, t2, w), batch))
        return sum(terms[1:], terms[0]) if terms else jnp.zeros_like(out)

    if not weighted:  # the same map of (x1, x2) alone, its functions called with w = tw = None
        @jax.custom_jvp
        def g(x1, x2):
            return _assemble(primal(x1, x2, None), batch)

        def g_jvp(primals, tangents):
            out = g(*primals)
            return out, tangent(out, *primals, None, tangents[0], tangents[1], None)

        g.defjvp(g_jvp, symbolic_zeros=True)
        return lambda x1, x2, w: g(x1, x2)

    @jax.custom_jvp
    def f(x1, x2, w):
        return _assemble(primal(x1, x2, w), batch)

    def f_jvp(primals, tangents):
        out = f(*primals)
        return out, tangent(out, *primals, *tangents)

    f.defjvp(f_jvp, symbolic_zeros=True)
    return f


def _splitter(points, total):
    """``(split, index)``: ``split(v)`` cuts the last axis of ``v`` at ``points``; ``index[start]`` is the piece.

    ``jnp.split`` rather than slices: the transpose of one split is one
    concatenation, where the transposes of slices are zero-padded full-size
    arrays that XLA adds up one by one (measured: the weight gradient of workload
    (c) took ~100 ms as a chain of 13 pads).
    """
    cuts = sorted(set(points) | {0, total})
    index = {a: k for k, a in enumerate(cuts[:-1])}

    def split(v):
        return jnp.split(v, cuts[1:-1], axis=-1) if len(cuts) > 2 else [v]

    return split, index


def _columns(v, minor: int):
    """The ``minor`` columns of the last axis of ``v`` as arrays without it (a split: transposes to a concatenation)."""
    if minor == 1:
        return [v[..., 0]]
    return [c[..., 0] for c in jnp.split(v, minor, axis=-1)]


def _repeat_minor(v, times: int):
    """``v (..., 1)`` repeated along its last axis, written as a concatenation.

    Equal to a broadcast, but its transpose is a sum of slices: the transpose of
    a broadcast along a short minor axis is a reduction over it, which XLA:CPU
    runs very slowly (measured: ~50 ms to reduce a (10000, 64, 5) array).
    """
    return v if times == 1 else jnp.concatenate([v] * times, axis=-1)


def _fully_connected_tp(plan, schedule, x1, x2, w, batch):
    """Fully connected ("uvw", ``mul2 == 1``) plans with shared weights, channels mixed first.

    As in the torch executor: per ``x1`` block one GEMM ``(batch d1, mul1) @
    (mul1, sum of mul_o)`` mixes the channels for all the paths of that block,
    ``t_p[i, w] = sum_u a[u, i] W_p[u, w]``; each output block is then
    ``sum_p sum_i t_p[i, w] B_p[i, k]`` (``B = x2 @ Call``), a few multiply-adds per
    element that XLA fuses into one loop over ``(..., mul_o, d3)``. The derivative
    is a ``custom_jvp`` (the map is linear in each argument) whose tangents use one
    batched dot per output block instead: plain autodiff of the fused loop
    transposes every ``t_p[..., i, :]`` slice into a padded full-size array.
    """
    from .array_api import prepare

    segs = schedule.grouped.segments
    # the float64 host constant: the custom_jvp function must not close over tracers
    call = np.asarray(prepare("tp", plan)[1][schedule.grouped.call], dtype=np.dtype(x1.dtype))
    by_x1 = {}
    for si, seg in enumerate(segs):
        for j, e in enumerate(seg.entries):
            by_x1.setdefault((e.start1, e.mul1, e.d1), []).append((si, j, e.weight_offset, seg.mul_o))

    split1, at1 = _splitter([c for st1, mul1, d1 in by_x1 for c in (st1, st1 + mul1 * d1)], x1.shape[-1])
    splitb, atb = _splitter(
        [c for seg in segs for e in seg.entries for c in (e.col, e.col + e.d1 * seg.d3)], call.shape[1]
    )

    def pieces(x1, x2, w, form="fused", t1=None, tw=None):
        # t1 / tw given: the tangent along (x1, w), t1 W + x1 tW mixed in place of x1 W.
        # form: "fused" (the forward), "columns" (the (x1, w) tangent: per-column
        # multiply-adds, transposed into multiply-adds) or "dot" (the x2 tangent: one
        # batched dot per output block, transposed into one dot)
        bcs = splitb(jnp.matmul(x2, call))
        b2 = bcs[0].shape[:-1]
        xs = split1(x1)
        ts1 = split1(t1) if t1 is not None else None
        mixed = {}
        for (st1, mul1, d1), lst in by_x1.items():
            def mix(x, parts, v):
                a = parts[at1[st1]].reshape(x.shape[:-1] + (mul1, d1))
                vs = [v[off : off + mul1 * mo].reshape(mul1, mo) for _, _, off, mo in lst]
                vcat = vs[0] if len(vs) == 1 else jnp.concatenate(vs, axis=-1)
                return jnp.einsum("...ui,uq->...iq", a, vcat)  # (..., d1, sum of mul_o)
            if t1 is None and tw is None:
                t = mix(x1, xs, w)
            else:
                terms = ([mix(t1, ts1, w)] if t1 is not None else []) + ([mix(x1, xs, tw)] if tw is not None else [])
                t = terms[0] if len(terms) == 1 else terms[0] + terms[1]
            cuts = np.cumsum([mo for *_, mo in lst])[:-1].tolist()
            for (si, j, _, _), chunk in zip(lst, jnp.split(t, cuts, axis=-1) if cuts else [t]):
                mixed[(si, j)] = chunk
        blocks = []
        for si, seg in enumerate(segs):
            mul_o, d3 = seg.mul_o, seg.d3
            ts = [mixed[(si, j)] for j in range(len(seg.entries))]
            bgs = [bcs[atb[e.col]].reshape(b2 + (e.d1, d3)) for e in seg.entries]
            if form == "fused":
                z = None
                for tp, bg in zip(ts, bgs):
                    for i in range(bg.shape[-2]):
                        term = tp[..., i, :, None] * bg[..., i, None, :]
                        z = term if z is None else z + term
            elif form == "columns":
                zk = [None] * d3
                for tp, bg in zip(ts, bgs):
                    rows = _columns(jnp.swapaxes(tp, -1, -2), tp.shape[-2])  # t_p[i] (..., mul_o)
                    cols = _columns(bg.reshape(bg.shape[:-2] + (-1,)), bg.shape[-2] * d3)  # B_p[i, k] (...)
                    for i, row in enumerate(rows):
                        for k in range(d3):
                            term = row * cols[i * d3 + k][..., None]
                            zk[k] = term if zk[k] is None else zk[k] + term
                z = jnp.stack(zk, axis=-1)
            else:
                # one dot over all the paths' (i) rows: its transposes are dots and slices
                tk = ts[0] if len(ts) == 1 else jnp.concatenate(ts, axis=-2)
                bk = bgs[0] if len(bgs) == 1 else jnp.concatenate(bgs, axis=-2)
                z = jnp.matmul(jnp.swapaxes(tk, -1, -2), bk)
            blocks.append(jnp.broadcast_to(z, batch + (mul_o, d3))[..., None, :, :])
        return blocks

    return _trilinear(
        pieces,
        lambda x1, x2, w, t1, tw: pieces(x1, x2, w, form="columns", t1=t1, tw=tw),
        lambda x1, t2, w: pieces(x1, t2, w, form="dot"),
        batch,
    )(x1, x2, w)


def _grouped_tp(plan, schedule, x1, x2, w, batch):
    """Channelwise paths: a fused forward, and tangents in the forms whose transposes are cheap.

    Each segment ``(n paths from one x1 block a (mul1, d1), same d3)`` is
    ``out[n, u, k] = w[n, u] sum_i a[u, i] B[n, i, k]`` with ``B = x2 @ Call``.

    * Forward: ``sum_i (a_i w) B_i`` as broadcast multiply-adds that XLA fuses into
      one loop per piece; the pieces stay 4-D and :func:`_assemble` joins them
      (a loop whose root is the flat slice of the output ran ~5x slower).
    * Tangent along ``(x1, w)``: the same sums written per column (``a_i``, ``B_ik``
      and the output's ``k`` columns as separate arrays, made by splits): its
      transpose is then elementwise multiply-adds and concatenations, with no
      reduction over a short minor axis and no zero-padded slice transposes,
      the two things XLA:CPU runs slowly.
    * Tangent along ``x2``: per ``x1`` block, one batched matmul ``a (mul1, d1) @
      dB (d1, N)`` for all its paths (``N`` = their ``n d3`` columns, from a copy
      of ``Call`` with its columns reordered), split into the segments and scaled
      by ``w`` repeated by :func:`_repeat_minor`; its transpose is one matmul per
      block, the reduction over channels that the gradient along ``x2`` needs.

    Unweighted ``"cg"`` segments (full tensor products) are the same map without
    ``w``: bilinear, so their tangent along ``x1`` is the ``x2`` form with the roles
    of the operands swapped.

    Measured on workload (c) (10,000 edges, float32, one thread): forward+backward
    143-164 ms and double backward 152-175 ms, against 340-405 and 250-277 ms for
    the former batched-dot tangents in the same runs.
    """
    from .array_api import prepare

    # ChannelwiseSegment and the unweighted FullSegment (full tensor products), never both in one plan
    grouped = schedule.grouped
    segs = grouped.segments
    weighted = segs[0].kind == "grp"
    dtype = np.dtype(x1.dtype)
    # The float64 host constants, not the backend's copies: inside a trace those are
    # tracers, and the custom_jvp functions below must not close over tracers.
    call = np.asarray(prepare("tp", plan)[1][grouped.call], dtype=dtype)
    split1, at1 = _splitter([c for s in segs for c in (s.start1, s.start1 + s.mul1 * s.d1)], x1.shape[-1])
    if weighted:
        splitw, atw = _splitter([c for s in segs for c in (s.weight_offset, s.weight_offset + s.n * s.mul1)],
                                w.shape[-1])
    splitb, atb = _splitter([c for s in segs for c in (s.col, s.col + s.n * s.d1 * s.d3)], call.shape[1])
    # Call's columns per x1 block, ordered (i, then (segment, n, k))
    call_by_x1 = {blk.start1: np.ascontiguousarray(call[:, list(blk.columns_by_i)]) for blk in grouped.x1_blocks}

    def x1_block(parts, v, st1, shape):
        return parts[at1[st1]].reshape(v.shape[:-1] + shape)

    def w_block(parts, v, off, shape):
        return parts[atw[off]].reshape(v.shape[:-1] + shape)

    def primal(x1, x2, w):
        bcs, xs = splitb(jnp.matmul(x2, call)), split1(x1)
        ws = splitw(w) if weighted else None
        out = []
        for s in segs:
            mul1, d1, d3, n = s.mul1, s.d1, s.d3, s.n
            aw = x1_block(xs, x1, s.start1, (1, mul1, d1))
            if weighted:
                aw = aw * w_block(ws, w, s.weight_offset, (n, mul1, 1))
            bg = bcs[atb[s.col]].reshape(bcs[0].shape[:-1] + (n, 1, d1, d3))
            z = aw[..., 0:1] * bg[..., 0, :]
            for i in range(1, d1):
                z = z + aw[..., i : i + 1] * bg[..., i, :]
            out.append(jnp.broadcast_to(z, batch + z.shape[-3:]))
        return out

    def tangent_x1w(x1, x2, w, t1, tw):  # weighted plans only
        bcs, xs, ws = splitb(jnp.matmul(x2, call)), split1(x1), splitw(w)
        ts = split1(t1) if t1 is not None else None
        tws = splitw(tw) if tw is not None else None
        cols_x, cols_t, out = {}, {}, []
        for s in segs:
            st1, mul1, d1, d3, n, off = s.start1, s.mul1, s.d1, s.d3, s.n, s.weight_offset
            if st1 not in cols_x:  # a_i as (..., 1, mul1)
                cols_x[st1] = _columns(x1_block(xs, x1, st1, (1, mul1, d1)), d1)
                if ts is not None:
                    cols_t[st1] = _columns(x1_block(ts, t1, st1, (1, mul1, d1)), d1)
            aw = []  # d(a_i w) = t1_i w + a_i tw, each (..., n, mul1)
            for i in range(d1):
                terms = []
                if ts is not None:
                    terms.append(cols_t[st1][i] * w_block(ws, w, off, (n, mul1)))
                if tws is not None:
                    terms.append(cols_x[st1][i] * w_block(tws, tw, off, (n, mul1)))
                aw.append(terms[0] if len(terms) == 1 else terms[0] + terms[1])
            b = _columns(bcs[atb[s.col]].reshape(bcs[0].shape[:-1] + (n, d1 * d3)), d1 * d3)  # B_ik (..., n)
            zk = []
            for k in range(d3):
                z = aw[0] * b[k][..., None]
                for i in range(1, d1):
                    z = z + aw[i] * b[i * d3 + k][..., None]
                zk.append(z)
            z = jnp.stack(zk, axis=-1)  # (..., n, mul1, d3)
            out.append(jnp.broadcast_to(z, batch + z.shape[-3:]))
        return out

    def tangent_x2(x1, t2, w):
        xs = split1(x1)
        ws = splitw(w) if weighted else None
        out = [None] * len(segs)
        for blk in grouped.x1_blocks:
            mul1, d1, sis = blk.mul1, blk.d1, blk.segments
            db = jnp.matmul(t2, call_by_x1[blk.start1])
            db = db.reshape(db.shape[:-1] + (d1, db.shape[-1] // d1))
            p = jnp.matmul(x1_block(xs, x1, blk.start1, (mul1, d1)), db)  # (..., mul1, N)
            sizes = np.cumsum([segs[si].width for si in sis])[:-1].tolist()
            for si, q in zip(sis, jnp.split(p, sizes, axis=-1) if sizes else [p]):
                d3, n = segs[si].d3, segs[si].n
                z = jnp.swapaxes(q.reshape(q.shape[:-1] + (n, d3)), -2, -3)  # (..., n, mul1, d3)
                if weighted:
                    z = z * _repeat_minor(w_block(ws, w, segs[si].weight_offset, (n, mul1, 1)), d3)
                out[si] = jnp.broadcast_to(z, batch + z.shape[-3:])
        return out

    if not weighted:
        # bilinear: the tangent along x1 is the x2 form with the roles swapped,
        # t1 @ (x2 @ Call), one matmul per x1 block (as is its transpose)
        return _trilinear(primal, lambda x1, x2, w, t1, tw: tangent_x2(t1, x2, None), tangent_x2, batch,
                          weighted=False)(x1, x2, None)
    return _trilinear(primal, tangent_x1w, tangent_x2, batch)(x1, x2, w)


_SH_SPARSE_LMAX = 5  # above it the dense recursion (_dense_harmonics) differentiates faster (measured at lmax 8)


def _spherical_harmonics(be, plan, vectors, ls, normalize, normalization):
    """The plan's recursion with only its nonzero terms, as fused elementwise code.

    ``M_l`` is a Clebsch-Gordan block: ``5 l - 9`` of its ``3 (4 l^2 - 1)``
    entries are nonzero (35 of 159 up to ``l = 3``). Written per component,
    ``y_l[k] = sum c * y_{l-1}[i] * v[j]`` over those entries, the whole
    evaluation (and its derivative) is elementwise, and XLA fuses it into a
    few loops over the samples: measured at lmax 3 (and 4, 5) on 10^6 float32 vectors,
    about 3x faster than the dense ``(n, 3 (2l - 1)) @ M_l`` forward and
    forward+backward. The sums skip exact zeros only, so the numbers are the
    plan's up to rounding. For larger ``lmax`` the fused derivative of the long
    chain becomes slower than that of the dense recursion (measured at lmax 8:
    about 1.5x), so those run :func:`_dense_harmonics`. Up to
    ``array_api.SH_POLYNOMIAL_LMAX`` the same harmonics run as explicit polynomials
    (fewer operations; forward+backward at lmax 3: 158 -> 117 ms, one run).
    """
    from . import array_api

    ls = array_api.check_sh_inputs(be, plan, vectors, ls, normalization)
    schedule, mats = array_api.prepare("sh", (plan.lmax, ls, normalization))
    x = array_api.unit_vectors(jnp, vectors) if normalize else vectors
    if schedule.lmax > _SH_SPARSE_LMAX:
        return _dense_harmonics(schedule, mats)(x)
    v = [x[..., j] for j in range(3)]
    if schedule.lmax <= array_api.SH_POLYNOMIAL_LMAX:
        poly = array_api.sh_polynomial_terms((plan.lmax, ls, normalization))
        return jnp.stack(array_api.sh_polynomial_columns(jnp, v, poly), axis=-1)
    terms = array_api.sparse_sh_terms((plan.lmax, ls, normalization))
    return jnp.stack(array_api.sparse_sh_columns(jnp, v, schedule, terms), axis=-1)


def _dense_harmonics(schedule, mats):
    """The dense recursion ``y_l = (y_{l-1} (x) v) @ M_l`` with a ``custom_jvp`` written for its transpose.

    The forward is the generic executor's: one outer product and one matmul per
    degree. Its plain derivative transposes the outer product's broadcast of
    ``y_{l-1}`` along the short ``v`` axis into a reduction over that minor axis
    of size 3, which XLA:CPU runs very slowly. The tangent is written instead
    with ``M_l`` split by the ``v`` component, ``dy_l = sum_j (dy_{l-1} v_j +
    y_{l-1} dv_j) @ M_l^j``, and ``v_j`` repeated by :func:`_repeat_minor`:
    its transpose is matmuls and elementwise work. Measured at lmax 8 on 10^6
    float32 vectors: forward+backward 1142 -> about 400 ms, the forward unchanged.
    """
    lmax = schedule.lmax
    mats = [np.asarray(m) for m in mats]  # host float64: the custom_jvp must not close over tracers
    split = [[m[j::3] for j in range(3)] for m in mats]  # M_l rows are (i, j), j the v component

    def degrees(v):
        batch = v.shape[:-1]
        ys = [jnp.ones_like(v[..., :1])]
        for l in range(1, lmax + 1):
            outer = ys[-1][..., :, None] * v[..., None, :]
            ys.append(jnp.matmul(outer.reshape(batch + (3 * (2 * l - 1),)), mats[l - 1].astype(v.dtype)))
        return ys

    def assemble(ys):
        parts = [ys[l] if f == 1.0 else ys[l] * f for l, f in zip(schedule.ls, schedule.factors)]
        return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=-1)

    @jax.custom_jvp
    def f(v):
        return assemble(degrees(v))

    def f_jvp(primals, tangents):
        (v,), (dv,) = primals, tangents
        ys = degrees(v)
        vs = [v[..., j : j + 1] for j in range(3)]
        dvs = [dv[..., j : j + 1] for j in range(3)]
        dys = [jnp.zeros_like(ys[0])]
        for l in range(1, lmax + 1):
            acc = None
            for j in range(3):
                m = split[l - 1][j].astype(v.dtype)
                arg = ys[l - 1] * _repeat_minor(dvs[j], 2 * l - 1)
                if l > 1:
                    arg = arg + dys[l - 1] * _repeat_minor(vs[j], 2 * l - 1)
                t = jnp.matmul(arg, m)
                acc = t if acc is None else acc + t
            dys.append(acc)
        return assemble(ys), assemble(dys)

    f.defjvp(f_jvp)
    return f


def _jitted() -> dict:
    if not _jit_cache:
        from . import array_api

        be = make_backend()
        _jit_cache["tp"] = jax.jit(lambda plan, x1, x2, w: _tensor_product(be, plan, x1, x2, w), static_argnums=0)
        _jit_cache["linear"] = jax.jit(
            lambda plan, x, w, b: array_api.linear(be, plan, x, w, b), static_argnums=0
        )
        _jit_cache["sh"] = jax.jit(
            lambda plan, v, ls, normalize, normalization: _spherical_harmonics(
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
