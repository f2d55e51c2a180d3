"""Reduced tensor product bases: change of basis from index-symmetric tensors to irreps.

A tensor ``T[i, j, k, ...]`` whose indices carry irreps and which obeys a signed
permutation symmetry (``T_ij = T_ji``, ``T_ijk = -T_jik``, ...) lives in a
subspace of the full tensor product.  The functions here return an orthonormal
basis ``Q`` of that subspace, decomposed into irreps: ``Q[i, j, ..., :]`` is an
array whose last axis is laid out by the output irreps, so ``T = Q @ x`` for
``x`` in those irreps and ``x = einsum("ij...,ij...a->a", T, Q)``.

The results equal e3nn-jax 0.21's ``reduced_tensor_product_basis``,
``reduced_symmetric_tensor_product_basis`` and
``reduced_antisymmetric_tensor_product_basis`` entry by entry (same output irreps,
same order of the copies of each irrep, same signs).  That basis is not the only
orthonormal one; it is fixed by the construction, which is therefore reproduced
step by step:

1. The tensor is built up two factors at a time: each pair of partial bases is
   coupled with ``sqrt(2l + 1)`` times the real Clebsch-Gordan coefficients
   (copies ordered with the first factor's copy major), and the result is
   regrouped (stable sort by irrep, then merged).  With three or more factors, the
   pair to couple first is the one whose own permutation symmetry leaves the
   fewest free components (first such pair on ties), reduced recursively.
2. Where the couple carries a non-trivial symmetry, the copies of each irrep are
   constrained to the symmetric subspace: with ``R`` the component-0 rows of the
   copies and ``A`` the coefficients ``a`` for which ``a @ R`` is symmetric, the
   new copies are the Gram-Schmidt orthonormalization of the rows of
   ``proj_A / 2`` (rows of norm ``<= epsilon`` dropped), in that row order.
3. Symmetric powers of several irreps (``"0e + 1o + 2e"``, as MACE uses) are
   assembled from the symmetric powers of each single irrep: for each way to
   split the degree among the irreps, the product of those powers is summed over
   the distinct placements of its factors and divided by the square root of
   their number; the pieces are concatenated and regrouped.
4. After steps 2 and 3 every entry is rounded to the nearest ``±sqrt(p / q)``
   with ``q <= 2**40 + 1``, which removes float noise (the exact basis entries
   are square roots of rationals).

How this differs from e3nn-jax's code (not its results): the subspace ``A`` of
step 2 comes from the small ``mul x mul`` matrix ``R (1 - S) R^T``, with ``S``
the symmetrizer (the average of the signed index permutations), instead of an
eigendecomposition of size ``mul + (number of symmetric components)``; the number
of free components used in step 1 is counted with Burnside's lemma (a sum over
the group of the products of the dimensions over each permutation's cycles)
instead of enumerating index tuples.  Both give the same numbers.

Everything here is pure Python + NumPy (float64); results are cached and read-only.
The public functions wrap the cached NumPy array in an :class:`e3xp.IrrepsArray`.
"""

from __future__ import annotations

import functools
import itertools
import math
import numbers
from collections.abc import Iterable
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from e3xp.core.clebsch_gordan import _sqrt_ratio_to_float, clebsch_gordan
from e3xp.core.irreps import Irrep, Irreps, MulIrrep

__all__ = [
    "FormulaError",
    "reduced_tensor_product_basis",
    "reduced_symmetric_tensor_product_basis",
    "reduced_antisymmetric_tensor_product_basis",
]

# A signed permutation ``(s, p)`` of n tensor axes means ``T[x] = s * T[x o p]``
# with ``(x o p)[k] = x[p[k]]``.  A symmetry is a frozenset of them closed under
# composition and inverse (a finite group), so averaging or counting over it does
# not depend on which way a permutation is read.
SignedPerm = tuple  # (sign: int, perm: tuple[int, ...])

# e3nn-jax rounds to sqrt(p / q) with q <= 2**20 applied to the value, i.e. a
# denominator bound of (2**20)**2 + 1 on the square.
_MAX_SQUARE_DENOMINATOR = 2**40 + 1


