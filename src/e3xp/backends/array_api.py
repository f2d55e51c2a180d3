"""Plan executors written with array-API standard functions only.

They run on any compliant namespace (numpy, cupy, ``array_api_strict``, JAX,
torch through thin wrappers): ``matmul``, ``reshape``, ``permute_dims``,
``concat``, ``expand_dims``, ``sum``, ``where``, ``sqrt``, ``ones_like``,
``zeros``, ``broadcast_to`` and basic slicing -- no einsum, no in-place writes,
no data-dependent Python, so ``jax.jit`` / ``jax.grad`` / ``torch.compile``
trace them as they are.

Each plan is first turned, once and in NumPy, into a *schedule* (nested tuples
of Python ints, floats and strings) and a tuple of float64 constants (the
Clebsch-Gordan blocks with the path coefficients folded in, already permuted
and reshaped into the matrices the contraction multiplies by). The backend
materialises the constants per dtype and device in its cache.

Contraction order (per path, decided from the sizes when the schedule is built):
one operand is multiplied by its CG matrix first, e.g. ``x2 (..., mul2, d2) @
C (d2, d1 d3) -> (..., mul2, d1, d3)``, then one batched matmul with the other
operand's block gives ``(..., mul2, mul1, d3)``; whichever operand makes that
cheaper goes first. The ``"uvw"`` paths into one output block are then
concatenated and contracted with their weights in a single matmul.

Weighted paths whose second operand has multiplicity 1 (channelwise ``"uvu"``
paths of MACE / NequIP convolutions, fully connected ``"uvw"`` paths with
spherical harmonics or single-channel inputs) are regrouped first
(:func:`_group_channelwise`): one matmul ``x2 @ Call`` gives every path's
``b @ C``, consecutive channelwise output blocks from one ``x1`` block run as one
batched matmul, and fully connected blocks mix all their paths with one matmul.
The framework modules run the same segments with native calls.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from e3xp.core.plans import LinearPlan, TensorProductPlan
from e3xp.core.schedule import (
    BlockSegment,
    FullSegment,
    FullyConnectedSegment,
    prepare,
)
from e3xp.core.spherical_harmonics import SphericalHarmonicsPlan

__all__ = ["tensor_product", "linear", "spherical_harmonics", "prepare", "weight_layout", "check_tp_inputs", "check_sh_inputs"]


@functools.lru_cache(maxsize=64)
def sparse_sh_terms(key) -> tuple:
    """The nonzero entries of the recursion matrices ``M_l`` of ``prepare("sh", key)``.

    ``((((i, j, c), ...) per component k) per degree l >= 1)``, plain Python numbers,
    for :func:`sparse_sh_columns`.

    Examples
    --------
    >>> terms = sparse_sh_terms((3, (0, 1, 2, 3), "component"))
    >>> print(len(terms), [len(t) for t in terms], sum(len(e) for t in terms for e in t))
    3 [3, 5, 7] 35
    """
    out = []
    for m in prepare("sh", key)[1]:
        cols = []
        for k in range(m.shape[1]):
            cols.append(tuple((int(r) // 3, int(r) % 3, float(m[r, k])) for r in np.flatnonzero(m[:, k])))
        out.append(tuple(cols))
    return tuple(out)


# Degrees up to which the compiled backends (torch.compile, JAX) evaluate the
# harmonics as explicit polynomials (sh_polynomial_terms). Above it the coefficients
# grow (up to ~500 at lmax 8, so does float32 cancellation) and the recursion
# needs fewer terms. Measured at lmax 3 on 10^6 float32 vectors, in one run each:
# compiled torch fwd 1.83 -> 0.83 of compiled e3nn's time, JAX fwd+bwd 158 -> 117 ms.
SH_POLYNOMIAL_LMAX = 3


@functools.lru_cache(maxsize=64)
def sh_polynomial_terms(key) -> tuple:
    """The harmonics of ``prepare("sh", key)`` as explicit polynomials in ``(x, y, z)``.

    ``(monomials, columns)``: ``monomials[m] = (parent, j)`` builds monomial ``m``
    (numbered from 0; -1 is the constant 1) as ``monomial[parent] * v[j]``, one
    multiply each, parents before children; ``columns`` has one tuple of
    ``(monomial, coefficient)`` per output component (degrees ``ls``, scaled by
    their factors), ``monomial = -1`` for the constant of degree 0.

    The coefficients come from expanding the plan's own recursion
    ``y_l[k] = sum c y_{l-1}[i] v[j]`` in float64 (no fitting), so the polynomials
    equal the recursion up to rounding; each ``Y_l`` is homogeneous of degree ``l``.
    For ``lmax <= 3`` they need fewer operations than the recursion (16 monomials
    and 24 coefficients against 35 terms of two multiplies), which lets Inductor
    fuse the whole evaluation into one loop.

    Examples
    --------
    >>> mono, cols = sh_polynomial_terms((2, (0, 1, 2), "component"))
    >>> len(cols), [len(c) for c in cols]
    (9, [1, 1, 1, 1, 1, 1, 3, 1, 2])
    >>> [round(c, 6) for _, c in cols[6]]  # sqrt(5) (y^2 - (x^2 + z^2) / 2), e3nn's Y_2^0
    [-1.118034, 2.236068, -1.118034]
    """
    schedule, mats = prepare("sh", key)
    ls, factors = schedule.ls, schedule.factors
    polys = [[{(0, 0, 0): 1.0}]]  # per degree, per component: {exponents: coefficient}
    for m in mats:
        cur = []
        for k in range(m.shape[1]):
            acc = {}
            for r in np.flatnonzero(m[:, k]):
                i, j = int(r) // 3, int(r) % 3
                for e, c in polys[-1][i].items():
                    e2 = tuple(a + (t == j) for t, a in enumerate(e))
                    acc[e2] = acc.get(e2, 0.0) + c * float(m[r, k])
            cur.append({e: c for e, c in acc.items() if c != 0.0})
        polys.append(cur)
    index, monomials = {(0, 0, 0): -1}, []

    def monomial(e):  # its index, building the chain of parents first
        if e not in index:
            j = next(t for t in range(3) if e[t] > 0)
            parent = monomial(tuple(a - (t == j) for t, a in enumerate(e)))
            monomials.append((parent, j))
            index[e] = len(monomials) - 1
        return index[e]

    columns = []
    for l, f in zip(ls, factors):
        for poly in polys[l]:
            columns.append(tuple((monomial(e), c * f) for e, c in sorted(poly.items(), reverse=True)))
    return tuple(monomials), tuple(columns)


def sh_polynomial_columns(ops, v, poly) -> list:
    """The output columns of :func:`sh_polynomial_terms` ``poly`` from the three columns ``v``.

    Elementwise only (for compilers to fuse); ``ops.ones_like`` makes the constant.
    """
    monomials, columns = poly
    values = []
    for parent, j in monomials:
        values.append(v[j] if parent < 0 else values[parent] * v[j])
    cols = []
    for terms in columns:
        acc = None
        for m, c in terms:
            t = ops.ones_like(v[0]) * c if m < 0 else values[m] * c
            acc = t if acc is None else acc + t
        cols.append(acc if acc is not None else ops.ones_like(v[0]) * 0.0)
    return cols


def sparse_sh_columns(ops, v, schedule, terms) -> list:
    """The output columns of a :class:`~e3xp.core.schedule.HarmonicsSchedule` from the three columns ``v``.

    ``y_l[k] = sum c * y_{l-1}[i] * v[j]`` over the nonzero entries ``terms`` of
    :func:`sparse_sh_terms` only (35 of 159 up to ``l = 3``): every operation is
    elementwise, which compilers (XLA, Inductor) fuse into a few loops. ``y_0 = 1``
    stays implicit, so ``1 * v[j]`` is not computed. Skipping exact zeros only, the
    numbers are the dense recursion's up to rounding. ``ops`` is a namespace with
    ``ones_like`` (the backend's ``_ops``).
    """
    ys = [[None]]  # None stands for y_0 = 1
    for per_k in terms:
        cur = []
        for entries in per_k:
            acc = None
            for i, j, c in entries:
                prev = ys[-1][i]
                t = (v[j] if prev is None else prev * v[j]) * c
                acc = t if acc is None else acc + t
            cur.append(acc)
        ys.append(cur)
    cols = []
    for l, f in zip(schedule.ls, schedule.factors):
        if l == 0:
            ones = ops.ones_like(v[0])
            cols.append(ones if f == 1.0 else ones * f)
        else:
            cols += [y if f == 1.0 else y * f for y in ys[l]]
    return cols


def sh_selection(schedule) -> np.ndarray:
    """``((lmax + 1)^2, dim)`` float64: picks the degrees of a :class:`~e3xp.core.schedule.HarmonicsSchedule`
    from all rows of the recursion and scales them.

    Examples
    --------
    >>> from e3xp.core.schedule import HarmonicsSchedule
    >>> sh_selection(HarmonicsSchedule(1, (1,), (0.5,)))
    array([[0. , 0. , 0. ],
           [0.5, 0. , 0. ],
           [0. , 0.5, 0. ],
           [0. , 0. , 0.5]])
    """
    sel = np.zeros(((schedule.lmax + 1) ** 2, schedule.dim))
    c = 0
    for l, f in zip(schedule.ls, schedule.factors):
        sel[l * l + np.arange(2 * l + 1), c + np.arange(2 * l + 1)] = f
        c += 2 * l + 1
    return sel


def spherical_harmonics_in_place(io, ops, flat, lmax, mats_t, sel, normalize, chunk):
    """The harmonics of ``flat (n, 3)`` by blocks of ``chunk`` rows, every block written in place (no autograd).

    For backends with ``out=`` arguments (``io``: ``empty(shape, like)``,
    ``mul(a, b, out)``, ``matmul(a, b, out)``, ``rows(x)`` = ``x`` transposed into a
    new contiguous array). Samples innermost, as in the dense recursion of
    :func:`spherical_harmonics`: each block's degrees go into the rows of one
    ``((lmax + 1)^2, n)`` buffer, each degree one GEMM ``M_l^T (2l + 1, 3 (2l - 1))
    @ outer (3 (2l - 1), n)``; then one GEMM ``buffer^T @ sel``
    (:func:`sh_selection`, ``mats_t`` the ``M_l^T``) writes the block's rows of the
    preallocated output: BLAS transposes while it multiplies, where transposed
    copies and concatenations per block and of the blocks took 37 of 82 ms in the
    torch backend (lmax 3, 10^6 vectors, float32, one thread). The normalisation
    runs on the transposed rows (long contiguous passes; on the ``(nb, 3)`` block it
    took 13 of 48 ms): lmax 3 40-43 -> 31-35 ms in torch, 47 -> 35 ms in numpy.
    """
    n, rows = flat.shape[0], (lmax + 1) ** 2
    out = io.empty((n, sel.shape[1]), flat)
    nb = min(n, chunk)
    if nb == 0:
        return out
    ys = io.empty((rows, nb), flat)
    outer = io.empty((max(3 * (2 * lmax - 1), 1) * nb,), flat)
    for s in range(0, n, nb):
        x = flat[s : s + nb]
        if x.shape[0] < nb:  # the last, shorter block: contiguous rows again for out=
            nb = x.shape[0]
            ys = io.empty((rows, nb), flat)
        sh_block_rows(io, ops, x, lmax, mats_t, ys, outer, normalize)
        io.matmul(ops.matrix_transpose(ys), sel, out[s : s + nb])
    return out


def sh_block_rows(io, ops, x, lmax, mats_t, ys, outer, normalize):
    """One block of :func:`spherical_harmonics_in_place`: the recursion of ``x (nb, 3)`` into the rows of ``ys``.

    Writes ``y_0 .. y_lmax`` into the first ``(lmax + 1)^2`` rows of ``ys (>= (lmax +
    1)^2, nb)``, using ``outer`` (at least ``3 (2 lmax - 1) nb`` numbers) as scratch.
    Returns ``(v, den)``: the rows ``(3, nb)`` the recursion used (unit vectors when
    ``normalize``) and ``|x|`` as guarded by :func:`unit_vectors` (None without
    ``normalize``), which a gradient by blocks needs again.
    """
    nb = x.shape[0]
    v, den = io.rows(x), None  # (3, nb)
    if normalize:  # unit_vectors on the rows: long contiguous passes, not (nb, 3) ones
        r2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2]
        den = ops.sqrt(ops.where(r2 > 0, r2, ops.ones_like(r2)))
        v = v / ops.expand_dims(den, axis=0)
    ys[0] = 1.0
    for l in range(1, lmax + 1):
        o = ops.reshape(outer[: 3 * (2 * l - 1) * nb], (2 * l - 1, 3, nb))
        io.mul(ops.expand_dims(ys[(l - 1) ** 2 : l * l], axis=1), ops.expand_dims(v, axis=0), o)
        io.matmul(mats_t[l - 1], ops.reshape(o, (3 * (2 * l - 1), nb)), ys[l * l : (l + 1) ** 2])
    return v, den


def unit_vectors(ops, x):
    """``x / |x|`` along the last axis; the zero vector stays zero with a finite gradient.

    The untaken branch of the ``where`` is a constant, so the gradient at
    ``x = 0`` is finite (zero), as e3nn's and e3nn-jax's harmonics give.
    """
    r2 = ops.sum(x * x, axis=-1, keepdims=True)
    return x / ops.sqrt(ops.where(r2 > 0, r2, ops.ones_like(r2)))


_NORMALIZATIONS = ("component", "norm", "integral")


def _degree(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"a degree must be a non-negative int, got {value!r}")
    if value < 0:
        raise ValueError(f"a degree must be a non-negative int, got {value!r}")
    return int(value)


def _ls_tuple(ls) -> tuple:
    """Degrees in output order; an int means ``0..ls``. Plain Python: it runs under tracing."""
    if isinstance(ls, np.ndarray):
        ls = ls.tolist()
    if isinstance(ls, (list, tuple, range)):
        if len(ls) == 0:
            raise ValueError(f"ls must name at least one degree, got {ls!r}")
        return tuple(_degree(l) for l in ls)
    if isinstance(ls, (str, bytes)):
        raise TypeError(f"ls must be an int lmax or a sequence of ints, got {ls!r}")
    return tuple(range(_degree(ls) + 1))


def weight_layout(plan) -> str:
    """A readable description of where each path's weights live in the flat vector.

    Examples
    --------
    >>> from e3xp.core.plans import linear_plan
    >>> print(weight_layout(linear_plan("2x0e", "3x0e")))
    path 0: in[0]=2x0e -> out[0]=3x0e, weights[0:6] as (2, 3)
    """
    lines = []
    if isinstance(plan, LinearPlan):
        for k, p in enumerate(plan.paths):
            size = math.prod(p.weight_shape)
            lines.append(
                f"path {k}: in[{p.i_in}]={plan.irreps_in[p.i_in]} -> out[{p.i_out}]="
                f"{plan.irreps_out[p.i_out]}, weights[{p.weight_offset}:{p.weight_offset + size}] "
                f"as {tuple(p.weight_shape)}"
            )
    else:
        for k, p in enumerate(plan.paths):
            where = "no weights"
            if p.has_weight:
                size = math.prod(p.weight_shape)
                where = f"weights[{p.weight_offset}:{p.weight_offset + size}] as {tuple(p.weight_shape)}"
            lines.append(
                f"path {k}: in1[{p.i_in1}]={plan.irreps_in1[p.i_in1]} x in2[{p.i_in2}]="
                f"{plan.irreps_in2[p.i_in2]} -> out[{p.i_out}]={plan.irreps_out[p.i_out]} "
                f"{p.mode!r}, {where}"
            )
    return "\n".join(lines) if lines else "(no paths)"


# ---------------------------------------------------------------------------
# validation helpers
# ---------------------------------------------------------------------------


def _broadcast(shapes, what: str) -> tuple:
    ndim = max([len(s) for s in shapes] + [0])
    out = []
    for axis in range(ndim):
        size = 1
        for s in shapes:
            k = axis - (ndim - len(s))
            if k < 0 or s[k] == 1:
                continue
            if size != 1 and s[k] != size:
                raise ValueError(
                    f"leading shapes {', '.join(str(tuple(s)) for s in shapes)} of {what} "
                    "do not broadcast"
                )
            size = s[k]
        out.append(size)
    return tuple(out)


def _check_input(backend, x, dim: int, name: str, irreps) -> None:
    if not backend.is_array(x):
        raise TypeError(f"{name} must be an array of backend {backend.name!r}, got {type(x).__name__}")
    backend.check_float(x, name)
    if len(x.shape) == 0 or x.shape[-1] != dim:
        raise ValueError(
            f"{name} has shape {tuple(x.shape)}: expected a last axis of size {dim} = ({irreps}).dim"
        )


def _check_same_dtype(backend, arrays: dict) -> None:
    named = [(k, v) for k, v in arrays.items() if v is not None]
    ref_name, ref = named[0]
    for k, v in named[1:]:
        if v.dtype != ref.dtype:
            raise TypeError(
                f"{k} has dtype {backend._dtype_name(v.dtype)} but {ref_name} has "
                f"{backend._dtype_name(ref.dtype)}: cast them to one floating dtype"
            )


def _check_flat(backend, w, numel: int, name: str, plan):
    """Validate flat parameters; True when shared ``(numel,)``, False when per sample."""
    if w is None:
        if numel > 0:
            raise ValueError(
                f"{name} are required: expected shape ({numel},) or (..., {numel}); "
                f"layout:\n{weight_layout(plan)}"
            )
        return True
    if not backend.is_array(w):
        raise TypeError(f"{name} must be an array of backend {backend.name!r}, got {type(w).__name__}")
    backend.check_float(w, name)
    if len(w.shape) == 0 or w.shape[-1] != numel:
        raise ValueError(
            f"{name} have shape {tuple(w.shape)}: expected ({numel},) (shared) or "
            f"(..., {numel}) (per sample) for this plan; layout:\n{weight_layout(plan)}"
        )
    return len(w.shape) == 1


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

    if mode == "uuu":
        if first == 1:
            out = ops.matmul(ops.expand_dims(b, axis=-2), _times_cg(ops, a, mat, d2, d3))
        else:
            out = ops.matmul(ops.expand_dims(a, axis=-2), _times_cg(ops, b, mat, d1, d3))
        out = ops.reshape(out, tuple(out.shape[:-3]) + (mul1, d3))
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
    # "uvuv_triu": rows u < v, row-major; slices keep this free of integer index arrays
    rows = [z[..., u, u + 1 :, :] for u in range(mul1 - 1)]
    out = ops.concat(rows, axis=-2) if len(rows) > 1 else rows[0]
    if W is not None:
        out = out * ops.reshape(W, tuple(W.shape[: len(W.shape) - len(wshape)]) + (1, 1))
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
    z = zs[0] if len(zs) == 1 else ops.concat(zs, axis=-2)  # (..., K, d3)
    wk = ws[0] if len(ws) == 1 else ops.concat(ws, axis=-2)  # (..., K, mul_o)
    if not shared:
        return ops.matmul(ops.matrix_transpose(wk), z)  # (..., mul_o, d3)
    # shared weights: one large GEMM (batch d3, K) @ (K, mul_o)
    zb, k = tuple(z.shape[:-2]), z.shape[-2]
    t = ops.reshape(_permute_last(ops, z, (1, 0)), (math.prod(zb) * d3, k))
    t = ops.reshape(ops.matmul(t, wk), zb + (d3, mul_o))
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


def check_tp_inputs(backend, plan, x1, x2, weights) -> tuple:
    """Validate the arguments of :func:`tensor_product`; ``(shared weights?, batch shape)``.

    Native executors in the framework modules call it first, so every backend
    rejects bad input with the same messages.

    Examples
    --------
    >>> import numpy as np
    >>> from e3xp.backends import get_backend
    >>> from e3xp.core.plans import channelwise_tensor_product_plan
    >>> plan = channelwise_tensor_product_plan("2x0e", "0e")
    >>> check_tp_inputs(get_backend("numpy"), plan, np.ones((3, 2)), np.ones((1, 1)), np.ones((3, 2)))
    (False, (3,))
    """
    if not isinstance(plan, TensorProductPlan):
        raise TypeError(f"plan must be a TensorProductPlan, got {type(plan).__name__}")
    _check_input(backend, x1, plan.irreps_in1.dim, "x1", plan.irreps_in1)
    _check_input(backend, x2, plan.irreps_in2.dim, "x2", plan.irreps_in2)
    if plan.weight_numel == 0 and weights is not None:
        raise ValueError(
            f"this plan takes no weights (weight_numel = 0), got weights of shape "
            f"{tuple(getattr(weights, 'shape', ()))}"
        )
    shared = _check_flat(backend, weights, plan.weight_numel, "weights", plan)
    _check_same_dtype(backend, {"x1": x1, "x2": x2, "weights": weights})
    shapes = [tuple(x1.shape[:-1]), tuple(x2.shape[:-1])]
    if weights is not None and not shared:
        shapes.append(tuple(weights.shape[:-1]))
    batch = _broadcast(shapes, "x1, x2" + ("" if len(shapes) == 2 else " and weights"))
    return shared, batch


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
            z = zs[0] if len(zs) == 1 else ops.concat(zs, axis=-2)  # (..., K, d3)
            wk = ws[0] if len(ws) == 1 else ops.concat(ws, axis=-2)  # (..., K, mul_o)
            if shared:  # one large GEMM (batch d3, K) @ (K, mul_o)
                zb, k = tuple(z.shape[:-2]), z.shape[-2]
                t = ops.reshape(_permute_last(ops, z, (1, 0)), (math.prod(zb) * d3, k))
                out = _permute_last(ops, ops.reshape(ops.matmul(t, wk), zb + (d3, mul_o)), (1, 0))
            else:
                out = ops.matmul(ops.matrix_transpose(wk), z)
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


def check_linear_inputs(backend, plan, x, weights, bias) -> tuple:
    """Validate the inputs of :func:`linear`; return ``(shared, bias_shared, batch)``.

    ``shared``: one weight vector for every sample; ``bias_shared`` likewise (True
    when ``bias`` is None); ``batch``: the broadcast batch shape of the output.
    """
    if not isinstance(plan, LinearPlan):
        raise TypeError(f"plan must be a LinearPlan, got {type(plan).__name__}")
    _check_input(backend, x, plan.irreps_in.dim, "x", plan.irreps_in)
    if weights is None and plan.weight_numel == 0:
        shared = True
    else:
        shared = _check_flat(backend, weights, plan.weight_numel, "weights", plan)
    b_shared = True
    if bias is not None:
        if plan.bias_numel == 0:
            raise ValueError(
                f"this plan has no biases (bias_numel = 0), got bias of shape {tuple(bias.shape)}"
            )
        b_shared = _check_flat(backend, bias, plan.bias_numel, "bias", plan)
    _check_same_dtype(backend, {"x": x, "weights": weights, "bias": bias})
    shapes = [tuple(x.shape[:-1])]
    if weights is not None and not shared:
        shapes.append(tuple(weights.shape[:-1]))
    if bias is not None and not b_shared:
        shapes.append(tuple(bias.shape[:-1]))
    return shared, b_shared, _broadcast(shapes, "x, weights and bias")


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
            xcat = xs[0] if len(xs) == 1 else ops.concat(xs, axis=-2)  # (..., K, d)
            wcat = ws[0] if len(ws) == 1 else ops.concat(ws, axis=-2)  # (..., K, mul_o)
            k = xcat.shape[-2]
            if shared:
                # one large GEMM: (batch d, K) @ (K, mul_o)
                xb = tuple(xcat.shape[:-2])
                t = ops.reshape(_permute_last(ops, xcat, (1, 0)), (math.prod(xb) * d, k))
                t = ops.reshape(ops.matmul(t, wcat), xb + (d, mul_o))
                acc = _permute_last(ops, t, (1, 0))
            else:
                acc = ops.matmul(ops.matrix_transpose(wcat), xcat)
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


def check_sh_inputs(backend, sh_plan, vectors, ls, normalization) -> tuple:
    """Validate the arguments of :func:`spherical_harmonics`; the degrees as a tuple.

    Examples
    --------
    >>> import numpy as np
    >>> from e3xp.backends import get_backend
    >>> from e3xp.core.spherical_harmonics import spherical_harmonics_plan
    >>> check_sh_inputs(get_backend("numpy"), spherical_harmonics_plan(2), np.ones(3), 2, "norm")
    (0, 1, 2)
    """
    if not isinstance(sh_plan, SphericalHarmonicsPlan):
        raise TypeError(f"sh_plan must be a SphericalHarmonicsPlan, got {type(sh_plan).__name__}")
    ls = _ls_tuple(ls)
    if normalization not in _NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {_NORMALIZATIONS}, got {normalization!r}")
    if not backend.is_array(vectors):
        raise TypeError(
            f"vectors must be an array of backend {backend.name!r}, got {type(vectors).__name__}"
        )
    backend.check_float(vectors, "vectors")
    if len(vectors.shape) == 0 or vectors.shape[-1] != 3:
        raise ValueError(
            f"vectors must have a last axis of size 3 (x, y, z), got shape {tuple(vectors.shape)}"
        )
    return ls
