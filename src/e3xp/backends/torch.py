"""The PyTorch backend: native ops, ``index_add`` scatter sums, ``torch.compile`` glue.

The executors of :mod:`.array_api` run on thin wrappers of native torch
functions, so autograd (double backward included) and ``torch.compile`` see
plain torch ops. Two native fast paths replace them where they were measured
faster on CPU: the grouped channelwise / fully connected tensor-product
segments (:func:`_grouped_tp`) and the spherical harmonics in a transposed,
blocked layout (:func:`_spherical_harmonics`); both give the reference numbers
(``tests/test_backends_fastpaths.py``). Shared-weight fully connected products
and the harmonics have hand-written gradients (the autograd Functions
``FullyConnected`` and ``SphericalHarmonics``); their double backward recomputes
through the differentiable form, so every order of derivative still works. Under ``torch.compile`` the plan's schedule and constants are
produced by functions marked ``torch.compiler.assume_constant_result``: Dynamo
runs them once while tracing and bakes their results in, instead of tracing
the NumPy code that builds them (which would break the graph). Compiled calls
that need no autograd graph run the eager forward-only kernels of channelwise,
full and shared-weight fully connected products as one opaque custom op
(``e3xp::grouped_forward``).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from e3xp._static import static_call, static_function
from e3xp.core.schedule import prepare

from .base import Backend

__all__ = ["TorchBackend", "make_backend"]

torch = None  # the framework, bound by make_backend() so importing this module is free


class _Ops:
    """The array-API functions the executors call, as native torch calls."""

    matmul = staticmethod(lambda a, b: torch.matmul(a, b))
    reshape = staticmethod(lambda x, shape: torch.reshape(x, shape))
    permute_dims = staticmethod(lambda x, axes: torch.permute(x, axes))
    concat = staticmethod(lambda xs, axis=0: torch.cat(list(xs), dim=axis))
    expand_dims = staticmethod(lambda x, axis=0: torch.unsqueeze(x, axis))
    sum = staticmethod(lambda x, axis=None, keepdims=False: torch.sum(x, dim=axis, keepdim=keepdims))
    where = staticmethod(lambda c, a, b: torch.where(c, a, b))
    sqrt = staticmethod(lambda x: torch.sqrt(x))
    ones_like = staticmethod(lambda x: torch.ones_like(x))
    broadcast_to = staticmethod(lambda x, shape: torch.broadcast_to(x, shape))
    matrix_transpose = staticmethod(lambda x: torch.transpose(x, -1, -2))
    zeros = staticmethod(lambda shape, dtype=None, device=None: torch.zeros(shape, dtype=dtype, device=device))


@static_function
def _schedule(kind, key):
    return prepare(kind, key)[0]


@static_function
def _constants(kind, key, dtype, device):
    like = torch.empty((), dtype=dtype, device=device)
    return make_backend()._constants(prepare(kind, key)[1], like)


def _split_sizes(bounds, total):
    """Chunk sizes between the sorted cut points ``bounds`` (0 and ``total`` added)."""
    cuts = sorted(set(bounds) | {0, total})
    return [b - a for a, b in zip(cuts[:-1], cuts[1:])], {a: k for k, a in enumerate(cuts[:-1])}


def _layout_functions():
    class Assemble(torch.autograd.Function):
        # (..., d3, mul) pieces -> their flat (..., mul d3) blocks side by side, each
        # transposed straight into one preallocated output: one pass over the output
        # where transpose-copies + torch.cat made two (measured ~1.4x on the forward).
        @staticmethod
        def forward(ctx, spec, batch, *pieces):
            ctx.spec, ctx.batch = spec, batch
            ctx.shapes = [p.shape for p in pieces]
            if torch.compiler.is_compiling():
                # no writes into views under torch.compile: functionalization would copy
                # the whole output per piece; Inductor fuses this concatenation instead
                return torch.cat(
                    [p.transpose(-1, -2).broadcast_to(batch + (mul, d3)).reshape(batch + (mul * d3,))
                     for (_, d3, mul), p in zip(spec[:-1], pieces)],
                    dim=-1,
                )
            out = pieces[0].new_empty(batch + (spec[-1],))
            for (off, d3, mul), p in zip(spec[:-1], pieces):
                out[..., off : off + mul * d3].view(batch + (mul, d3)).copy_(p.transpose(-1, -2))
            return out

        @staticmethod
        def backward(ctx, g):
            gs = Disassemble.apply(g, ctx.spec, ctx.batch)
            # pieces of a smaller (broadcast) batch shape get their gradients summed
            gs = [x if x.shape == s else x.sum_to_size(s) for x, s in zip(gs, ctx.shapes)]
            return (None, None, *gs)

    class Disassemble(torch.autograd.Function):
        # the inverse map, contiguous (..., d3, mul) pieces (``bmm`` wants them so)
        @staticmethod
        def forward(ctx, g, spec, batch):
            ctx.spec, ctx.batch = spec, batch
            return tuple(
                g[..., off : off + mul * d3].view(batch + (mul, d3)).transpose(-1, -2).contiguous()
                for off, d3, mul in spec[:-1]
            )

        @staticmethod
        def backward(ctx, *ggs):
            return Assemble.apply(ctx.spec, ctx.batch, *ggs), None, None

    def _sum_to(x, shape):
        return x if x.shape == shape else x.sum_to_size(shape)

    class SmallL(torch.autograd.Function):
        # b (..., m, k) small @ a (..., k, C) channels innermost. The derivatives are
        # again SmallL / SmallR, so every order of derivative keeps channels innermost:
        # autograd's own bmm backward of SmallR's product, (C, m) @ (m, k), runs
        # channels-first, several times slower with these tiny m, k.
        @staticmethod
        def forward(ctx, b, a):
            ctx.save_for_backward(b, a)
            return _small_lmul(b, a)

        @staticmethod
        def backward(ctx, g):
            b, a = ctx.saved_tensors
            da = SmallL.apply(b.transpose(-1, -2).contiguous(), g) if ctx.needs_input_grad[1] else None
            db = SmallR.apply(g, a) if ctx.needs_input_grad[0] else None
            return (None if db is None else _sum_to(db, b.shape)), (None if da is None else _sum_to(da, a.shape))

    class SmallR(torch.autograd.Function):
        # x (..., m, C) @ y (..., k, C)^T -> (..., m, k): the contraction over channels
        @staticmethod
        def forward(ctx, x, y):
            ctx.save_for_backward(x, y)
            return torch.matmul(x, y.transpose(-1, -2))

        @staticmethod
        def backward(ctx, gg):
            x, y = ctx.saved_tensors
            dx = SmallL.apply(gg, y) if ctx.needs_input_grad[0] else None
            dy = SmallL.apply(gg.transpose(-1, -2).contiguous(), x) if ctx.needs_input_grad[1] else None
            return (None if dx is None else _sum_to(dx, x.shape)), (None if dy is None else _sum_to(dy, y.shape))

    class FullyConnected(torch.autograd.Function):
        # Fully connected products with shared weights: _fully_connected_forward and
        # its hand-written gradients. A double backward (create_graph) recomputes the
        # product in the differentiable form of _grouped_tp_graph and differentiates it.
        @staticmethod
        def forward(ctx, backend, schedule, consts, batch, x1, x2, w):
            ctx.save_for_backward(x1, x2, w)
            ctx.a_t = {}  # the transposed x1 blocks, reused by the backward
            ctx.args = (backend, schedule, consts, batch)
            return _fully_connected_forward(schedule, consts, x1, x2, w, batch, ctx.a_t)

        @staticmethod
        def backward(ctx, g):
            x1, x2, w = ctx.saved_tensors
            backend, schedule, consts, batch = ctx.args
            need = ctx.needs_input_grad[4:]
            if not torch.is_grad_enabled():
                return (None,) * 4 + _fully_connected_backward(schedule, consts, x1, x2, w, batch, g, need, ctx.a_t)
            with torch.enable_grad():
                out = _grouped_tp_graph(backend, schedule, consts, x1, x2, w, True, batch)
            return (None,) * 4 + _recomputed_grads(out, (x1, x2, w), need, g)

    class SphericalHarmonics(torch.autograd.Function):
        # The in-place blocked harmonics and their hand-written gradient
        # (_spherical_harmonics_vjp); a double backward (create_graph) recomputes them
        # as differentiable calls (_spherical_harmonics_graph) and differentiates those.
        @staticmethod
        def forward(ctx, schedule, mats, normalize, vectors):
            ctx.save_for_backward(vectors)
            ctx.args = (schedule, mats, normalize)
            return _spherical_harmonics_forward(vectors, schedule, mats, normalize)

        @staticmethod
        def backward(ctx, g):
            (vectors,) = ctx.saved_tensors
            if not torch.is_grad_enabled():
                return (None,) * 3 + (_spherical_harmonics_vjp(vectors, g, *ctx.args),)
            with torch.enable_grad():
                out = _spherical_harmonics_graph(vectors, *ctx.args)
            return (None,) * 3 + _recomputed_grads(out, (vectors,), (True,), g)

    def _recomputed_grads(out, tensors, need, g):
        # The double-backward branch of the Functions above: the gradients of ``out``,
        # recomputed in differentiable calls, with a graph (None where not needed; zeros
        # for a constant ``out``, e.g. degree-0 harmonics)
        if not out.requires_grad:
            return tuple(torch.zeros_like(t) if want else None for t, want in zip(tensors, need))
        inputs = [t for t, want in zip(tensors, need) if want]
        grads = iter(torch.autograd.grad(out, inputs, g, create_graph=True, allow_unused=True))
        return tuple(next(grads) if want else None for want in need)

    return Assemble, SmallL, FullyConnected, SphericalHarmonics


_Assemble = _SmallL = _FullyConnected = _SphericalHarmonics = None  # set by make_backend()


def _small_matmul(b, a):
    """``b (..., d3, d1) @ a (..., d1, mul)``, differentiable to any order (``SmallL``)."""
    return _SmallL.apply(b, a)


def _small_lmul(b, a):
    """``b (..., d3, d1) @ a (..., d1, mul)`` with elementwise ops where one side is 1.

    ``bmm`` with an inner size of 1 (``d1 == 1``, and in its backward ``d3 == 1``)
    runs several times slower than the same outer product or dot as a broadcast
    multiply (measured on CPU, float32); other shapes stay on ``matmul``.
    """
    if b.shape[-1] == 1:
        return b * a
    if b.shape[-2] == 1:
        return torch.sum(b.transpose(-1, -2) * a, dim=-2, keepdim=True)
    return torch.matmul(b, a)


def _needs_graph(*arrays) -> bool:
    """Grad mode is on and some input requires gradients: an autograd graph must be built."""
    return torch.is_grad_enabled() and any(a.requires_grad for a in arrays)


def _forward_only(*arrays) -> bool:
    """No autograd graph to build and not tracing for ``torch.compile``: the forward-only path may run."""
    return not torch.compiler.is_compiling() and not _needs_graph(*arrays)


def _rows(x, batch):
    """``x (..., dim)`` broadcast to ``batch`` and flattened to ``(rows, dim)`` (a view when no broadcast is needed)."""
    return torch.broadcast_to(x, batch + x.shape[-1:]).reshape(-1, x.shape[-1])


def _grouped_uvu_forward(schedule, consts, x1, x2, w, batch):
    """Forward-only channelwise segments (no autograd graph, not under ``torch.compile``).

    All the paths of one ``x1`` block in one batched matmul ``a (..., mul1, d1) @
    B (..., d1, sum d3)`` (larger matrices: ``bmm`` costs about a microsecond per
    sample and matrix, whatever their size), then each path's weights multiplied
    straight into its slot of the preallocated output (``mul`` with ``out=``): one
    pass over the output. The product keeps channels outside and ``k`` inside, as
    the output does, so those writes run along rows of ``d3`` contiguous numbers:
    measured 2.2x faster than computing ``(sum d3, mul1)`` and writing it
    transposed (91 -> 42 ms for the l1 = 2 block of workload (c)). Unweighted
    ``"cg"`` segments (full tensor products, ``w`` None) are copied into place.
    The rows go by chunks whose products (``_TP_CHUNK`` floats) stay in cache
    and reuse one scratch buffer: workload (c) 222-233 -> 150-160 ms in one run
    (10^4 edges, float32, one thread), (a) unchanged (its 1,000 rows are one chunk).
    """
    grouped = schedule.grouped
    call = consts[grouped.call]
    # ChannelwiseSegment, or the unweighted FullSegment (w is None): output offset of each
    seg_at, at = [], 0
    for seg in grouped.segments:
        seg_at.append(at)
        at += seg.n * seg.mul1 * seg.d3
    batch = tuple(batch)
    x1, x2 = _rows(x1, batch), _rows(x2, batch)
    if w is not None and w.dim() > 1:
        w = _rows(w, batch)
    rows = x1.shape[0]
    out = x1.new_empty((rows, at))
    plans = []  # per x1 block: (X1Block, B (rows, d1, sum d3) as a strided view, [(d3, weight offset, output offset)])
    for blk in grouped.x1_blocks:
        mul1, d1 = blk.mul1, blk.d1
        bt = torch.matmul(x2, call[:, torch.tensor(blk.columns_by_path, device=call.device)])
        lst = []
        for si in blk.segments:
            seg = grouped.segments[si]
            for j in range(seg.n):
                woff = None if seg.weight_offset is None else seg.weight_offset + j * mul1
                lst.append((seg.d3, woff, seg_at[si] + j * mul1 * seg.d3))
        plans.append((blk, bt.view(rows, bt.shape[-1] // d1, d1).transpose(-1, -2), lst))
    widest = max([blk.mul1 * bt.shape[-1] for blk, bt, _ in plans], default=0) or 1
    step = max(1, min(rows, _TP_CHUNK // widest))
    scratch = x1.new_empty((step * widest,))
    for s in range(0, rows, step):
        e = min(rows, s + step)
        for blk, bt, lst in plans:
            # (n, mul1, sum d3); a contiguous: another batch stride sends bmm to a per-sample loop
            st1, mul1, d1 = blk.start1, blk.mul1, blk.d1
            a = x1[s:e, st1 : st1 + mul1 * d1].reshape(e - s, mul1, d1)
            z = scratch[: (e - s) * mul1 * bt.shape[-1]].view(e - s, mul1, bt.shape[-1])
            if d1 == 1:
                torch.mul(a, bt[s:e], out=z)
            else:
                torch.matmul(a.contiguous(), bt[s:e], out=z)
            r = 0
            for d3, woff, o in lst:
                dst = out[s:e, o : o + mul1 * d3].view(e - s, mul1, d3)
                if woff is None:
                    dst.copy_(z[..., r : r + d3])
                else:
                    wp = w[..., woff : woff + mul1] if w.dim() == 1 else w[s:e, woff : woff + mul1]
                    torch.mul(z[..., r : r + d3], wp.unsqueeze(-1), out=dst)
                r += d3
    return out.reshape(batch + (at,))


_TP_CHUNK = 1 << 20  # floats of one block's product per chunk of rows (4 MiB in float32): it stays in cache


def _fully_connected_forward(schedule, consts, x1, x2, w, batch, a_t=None):
    """Forward-only fully connected products with shared weights (``"uvw"`` segments only).

    Per output block ``(mul_o, d3)`` with entries ``p`` (an ``x1`` block ``(mul1, d1)``
    and its weights ``W_p (mul1, mul_o)``): the channels are mixed first, each
    entry one GEMM ``a_p^T (d1 n, mul1) @ W_p`` written straight into its rows of
    ``T (K, n, mul_o)``, ``K`` the sum of the entries' ``d1``; then one batched
    matmul ``T^T (n, mul_o, K) @ B^T (n, K, d3)`` (both strided views BLAS takes as
    they are) gives the block in the output's ``(mul_o, d3)`` order, copied into
    place as whole rows. ``B = x2 @ Call[:, cols]`` comes out ``(n, d3, K)`` in one
    matmul (``FullyConnectedSegment.columns``). Against the autograd-ready form (a GEMM per ``x1``
    block, then concatenations of its pieces and transposed writes), measured on
    workload (b) (10^4 rows, float32, one thread): 40-45 -> 23-24 ms. With autograd
    it runs as ``FullyConnected`` (:func:`_fully_connected_backward`). ``a_t``: a
    dict that receives the transposed ``x1`` blocks, for the backward.
    """
    segs = schedule.grouped.segments
    call = consts[schedule.grouped.call]
    batch = tuple(batch)
    x1, x2 = _rows(x1, batch), _rows(x2, batch)
    n = x1.shape[0]
    out = x1.new_empty((n, sum(seg.mul_o * seg.d3 for seg in segs)))
    a_t, o = {} if a_t is None else a_t, 0  # x1 blocks as (d1 n, mul1), made once per block
    for seg in segs:
        mul_o, d3, k_all = seg.mul_o, seg.d3, seg.k
        t = x1.new_empty((k_all, n, mul_o))
        r = 0
        for e in seg.entries:
            st1, mul1, d1, off = e.start1, e.mul1, e.d1, e.weight_offset
            if st1 not in a_t:
                a_t[st1] = x1[:, st1 : st1 + mul1 * d1].reshape(n, mul1, d1).permute(2, 0, 1).reshape(d1 * n, mul1)
            wp = w[off : off + mul1 * mul_o].reshape(mul1, mul_o)
            torch.matmul(a_t[st1], wp, out=t[r : r + d1].view(d1 * n, mul_o))
            r += d1
        b = torch.matmul(x2, call[:, torch.tensor(seg.columns, device=call.device)]).view(n, d3, k_all)
        z = torch.bmm(t.permute(1, 2, 0), b.transpose(1, 2))  # (n, mul_o, d3)
        out[:, o : o + mul_o * d3].copy_(z.view(n, mul_o * d3))
        o += mul_o * d3
    return out.reshape(batch + (o,))


def _fully_connected_backward(schedule, consts, x1, x2, w, batch, g, need, a_t):
    """The gradients of :func:`_fully_connected_forward` along ``(x1, x2, w)`` for cotangent ``g`` (no graph).

    Per output block, with ``T``, ``B`` and ``G`` (the block of ``g`` as ``(n, mul_o,
    d3)``) as in the forward: ``dT = B^T G^T`` (one bmm, ``(n, K, mul_o)``), then
    per entry ``dW_p = a_p @ dT_p`` and ``da_p = dT_p @ W_p^T`` as GEMMs over all
    ``d1 n`` rows, and ``dB = G^T T`` (one bmm) folded back through ``Call`` into
    ``dx2`` with one GEMM. ``T`` is recomputed (a GEMM per entry) rather than kept
    from the forward; ``a_t`` are the forward's transposed ``x1`` blocks. Returns
    ``(dx1, dx2, dw)`` at the inputs' shapes (None where ``need`` is False).
    Measured on workload (b) (10^4 rows, float32, one thread), interleaved in one
    run: fwd+bwd 89.6 against 103.6 ms through :func:`_grouped_tp_graph`.
    """
    call = consts[schedule.grouped.call]
    batch, dim1, dim2 = tuple(batch), x1.shape[-1], x2.shape[-1]
    x1f, x2f = _rows(x1, batch), _rows(x2, batch)
    n = x1f.shape[0]
    g = g.reshape(n, g.shape[-1])
    want1, want2, wantw = need
    da_t = {}  # gradients of the x1 blocks: start1 -> (mul1, d1, (d1 n, mul1))
    dx2 = x2f.new_zeros((n, dim2)) if want2 else None
    dw = torch.zeros_like(w) if wantw else None
    o = 0
    for seg in schedule.grouped.segments:
        mul_o, d3, k_all = seg.mul_o, seg.d3, seg.k
        call_o = call[:, torch.tensor(seg.columns, device=call.device)]  # (dim2, d3 K)
        b = torch.matmul(x2f, call_o).view(n, d3, k_all)
        gz = g[:, o : o + mul_o * d3].reshape(n, mul_o, d3)
        o += mul_o * d3
        if want1 or wantw:
            if d3 == 1:  # an outer product: bmm with an inner size of 1 runs several times slower
                dt = (b.transpose(1, 2) * gz.transpose(1, 2)).permute(1, 0, 2)  # (K, n, mul_o)
            else:
                dt = torch.bmm(b.transpose(1, 2), gz.transpose(1, 2)).permute(1, 0, 2)
        if want2:
            t = x1f.new_empty((k_all, n, mul_o))
        r = 0
        for e in seg.entries:
            st1, mul1, d1, off = e.start1, e.mul1, e.d1, e.weight_offset
            wp = w[off : off + mul1 * mul_o].reshape(mul1, mul_o)
            if want2:
                torch.matmul(a_t[st1], wp, out=t[r : r + d1].view(d1 * n, mul_o))
            if want1 or wantw:
                dtp = dt[r : r + d1].reshape(d1 * n, mul_o)
            if wantw:
                dw[off : off + mul1 * mul_o].view(mul1, mul_o).add_(torch.matmul(a_t[st1].transpose(0, 1), dtp))
            if want1:
                da = torch.matmul(dtp, wp.transpose(0, 1))
                if st1 in da_t:
                    da_t[st1][2].add_(da)
                else:
                    da_t[st1] = (mul1, d1, da)
            r += d1
        if want2:
            db = torch.bmm(gz.transpose(1, 2), t.permute(1, 2, 0))  # (n, d3, K)
            dx2.add_(torch.matmul(db.reshape(n, d3 * k_all), call_o.transpose(0, 1)))
    grads = [None, dx2, dw]
    if want1:
        dx1 = x1f.new_zeros((n, dim1))
        for st1, (mul1, d1, da) in da_t.items():
            dx1[:, st1 : st1 + mul1 * d1].view(n, mul1, d1).copy_(da.view(d1, n, mul1).permute(1, 2, 0))
        grads[0] = dx1
    for k, t in ((0, x1), (1, x2)):
        if grads[k] is not None:
            d = grads[k].reshape(batch + (t.shape[-1],))
            grads[k] = d if d.shape == t.shape else d.sum_to_size(t.shape)
    return tuple(grads)


def _forward_only_schedule(schedule) -> bool:
    """Plans whose segments :func:`_grouped_uvu_forward` runs (channelwise or full products)."""
    return schedule.grouped is not None and schedule.grouped.kinds <= {"grp", "cg"}


_PLAN_IDS, _PLANS = {}, []  # plans seen by _grouped_forward_op under torch.compile


@static_function
def _plan_id(plan) -> int:
    if plan not in _PLAN_IDS:
        _PLAN_IDS[plan] = len(_PLANS)
        _PLANS.append(plan)
    return _PLAN_IDS[plan]


def _fully_connected_schedule(schedule) -> bool:
    """Plans whose segments are all fully connected (``"uvw"``): :func:`_fully_connected_forward` with shared weights."""
    return schedule.grouped is not None and schedule.grouped.kinds == {"uvw"}


def _grouped_forward_custom_op():
    """``e3xp::grouped_forward``: the eager forward-only kernels as an opaque torch op.

    Under ``torch.compile`` without autograd, Inductor would otherwise trace the
    forward into its own loops, which measured 2x slower than the eager kernels on
    workload (c) (607 vs 302 ms, 10^4 edges, float32, one run) and 1.7x on (a);
    for (b) (shared weights, :func:`_fully_connected_forward`) 30-32 against 22-24 ms.
    Inside the compiled graph the op runs :func:`_grouped_uvu_forward` or
    :func:`_fully_connected_forward`. The plan travels as an integer id (custom ops
    take tensors and plain numbers only).
    """

    @torch.library.custom_op("e3xp::grouped_forward", mutates_args=())
    def grouped_forward(x1: torch.Tensor, x2: torch.Tensor, w: Optional[torch.Tensor], plan_id: int,
                        batch: list[int]) -> torch.Tensor:
        schedule, consts = make_backend()._prepared("tp", _PLANS[plan_id], x1)
        if _forward_only_schedule(schedule):
            return _grouped_uvu_forward(schedule, consts, x1, x2, w, tuple(batch))
        return _fully_connected_forward(schedule, consts, x1, x2, w, tuple(batch))

    @grouped_forward.register_fake
    def _(x1, x2, w, plan_id, batch):
        return x1.new_empty(tuple(batch) + (_PLANS[plan_id].irreps_out.dim,))

    return grouped_forward


def _sh_forward_custom_op():
    """``e3xp::sh_forward``: :func:`_spherical_harmonics_forward` as an opaque torch op.

    For ``torch.compile`` without autograd above ``SH_POLYNOMIAL_LMAX``, where the
    eager in-place kernel ran faster than Inductor's loops over the sparse recursion
    (workload (e8) in one benchmark run: eager 243, compiled 299 ms). Measured in
    five alternating pairs of processes (10^6 vectors, lmax 8, float32): median
    271 -> 262 ms (ranges 262-347 and 247-298), first call 4.1-5.4 -> 2.7-3.1 s. Up to
    lmax 3 the compiled polynomials stay faster than the eager kernel (24 vs 35 ms).
    """

    @torch.library.custom_op("e3xp::sh_forward", mutates_args=())
    def sh_forward(vectors: torch.Tensor, lmax: int, ls: list[int], normalization: str,
                   normalize: bool) -> torch.Tensor:
        schedule, mats = make_backend()._prepared("sh", (lmax, tuple(ls), normalization), vectors)
        return _spherical_harmonics_forward(vectors, schedule, mats, normalize)

    @sh_forward.register_fake
    def _(vectors, lmax, ls, normalization, normalize):
        return vectors.new_empty(tuple(vectors.shape[:-1]) + (sum(2 * l + 1 for l in ls),))

    return sh_forward


def _grouped_tp(backend, schedule, consts, x1, x2, w, shared, batch):
    """The grouped segments of ``array_api._group_channelwise`` with native torch calls.

    In eager mode: channelwise and full products (every segment grouped) without
    autograd run the chunked :func:`_grouped_uvu_forward`; fully connected products
    with shared weights run :func:`_fully_connected_forward`, with autograd through
    ``FullyConnected`` (:func:`_fully_connected_backward`). Everything else, and
    all of it under ``torch.compile``, is :func:`_grouped_tp_graph`.
    """
    inputs = [a for a in (x1, x2, w) if a is not None]
    if _forward_only_schedule(schedule) and _forward_only(*inputs):
        return _grouped_uvu_forward(schedule, consts, x1, x2, w, batch)
    if shared and _fully_connected_schedule(schedule) and not torch.compiler.is_compiling():
        if not _needs_graph(*inputs):
            return _fully_connected_forward(schedule, consts, x1, x2, w, batch)
        return _FullyConnected.apply(backend, schedule, consts, tuple(batch), x1, x2, w)
    return _grouped_tp_graph(backend, schedule, consts, x1, x2, w, shared, batch)


def _grouped_tp_graph(backend, schedule, consts, x1, x2, w, shared, batch):
    """:func:`_grouped_tp` in differentiable torch calls (autograd to any order, ``torch.compile``).

    Differences from the standard executor, each measured on CPU:
    ``torch.split`` gives each input one ``SplitBackward`` (a single concatenation
    of the gradients) where slicing gives every slice a zero-filled gradient of
    the whole input; the per-path products are computed transposed, channels
    innermost, as ``(d3, d1) @ (d1, mul1)`` batched matmuls (contiguous operands:
    another batch stride sends ``bmm`` to a per-sample loop), several times faster
    than ``(mul1, d1) @ (d1, d3)``, through ``SmallL`` / ``SmallR`` so that every
    derivative order keeps channels innermost too; the pieces are transposed
    straight into one preallocated output (``Assemble``) instead of transposed
    copies plus ``torch.cat``.
    """
    from .array_api import _finish, _out_block

    segs = schedule.grouped.segments
    cols, x1_cuts, w_cuts = [], [], []  # Call's column blocks (d1, d3) in order; split points
    for seg in segs:
        if seg.kind in ("grp", "cg"):  # "cg": the same without weights (full products)
            cols += [(seg.d1, seg.d3)] * seg.n
            x1_cuts += [seg.start1, seg.start1 + seg.mul1 * seg.d1]
            if seg.kind == "grp":
                w_cuts += [seg.weight_offset + k * seg.mul1 for k in range(seg.n + 1)]
        elif seg.kind == "uvw":
            for e in seg.entries:
                cols.append((e.d1, seg.d3))
                x1_cuts += [e.start1, e.start1 + e.mul1 * e.d1]
                w_cuts += [e.weight_offset, e.weight_offset + e.mul1 * seg.mul_o]
    x1_sizes, x1_at = _split_sizes(x1_cuts, x1.shape[-1])
    x1s = torch.split(x1, x1_sizes, dim=-1)
    if w is not None:
        w_sizes, w_at = _split_sizes(w_cuts, w.shape[-1])
        ws = torch.split(w, w_sizes, dim=-1)
    bcs = torch.split(torch.matmul(x2, consts[schedule.grouped.call]), [d1 * d3 for d1, d3 in cols], dim=-1)
    a_t = {}  # x1 blocks as (..., d1, mul1), made once per block

    def x1_t(st1, mul1, d1):
        if st1 not in a_t:
            a = x1s[x1_at[st1]]
            a_t[st1] = a.reshape(a.shape[:-1] + (mul1, d1)).transpose(-1, -2).contiguous()
        return a_t[st1]

    def cg_t(k, d1, d3):  # (..., d3, d1), contiguous
        b = bcs[k]
        return b.reshape(b.shape[:-1] + (d1, d3)).transpose(-1, -2).contiguous()

    # Fully connected blocks mix the channels first, one GEMM per x1 block for all its
    # paths: t_p = a^T W_p, (batch d1, mul1) @ (mul1, sum of mul_o); far more efficient
    # than small matmuls, and it leaves one (d3, K) @ (K, mul_o) matmul per output
    # block with K = sum of d1 over its paths instead of one (d3, d1) @ (d1, mul1) per path.
    by_x1, mixed = {}, {}  # start1 -> [((segment, entry), entry, mul_o)]
    for si, seg in enumerate(segs):
        if seg.kind == "uvw":
            for j, e in enumerate(seg.entries):
                by_x1.setdefault(e.start1, []).append(((si, j), e, seg.mul_o))
    for st1, lst in by_x1.items():
        mul1, d1 = lst[0][1].mul1, lst[0][1].d1
        wps = [ws[w_at[e.weight_offset]] for _, e, _ in lst]
        wcat = torch.cat([wp.reshape(wp.shape[:-1] + (mul1, mul_o)) for wp, (_, _, mul_o) in zip(wps, lst)], dim=-1)
        a = x1_t(st1, mul1, d1)  # (..., d1, mul1)
        if shared:
            t = torch.matmul(a.reshape(-1, mul1), wcat).reshape(a.shape[:-1] + (wcat.shape[-1],))
        else:
            t = torch.matmul(a, wcat)
        for (key, _, _), chunk in zip(lst, torch.split(t, [mul_o for _, _, mul_o in lst], dim=-1)):
            mixed[key] = chunk  # (..., d1, mul_o)

    # pieces (..., d3, mul) transposed, each written once into the output by _Assemble
    pieces, spec, at, k = [], [], 0, 0

    def put(z_t, d3, mul):
        nonlocal at
        if d3 * mul:
            pieces.append(z_t)
            spec.append((at, d3, mul))
            at += d3 * mul

    for si, seg in enumerate(segs):
        if seg.kind == "blk":
            blk = _out_block(backend, _Ops, schedule.blocks[seg.index], consts, x1, x2, w, shared, batch)
            put(blk.unsqueeze(-2), 1, blk.shape[-1])  # flat: (..., 1, n) transposed is itself
            continue
        if seg.kind == "uvw":
            b_t, t = [], []
            for j, e in enumerate(seg.entries):
                b_t.append(cg_t(k, e.d1, seg.d3))  # (..., d3, d1)
                t.append(mixed[si, j])  # (..., d1, mul_o)
                k += 1
            b_t = b_t[0] if len(b_t) == 1 else torch.cat(b_t, dim=-1)  # (..., d3, K)
            t = t[0] if len(t) == 1 else torch.cat(t, dim=-2)  # (..., K, mul_o)
            put(_small_matmul(b_t, t), seg.d3, seg.mul_o)
            continue
        mul1, d1, d3 = seg.mul1, seg.d1, seg.d3
        if seg.kind == "cg":
            for j in range(seg.n):
                put(_small_matmul(cg_t(k, d1, d3), x1_t(seg.start1, mul1, d1)), d3, mul1)
                k += 1
            continue
        for j in range(seg.n):
            b_t = cg_t(k, d1, d3)
            wj = ws[w_at[seg.weight_offset + j * mul1]].unsqueeze(-2)  # (..., 1, mul1)
            if seg.weights_first:
                z_t = _small_matmul(b_t, x1_t(seg.start1, mul1, d1) * wj)
            else:
                z_t = _small_matmul(b_t, x1_t(seg.start1, mul1, d1)) * wj
            put(z_t, d3, mul1)
            k += 1
    if not pieces:
        return _finish(backend, _Ops, [], batch, x1)
    return _Assemble.apply(tuple(spec) + (at,), tuple(batch), *pieces)


def _linear_shared(schedule, x, w, bias, batch):
    """Linear with one weight vector (and bias) for every sample, native torch calls.

    Each output block is ``x_t @ W``, ``x_t`` the block's ``(n, d, mul_in)``
    transposed *view*: ``matmul`` makes the one transposed copy BLAS needs, where
    the generic executor permuted, reshaped and concatenated into three copies.
    Without autograd the products are copied straight into one preallocated
    output (measured on workload (d), 10^4 rows, float32: 98 -> 73 ms); with
    autograd ``torch.split`` / ``torch.cat`` keep one gradient buffer per input
    (in-place writes cost more in the backward than the ``cat``: 240 vs 350 ms).
    """
    dim_in, dim_out = schedule.dim_in, schedule.dim_out
    xf = x.reshape(-1, dim_in)
    n = xf.shape[0]
    forward_only = _forward_only(*(a for a in (x, w, bias) if a is not None))
    x_cuts, w_cuts = [], []
    for blk in schedule.blocks:
        for p in blk.paths:
            x_cuts += [p.start, p.start + p.mul_in * blk.dim]
            w_cuts += [p.weight_offset, p.weight_offset + p.mul_in * blk.mul]
    x_sizes, x_at = _split_sizes(x_cuts, dim_in)
    xs = torch.split(xf, x_sizes, dim=-1)
    if w is not None:
        w_sizes, w_at = _split_sizes(w_cuts, w.shape[-1])
        ws = torch.split(w, w_sizes)
    out = xf.new_empty((n, dim_out)) if forward_only else None
    parts, o = [], 0
    for blk in schedule.blocks:
        mul_o, d = blk.mul, blk.dim
        z = None  # (n, d, mul_o), or (n, mul_o) for scalars
        for p in blk.paths:
            wm = ws[w_at[p.weight_offset]].reshape(p.mul_in, mul_o) * p.coefficient
            xb = xs[x_at[p.start]]
            t = torch.matmul(xb if d == 1 else xb.reshape(n, p.mul_in, d).transpose(1, 2), wm)
            z = t if z is None else z + t
        if bias is not None and blk.bias is not None:
            b = bias[blk.bias.offset : blk.bias.offset + blk.bias.mul]  # broadcast over the rows (and the d components)
            z = b if z is None else z + b
        if z is not None and z.dim() == 1:  # a bias and no weighted path into this block
            z = z.expand((n, mul_o) if d == 1 else (n, d, mul_o))
        if forward_only:
            dst = out[:, o : o + mul_o * d]
            if z is None:
                dst.zero_()
            elif d == 1:
                dst.copy_(z)
            else:
                dst.view(n, mul_o, d).copy_(z.transpose(1, 2))
        elif mul_o * d:
            if z is None:
                parts.append(xf.new_zeros((n, mul_o * d)))
            else:
                parts.append(z if d == 1 else z.transpose(1, 2).reshape(n, mul_o * d))
        o += mul_o * d
    if not forward_only:
        out = parts[0] if len(parts) == 1 else (torch.cat(parts, dim=-1) if parts else xf.new_zeros((n, 0)))
    return out.reshape(tuple(batch) + (dim_out,))


_SH_CHUNK = 16384  # rows per block of the harmonics: its intermediates stay in cache


def _spherical_harmonics(vectors, schedule, mats, normalize):
    """The recursion of ``array_api.spherical_harmonics`` in a transposed layout, by blocks.

    Samples innermost, ``(3 (2l - 1), n) -> (2l + 1, n)``: the outer products
    vectorise over samples and each degree is one GEMM with a long dimension,
    where ``(n, 3 (2l - 1)) @ (3 (2l - 1), 2l + 1)`` and ``(n, k, 1) * (n, 1, 3)``
    run several times slower; blocks of rows keep every intermediate small.
    :func:`_spherical_harmonics_forward` writes the blocks in place; with autograd,
    ``SphericalHarmonics`` adds the hand-written gradient (:func:`_spherical_harmonics_vjp`).
    """
    if not _needs_graph(vectors):
        return _spherical_harmonics_forward(vectors, schedule, mats, normalize)
    return _SphericalHarmonics.apply(schedule, mats, normalize, vectors)


def _spherical_harmonics_graph(vectors, schedule, mats, normalize):
    """:func:`_spherical_harmonics` as differentiable torch calls (any order of derivative)."""
    from .array_api import unit_vectors

    batch = tuple(vectors.shape[:-1])
    flat = vectors.reshape(-1, 3)
    outs = []
    # Under torch.compile the blocks would be unrolled into the graph (61 of them for
    # 10^6 vectors: the compile took over 150 s); Inductor fuses the whole-array form.
    blocked = flat.shape[0] > _SH_CHUNK and not torch.compiler.is_compiling()
    for x in torch.split(flat, _SH_CHUNK, dim=0) if blocked else (flat,):
        if normalize:
            x = unit_vectors(_Ops, x)
        v = x.transpose(0, 1).contiguous()  # (3, n)
        ys = [torch.ones_like(v[:1])]
        for l in range(1, schedule.lmax + 1):
            outer = ys[-1].unsqueeze(1) * v.unsqueeze(0)  # (2l - 1, 3, n)
            ys.append(torch.matmul(mats[l - 1].transpose(0, 1), outer.flatten(0, 1)))
        parts = [(ys[l] if f == 1.0 else ys[l] * f).transpose(0, 1) for l, f in zip(schedule.ls, schedule.factors)]
        outs.append(parts[0].contiguous() if len(parts) == 1 else torch.cat(parts, dim=-1))
    out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=0)
    return out.reshape(batch + (out.shape[-1],))


class _InPlace:
    """The ``out=`` calls of ``array_api.spherical_harmonics_in_place``."""

    empty = staticmethod(lambda shape, like: like.new_empty(shape))
    mul = staticmethod(lambda a, b, out: torch.mul(a, b, out=out))
    matmul = staticmethod(lambda a, b, out: torch.matmul(a, b, out=out))
    # (nb, 3) -> (3, nb): stacking the columns measured 4x faster than a transposed copy
    rows = staticmethod(lambda x: torch.stack([x[:, 0], x[:, 1], x[:, 2]]))


def _spherical_harmonics_forward(vectors, schedule, mats, normalize):
    """:func:`_spherical_harmonics` without autograd: ``array_api.spherical_harmonics_in_place``.

    Measured in one run (10^6 vectors, float32, one thread): lmax 3 81 -> 59-62 ms,
    lmax 8 440 -> 300-320 ms. With autograd it runs inside ``SphericalHarmonics``
    (its autograd graph would cost more in the backward than the writes save).
    """
    from .array_api import spherical_harmonics_in_place

    flat = vectors.reshape(-1, 3)
    sel, mats_t = _sh_block_constants(schedule, mats, flat)
    out = spherical_harmonics_in_place(_InPlace, _Ops, flat, schedule.lmax, mats_t, sel, normalize, _SH_CHUNK)
    return out.reshape(tuple(vectors.shape[:-1]) + (sel.shape[1],))


def _sh_block_constants(schedule, mats, like):
    """``(sel, mats_t)`` of ``array_api.spherical_harmonics_in_place`` in ``like``'s dtype and device."""
    from .array_api import sh_selection

    sel = torch.from_numpy(sh_selection(schedule)).to(dtype=like.dtype, device=like.device)
    return sel, [m.transpose(0, 1) for m in mats]