class FormulaError(ValueError, RuntimeError):
    """A formula or its irreps do not fit together.

    A ``ValueError`` as e3xp's bad-input errors are, and also a ``RuntimeError``,
    which is what e3nn-jax raises for the same inputs (so ``except RuntimeError``
    in code written for e3nn-jax still catches it).
    """


class _Basis(NamedTuple):
    """A partial basis: ``array`` has the tensor axes then one axis laid out by ``irreps``."""

    irreps: Irreps
    array: np.ndarray


# ---------------------------------------------------------------------------
# signed permutation groups
# ---------------------------------------------------------------------------


def _compose(p1: tuple, p2: tuple) -> tuple:
    return tuple(p1[k] for k in p2)


def _close_group(generators: Iterable[SignedPerm]) -> frozenset:
    """The smallest set containing ``generators`` closed under composition."""
    group = set(generators)
    frontier = set(group)
    while frontier:
        new = set()
        for s1, p1 in frontier:
            for s2, p2 in list(group):
                for s, p in ((s1 * s2, _compose(p1, p2)), (s1 * s2, _compose(p2, p1))):
                    if (s, p) not in group:
                        new.add((s, p))
        group |= new
        frontier = new
    return frozenset(group)


def _identity_group(n: int) -> frozenset:
    return frozenset({(1, tuple(range(n)))})


def _perm_sign(p: tuple) -> int:
    sign, seen = 1, [False] * len(p)
    for start in range(len(p)):
        length = 0
        k = start
        while not seen[k]:
            seen[k] = True
            k = p[k]
            length += 1
        if length and length % 2 == 0:
            sign = -sign
    return sign


@functools.lru_cache(maxsize=None)
def _symmetric_group(n: int) -> frozenset:
    return frozenset((1, p) for p in itertools.permutations(range(n)))


@functools.lru_cache(maxsize=None)
def _antisymmetric_group(n: int) -> frozenset:
    return frozenset((_perm_sign(p), p) for p in itertools.permutations(range(n)))


def _subgroup(group: frozenset, axes: tuple) -> frozenset:
    """The elements that only move ``axes`` (sorted), as permutations of those axes."""
    where = {a: k for k, a in enumerate(axes)}
    out = set()
    for s, p in group:
        if all(p[k] == k for k in range(len(p)) if k not in where):
            out.add((s, tuple(where[p[a]] for a in axes)))
    return frozenset(out)


def _cycles(p: tuple) -> list:
    seen, out = set(), []
    for start in range(len(p)):
        if start in seen:
            continue
        cycle, k = [], start
        while k not in seen:
            seen.add(k)
            cycle.append(k)
            k = p[k]
        out.append(cycle)
    return out


def _invariant_dim(group: frozenset, dims: tuple) -> int:
    """Dimension of the tensors of shape ``dims`` that obey ``group`` (Burnside).

    It is the trace of the symmetrizer ``mean(s * P_p)``; the trace of the index
    permutation ``P_p`` is the number of index tuples it fixes, the product over
    the cycles of ``p`` of the common dimension of the axes in each cycle.
    """
    total = 0
    for s, p in group:
        total += s * math.prod(dims[c[0]] for c in _cycles(p))
    dim, rest = divmod(total, len(group))
    if rest:
        raise AssertionError(f"internal error: non-integer invariant dimension {total}/{len(group)}")
    return dim


def _symmetrize(rows: np.ndarray, group: frozenset) -> np.ndarray:
    """``rows`` (shape ``(m, *tensor_shape)``) projected on the tensors that obey ``group``."""
    out = np.zeros_like(rows)
    for s, p in group:
        out += s * np.transpose(rows, (0,) + tuple(1 + k for k in p))
    return out / len(group)


