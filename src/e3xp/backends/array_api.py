"""The generic executor: plans run with array-API standard functions only.

It runs on any compliant namespace (numpy, cupy, ``array_api_strict``, JAX,
torch through thin wrappers): ``matmul``, ``reshape``, ``permute_dims``,
``concat``, ``expand_dims``, ``sum``, ``where``, ``sqrt``, ``ones_like``,
``zeros``, ``broadcast_to`` and basic slicing -- no einsum, no in-place writes,
no data-dependent Python, so ``jax.jit`` / ``jax.grad`` / ``torch.compile``
trace it as it is. It executes every segment kind of a schedule
(:mod:`e3xp.core.schedule`, which also explains the contraction order and the
grouping), so it is the fallback of every backend; the framework packages
(:mod:`e3xp.backends.torch`, :mod:`e3xp.backends.jax`, ...) replace some segment
kinds with native kernels that give the same numbers. Input validation lives in
:mod:`.validation`, the harmonics kernels shared with the framework packages in
:mod:`.harmonics`.
"""

from __future__ import annotations

import math

from e3xp.core.schedule import BlockSegment, FullSegment, FullyConnectedSegment

from .harmonics import unit_vectors
from .validation import check_linear_inputs, check_sh_inputs, check_tp_inputs

__all__ = ["tensor_product", "execute_tp", "linear", "spherical_harmonics"]


def _finish(backend, ops, blocks, batch, like):
    """Concatenate flat output blocks, broadcasting each to the common batch shape."""
    flat = []
    for blk in blocks:
        if blk.shape[-1] == 0:
            continue
        if tuple(blk.shape[:-1]) != batch:
            blk = ops.broadcast_to(blk, batch + (blk.shape[-1],))
        flat.append(blk)
    if not flat:
        return backend._zeros(batch + (0,), like)
    return flat[0] if len(flat) == 1 else ops.concat(flat, axis=-1)


def _permute_last(ops, x, order):
    """Permute the last ``len(order)`` axes of ``x`` (``order`` counts from the first of them)."""
    n = len(x.shape)
    k = len(order)
    return ops.permute_dims(x, tuple(range(n - k)) + tuple(n - k + i for i in order))


# ---------------------------------------------------------------------------
# tensor product
# ---------------------------------------------------------------------------


def _block(ops, x, start: int, mul: int, d: int):
    return ops.reshape(x[..., start : start + mul * d], tuple(x.shape[:-1]) + (mul, d))


def _times_cg(ops, x, mat, d_other: int, d3: int):
    """``x (..., mul, d) @ mat (d, d_other d3) -> (..., mul, d_other, d3)``."""
    t = ops.matmul(x, mat)
    return ops.reshape(t, tuple(t.shape[:-1]) + (d_other, d3))


def _pair(ops, first, a, b, mat, d1, d2, d3):
    """All channel pairs: ``(z, "uv")`` with z ``(..., mul1, mul2, d3)`` or ``(z, "vu")``."""
    if first == 1:
        ac = _times_cg(ops, a, mat, d2, d3)  # (..., mul1, d2, d3)
        return ops.matmul(ops.expand_dims(b, axis=-3), ac), "uv"
    bc = _times_cg(ops, b, mat, d1, d3)  # (..., mul2, d1, d3)
    return ops.matmul(ops.expand_dims(a, axis=-3), bc), "vu"


def _weight_block(ops, w, off: int, size: int, shape: tuple):
    return ops.reshape(w[..., off : off + size], tuple(w.shape[:-1]) + shape)


