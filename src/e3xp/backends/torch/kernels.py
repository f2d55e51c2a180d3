"""Native torch kernels of the tensor products and the linear map, no autograd of their own.

Each was measured faster than the generic executor on CPU for the inputs
:func:`e3xp.backends.torch.tensor_product_path` sends it (benchmarks/RESULTS.md):

* :func:`grouped_forward`: channelwise and full products without autograd;
* :func:`fully_connected_forward` / :func:`fully_connected_backward`: fully
  connected products with shared weights, and their hand-written gradients (the
  autograd Function ``FullyConnected`` of :mod:`.autograd` wraps them);
* :func:`linear_shared`: the linear map with shared weights;
* :func:`dense_operands` / :func:`dense_product`: small channelwise products with
  an autograd graph as one dense Clebsch-Gordan matrix (a few built-in ops whose
  derivatives of every order are built-in ops too);
* :func:`linear_dense_operands` / :func:`linear_dense`: small linear maps with
  shared weights and an autograd graph as one matmul by the dense weight matrix.

They give the numbers of the float64 references (``tests/test_backends_fastpaths.py``).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

__all__ = ["Ops", "needs_graph", "flat_rows", "split_sizes", "grouped_forward", "fully_connected_forward",
           "fully_connected_backward", "linear_shared", "dense_operands", "dense_product", "linear_dense_operands", "linear_dense", "TP_CHUNK", "DENSE_MAX",
           "LINEAR_DENSE_MAX"]

TP_CHUNK = 1 << 20  # floats of one block's product per chunk of rows (4 MiB in float32): it stays in cache
# Largest dense Clebsch-Gordan matrix (dim1 * dim2 * dim_out floats) for which an eager
# product with an autograd graph runs as one dense matmul (dense_product). Measured on
# CPU, float32, 2,304 rows, forward + force-style double backward: 19,200 (a NequIP
# layer, lmax 1) 1.8x and 48,032 (3x0e+2x1o+2x2e x lmax 3) 2.0x faster than the
# grouped autograd Functions; 405,504 (32x0e+32x1o x lmax 2) 3.8x slower.
DENSE_MAX = 1 << 16
# Largest dense weight matrix (dim_in * dim_out) for which an eager linear map with
# shared weights and an autograd graph runs as one matmul (linear_dense).
LINEAR_DENSE_MAX = 1 << 14


class Ops:
    """The array-API functions the generic executor calls, as native torch calls."""

    matmul = staticmethod(lambda a, b: torch.matmul(a, b))
    reshape = staticmethod(lambda x, shape: torch.reshape(x, shape))
    permute_dims = staticmethod(lambda x, axes: torch.permute(x, axes))
    concat = staticmethod(lambda xs, axis=0: torch.cat(list(xs), dim=axis))
    expand_dims = staticmethod(lambda x, axis=0: torch.unsqueeze(x, axis))
    sum = staticmethod(lambda x, axis=None, keepdims=False: torch.sum(x, dim=axis, keepdim=keepdims))
    where = staticmethod(lambda c, a, b: torch.where(c, a, b))
    sqrt = staticmethod(lambda x: torch.sqrt(x))
    abs = staticmethod(lambda x: torch.abs(x))
    max = staticmethod(lambda x, axis=None, keepdims=False: torch.amax(x, dim=axis, keepdim=keepdims))
    maximum = staticmethod(lambda a, b: torch.maximum(a, b))
    stop_gradient = staticmethod(lambda x: x.detach())
    ones_like = staticmethod(lambda x: torch.ones_like(x))
    broadcast_to = staticmethod(lambda x, shape: torch.broadcast_to(x, shape))
    matrix_transpose = staticmethod(lambda x: torch.transpose(x, -1, -2))
    zeros = staticmethod(lambda shape, dtype=None, device=None: torch.zeros(shape, dtype=dtype, device=device))


def needs_graph(*arrays) -> bool:
    """Grad mode is on and some input requires gradients: an autograd graph must be built."""
    return torch.is_grad_enabled() and any(a.requires_grad for a in arrays)


def flat_rows(x, batch):
    """``x (..., dim)`` broadcast to ``batch`` and flattened to ``(rows, dim)`` (a view when no broadcast is needed)."""
    return torch.broadcast_to(x, batch + x.shape[-1:]).reshape(-1, x.shape[-1])


def split_sizes(bounds, total):
    """Chunk sizes between the sorted cut points ``bounds`` (0 and ``total`` added)."""
    cuts = sorted(set(bounds) | {0, total})
    return [b - a for a, b in zip(cuts[:-1], cuts[1:])], {a: k for k, a in enumerate(cuts[:-1])}


def grouped_forward(schedule, consts, x1, x2, w, batch):
    """Channelwise and full products (``"grp"`` / ``"cg"`` segments only) without an autograd graph.

    All the paths of one ``x1`` block in one batched matmul ``a (..., mul1, d1) @
    B (..., d1, sum d3)`` (larger matrices: ``bmm`` costs about a microsecond per
    sample and matrix, whatever their size), then each path's weights multiplied
    straight into its slot of the preallocated output (``mul`` with ``out=``): one
    pass over the output. The product keeps channels outside and ``k`` inside, as
    the output does, so those writes run along rows of ``d3`` contiguous numbers
    (several times faster than computing ``(sum d3, mul1)`` and writing it
    transposed). Unweighted ``"cg"`` segments (full tensor products, ``w`` None) are
    copied into place. The rows go by chunks whose products (``TP_CHUNK`` floats)
    stay in cache and reuse one scratch buffer. ``B``'s columns come in the order
    of :attr:`~e3xp.core.schedule.X1Block.columns_by_path`.
    """
    grouped = schedule.grouped
    call = consts[grouped.call]
    # ChannelwiseSegment, or the unweighted FullSegment (w is None): output offset of each
    seg_at, at = [], 0
    for seg in grouped.segments:
        seg_at.append(at)
        at += seg.n * seg.mul1 * seg.d3
    batch = tuple(batch)
    x1, x2 = flat_rows(x1, batch), flat_rows(x2, batch)
    if w is not None and w.dim() > 1:
        w = flat_rows(w, batch)
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
    step = max(1, min(rows, TP_CHUNK // widest))
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


def fully_connected_forward(schedule, consts, x1, x2, w, batch, a_t=None):
    """Forward-only fully connected products with shared weights (``"uvw"`` segments only).

    Per output block ``(mul_o, d3)`` with entries ``p`` (an ``x1`` block ``(mul1, d1)``
    and its weights ``W_p (mul1, mul_o)``): the channels are mixed first, each
    entry one GEMM ``a_p^T (d1 n, mul1) @ W_p`` written straight into its rows of
    ``T (K, n, mul_o)``, ``K`` the sum of the entries' ``d1``; then one batched
    matmul ``T^T (n, mul_o, K) @ B^T (n, K, d3)`` (both strided views BLAS takes as
    they are) gives the block in the output's ``(mul_o, d3)`` order, copied into
    place as whole rows. ``B = x2 @ Call[:, cols]`` comes out ``(n, d3, K)`` in one
    matmul (``FullyConnectedSegment.columns``). It avoids the autograd-ready form's
    concatenations of pieces and transposed writes (a GEMM per ``x1`` block); with
    autograd it runs as ``FullyConnected`` (:func:`fully_connected_backward`).
    ``a_t``: a dict that receives the transposed ``x1`` blocks, for the backward.
    """
    segs = schedule.grouped.segments
    call = consts[schedule.grouped.call]
    batch = tuple(batch)
    x1, x2 = flat_rows(x1, batch), flat_rows(x2, batch)
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


def fully_connected_backward(schedule, consts, x1, x2, w, batch, g, need, a_t):
    """The gradients of :func:`fully_connected_forward` along ``(x1, x2, w)`` for cotangent ``g`` (no graph).

    Per output block, with ``T``, ``B`` and ``G`` (the block of ``g`` as ``(n, mul_o,
    d3)``) as in the forward: ``dT = B^T G^T`` (one bmm, ``(n, K, mul_o)``), then
    per entry ``dW_p = a_p @ dT_p`` and ``da_p = dT_p @ W_p^T`` as GEMMs over all
    ``d1 n`` rows, and ``dB = G^T T`` (one bmm) folded back through ``Call`` into
    ``dx2`` with one GEMM. ``T`` is recomputed (a GEMM per entry) rather than kept
    from the forward; ``a_t`` are the forward's transposed ``x1`` blocks. Returns
    ``(dx1, dx2, dw)`` at the inputs' shapes (None where ``need`` is False). Faster
    than autograd through :func:`~e3xp.backends.torch.autograd.grouped_graph`.
    """
    call = consts[schedule.grouped.call]
    batch, dim1, dim2 = tuple(batch), x1.shape[-1], x2.shape[-1]
    x1f, x2f = flat_rows(x1, batch), flat_rows(x2, batch)
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


def linear_shared(schedule, x, w, bias, batch, forward_only):
    """Linear with one weight vector (and bias) for every sample, native torch calls.

    Each output block is ``x_t @ W``, ``x_t`` the block's ``(n, d, mul_in)``
    transposed *view*: ``matmul`` makes the one transposed copy BLAS needs, where
    the generic executor permuted, reshaped and concatenated into three copies.
    With ``forward_only`` (no autograd graph, not compiling) the products are
    copied straight into one preallocated output; otherwise ``torch.split`` /
    ``torch.cat`` keep one gradient buffer per input (in-place writes cost more in
    the backward than the ``cat``).
    """
    dim_in, dim_out = schedule.dim_in, schedule.dim_out
    xf = x.reshape(-1, dim_in)
    n = xf.shape[0]
    x_cuts, w_cuts = [], []
    for blk in schedule.blocks:
        for p in blk.paths:
            x_cuts += [p.start, p.start + p.mul_in * blk.dim]
            w_cuts += [p.weight_offset, p.weight_offset + p.mul_in * blk.mul]
    x_sizes, x_at = split_sizes(x_cuts, dim_in)
    xs = torch.split(xf, x_sizes, dim=-1)
    if w is not None:
        w_sizes, w_at = split_sizes(w_cuts, w.shape[-1])
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


@functools.lru_cache(maxsize=256)
def dense_operands(plan):
    """``(C, widx)`` of a product where each output element has exactly one weight, else ``None``.

    ``C`` (float64, ``(dim1 * dim2, dim_out)``) holds the path weights times the
    Clebsch-Gordan blocks, so that ``out = ((x1 outer x2) @ C) * w[..., widx]``.
    Eligible: every path ``"uvu"`` with a weight and ``mul2 == 1`` (NequIP / MACE
    convolutions with per-edge weights), no two paths writing the same output.

    Examples
    --------
    >>> from e3xp.core.plans import channelwise_tensor_product_plan
    >>> c, widx = dense_operands(channelwise_tensor_product_plan("2x0e+1o", "0e+1o"))
    >>> c.shape, widx.tolist()
    ((20, 20), [0, 1, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6, 7, 7, 7, 7, 7])
    """
    offsets = [np.concatenate([[0], np.cumsum([mul * ir.dim for mul, ir in irreps])]).astype(int)
               for irreps in (plan.irreps_in1, plan.irreps_in2, plan.irreps_out)]
    d1, d2, do = plan.irreps_in1.dim, plan.irreps_in2.dim, plan.irreps_out.dim
    if not plan.paths:
        return None
    c = np.zeros((d1, d2, do))
    widx = np.full(do, -1, dtype=np.int64)
    for p in plan.paths:
        (mul1, ir1), (mul2, ir2), (_, ir_out) = plan.irreps_in1[p.i_in1], plan.irreps_in2[p.i_in2], plan.irreps_out[p.i_out]
        if p.mode != "uvu" or mul2 != 1 or not p.has_weight:
            return None
        cg = plan.cg(p) * p.path_weight
        b = offsets[1][p.i_in2]
        for u in range(mul1):
            a = offsets[0][p.i_in1] + u * ir1.dim
            o = offsets[2][p.i_out] + u * ir_out.dim
            if np.any(widx[o : o + ir_out.dim] >= 0):
                return None
            c[a : a + ir1.dim, b : b + ir2.dim, o : o + ir_out.dim] = cg
            widx[o : o + ir_out.dim] = p.weight_offset + u
    if np.any(widx < 0):
        return None
    c = c.reshape(d1 * d2, do)
    c.flags.writeable = False
    widx.flags.writeable = False
    return c, widx


def dense_product(c, widx, x1, x2, w):
    """``((x1 outer x2) @ c) * w[..., widx]``: the product of :func:`dense_operands`, broadcasting the batch."""
    z = torch.matmul((x1.unsqueeze(-1) * x2.unsqueeze(-2)).flatten(-2), c)
    # index_select, not w[..., widx]: the gradient of advanced indexing is an accumulating
    # index_put, measured ~0.85 ms per call here against index_select's index_add
    return z * torch.index_select(w, -1, widx)


@functools.lru_cache(maxsize=256)
def linear_dense_operands(schedule):
    """``(idx, coef)``, each ``(dim_in * dim_out,)``, of a linear map without biases, else ``None``.

    The dense weight matrix is ``(w_padded[idx] * coef).reshape(dim_in, dim_out)``,
    ``w_padded`` the flat weights with one zero appended (``idx`` points to it
    where no path connects an input to an output component).

    Examples
    --------
    >>> from e3xp.core.plans import linear_plan
    >>> from e3xp.core.schedule import prepare
    >>> idx, coef = linear_dense_operands(prepare("linear", linear_plan("2x0e+1o", "1x0e+1o"))[0])
    >>> idx.reshape(5, 4).tolist()
    [[0, 3, 3, 3], [1, 3, 3, 3], [3, 2, 3, 3], [3, 3, 2, 3], [3, 3, 3, 2]]
    """
    if schedule.bias_numel:
        return None
    dim_in, dim_out = schedule.dim_in, schedule.dim_out
    idx = np.full((dim_in, dim_out), schedule.weight_numel, dtype=np.int64)
    coef = np.zeros((dim_in, dim_out))
    o = 0
    for blk in schedule.blocks:
        mul_o, d = blk.mul, blk.dim
        cols = o + np.arange(mul_o) * d
        for p in blk.paths:
            for ui in range(p.mul_in):
                for k in range(d):
                    row = p.start + ui * d + k
                    if np.any(idx[row, cols + k] != schedule.weight_numel):
                        return None
                    idx[row, cols + k] = p.weight_offset + ui * mul_o + np.arange(mul_o)
                    coef[row, cols + k] = p.coefficient
        o += mul_o * d
    idx, coef = idx.reshape(-1), coef.reshape(-1)
    idx.flags.writeable = coef.flags.writeable = False
    return idx, coef


def linear_dense(idx, coef, x, w, batch, dim_in, dim_out):
    """The linear map of :func:`linear_dense_operands`: ``x @ W`` with the dense ``W`` built from ``w``."""
    wd = (torch.index_select(torch.nn.functional.pad(w, (0, 1)), 0, idx) * coef).view(dim_in, dim_out)
    return torch.matmul(x.reshape(-1, dim_in), wd).reshape(tuple(batch) + (dim_out,))