# ---------------------------------------------------------------------------
# formulas
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _parse_formula(formula: str) -> tuple:
    """``"ij=-ji"`` -> ``("ij", group)``; whitespace is ignored."""
    parts = ["".join(part.split()) for part in formula.split("=")]
    signed = []
    for part in parts:
        sign = -1 if part.startswith("-") else 1
        signed.append((sign, part[1:] if sign < 0 else part))
    s0, f0 = signed[0]
    if s0 != 1:
        raise FormulaError(
            f"formula {formula!r}: the first term {parts[0]!r} must carry no sign (it names the indices)"
        )
    if not f0:
        raise FormulaError(f"formula {formula!r} has no index; expected e.g. 'ij=ji'")
    if len(set(f0)) != len(f0):
        raise FormulaError(f"formula {formula!r}: the indices of {f0!r} must be distinct")
    generators = []
    for sign, f in signed:
        if sorted(f) != sorted(f0):
            raise FormulaError(f"formula {formula!r}: {f!r} is not a permutation of {f0!r}")
        generators.append((sign, tuple(f0.index(c) for c in f)))
    return f0, _close_group(generators)


def _irreps_per_index(formula: str, f0: str, group: frozenset, irreps_dict: dict) -> tuple:
    """The irreps of each index of ``f0``, spread along the orbits of ``group``."""
    given = {}
    for name, value in irreps_dict.items():
        if len(name) != 1:
            raise TypeError(f"reduced_tensor_product_basis() got an unexpected keyword argument '{name}'")
        given[name] = _as_irreps(value, name)
    for name in given:
        if name not in f0:
            raise FormulaError(
                f"index {name!r} has irreps ({name}={given[name]}) but does not appear in the formula {formula!r}"
            )
    # Indices exchanged by a symmetry must carry the same irreps.
    resolved = {}
    for a, name in enumerate(f0):
        orbit = sorted({p[a] for _, p in group})
        known = [(f0[b], given[f0[b]]) for b in orbit if f0[b] in given]
        for (n1, ir1), (n2, ir2) in zip(known, known[1:]):
            if ir1 != ir2:
                raise FormulaError(
                    f"formula {formula!r} exchanges indices {n1!r} and {n2!r}, so their irreps must be "
                    f"equal; got {n1}={ir1} and {n2}={ir2}"
                )
        if not known:
            raise FormulaError(
                f"index {name!r} of formula {formula!r} has no irreps; pass them as a keyword, "
                f"e.g. {name}='1o'"
            )
        resolved[name] = known[0][1]
    return tuple(resolved[name] for name in f0)


# ---------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------


def _as_irreps(value, name: str) -> Irreps:
    try:
        return Irreps(value)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name}: expected irreps such as '1o' or '0e + 2e', got {value!r} ({exc})") from None


def _check_epsilon(epsilon) -> float:
    if isinstance(epsilon, (bool, np.bool_)) or not isinstance(epsilon, numbers.Real):
        raise TypeError(f"epsilon must be a positive float, got {epsilon!r} of type {type(epsilon).__name__}")
    epsilon = float(epsilon)
    if not (epsilon > 0 and math.isfinite(epsilon)):
        raise ValueError(f"epsilon must be a positive finite float, got {epsilon!r}")
    return epsilon


def _check_degree(degree) -> int:
    if isinstance(degree, (bool, np.bool_)) or not isinstance(degree, numbers.Integral):
        raise TypeError(f"degree must be a positive int, got {degree!r} of type {type(degree).__name__}")
    if degree < 1:
        raise ValueError(f"degree must be a positive int (the number of indices), got {degree!r}")
    return int(degree)


def _check_keep_ir(keep_ir):
    """``keep_ir`` as a frozenset of Irrep, or None (keep everything)."""
    if keep_ir is None:
        return None
    if isinstance(keep_ir, (str, Irrep, MulIrrep)):
        return frozenset(mul_ir.ir for mul_ir in _as_irreps(keep_ir, "keep_ir"))
    if isinstance(keep_ir, Iterable):
        out = set()
        for item in keep_ir:
            out.update(mul_ir.ir for mul_ir in _as_irreps(item, "keep_ir"))
        return frozenset(out)
    raise TypeError(
        f"keep_ir must be None, irreps (e.g. '0e + 1o') or a list of Irrep, got {keep_ir!r} "
        f"of type {type(keep_ir).__name__}"
    )