def _spherical_harmonics_vjp(vectors, g, schedule, mats, normalize):
    """The gradient of :func:`_spherical_harmonics_forward` along ``vectors`` for cotangent ``g`` (no graph).

    By the same blocks of rows, in the same transposed layout: each block's
    recursion is recomputed into one ``((lmax + 1)^2, nb)`` buffer, the cotangent of
    all its rows is ``sel @ g^T`` (one GEMM), and the recursion runs backwards,
    ``y_l = M_l^T (y_{l-1} (x) u)`` giving ``dO_l = M_l dy_l`` (one GEMM), then
    ``dy_{l-1} += sum_c dO_l[:, c] u_c`` and ``du_c += sum_m dO_l[m, c] y_{l-1}[m]``;
    the normalisation ``u = v / |v|`` contributes ``dv = (du - u (u . du)) / |v|``
    (``du`` itself at ``v = 0``, as the guarded division of ``unit_vectors`` gives).
    Every intermediate is a block-sized buffer reused across blocks. Against
    autograd through :func:`_spherical_harmonics_graph`, interleaved in one run
    (10^6 vectors, float32, one thread): fwd+bwd lmax 3 188-190 -> 125-131 ms,
    lmax 8 1127-1129 -> 868 ms.
    """
    from .array_api import sh_block_rows

    batch = tuple(vectors.shape[:-1])
    flat = vectors.reshape(-1, 3)
    lmax = schedule.lmax
    n, rows = flat.shape[0], (lmax + 1) ** 2
    sel, mats_t = _sh_block_constants(schedule, mats, flat)
    g = g.reshape(n, sel.shape[1])
    dx = flat.new_empty((n, 3))
    width = max(3 * (2 * lmax - 1), 1)
    bufs = None  # block-sized buffers, reused: fresh allocations per block cost page faults
    for s in range(0, n, _SH_CHUNK):
        x = flat[s : s + _SH_CHUNK]
        nb = x.shape[0]
        if bufs is None or bufs[0].shape[1] != nb:
            bufs = tuple(flat.new_empty(shape) for shape in ((rows, nb), (rows, nb), (width, nb), (width, nb), (3, nb)))
        ys, dy, outer, prod, du = bufs
        # the forward's block again, up to y_{lmax - 1} (y_lmax itself is not needed)
        v, den = sh_block_rows(_InPlace, _Ops, x, lmax - 1, mats_t, ys, outer.view(-1), normalize)
        torch.matmul(sel, g[s : s + nb].transpose(0, 1), out=dy)  # (rows, nb)
        du.zero_()
        for l in range(lmax, 0, -1):
            do = outer[: 3 * (2 * l - 1)]
            torch.matmul(mats[l - 1], dy[l * l : (l + 1) ** 2], out=do)
            do = do.view(2 * l - 1, 3, nb)
            p = prod[: 3 * (2 * l - 1)].view(2 * l - 1, 3, nb)
            if l > 1:  # y_0 is the constant 1; three multiply-adds along rows, not a sum over c
                prev = dy[(l - 1) ** 2 : l * l]
                for c in range(3):
                    prev.addcmul_(do[:, c], v[c])
            torch.mul(do, ys[(l - 1) ** 2 : l * l].unsqueeze(1), out=p)
            du += p.sum(0)
        if normalize:
            dv = (du - v * (v * du).sum(0, keepdim=True)) / den
        else:
            dv = du
        dx[s : s + nb] = dv.transpose(0, 1)
    return dx.reshape(batch + (3,))