def _path(ops, entry, x1, x2, mat, w):
    """Contribution ``(..., mul_out, d3)`` of one non-"uvw" path."""
    mode, first, mul1, mul2, d1, d2 = entry.mode, entry.first, entry.mul1, entry.mul2, entry.d1, entry.d2
    wshape, wsize = entry.weight_shape, entry.weight_size
    a = _block(ops, x1, entry.start1, mul1, d1)
    b = _block(ops, x2, entry.start2, mul2, d2)
    d3 = mat.shape[1] // (d2 if first == 1 else d1)
    W = _weight_block(ops, w, entry.weight_offset, wsize, wshape) if wshape is not None else None

    if mode == "uvu":
        if first == 1:
            ac = _times_cg(ops, a, mat, d2, d3)  # (..., mul1, d2, d3)
            wb = ops.matmul(W, b) if W is not None else ops.sum(b, axis=-2, keepdims=True)
            out = ops.matmul(ops.expand_dims(wb, axis=-2), ac)
        else:
            bc = ops.matmul(b, mat)  # (..., mul2, d1 d3)
            wb = ops.matmul(W, bc) if W is not None else ops.sum(bc, axis=-2, keepdims=True)
            wb = ops.reshape(wb, tuple(wb.shape[:-1]) + (d1, d3))
            out = ops.matmul(ops.expand_dims(a, axis=-2), wb)
        return ops.reshape(out, tuple(out.shape[:-3]) + (mul1, d3))

    if mode == "uvv":  # "uvu" with the operands' roles exchanged: out[v, k]
        wt = ops.matrix_transpose(W) if W is not None else None  # (..., mul2, mul1)
        if first == 1:
            ac = ops.matmul(a, mat)  # (..., mul1, d2 d3)
            wa = ops.matmul(wt, ac) if wt is not None else ops.sum(ac, axis=-2, keepdims=True)
            wa = ops.reshape(wa, tuple(wa.shape[:-1]) + (d2, d3))
            out = ops.matmul(ops.expand_dims(b, axis=-2), wa)
        else:
            bc = _times_cg(ops, b, mat, d1, d3)  # (..., mul2, d1, d3)
            wa = ops.matmul(wt, a) if wt is not None else ops.sum(a, axis=-2, keepdims=True)
            out = ops.matmul(ops.expand_dims(wa, axis=-2), bc)
        return ops.reshape(out, tuple(out.shape[:-3]) + (mul2, d3))

    if mode in ("uuu", "uuw"):
        if first == 1:
            out = ops.matmul(ops.expand_dims(b, axis=-2), _times_cg(ops, a, mat, d2, d3))
        else:
            out = ops.matmul(ops.expand_dims(a, axis=-2), _times_cg(ops, b, mat, d1, d3))
        out = ops.reshape(out, tuple(out.shape[:-3]) + (mul1, d3))
        if mode == "uuw":  # out[w, k] = sum_u W[u, w] z[u, k]
            return ops.matmul(ops.matrix_transpose(W), out) if W is not None else ops.sum(out, axis=-2, keepdims=True)
        if W is not None:
            out = out * ops.reshape(W, tuple(W.shape[: len(W.shape) - len(wshape)]) + (wsize, 1))
        return out

    # "uvuv" and "uvuv_triu": all pairs, in (u, v) order
    z, order = _pair(ops, first, a, b, mat, d1, d2, d3)
    if order == "vu":
        z = _permute_last(ops, z, (1, 0, 2))
    if mode == "uvuv":
        z = ops.reshape(z, tuple(z.shape[:-3]) + (mul1 * mul2, d3))
        if W is not None:
            z = z * ops.reshape(W, tuple(W.shape[: len(W.shape) - len(wshape)]) + (wsize, 1))
        return z
    # "uvuv_triu" and "u<vw": rows u < v, row-major; slices keep this free of integer index arrays
    rows = [z[..., u, u + 1 :, :] for u in range(mul1 - 1)]
    out = ops.concat(rows, axis=-2) if len(rows) > 1 else rows[0]  # (..., npairs, d3)
    if mode == "u<vw":  # out[w, k] = sum_q W[q, w] z[q, k]
        return ops.matmul(ops.matrix_transpose(W), out)
    if W is not None:
        out = out * ops.reshape(W, tuple(W.shape[: len(W.shape) - len(wshape)]) + (wsize, 1))
    return out


def _uvw_group(ops, entries, x1, x2, consts, w, mul_o, d3, shared):
    """All "uvw" paths into one output block in one matmul with their weights."""
    zs, ws = [], []
    for e in entries:
        mul1, mul2 = e.mul1, e.mul2
        a = _block(ops, x1, e.start1, mul1, e.d1)
        b = _block(ops, x2, e.start2, mul2, e.d2)
        z, order = _pair(ops, e.first, a, b, consts[e.const], e.d1, e.d2, d3)
        zs.append(ops.reshape(z, tuple(z.shape[:-3]) + (mul1 * mul2, d3)))
        W = _weight_block(ops, w, e.weight_offset, e.weight_size, e.weight_shape)  # (..., mul1, mul2, mul_o)
        if order == "vu":
            W = _permute_last(ops, W, (1, 0, 2))
        ws.append(ops.reshape(W, tuple(W.shape[:-3]) + (mul1 * mul2, mul_o)))
    return _mix_channels(ops, zs, ws, shared)