def _products_of(irs1, irs2):
    """Every irrep in some ``ir1 x ir2``; None (everything) if either is None."""
    if irs1 is None or irs2 is None:
        return None
    return frozenset(ir for ir1 in irs1 for ir2 in irs2 for ir in ir1 * ir2)


def _power_of(irs, n: int):
    out = frozenset({Irrep("0e")})
    for _ in range(n):
        out = _products_of(out, irs)
    return out


# ---------------------------------------------------------------------------
# bases as (Irreps, ndarray)
# ---------------------------------------------------------------------------


def _chunks(basis: _Basis) -> list:
    """``(mul_ir, block)`` per entry, ``block`` of shape ``(*tensor_shape, mul, 2l+1)``."""
    lead = basis.array.shape[:-1]
    out, start = [], 0
    for mul_ir in basis.irreps:
        block = basis.array[..., start : start + mul_ir.dim]
        out.append((mul_ir, block.reshape(lead + (mul_ir.mul, mul_ir.ir.dim))))
        start += mul_ir.dim
    return out


def _from_chunks(mul_irs: list, blocks: list, lead: tuple) -> _Basis:
    flat = [b.reshape(lead + (b.shape[-2] * b.shape[-1],)) for b in blocks]
    array = np.concatenate(flat, axis=-1) if flat else np.zeros(lead + (0,))
    return _Basis(Irreps(mul_irs), array)


def _regroup(basis: _Basis) -> _Basis:
    """Stable sort of the entries by irrep, then merge neighbours (e3nn-jax's regroup)."""
    chunks = _chunks(basis)
    order = sorted(range(len(chunks)), key=lambda k: chunks[k][0].ir)
    if order != list(range(len(chunks))):
        sorted_chunks = [chunks[k] for k in order]
        basis = _from_chunks([c[0] for c in sorted_chunks], [c[1] for c in sorted_chunks], basis.array.shape[:-1])
    return _Basis(basis.irreps.simplify(), basis.array)


def _filter(basis: _Basis, keep) -> _Basis:
    if keep is None:
        return basis
    kept = [(m, b) for m, b in _chunks(basis) if m.ir in keep]
    return _from_chunks([m for m, _ in kept], [b for _, b in kept], basis.array.shape[:-1])


def _product(basis1: _Basis, basis2: _Basis, keep=None) -> _Basis:
    """Couple two partial bases (tensor axes broadcast) into irreps, copies ``u`` major."""
    basis1, basis2 = _regroup(basis1), _regroup(basis2)
    lead = np.broadcast_shapes(basis1.array.shape[:-1], basis2.array.shape[:-1])
    mul_irs, blocks = [], []
    for (mi1, x1) in _chunks(basis1):
        for (mi2, x2) in _chunks(basis2):
            for ir in mi1.ir * mi2.ir:
                if keep is not None and ir not in keep:
                    continue
                cg = math.sqrt(ir.dim) * clebsch_gordan(mi1.ir.l, mi2.ir.l, ir.l)
                # Contract the CG block with the first factor, then the second
                # (two GEMM-like steps instead of one three-operand einsum).
                t = np.tensordot(x1, cg, axes=([-1], [0]))  # (..., u, j, k)
                x = np.einsum("...ujk,...vj->...uvk", t, x2, optimize=True)
                x = np.broadcast_to(x, lead + x.shape[-3:])
                mul_irs.append(MulIrrep(mi1.mul * mi2.mul, ir))
                blocks.append(x.reshape(lead + (mi1.mul * mi2.mul, ir.dim)))
    return _regroup(_from_chunks(mul_irs, blocks, lead))


def _gram_schmidt_rows(a: np.ndarray, epsilon: float) -> np.ndarray:
    """Orthonormalize the rows of ``a`` in order, dropping residuals of norm ``<= epsilon``."""
    kept = []
    for row in a:
        v = row.copy()
        for w in kept:
            v -= (w @ v) * w
        norm = np.linalg.norm(v)
        if norm > epsilon:
            kept.append(v / norm)
    return np.array(kept).reshape(len(kept), a.shape[1])


