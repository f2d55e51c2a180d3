"""Spherical-harmonics kernels shared by the generic executor and the framework packages.

The recursion ``y_l = (y_{l-1} (x) v) @ M_l`` of a
:class:`~e3xp.core.schedule.HarmonicsSchedule` in the forms the backends run:

* elementwise, for compilers to fuse (XLA, Inductor): :func:`sparse_sh_columns`
  over the nonzero terms of the ``M_l`` (:func:`sparse_sh_terms`), or, up to
  :data:`SH_POLYNOMIAL_LMAX`, explicit polynomials (:func:`sh_polynomial_terms`,
  :func:`sh_polynomial_columns`);
* by blocks of rows written in place, for eager backends with ``out=`` arguments
  (numpy, torch): :func:`spherical_harmonics_in_place` and :func:`sh_block_rows`
  with the selection matrix :func:`sh_selection`. These are the only kernels
  here that write in place; the generic executor never calls them;
* :func:`unit_vectors`, the guarded normalisation every form shares.
"""

from __future__ import annotations

import functools

import numpy as np

from e3xp.core.schedule import prepare

__all__ = [
    "SH_POLYNOMIAL_LMAX",
    "sparse_sh_terms",
    "sparse_sh_columns",
    "sh_polynomial_terms",
    "sh_polynomial_columns",
    "sh_selection",
    "spherical_harmonics_in_place",
    "sh_block_rows",
    "unit_vectors",
]


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
# harmonics as explicit polynomials (sh_polynomial_terms): fewer operations than the
# recursion, which compilers fuse into one loop (measured faster on both, see
# benchmarks/RESULTS.md). Above it the coefficients grow (up to ~500 at lmax 8, so
# does float32 cancellation) and the recursion needs fewer terms.
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
    new contiguous array). Samples innermost: each block's degrees go into the rows of one
    ``((lmax + 1)^2, n)`` buffer, each degree one GEMM ``M_l^T (2l + 1, 3 (2l - 1))
    @ outer (3 (2l - 1), n)``; then one GEMM ``buffer^T @ sel``
    (:func:`sh_selection`, ``mats_t`` the ``M_l^T``) writes the block's rows of the
    preallocated output: BLAS transposes while it multiplies, where transposed
    copies and concatenations per block and of the blocks took almost half the
    time. The normalisation runs on the transposed rows (long contiguous passes,
    several times faster than on the ``(nb, 3)`` block).
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
        # scaled by the largest |component| first, so |x|^2 neither overflows nor underflows
        m = ops.maximum(ops.maximum(ops.abs(v[0]), ops.abs(v[1])), ops.abs(v[2]))
        m = ops.where(m > 0, m, ops.ones_like(m))
        v = v / ops.expand_dims(m, axis=0)
        r2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2]
        d = ops.sqrt(ops.where(r2 > 0, r2, ops.ones_like(r2)))
        v = v / ops.expand_dims(d, axis=0)
        den = m * d
    ys[0] = 1.0
    for l in range(1, lmax + 1):
        o = ops.reshape(outer[: 3 * (2 * l - 1) * nb], (2 * l - 1, 3, nb))
        io.mul(ops.expand_dims(ys[(l - 1) ** 2 : l * l], axis=1), ops.expand_dims(v, axis=0), o)
        io.matmul(mats_t[l - 1], ops.reshape(o, (3 * (2 * l - 1), nb)), ys[l * l : (l + 1) ** 2])
    return v, den


def unit_vectors(ops, x, stop_gradient=None):
    """``x / |x|`` along the last axis; the zero vector stays zero with a finite gradient.

    ``x`` is first divided by its largest ``|component|`` ``m``, so that ``|x|^2``
    neither overflows (``|x| ~ 1e200``, or ``1e20`` in float32) nor underflows
    (``1e-170``, ``1e-23`` in float32) where ``x / |x|`` is perfectly representable.
    ``stop_gradient`` (the framework's, when it has autodiff) freezes ``m``: for
    every fixed ``m > 0`` the result is exactly ``x / |x|``, so the derivatives stay
    exact, while differentiating through ``m`` would form ``x / m^2``, which
    overflows for tiny vectors. The untaken branches of the ``where`` are
    constants, so the gradient at ``x = 0`` is finite (the identity), as e3nn's and
    e3nn-jax's harmonics give.

    Examples
    --------
    >>> import numpy as np
    >>> unit_vectors(np, np.array([[1e200, 0.0, 0.0], [0.0, 3e-200, 4e-200], [0.0, 0.0, 0.0]]))
    array([[1. , 0. , 0. ],
           [0. , 0.6, 0.8],
           [0. , 0. , 0. ]])
    """
    m = ops.max(ops.abs(x), axis=-1, keepdims=True)
    if stop_gradient is not None:
        m = stop_gradient(m)
    x = x / ops.where(m > 0, m, ops.ones_like(m))
    r2 = ops.sum(x * x, axis=-1, keepdims=True)
    return x / ops.sqrt(ops.where(r2 > 0, r2, ops.ones_like(r2)))