def _mix_channels(ops, zs, ws, shared):
    """``out[w, k] = sum_K W[K, w] z[K, k]``, ``(..., mul_o, d)``, with ``z`` and ``W`` the
    pieces ``zs (..., K_p, d)`` and ``ws (..., K_p, mul_o)`` joined along ``K``.

    Shared weights: one large GEMM ``(batch d, K) @ (K, mul_o)`` instead of a batched
    matmul of small matrices.
    """
    z = zs[0] if len(zs) == 1 else ops.concat(zs, axis=-2)  # (..., K, d)
    wk = ws[0] if len(ws) == 1 else ops.concat(ws, axis=-2)  # (..., K, mul_o)
    if not shared:
        return ops.matmul(ops.matrix_transpose(wk), z)
    zb, k, d, mul_o = tuple(z.shape[:-2]), z.shape[-2], z.shape[-1], wk.shape[-1]
    t = ops.reshape(_permute_last(ops, z, (1, 0)), (math.prod(zb) * d, k))
    t = ops.reshape(ops.matmul(t, wk), zb + (d, mul_o))
    return _permute_last(ops, t, (1, 0))


def tensor_product(backend, plan, x1, x2, weights=None):
    """Execute a :class:`~e3xp.core.plans.TensorProductPlan` on ``backend``.

    Gives the numbers of :func:`e3xp.core.plans.execute_plan_reference` (the
    plan's module docstring defines them) in the inputs' dtype and on their device.

    Parameters
    ----------
    backend : Backend
    plan : TensorProductPlan
    x1, x2 : arrays ``(..., irreps_in1.dim)``, ``(..., irreps_in2.dim)``
        Same real floating dtype; leading axes broadcast.
    weights : array, optional
        ``(weight_numel,)`` shared or ``(..., weight_numel)`` per sample (its
        leading axes broadcast with the inputs'); required iff ``weight_numel > 0``.

    Returns
    -------
    array of shape ``batch + (irreps_out.dim,)``

    Raises
    ------
    TypeError
        Non-floating or mismatched dtypes, or arrays of another backend.
    ValueError
        Wrong last axes, non-broadcasting leading axes, or weights of the wrong
        size (the message gives ``weight_numel`` and the plan's weight layout).

    Examples
    --------
    >>> import numpy as np
    >>> from e3xp.backends import get_backend
    >>> from e3xp.core.plans import full_tensor_product_plan
    >>> plan = full_tensor_product_plan("1o", "1o", filter_ir_out="0e")
    >>> out = tensor_product(get_backend("numpy"), plan, np.array([1.0, 2.0, 3.0]), np.ones(3))
    >>> print(np.round(out * np.sqrt(3), 10))  # x . y / sqrt(3)
    [6.]
    """
    shared, batch = check_tp_inputs(backend, plan, x1, x2, weights)
    schedule, consts = backend._prepared("tp", plan, x1)
    return execute_tp(backend, schedule, consts, x1, x2, weights, shared, batch)


def execute_tp(backend, schedule, consts, x1, x2, weights, shared, batch):
    """Run a prepared tensor-product schedule on validated inputs (standard functions only)."""
    ops = backend._ops
    if schedule.grouped is not None:
        return _finish(backend, ops, _grouped_blocks(backend, ops, schedule, consts, x1, x2, weights, batch),
                       batch, x1)
    blocks = [_out_block(backend, ops, b, consts, x1, x2, weights, shared, batch) for b in schedule.blocks]
    return _finish(backend, ops, blocks, batch, x1)