def _constrain(basis: _Basis, group: frozenset, epsilon: float) -> _Basis:
    """Keep, per irrep, the combinations of copies that obey ``group`` (step 2 of the module doc)."""
    chunks = _chunks(basis)
    lead = basis.array.shape[:-1]
    mul_irs, blocks = [], []
    for ir in sorted({m.ir for m, _ in chunks}):
        block = np.concatenate([b for m, b in chunks if m.ir == ir], axis=-2)  # (..., mul, 2l+1)
        mul = block.shape[-2]
        # Rotations commute with index permutations, so component 0 decides.
        rows = np.moveaxis(block[..., 0], -1, 0)  # (mul, *lead)
        flat = rows.reshape(mul, -1)
        gram = flat @ (flat - _symmetrize(rows, group).reshape(mul, -1)).T
        mu, vecs = np.linalg.eigh((gram + gram.T) / 2)
        # mu = sin^2 of the angles between the copies' span and the symmetric
        # subspace; 1 - cos is the eigenvalue e3nn-jax compares with epsilon.
        free = vecs[:, 1.0 - np.sqrt(np.clip(1.0 - mu, 0.0, None)) < epsilon]
        # e3nn-jax orthonormalizes the rows of V_a V_a^T, V_a the copies' half of
        # its unit null vectors (a, b): that matrix is half the projector on the
        # free combinations.  Same rows, same order, same epsilon test.
        coef = _gram_schmidt_rows(free @ free.T / 2, epsilon)
        mul_irs.append(MulIrrep(len(coef), ir))
        blocks.append(np.einsum("vu,...ui->...vi", coef, block))
    return _from_chunks(mul_irs, blocks, lead)


def _round_sqrt_rational(basis: _Basis) -> _Basis:
    """Every entry to the nearest ``±sqrt(p / q)``, ``q <= 2**40 + 1`` on the square."""
    a = basis.array
    # Bases are mostly zeros: round the distinct nonzero magnitudes only.
    nonzero = a != 0
    values, inverse = np.unique(np.abs(a[nonzero]), return_inverse=True)
    rounded = np.empty_like(values)
    for k, v in enumerate(values.tolist()):
        sq = Fraction(v * v).limit_denominator(_MAX_SQUARE_DENOMINATOR)
        rounded[k] = _sqrt_ratio_to_float(sq.numerator, sq.denominator)
    out = np.zeros_like(a)
    out[nonzero] = np.sign(a[nonzero]) * rounded[inverse.reshape(-1)]
    return _Basis(basis.irreps, out)


def _read_only(basis: _Basis) -> _Basis:
    array = np.ascontiguousarray(basis.array, dtype=np.float64)
    if array is basis.array:
        array = array.copy()
    array.setflags(write=False)
    return _Basis(basis.irreps, array)


# ---------------------------------------------------------------------------
# the reduction
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _reduce(irreps_tuple: tuple, group: frozenset, keep, epsilon: float) -> _Basis:
    """Orthonormal basis of the tensors with axes ``irreps_tuple`` that obey ``group``."""
    n = len(irreps_tuple)
    if n > 1 and group == _symmetric_group(n) and irreps_tuple[0].num_irreps > 1:
        return _read_only(_round_sqrt_rational(_reduce_symmetric_several(irreps_tuple[0], n, keep, epsilon)))

    dims = tuple(irreps.dim for irreps in irreps_tuple)
    # (axes covered, partial basis with size-1 tensor axes elsewhere)
    parts = []
    for a, irreps in enumerate(irreps_tuple):
        shape = tuple(d if b == a else 1 for b, d in enumerate(dims))
        parts.append(((a,), _Basis(irreps, np.eye(irreps.dim).reshape(shape + (irreps.dim,)))))

    while len(parts) > 2:
        best, best_dim = None, None
        for i, j in itertools.combinations(range(len(parts)), 2):
            axes = tuple(sorted(parts[i][0] + parts[j][0]))
            free = _invariant_dim(_subgroup(group, axes), tuple(dims[a] for a in axes))
            if best_dim is None or free < best_dim:
                best, best_dim = (i, j, axes), free
        i, j, axes = best
        keep_sub = keep
        for a, irreps in enumerate(irreps_tuple):
            if a not in axes:
                keep_sub = _products_of(keep_sub, frozenset(m.ir for m in irreps))
        sub = _reduce(tuple(irreps_tuple[a] for a in axes), _subgroup(group, axes), keep_sub, epsilon)
        shape = tuple(d if a in axes else 1 for a, d in enumerate(dims))
        merged = (axes, _Basis(sub.irreps, sub.array.reshape(shape + (sub.irreps.dim,))))
        parts = [merged] + [part for k, part in enumerate(parts) if k not in (i, j)]

    if len(parts) == 1:
        return _read_only(_regroup(_filter(parts[0][1], keep)))
    out = _product(parts[0][1], parts[1][1], keep)
    if len(group) == 1:
        return _read_only(out)
    return _read_only(_round_sqrt_rational(_regroup(_constrain(out, group, epsilon))))


