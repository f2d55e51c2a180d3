"""Native JAX kernels of the grouped tensor-product segments, each with a ``custom_jvp``.

The forwards are fused multiply-adds XLA compiles into few loops; the tangents are
written so that their transposes (reverse mode) are cheap on XLA:CPU: splits
instead of slices, per-column multiply-adds instead of reductions over short
minor axes. Everything is ``jnp`` with static Python over shapes, so it works under
``jax.jit``, ``jax.vmap`` and nested ``jax.grad``. The custom_jvp functions close
over float64 *host* constants (``prepare``), never over the backend's cached
copies: inside a trace those would be tracers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from e3xp.core.schedule import prepare

__all__ = ["grouped_tp", "fully_connected_tp", "trilinear", "repeat_minor"]


def assemble(parts, batch):
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


def trilinear(primal, tangent_x1w, tangent_x2, batch, weighted=True):
    """``f(x1, x2, w) = assemble(primal(x1, x2, w))``, with a ``custom_jvp`` for a map linear in each argument.

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
            terms.append(assemble(tangent_x1w(x1, x2, w, t1, tw), batch))
        if t2 is not None:
            terms.append(assemble(tangent_x2(x1, t2, w), batch))
        return sum(terms[1:], terms[0]) if terms else jnp.zeros_like(out)

    if not weighted:  # the same map of (x1, x2) alone, its functions called with w = tw = None
        @jax.custom_jvp
        def g(x1, x2):
            return assemble(primal(x1, x2, None), batch)

        def g_jvp(primals, tangents):
            out = g(*primals)
            return out, tangent(out, *primals, None, tangents[0], tangents[1], None)

        g.defjvp(g_jvp, symbolic_zeros=True)
        return lambda x1, x2, w: g(x1, x2)

    @jax.custom_jvp
    def f(x1, x2, w):
        return assemble(primal(x1, x2, w), batch)

    def f_jvp(primals, tangents):
        out = f(*primals)
        return out, tangent(out, *primals, *tangents)

    f.defjvp(f_jvp, symbolic_zeros=True)
    return f


def splitter(points, total):
    """``(split, index)``: ``split(v)`` cuts the last axis of ``v`` at ``points``; ``index[start]`` is the piece.

    ``jnp.split`` rather than slices: the transpose of one split is one
    concatenation, where the transposes of slices are zero-padded full-size
    arrays that XLA adds up one by one (measured: the weight gradient of workload
    (c) ran as a chain of 13 pads).
    """
    cuts = sorted(set(points) | {0, total})
    index = {a: k for k, a in enumerate(cuts[:-1])}

    def split(v):
        return jnp.split(v, cuts[1:-1], axis=-1) if len(cuts) > 2 else [v]

    return split, index


def columns(v, minor: int):
    """The ``minor`` columns of the last axis of ``v`` as arrays without it (a split: transposes to a concatenation)."""
    if minor == 1:
        return [v[..., 0]]
    return [c[..., 0] for c in jnp.split(v, minor, axis=-1)]


def repeat_minor(v, times: int):
    """``v (..., 1)`` repeated along its last axis, written as a concatenation.

    Equal to a broadcast, but its transpose is a sum of slices: the transpose of
    a broadcast along a short minor axis is a reduction over it, which XLA:CPU
    runs very slowly.
    """
    return v if times == 1 else jnp.concatenate([v] * times, axis=-1)