@static_function
def _sh_terms(key):
    from .array_api import sparse_sh_terms

    return sparse_sh_terms(key)


def _spherical_harmonics_sparse(vectors, schedule, terms, normalize):
    """The same recursion as :func:`_spherical_harmonics`, one column at a time.

    Only the nonzero entries of each ``M_l`` (290 of 2424 up to ``l = 8``), all
    elementwise: what ``torch.compile`` wants, as Inductor fuses the evaluation
    into a few loops over the samples (the compiled dense recursion measured 5x
    slower at lmax 3). Used under compile above ``SH_POLYNOMIAL_LMAX``; eager mode
    keeps the dense, blocked form, which measured faster there (one kernel launch
    per degree instead of one per term).
    """
    from .array_api import sparse_sh_columns, unit_vectors

    x = unit_vectors(_Ops, vectors) if normalize else vectors
    cols = sparse_sh_columns(_Ops, [x[..., j] for j in range(3)], schedule, terms)
    # Stacked as rows, then transposed once: Inductor keeps the recursion's shared
    # terms in buffers, and a column stack then copies each of them into a column
    # of the (n, 81) output, one strided pass over the whole output per column
    # (measured at lmax 8, 10^6 vectors, in one run: fwd 1179 -> 568 ms, e3nn
    # compiled 985-999 ms; fwd+bwd 2002 -> 1685 ms). The lmax <= 3 polynomials fuse
    # into one loop that writes the columns directly, which stays faster (37 vs 58 ms).
    return torch.stack(cols, dim=0).movedim(0, -1).contiguous()