def _compositions(length: int, total: int):
    """Tuples of ``length`` non-negative ints summing to ``total``, first entry descending."""
    if length == 1:
        yield (total,)
        return
    for first in range(total, -1, -1):
        for rest in _compositions(length - 1, total - first):
            yield (first,) + rest


def _reduce_symmetric_several(irreps: Irreps, degree: int, keep, epsilon: float) -> _Basis:
    """Symmetric power of several irreps from the powers of each (step 3 of the module doc)."""
    singles = [ir for mul, ir in irreps for _ in range(mul)]
    offsets = np.cumsum([0] + [ir.dim for ir in singles]).tolist()
    total_dim = offsets[-1]
    all_irs = frozenset(singles)

    def power(k: int, n: int) -> _Basis:
        # keep only what can still reach keep once the other degree - n factors are coupled
        keep_n = _products_of(keep, _power_of(all_irs, degree - n))
        one = Irreps([MulIrrep(1, singles[k])])
        return _reduce((one,) * n, _symmetric_group(n), keep_n, epsilon)

    pieces = []
    for powers in _compositions(len(singles), degree):
        used = [(k, n) for k, n in enumerate(powers) if n]
        # each factor on its own consecutive tensor axes
        factors, start = [], 0
        for k, n in used:
            b = power(k, n)
            shape = (1,) * start + b.array.shape[:-1] + (1,) * (degree - start - n)
            factors.append(_Basis(b.irreps, b.array.reshape(shape + (b.irreps.dim,))))
            start += n
        if len(factors) == 1:
            prod = _filter(factors[0], keep)
        else:
            prod = factors[0]
            for f in factors[1:-1]:
                prod = _product(prod, f)
            prod = _product(prod, factors[-1], keep)
        if prod.irreps.dim == 0:
            continue
        labels = tuple(k for k, n in used for _ in range(n))
        out = np.zeros((total_dim,) * degree + (prod.irreps.dim,))
        seen = set()
        for perm in itertools.permutations(range(degree)):
            placed = tuple(labels[a] for a in perm)
            if placed in seen:
                continue
            seen.add(placed)
            where = tuple(slice(offsets[k], offsets[k + 1]) for k in placed)
            out[where] += np.transpose(prod.array, perm + (degree,))
        pieces.append(_Basis(prod.irreps, out / math.sqrt(len(seen))))
    lead = (total_dim,) * degree
    chunks = [c for piece in pieces for c in _chunks(piece)]
    return _regroup(_from_chunks([m for m, _ in chunks], [b for _, b in chunks], lead))


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------


def _wrap(basis: _Basis):
    # Imported here: the rest of this module is framework-free NumPy, and
    # IrrepsArray (e3xp.irreps_array) sits above core in the package layers.
    from e3xp.irreps_array import IrrepsArray

    return IrrepsArray(basis.irreps, basis.array)