def _grouped_blocks(backend, ops, schedule, consts, x1, x2, w, batch):
    """Flat output pieces in order, from the segments of ``schedule.grouped``."""
    bc = ops.matmul(x2, consts[schedule.grouped.call])  # (..., sum of d1 d3): every path's b @ C at once
    b2 = tuple(bc.shape[:-1])
    wb = tuple(w.shape[:-1]) if w is not None else ()
    shared = w is None or len(w.shape) == 1
    pieces = []
    for seg in schedule.grouped.segments:
        if isinstance(seg, BlockSegment):
            pieces.append(_out_block(backend, ops, schedule.blocks[seg.index], consts, x1, x2, w, shared, batch))
            continue
        if isinstance(seg, FullyConnectedSegment):
            mul_o, d3 = seg.mul_o, seg.d3
            zs, ws = [], []
            for e in seg.entries:
                bg = ops.reshape(bc[..., e.col : e.col + e.d1 * d3], b2 + (e.d1, d3))
                zs.append(ops.matmul(_block(ops, x1, e.start1, e.mul1, e.d1), bg))  # (..., mul1, d3)
                ws.append(ops.reshape(w[..., e.weight_offset : e.weight_offset + e.mul1 * mul_o], wb + (e.mul1, mul_o)))
            out = _mix_channels(ops, zs, ws, shared)
            pieces.append(ops.reshape(out, tuple(out.shape[:-2]) + (mul_o * d3,)))
            continue
        # ChannelwiseSegment and FullSegment (the same without weights): n output blocks in order
        mul1, d1, d3, n = seg.mul1, seg.d1, seg.d3, seg.n
        a = ops.expand_dims(_block(ops, x1, seg.start1, mul1, d1), axis=-3)  # (..., 1, mul1, d1)
        bg = ops.reshape(bc[..., seg.col : seg.col + n * d1 * d3], b2 + (n, d1, d3))
        if isinstance(seg, FullSegment):
            z = ops.matmul(a, bg)
        else:
            off = seg.weight_offset
            wg = ops.reshape(w[..., off : off + n * mul1], wb + (n, mul1, 1))
            z = ops.matmul(a * wg, bg) if seg.weights_first else ops.matmul(a, bg) * wg
        pieces.append(ops.reshape(z, tuple(z.shape[:-3]) + (n * mul1 * d3,)))  # (..., n, mul1, d3) flat
    return pieces


def _out_block(backend, ops, block, consts, x1, x2, weights, shared, batch):
    """One flat output block ``(..., mul_o d3)`` from its paths, one by one."""
    mul_o, d3 = block.mul, block.dim
    acc = None
    uvw = [e for e in block.paths if e.mode == "uvw" and e.has_weight]
    if uvw:
        acc = _uvw_group(ops, uvw, x1, x2, consts, weights, mul_o, d3, shared)
    for e in block.paths:
        if e.mode == "uvw" and e.has_weight:
            continue
        if e.mode == "uvw":  # unweighted uvw: every output channel gets the pair sum
            z, _ = _pair(ops, e.first, _block(ops, x1, e.start1, e.mul1, e.d1), _block(ops, x2, e.start2, e.mul2, e.d2),
                         consts[e.const], e.d1, e.d2, d3)
            z = ops.sum(ops.reshape(z, tuple(z.shape[:-3]) + (e.mul1 * e.mul2, d3)), axis=-2, keepdims=True)
            part = ops.broadcast_to(z, tuple(z.shape[:-2]) + (mul_o, d3))
        else:
            part = _path(ops, e, x1, x2, consts[e.const], weights)
        acc = part if acc is None else acc + part
    if acc is None:
        return backend._zeros(batch + (mul_o * d3,), x1)
    return ops.reshape(acc, tuple(acc.shape[:-2]) + (mul_o * d3,))


# ---------------------------------------------------------------------------
# linear
# ---------------------------------------------------------------------------


