"""torch spherical harmonics: the recursion in a transposed layout, by blocks of rows.

Samples innermost, ``(3 (2l - 1), n) -> (2l + 1, n)``: the outer products
vectorise over samples and each degree is one GEMM with a long dimension, where
``(n, 3 (2l - 1)) @ (3 (2l - 1), 2l + 1)`` and ``(n, k, 1) * (n, 1, 3)`` run
several times slower; blocks of ``SH_CHUNK`` rows keep every intermediate small.

* eager: :func:`harmonics_forward` writes the blocks in place; with autograd the
  Function ``SphericalHarmonics`` (:mod:`.autograd`) adds the hand-written gradient
  :func:`harmonics_vjp`; :func:`harmonics_graph` is the differentiable form (double
  backward);
* ``torch.compile``: elementwise forms Inductor fuses, :func:`harmonics_polynomial`
  up to ``SH_POLYNOMIAL_LMAX`` and :func:`harmonics_sparse` above it (measured
  several times faster compiled than the dense recursion, slower in eager mode,
  where each term would be a kernel launch).
"""

from __future__ import annotations

import torch

from ..harmonics import (
    sh_block_rows,
    sh_polynomial_columns,
    sh_selection,
    sparse_sh_columns,
    spherical_harmonics_in_place,
    unit_vectors,
)
from .kernels import Ops

__all__ = ["SH_CHUNK", "harmonics_forward", "harmonics_vjp", "harmonics_graph", "harmonics_sparse", "harmonics_polynomial"]

SH_CHUNK = 16384  # rows per block of the harmonics: its intermediates stay in cache


def harmonics_graph(vectors, schedule, mats, normalize):
    """The blocked, transposed recursion as differentiable torch calls (any order of derivative)."""
    batch = tuple(vectors.shape[:-1])
    flat = vectors.reshape(-1, 3)
    outs = []
    # Under torch.compile the blocks would be unrolled into the graph (61 of them for
    # 10^6 vectors: the compile took over 150 s); Inductor fuses the whole-array form.
    blocked = flat.shape[0] > SH_CHUNK and not torch.compiler.is_compiling()
    for x in torch.split(flat, SH_CHUNK, dim=0) if blocked else (flat,):
        if normalize:
            x = unit_vectors(Ops, x, Ops.stop_gradient)
        v = x.transpose(0, 1).contiguous()  # (3, n)
        ys = [torch.ones_like(v[:1])]
        for l in range(1, schedule.lmax + 1):
            outer = ys[-1].unsqueeze(1) * v.unsqueeze(0)  # (2l - 1, 3, n)
            ys.append(torch.matmul(mats[l - 1].transpose(0, 1), outer.flatten(0, 1)))
        parts = [(ys[l] if f == 1.0 else ys[l] * f).transpose(0, 1) for l, f in zip(schedule.ls, schedule.factors)]
        outs.append(parts[0].contiguous() if len(parts) == 1 else torch.cat(parts, dim=-1))
    out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=0)
    return out.reshape(batch + (out.shape[-1],))


class InPlace:
    """The ``out=`` calls of :func:`e3xp.backends.harmonics.spherical_harmonics_in_place`."""

    empty = staticmethod(lambda shape, like: like.new_empty(shape))
    mul = staticmethod(lambda a, b, out: torch.mul(a, b, out=out))
    matmul = staticmethod(lambda a, b, out: torch.matmul(a, b, out=out))
    # (nb, 3) -> (3, nb): stacking the columns measured 4x faster than a transposed copy
    rows = staticmethod(lambda x: torch.stack([x[:, 0], x[:, 1], x[:, 2]]))


def harmonics_forward(vectors, schedule, mats, normalize):
    """The harmonics without autograd: :func:`e3xp.backends.harmonics.spherical_harmonics_in_place`.

    With autograd it runs inside ``SphericalHarmonics`` (its autograd graph would
    cost more in the backward than the writes save).
    """
    flat = vectors.reshape(-1, 3)
    sel, mats_t = sh_block_constants(schedule, mats, flat)
    out = spherical_harmonics_in_place(InPlace, Ops, flat, schedule.lmax, mats_t, sel, normalize, SH_CHUNK)
    return out.reshape(tuple(vectors.shape[:-1]) + (sel.shape[1],))