def reduced_tensor_product_basis(formula_or_irreps_list, *, epsilon: float = 1e-5, keep_ir=None, **irreps_dict):
    r"""Orthonormal irreps basis of the tensors with a given index permutation symmetry.

    Same signature, semantics and numbers as e3nn-jax 0.21's
    ``e3nn_jax.reduced_tensor_product_basis`` (entry by entry, signs and copy
    order included).

    Parameters
    ----------
    formula_or_irreps_list : str or list of irreps
        A formula ``"ijk=jik=ikj"`` or ``"ij=-ji"``: the first term names the
        indices, every other term is a permutation of them, with an optional
        ``-`` sign, that the tensor equals.  The symmetries generate a group
        (``"ijk=jik=ikj"`` implies ``ijk=jki``).  Whitespace is ignored.  For no
        symmetry, a list of irreps, one per index, may be given instead.
    epsilon : float, optional
        Tolerance of the orthogonalization (default ``1e-5``).
    keep_ir : irreps or list of Irrep, optional
        Only these irreps are kept in the output (multiplicities are ignored);
        default: all.
    **irreps_dict : irreps
        The irreps of each index of the formula, by name, e.g. ``i="1o"``.  Indices
        exchanged by a symmetry share their irreps, so one of them is enough.

    Returns
    -------
    IrrepsArray
        NumPy-backed, float64, read-only and cached (shared between calls) of shape
        ``(d_1, ..., d_n, irreps_out.dim)``, ``d_k`` the dimension of index ``k``
        (in the order of the formula's first term); the irreps are sorted and
        merged (e.g. ``1x0e+1x2e``).  Contracting the last axis maps irreps to
        tensors obeying the symmetry; its columns are orthonormal.

    Raises
    ------
    TypeError
        An argument of the wrong type, or a keyword that is not a single index name.
    ValueError
        A malformed formula, an index without irreps, an irreps keyword for an
        index not in the formula, or indices exchanged by a symmetry with
        different irreps.  This is :class:`FormulaError`, also a ``RuntimeError``
        (what e3nn-jax raises for these).

    Notes
    -----
    Differences from e3nn-jax: its private ``_use_optimized_implementation``
    argument does not exist (the optimized construction is always used, as is
    e3nn-jax's default); whitespace in a formula is ignored (e3nn-jax reads a space
    as an index); index irreps given by keyword together with a list of irreps are
    refused (e3nn-jax ignores them silently); an index of dimension 0 gives an
    empty basis (e3nn-jax fails in a reshape); bad input raises
    ``ValueError``/``TypeError`` as described.

    Examples
    --------
    >>> import numpy as np
    >>> Q = reduced_tensor_product_basis("ij=ji", i="1o")
    >>> Q.irreps, Q.shape
    (1x0e+1x2e, (3, 3, 6))
    >>> bool(np.allclose(Q.array[:, :, 0], np.eye(3) / np.sqrt(3)))
    True
    >>> Q = reduced_tensor_product_basis("ij=-ji", i="1o")  # the cross product
    >>> print(Q.irreps, np.round(Q.array[0, 1] * np.sqrt(2), 12))
    1x1e [0. 0. 1.]
    >>> reduced_tensor_product_basis(["1o", "1o"], keep_ir="1e").irreps
    1x1e
    """
    epsilon = _check_epsilon(epsilon)
    keep = _check_keep_ir(keep_ir)
    if isinstance(formula_or_irreps_list, (list, tuple)):
        if irreps_dict:
            raise TypeError(
                f"reduced_tensor_product_basis: index irreps given by keyword ({', '.join(irreps_dict)}) "
                "need a formula as first argument, got a list of irreps"
            )
        irreps_tuple = tuple(
            _as_irreps(irreps, f"formula_or_irreps_list[{k}]") for k, irreps in enumerate(formula_or_irreps_list)
        )
        if not irreps_tuple:
            raise ValueError("formula_or_irreps_list: expected at least one irreps, got an empty list")
        group = _identity_group(len(irreps_tuple))
    elif isinstance(formula_or_irreps_list, str):
        f0, group = _parse_formula(formula_or_irreps_list)
        irreps_tuple = _irreps_per_index(formula_or_irreps_list, f0, group, irreps_dict)
    else:
        raise TypeError(
            "formula_or_irreps_list must be a formula such as 'ij=-ji' or a list of irreps, "
            f"got {formula_or_irreps_list!r} of type {type(formula_or_irreps_list).__name__}"
        )
    return _wrap(_reduce(irreps_tuple, group, keep, epsilon))