def linear(backend, plan, x, weights, bias=None):
    """Execute a :class:`~e3xp.core.plans.LinearPlan` on ``backend``.

    Gives the numbers of :func:`e3xp.core.plans.execute_linear_reference`.

    Parameters
    ----------
    backend : Backend
    plan : LinearPlan
    x : array ``(..., irreps_in.dim)``, real floating
    weights : array ``(weight_numel,)`` shared or ``(..., weight_numel)`` per sample
    bias : array, optional
        ``(bias_numel,)`` or ``(..., bias_numel)``; None means zero biases.

    Returns
    -------
    array of shape ``batch + (irreps_out.dim,)``

    Examples
    --------
    >>> import numpy as np
    >>> from e3xp.backends import get_backend
    >>> from e3xp.core.plans import linear_plan
    >>> plan = linear_plan("2x0e", "3x0e")
    >>> y = linear(get_backend("numpy"), plan, np.array([1.0, 0.0]), np.arange(6.0))
    >>> print(np.round(y * np.sqrt(2), 10))  # e3nn: e_0 -> [0, 1, 2] / sqrt(2)
    [0. 1. 2.]
    """
    shared, _, batch = check_linear_inputs(backend, plan, x, weights, bias)
    ops = backend._ops
    schedule, _ = backend._prepared("linear", plan, x)
    blocks = []
    for blk in schedule.blocks:
        mul_o, d = blk.mul, blk.dim
        acc = None
        if blk.paths:
            xs, ws = [], []
            for p in blk.paths:
                xs.append(_block(ops, x, p.start, p.mul_in, d))
                ws.append(_weight_block(ops, weights, p.weight_offset, p.mul_in * mul_o, (p.mul_in, mul_o)) * p.coefficient)
            acc = _mix_channels(ops, xs, ws, shared)
        if bias is not None and blk.bias is not None:
            off, mul = blk.bias.offset, blk.bias.mul
            bb = ops.reshape(bias[..., off : off + mul], tuple(bias.shape[:-1]) + (mul, 1))
            acc = bb if acc is None else acc + bb
        if acc is None:
            blocks.append(backend._zeros(batch + (mul_o * d,), x))
        else:
            blocks.append(ops.reshape(acc, tuple(acc.shape[:-2]) + (mul_o * d,)))
    return _finish(backend, ops, blocks, batch, x)


# ---------------------------------------------------------------------------
# spherical harmonics
# ---------------------------------------------------------------------------


def spherical_harmonics(backend, sh_plan, vectors, ls, normalize=True, normalization="component"):
    """Evaluate real spherical harmonics with a :class:`SphericalHarmonicsPlan`.

    Mirrors :func:`e3xp.core.spherical_harmonics.evaluate_plan_numpy` operation
    by operation, in the vectors' dtype and on their device. With
    ``normalize=True`` the zero vector gives ``[1, 0, 0, ...]`` (times the degree-0
    factor) with finite gradients.

    Parameters
    ----------
    backend : Backend
    sh_plan : SphericalHarmonicsPlan
    vectors : array ``(..., 3)``, real floating
    ls : int or sequence of int
        An int means ``0..ls``; a sequence gives the degrees in output order.
    normalize : bool
    normalization : {"component", "norm", "integral"}

    Returns
    -------
    array ``(..., sum(2 l + 1 for l in ls))``

    Examples
    --------
    >>> import numpy as np
    >>> from e3xp.backends import get_backend
    >>> from e3xp.core.spherical_harmonics import spherical_harmonics_plan
    >>> y = spherical_harmonics(get_backend("numpy"), spherical_harmonics_plan(1), np.array([2.0, 0, 0]), [1])
    >>> print(np.round(y, 4))
    [1.7321 0.     0.    ]
    """
    ls = check_sh_inputs(backend, sh_plan, vectors, ls, normalization)
    ops = backend._ops
    schedule, mats = backend._prepared("sh", (sh_plan.lmax, ls, normalization), vectors)
    lmax, ls, factors = schedule.lmax, schedule.ls, schedule.factors
    x = vectors
    v = unit_vectors(ops, x) if normalize else x
    batch = tuple(x.shape[:-1])
    ys = [ops.ones_like(x[..., :1])]
    for l in range(1, lmax + 1):
        outer = ops.expand_dims(ys[-1], axis=-1) * ops.expand_dims(v, axis=-2)
        ys.append(ops.matmul(ops.reshape(outer, batch + (3 * (2 * l - 1),)), mats[l - 1]))
    parts = [ys[l] if f == 1.0 else ys[l] * f for l, f in zip(ls, factors)]
    return parts[0] if len(parts) == 1 else ops.concat(parts, axis=-1)


