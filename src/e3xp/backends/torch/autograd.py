"""torch autograd Functions: the layouts and hand-written gradients of the native kernels.

* ``Assemble`` / ``Disassemble``: pieces ``(..., d3, mul)`` transposed straight
  into one preallocated output and back, each the other's derivative;
* ``SmallL`` / ``SmallR``: the small per-sample matmuls with channels innermost,
  in every order of derivative;
* ``FullyConnected`` and ``SphericalHarmonics``: the forward-only kernels of
  :mod:`.kernels` and :mod:`.harmonics` with their hand-written gradients; a double
  backward (``create_graph``) recomputes through the differentiable form
  (:func:`grouped_graph`, :func:`~e3xp.backends.torch.harmonics.harmonics_graph`)
  and differentiates that, so every order of derivative works;
* :func:`grouped_graph`: the grouped segments as differentiable calls (autograd,
  ``torch.compile``).
"""

from __future__ import annotations

import torch

from ..array_api import _finish, _out_block
from .harmonics import harmonics_forward, harmonics_graph, harmonics_vjp
from .kernels import Ops, fully_connected_backward, fully_connected_forward, split_sizes

__all__ = ["Assemble", "SmallL", "SmallR", "FullyConnected", "SphericalHarmonics", "small_matmul", "grouped_graph"]


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

def sum_to(x, shape):
    return x if x.shape == shape else x.sum_to_size(shape)

class SmallL(torch.autograd.Function):
    # b (..., m, k) small @ a (..., k, C) channels innermost. The derivatives are
    # again SmallL / SmallR, so every order of derivative keeps channels innermost:
    # autograd's own bmm backward of SmallR's product, (C, m) @ (m, k), runs
    # channels-first, several times slower with these tiny m, k.
    @staticmethod
    def forward(ctx, b, a):
        ctx.save_for_backward(b, a)
        return small_lmul(b, a)

    @staticmethod
    def backward(ctx, g):
        b, a = ctx.saved_tensors
        da = SmallL.apply(b.transpose(-1, -2).contiguous(), g) if ctx.needs_input_grad[1] else None
        db = SmallR.apply(g, a) if ctx.needs_input_grad[0] else None
        return (None if db is None else sum_to(db, b.shape)), (None if da is None else sum_to(da, a.shape))

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
        return (None if dx is None else sum_to(dx, x.shape)), (None if dy is None else sum_to(dy, y.shape))

class FullyConnected(torch.autograd.Function):
    # Fully connected products with shared weights: fully_connected_forward and
    # its hand-written gradients. A double backward (create_graph) recomputes the
    # product in the differentiable form of grouped_graph and differentiates it.
    @staticmethod
    def forward(ctx, backend, schedule, consts, batch, x1, x2, w):
        ctx.save_for_backward(x1, x2, w)
        ctx.a_t = {}  # the transposed x1 blocks, reused by the backward
        ctx.args = (backend, schedule, consts, batch)
        return fully_connected_forward(schedule, consts, x1, x2, w, batch, ctx.a_t)

    @staticmethod
    def backward(ctx, g):
        x1, x2, w = ctx.saved_tensors
        backend, schedule, consts, batch = ctx.args
        need = ctx.needs_input_grad[4:]
        if not torch.is_grad_enabled():
            return (None,) * 4 + fully_connected_backward(schedule, consts, x1, x2, w, batch, g, need, ctx.a_t)
        with torch.enable_grad():
            out = grouped_graph(backend, schedule, consts, x1, x2, w, True, batch)
        return (None,) * 4 + recomputed_grads(out, (x1, x2, w), need, g)

class SphericalHarmonics(torch.autograd.Function):
    # The in-place blocked harmonics and their hand-written gradient
    # (harmonics_vjp); a double backward (create_graph) recomputes them
    # as differentiable calls (harmonics_graph) and differentiates those.
    @staticmethod
    def forward(ctx, schedule, mats, normalize, vectors):
        ctx.save_for_backward(vectors)
        ctx.args = (schedule, mats, normalize)
        return harmonics_forward(vectors, schedule, mats, normalize)

    @staticmethod
    def backward(ctx, g):
        (vectors,) = ctx.saved_tensors
        if not torch.is_grad_enabled():
            return (None,) * 3 + (harmonics_vjp(vectors, g, *ctx.args),)
        with torch.enable_grad():
            out = harmonics_graph(vectors, *ctx.args)
        return (None,) * 3 + recomputed_grads(out, (vectors,), (True,), g)