def _power_basis(group_of, irreps, degree, epsilon, keep_ir):
    irreps = _as_irreps(irreps, "irreps")
    degree = _check_degree(degree)
    epsilon = _check_epsilon(epsilon)
    keep = _check_keep_ir(keep_ir)
    return _wrap(_reduce((irreps,) * degree, group_of(degree), keep, epsilon))


def reduced_symmetric_tensor_product_basis(irreps, degree: int, *, epsilon: float = 1e-5, keep_ir=None):
    r"""Orthonormal irreps basis of the fully symmetric tensors of ``degree`` indices.

    The symmetric power ``Sym^degree(irreps)``, as in e3nn-jax 0.21's
    ``e3nn_jax.reduced_symmetric_tensor_product_basis`` (same numbers); MACE's
    symmetric contraction is built on it.

    Parameters
    ----------
    irreps : irreps
        The irreps of every index, e.g. ``"0e + 1o + 2e"``.
    degree : int
        The number of indices, ``>= 1``.
    epsilon : float, optional
        Tolerance of the orthogonalization (default ``1e-5``).
    keep_ir : irreps or list of Irrep, optional
        Only these irreps are kept in the output; default: all.

    Returns
    -------
    IrrepsArray
        NumPy-backed, float64, read-only and cached, of shape
        ``(d, ..., d, irreps_out.dim)`` with ``d = irreps.dim`` repeated ``degree``
        times.  Its last axis has ``binomial(d + degree - 1, degree)`` components
        when nothing is filtered out.

    Raises
    ------
    TypeError, ValueError
        For irreps that do not parse, a ``degree`` that is not a positive int, a bad
        ``epsilon`` or ``keep_ir``.

    Notes
    -----
    e3nn-jax's private ``_use_optimized_implementation`` argument does not exist
    here (always on, as is its default).

    Examples
    --------
    >>> Q = reduced_symmetric_tensor_product_basis("1o", 3)
    >>> Q.irreps, Q.shape
    (1x1o+1x3o, (3, 3, 3, 10))
    >>> reduced_symmetric_tensor_product_basis("0e + 1o + 2e", 2, keep_ir="0e + 1o").irreps
    3x0e+2x1o
    """
    return _power_basis(_symmetric_group, irreps, degree, epsilon, keep_ir)


def reduced_antisymmetric_tensor_product_basis(irreps, degree: int, *, epsilon: float = 1e-5, keep_ir=None):
    r"""Orthonormal irreps basis of the fully antisymmetric tensors of ``degree`` indices.

    The exterior power of ``irreps``, as in e3nn-jax 0.21's
    ``e3nn_jax.reduced_antisymmetric_tensor_product_basis`` (same numbers).

    Parameters
    ----------
    irreps, degree, epsilon, keep_ir
        As :func:`reduced_symmetric_tensor_product_basis`.

    Returns
    -------
    IrrepsArray
        As :func:`reduced_symmetric_tensor_product_basis`, with
        ``binomial(d, degree)`` components when nothing is filtered out (none when
        ``degree > d``).

    Raises
    ------
    TypeError, ValueError
        As :func:`reduced_symmetric_tensor_product_basis`.

    Examples
    --------
    >>> import numpy as np
    >>> Q = reduced_antisymmetric_tensor_product_basis("1o", 3)  # the determinant
    >>> Q.irreps, Q.shape
    (1x0o, (3, 3, 3, 1))
    >>> print(round(float(Q.array[0, 1, 2, 0] * np.sqrt(6)), 12))
    1.0
    """
    return _power_basis(_antisymmetric_group, irreps, degree, epsilon, keep_ir)