def fully_connected_tp(plan, schedule, x1, x2, w, batch):
    """Fully connected (``"uvw"`` segments only) plans with shared weights, channels mixed first.

    As in the torch executor: per ``x1`` block one GEMM ``(batch d1, mul1) @
    (mul1, sum of mul_o)`` mixes the channels for all the paths of that block,
    ``t_p[i, w] = sum_u a[u, i] W_p[u, w]``; each output block is then
    ``sum_p sum_i t_p[i, w] B_p[i, k]`` (``B = x2 @ Call``), a few multiply-adds per
    element that XLA fuses into one loop over ``(..., mul_o, d3)``. The derivative
    is a ``custom_jvp`` (the map is linear in each argument) whose tangents use one
    batched dot per output block instead: plain autodiff of the fused loop
    transposes every ``t_p[..., i, :]`` slice into a padded full-size array.
    """
    segs = schedule.grouped.segments
    # the float64 host constant: the custom_jvp function must not close over tracers
    call = np.asarray(prepare("tp", plan)[1][schedule.grouped.call], dtype=np.dtype(x1.dtype))
    by_x1 = {}
    for si, seg in enumerate(segs):
        for j, e in enumerate(seg.entries):
            by_x1.setdefault((e.start1, e.mul1, e.d1), []).append((si, j, e.weight_offset, seg.mul_o))

    split1, at1 = splitter([c for st1, mul1, d1 in by_x1 for c in (st1, st1 + mul1 * d1)], x1.shape[-1])
    splitb, atb = splitter(
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
                    rows = columns(jnp.swapaxes(tp, -1, -2), tp.shape[-2])  # t_p[i] (..., mul_o)
                    cols = columns(bg.reshape(bg.shape[:-2] + (-1,)), bg.shape[-2] * d3)  # B_p[i, k] (...)
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

    return trilinear(
        pieces,
        lambda x1, x2, w, t1, tw: pieces(x1, x2, w, form="columns", t1=t1, tw=tw),
        lambda x1, t2, w: pieces(x1, t2, w, form="dot"),
        batch,
    )(x1, x2, w)


def grouped_tp(plan, schedule, x1, x2, w, batch):
    """Channelwise or full products (``"grp"`` or ``"cg"`` segments only): a fused forward, and
    tangents in the forms whose transposes are cheap.

    Each segment ``(n paths from one x1 block a (mul1, d1), same d3)`` is
    ``out[n, u, k] = w[n, u] sum_i a[u, i] B[n, i, k]`` with ``B = x2 @ Call``.

    * Forward: ``sum_i (a_i w) B_i`` as broadcast multiply-adds that XLA fuses into
      one loop per piece; the pieces stay 4-D and :func:`assemble` joins them
      (a loop whose root is the flat slice of the output ran ~5x slower).
    * Tangent along ``(x1, w)``: the same sums written per column (``a_i``, ``B_ik``
      and the output's ``k`` columns as separate arrays, made by splits): its
      transpose is then elementwise multiply-adds and concatenations, with no
      reduction over a short minor axis and no zero-padded slice transposes,
      the two things XLA:CPU runs slowly.
    * Tangent along ``x2``: per ``x1`` block, one batched matmul ``a (mul1, d1) @
      dB (d1, N)`` for all its paths (``N`` = their ``n d3`` columns, from a copy
      of ``Call`` with its columns reordered), split into the segments and scaled
      by ``w`` repeated by :func:`repeat_minor`; its transpose is one matmul per
      block, the reduction over channels that the gradient along ``x2`` needs.

    Unweighted ``"cg"`` segments (full tensor products) are the same map without
    ``w``: bilinear, so their tangent along ``x1`` is the ``x2`` form with the roles
    of the operands swapped.

    These tangents measured about 2x faster in forward+backward, and 1.6x in the
    double backward, than batched-dot tangents.
    """
    # ChannelwiseSegment and the unweighted FullSegment (full tensor products), never both in one plan
    grouped = schedule.grouped
    segs = grouped.segments
    weighted = segs[0].kind == "grp"
    dtype = np.dtype(x1.dtype)
    # The float64 host constants, not the backend's copies: inside a trace those are
    # tracers, and the custom_jvp functions below must not close over tracers.
    call = np.asarray(prepare("tp", plan)[1][grouped.call], dtype=dtype)
    split1, at1 = splitter([c for s in segs for c in (s.start1, s.start1 + s.mul1 * s.d1)], x1.shape[-1])
    if weighted:
        splitw, atw = splitter([c for s in segs for c in (s.weight_offset, s.weight_offset + s.n * s.mul1)],
                                w.shape[-1])
    splitb, atb = splitter([c for s in segs for c in (s.col, s.col + s.n * s.d1 * s.d3)], call.shape[1])
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
                cols_x[st1] = columns(x1_block(xs, x1, st1, (1, mul1, d1)), d1)
                if ts is not None:
                    cols_t[st1] = columns(x1_block(ts, t1, st1, (1, mul1, d1)), d1)
            aw = []  # d(a_i w) = t1_i w + a_i tw, each (..., n, mul1)
            for i in range(d1):
                terms = []
                if ts is not None:
                    terms.append(cols_t[st1][i] * w_block(ws, w, off, (n, mul1)))
                if tws is not None:
                    terms.append(cols_x[st1][i] * w_block(tws, tw, off, (n, mul1)))
                aw.append(terms[0] if len(terms) == 1 else terms[0] + terms[1])
            b = columns(bcs[atb[s.col]].reshape(bcs[0].shape[:-1] + (n, d1 * d3)), d1 * d3)  # B_ik (..., n)
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
                    z = z * repeat_minor(w_block(ws, w, segs[si].weight_offset, (n, mul1, 1)), d3)
                out[si] = jnp.broadcast_to(z, batch + z.shape[-3:])
        return out

    if not weighted:
        # bilinear: the tangent along x1 is the x2 form with the roles swapped,
        # t1 @ (x2 @ Call), one matmul per x1 block (as is its transpose)
        return trilinear(primal, lambda x1, x2, w, t1, tw: tangent_x2(t1, x2, None), tangent_x2, batch,
                          weighted=False)(x1, x2, None)
    return trilinear(primal, tangent_x1w, tangent_x2, batch)(x1, x2, w)