@static_function
def _sh_poly(key):
    from .array_api import sh_polynomial_terms

    return sh_polynomial_terms(key)


def _spherical_harmonics_polynomial(vectors, poly, normalize):
    """The harmonics as explicit polynomials in the unit vector (``array_api.sh_polynomial_terms``).

    For ``torch.compile``: at ``lmax = 3`` this is 19 monomials and 28 scaled terms,
    against the recursion's 35 terms of two multiplies each, with which Inductor
    split the evaluation into three loops, two of them recomputing the shared terms.
    """
    from .array_api import sh_polynomial_columns, unit_vectors

    x = unit_vectors(_Ops, vectors) if normalize else vectors
    return torch.stack(sh_polynomial_columns(_Ops, [x[..., j] for j in range(3)], poly), dim=-1)


_grouped_forward_op = None
_sh_forward_op = None


class TorchBackend(Backend):
    """:class:`Backend` for ``torch.Tensor`` (CPU or CUDA).

    Examples
    --------
    >>> from e3xp.backends import get_backend
    >>> be = get_backend("torch")
    >>> x = be.asarray([1.0, 2.0], dtype="float64")
    >>> print(be.is_array(x), be.to_numpy(x))
    True [1. 2.]
    """

    def is_array(self, x) -> bool:
        return isinstance(x, torch.Tensor)

    def asarray(self, x, *, dtype=None, device=None):
        if isinstance(x, np.ndarray) and not x.flags.writeable:
            x = np.array(x)  # torch warns about (and cannot protect) read-only buffers
        return torch.as_tensor(x, dtype=self._resolve_dtype(dtype), device=device)

    def to_numpy(self, x) -> np.ndarray:
        x = x.detach()
        if x.dtype == torch.bfloat16:
            x = x.float()
        return x.cpu().numpy()

    def device(self, x):
        return x.device

    def float_dtype(self, name: str):
        if name not in ("float16", "bfloat16", "float32", "float64"):
            raise TypeError(f"unknown floating dtype {name!r} for backend 'torch': expected 'float32' or 'float64'")
        return getattr(torch, name)

    def _dtype_name(self, dtype) -> str:
        return str(dtype).rsplit(".", 1)[-1]

    def _is_real_float(self, dtype) -> bool:
        return dtype.is_floating_point

    def default_float_dtype(self, device=None):
        return torch.get_default_dtype()

    def _zeros(self, shape, like):
        return torch.zeros(tuple(shape), dtype=like.dtype, device=like.device)

    def _materialize(self, np_array, like):
        # Not an inference tensor even inside inference_mode: the cache outlives the block.
        with torch.inference_mode(False):
            return torch.as_tensor(np.array(np_array, dtype=np.float64), dtype=like.dtype, device=like.device)

    def _prepared(self, kind, key, like):
        if torch.compiler.is_compiling():
            return static_call(_schedule, kind, key), static_call(_constants, kind, key, like.dtype, like.device)
        return super()._prepared(kind, key, like)

    def tensor_product(self, plan, x1, x2, weights=None):
        from . import array_api

        shared, batch = array_api.check_tp_inputs(self, plan, x1, x2, weights)
        if torch.compiler.is_compiling():
            schedule = static_call(_schedule, "tp", plan)
            opaque = _forward_only_schedule(schedule) or (shared and _fully_connected_schedule(schedule))
            if opaque and not _needs_graph(*(a for a in (x1, x2, weights) if a is not None)):
                # no autograd graph wanted: the eager forward-only kernels as one opaque op
                return _grouped_forward_op(x1, x2, weights, static_call(_plan_id, plan), list(batch))
        schedule, consts = self._prepared("tp", plan, x1)
        if schedule.grouped is None:
            return array_api.execute_tp(self, schedule, consts, x1, x2, weights, shared, batch)
        return _grouped_tp(self, schedule, consts, x1, x2, weights, shared, batch)

    def linear(self, plan, x, weights, bias=None):
        from . import array_api

        shared, b_shared, batch = array_api.check_linear_inputs(self, plan, x, weights, bias)
        if not (shared and b_shared):
            return array_api.linear(self, plan, x, weights, bias)
        schedule, _ = self._prepared("linear", plan, x)
        return _linear_shared(schedule, x, weights, bias, batch)

    def spherical_harmonics(self, sh_plan, vectors, ls, normalize=True, normalization="component"):
        from . import array_api

        ls = array_api.check_sh_inputs(self, sh_plan, vectors, ls, normalization)
        key = (sh_plan.lmax, ls, normalization)
        if torch.compiler.is_compiling():
            schedule = static_call(_schedule, "sh", key)
            from .array_api import SH_POLYNOMIAL_LMAX

            if schedule.lmax <= SH_POLYNOMIAL_LMAX:
                return _spherical_harmonics_polynomial(vectors, static_call(_sh_poly, key), normalize)
            if not _needs_graph(vectors):
                # no autograd graph wanted: the eager in-place kernel as one opaque op
                return _sh_forward_op(vectors, key[0], list(key[1]), normalization, bool(normalize))
            return _spherical_harmonics_sparse(vectors, schedule, static_call(_sh_terms, key), normalize)
        schedule, mats = self._prepared("sh", key, vectors)
        return _spherical_harmonics(vectors, schedule, mats, normalize)

    def normal(self, seed, shape, dtype=None, device=None):
        if isinstance(seed, torch.Generator):
            from .base import _check_shape

            dtype = self._resolve_dtype(dtype) or self.default_float_dtype()
            if not self._is_real_float(dtype):
                raise TypeError(f"normal() needs a real floating dtype, got {dtype}")
            x = torch.randn(_check_shape(shape), generator=seed, dtype=torch.float64, device=seed.device)
            return x.to(dtype=dtype, device=device if device is not None else x.device)
        return super().normal(seed, shape, dtype=dtype, device=device)

    def _check_index_range(self, index, num_segments):
        if torch.compiler.is_compiling() or index.shape[0] == 0:
            return  # ids are symbolic while tracing
        bad = (index < 0) | (index >= num_segments)
        if bool(bad.any()):
            value = int(index[bad][0])
            raise ValueError(f"segment id {value} is out of range: expected ids in [0, {num_segments})")

    def _scatter_sum(self, data, index, num_segments, axis):
        if index.dtype not in (torch.int64, torch.int32):
            index = index.to(torch.int64)
        shape = list(data.shape)
        shape[axis] = num_segments
        return torch.zeros(shape, dtype=data.dtype, device=data.device).index_add(axis, index, data)

    def _from_dlpack(self, x):
        return torch.from_dlpack(x)

    def _to_device(self, x, device):
        return x.to(device)


_backend = None


def make_backend() -> Backend:
    """The torch backend (imports torch).

    Examples
    --------
    >>> make_backend()
    Backend('torch')
    """
    global torch, _backend, _Assemble, _SmallL, _FullyConnected, _SphericalHarmonics
    global _grouped_forward_op, _sh_forward_op
    if _backend is None:
        import torch as _torch
        import array_api_compat.torch as xp

        torch = _torch
        _Assemble, _SmallL, _FullyConnected, _SphericalHarmonics = _layout_functions()
        _grouped_forward_op = _grouped_forward_custom_op()
        _sh_forward_op = _sh_forward_custom_op()
        _backend = TorchBackend("torch", xp, ops=_Ops)
    return _backend