def sh_block_constants(schedule, mats, like):
    """``(sel, mats_t)`` of ``spherical_harmonics_in_place`` in ``like``'s dtype and device."""
    sel = torch.from_numpy(sh_selection(schedule)).to(dtype=like.dtype, device=like.device)
    return sel, [m.transpose(0, 1) for m in mats]


def harmonics_vjp(vectors, g, schedule, mats, normalize):
    """The gradient of :func:`harmonics_forward` along ``vectors`` for cotangent ``g`` (no graph).

    By the same blocks of rows, in the same transposed layout: each block's
    recursion is recomputed into one ``((lmax + 1)^2, nb)`` buffer, the cotangent of
    all its rows is ``sel @ g^T`` (one GEMM), and the recursion runs backwards,
    ``y_l = M_l^T (y_{l-1} (x) u)`` giving ``dO_l = M_l dy_l`` (one GEMM), then
    ``dy_{l-1} += sum_c dO_l[:, c] u_c`` and ``du_c += sum_m dO_l[m, c] y_{l-1}[m]``;
    the normalisation ``u = v / |v|`` contributes ``dv = (du - u (u . du)) / |v|``
    (``du`` itself at ``v = 0``, as the guarded division of ``unit_vectors`` gives).
    Every intermediate is a block-sized buffer reused across blocks; it measured
    faster than autograd through :func:`harmonics_graph`.
    """
    batch = tuple(vectors.shape[:-1])
    flat = vectors.reshape(-1, 3)
    lmax = schedule.lmax
    n, rows = flat.shape[0], (lmax + 1) ** 2
    sel, mats_t = sh_block_constants(schedule, mats, flat)
    g = g.reshape(n, sel.shape[1])
    dx = flat.new_empty((n, 3))
    width = max(3 * (2 * lmax - 1), 1)
    bufs = None  # block-sized buffers, reused: fresh allocations per block cost page faults
    for s in range(0, n, SH_CHUNK):
        x = flat[s : s + SH_CHUNK]
        nb = x.shape[0]
        if bufs is None or bufs[0].shape[1] != nb:
            bufs = tuple(flat.new_empty(shape) for shape in ((rows, nb), (rows, nb), (width, nb), (width, nb), (3, nb)))
        ys, dy, outer, prod, du = bufs
        # the forward's block again, up to y_{lmax - 1} (y_lmax itself is not needed)
        v, den = sh_block_rows(InPlace, Ops, x, lmax - 1, mats_t, ys, outer.view(-1), normalize)
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


def harmonics_sparse(vectors, schedule, terms, normalize):
    """The same recursion, one column at a time.

    Only the nonzero entries of each ``M_l`` (290 of 2424 up to ``l = 8``), all
    elementwise: what ``torch.compile`` wants, as Inductor fuses the evaluation
    into a few loops over the samples (the compiled dense recursion measured 5x
    slower at lmax 3). Used under compile above ``SH_POLYNOMIAL_LMAX``; eager mode
    keeps the dense, blocked form, which measured faster there (one kernel launch
    per degree instead of one per term).
    """
    x = unit_vectors(Ops, vectors, Ops.stop_gradient) if normalize else vectors
    cols = sparse_sh_columns(Ops, [x[..., j] for j in range(3)], schedule, terms)
    # Stacked as rows, then transposed once: Inductor keeps the recursion's shared
    # terms in buffers, and a column stack then copies each of them into a column
    # of the (n, 81) output, one strided pass over the whole output per column
    # (measured about 2x slower at lmax 8). The lmax <= 3 polynomials fuse into one
    # loop that writes the columns directly, which stays faster.
    return torch.stack(cols, dim=0).movedim(0, -1).contiguous()


def harmonics_polynomial(vectors, poly, normalize):
    """The harmonics as explicit polynomials in the unit vector (``sh_polynomial_terms``).

    For ``torch.compile``: at ``lmax = 3`` this is 19 monomials and 28 scaled terms,
    against the recursion's 35 terms of two multiplies each, with which Inductor
    split the evaluation into three loops, two of them recomputing the shared terms.
    """
    x = unit_vectors(Ops, vectors, Ops.stop_gradient) if normalize else vectors
    return torch.stack(sh_polynomial_columns(Ops, [x[..., j] for j in range(3)], poly), dim=-1)