def recomputed_grads(out, tensors, need, g):
    # The double-backward branch of the Functions above: the gradients of ``out``,
    # recomputed in differentiable calls, with a graph (None where not needed; zeros
    # for a constant ``out``, e.g. degree-0 harmonics)
    if not out.requires_grad:
        return tuple(torch.zeros_like(t) if want else None for t, want in zip(tensors, need))
    inputs = [t for t, want in zip(tensors, need) if want]
    grads = iter(torch.autograd.grad(out, inputs, g, create_graph=True, allow_unused=True))
    return tuple(next(grads) if want else None for want in need)


def small_matmul(b, a):
    """``b (..., d3, d1) @ a (..., d1, mul)``, differentiable to any order (``SmallL``)."""
    return SmallL.apply(b, a)


def small_lmul(b, a):
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


def grouped_graph(backend, schedule, consts, x1, x2, w, shared, batch, plain=False):
    """The grouped segments of ``schedule`` in differentiable torch calls (autograd to any order, ``torch.compile``).

    Runs every segment kind (``"blk"`` ones through the generic executor's
    per-path form).

    ``plain=True`` (what ``torch.compile`` with an autograd graph runs): only
    built-in torch ops, no autograd Function of this module (``SmallL`` /
    ``SmallR`` / ``Assemble``), so the whole graph of every derivative order is
    AOTAutograd's own. A compiled force-training step, which calls
    ``torch.autograd.grad(E, pos, create_graph=True)`` inside the compiled
    function, differentiates the backward of each op once more; through the
    custom Functions, Dynamo's trace gave wrong parameter gradients without an
    error (max abs 1.2 on a small model, torch 2.13), through built-in ops it
    gives eager's numbers (``tests/test_compile_forces.py``).

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
    x1_sizes, x1_at = split_sizes(x1_cuts, x1.shape[-1])
    x1s = torch.split(x1, x1_sizes, dim=-1)
    if w is not None:
        w_sizes, w_at = split_sizes(w_cuts, w.shape[-1])
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

    mm = small_lmul if plain else small_matmul
    # pieces (..., d3, mul) transposed, each written once into the output by Assemble
    pieces, spec, at, k = [], [], 0, 0

    def put(z_t, d3, mul):
        nonlocal at
        if d3 * mul:
            pieces.append(z_t)
            spec.append((at, d3, mul))
            at += d3 * mul

    for si, seg in enumerate(segs):
        if seg.kind == "blk":
            blk = _out_block(backend, Ops, schedule.blocks[seg.index], consts, x1, x2, w, shared, batch)
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
            put(mm(b_t, t), seg.d3, seg.mul_o)
            continue
        mul1, d1, d3 = seg.mul1, seg.d1, seg.d3
        if seg.kind == "cg":
            for j in range(seg.n):
                put(mm(cg_t(k, d1, d3), x1_t(seg.start1, mul1, d1)), d3, mul1)
                k += 1
            continue
        for j in range(seg.n):
            b_t = cg_t(k, d1, d3)
            wj = ws[w_at[seg.weight_offset + j * mul1]].unsqueeze(-2)  # (..., 1, mul1)
            if seg.weights_first:
                z_t = mm(b_t, x1_t(seg.start1, mul1, d1) * wj)
            else:
                z_t = mm(b_t, x1_t(seg.start1, mul1, d1)) * wj
            put(z_t, d3, mul1)
            k += 1
    if not pieces:
        return _finish(backend, Ops, [], batch, x1)
    if plain:  # Assemble's compiled form, as built-in ops
        return torch.cat(
            [p.transpose(-1, -2).broadcast_to(tuple(batch) + (mul, d3)).reshape(tuple(batch) + (mul * d3,))
             for (_, d3, mul), p in zip(spec, pieces)],
            dim=-1,
        )
    return Assemble.apply(tuple(spec) + (at,), tuple(batch), *pieces)


