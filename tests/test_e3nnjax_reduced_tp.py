"""Reduced tensor product bases (issue 15): e3xp against e3nn-jax, and on their own.

Two kinds of checks:

* agreement: the same arguments give e3nn-jax 0.21's basis entry by entry (same
  irreps, order of the copies and signs), on listed and on randomly drawn cases;
  skipped when e3nn-jax is not installed;
* properties that do not use e3nn-jax: the index symmetry of the formula holds
  exactly, the basis is equivariant under random O(3) elements, its columns are
  orthonormal, and it spans exactly the symmetric subspace (whose dimension is
  counted independently: binomials, or a null space of the formula's generators).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import e3xp
from e3xp import Irreps
from e3xp.core.reduced_tensor_product import FormulaError

# (formula or irreps list, keyword arguments): the general function
FORMULA_CASES = [
    ("ij=ji", dict(i="1o")),
    ("ij=-ji", dict(i="1o")),
    ("ij=-ji", dict(i="0e")),  # nothing survives: empty irreps
    ("ij=ji", dict(i="0e + 1o")),
    ("ij=ji", dict(i="2x1o")),
    ("ijk=jik", dict(i="1o", k="1e")),
    ("ijk=jik", dict(i="0e + 1o", k="1o")),
    ("ijk=jki", dict(i="1o")),
    ("ijk=-jik=-ikj", dict(i="1o")),
    ("ijk=ikj", dict(i="2x0e + 1o", j="1o")),
    ("ijkl=jikl=klij", dict(i="1o")),  # elasticity tensor
    ("ijkl=jikl=ijlk", dict(i="1e", k="2e")),
    ("ij=ji", dict(i="1o", keep_ir="0e")),
    ("ijk=jik", dict(i="1o", k="1o", keep_ir=["1o", "2e"])),
    (["1o", "2e"], {}),
    (["0e + 1o", "1e", "1o"], {}),
]

# (irreps, degree, keyword arguments): the symmetric / antisymmetric powers
SYMMETRIC_CASES = [
    ("1o", 2, {}),
    ("1o", 3, {}),
    ("1o", 4, {}),
    ("2e", 3, {}),
    ("2x0e + 1o", 2, {}),
    ("0e + 1o + 2e", 2, {}),
    ("0e + 1o + 2e", 3, {}),  # MACE, correlation 3
    ("0e + 1o + 2e", 3, dict(keep_ir="0e + 1o + 2e")),  # MACE with its output irreps
    ("1o + 1e", 4, {}),
    ("0e", 3, {}),
    ("1o", 1, {}),
]
ANTISYMMETRIC_CASES = [
    ("1o", 2, {}),
    ("1o", 3, {}),
    ("1o", 4, {}),  # degree > dim: nothing
    ("2x1o", 2, {}),
    ("1o + 2e", 2, {}),
    ("0e + 1o + 2e", 3, {}),
    ("0e + 1o + 2e", 2, dict(keep_ir="1e")),
]


@pytest.fixture(scope="module")
def e3nn_jax(jax_x64):
    return pytest.importorskip("e3nn_jax")


def assert_same_basis(ours, theirs):
    assert [(m, ir.l, ir.p) for m, ir in ours.irreps] == [(m, ir.l, ir.p) for m, ir in theirs.irreps]
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.array, np.asarray(theirs.array), rtol=0, atol=1e-10)


def _contract_random(Q, seed):
    """``Q`` contracted with one random vector per tensor axis: a random linear functional of it."""
    rng = np.random.default_rng(seed)
    out = np.asarray(Q)
    for d in Q.shape[:-1]:
        out = np.tensordot(rng.normal(size=d), out, axes=(0, 0))
    return out


# ---------------------------------------------------------------------------
# agreement with e3nn-jax
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("formula, kwargs", FORMULA_CASES, ids=str)
def test_reduced_tensor_product_basis_matches_e3nn_jax(e3nn_jax, formula, kwargs):
    assert_same_basis(
        e3xp.reduced_tensor_product_basis(formula, **kwargs),
        e3nn_jax.reduced_tensor_product_basis(formula, **kwargs),
    )


@pytest.mark.parametrize("irreps, degree, kwargs", SYMMETRIC_CASES, ids=str)
def test_reduced_symmetric_tensor_product_basis_matches_e3nn_jax(e3nn_jax, irreps, degree, kwargs):
    assert_same_basis(
        e3xp.reduced_symmetric_tensor_product_basis(irreps, degree, **kwargs),
        e3nn_jax.reduced_symmetric_tensor_product_basis(irreps, degree, **kwargs),
    )


@pytest.mark.parametrize("irreps, degree, kwargs", ANTISYMMETRIC_CASES, ids=str)
def test_reduced_antisymmetric_tensor_product_basis_matches_e3nn_jax(e3nn_jax, irreps, degree, kwargs):
    assert_same_basis(
        e3xp.reduced_antisymmetric_tensor_product_basis(irreps, degree, **kwargs),
        e3nn_jax.reduced_antisymmetric_tensor_product_basis(irreps, degree, **kwargs),
    )


N_RANDOM = 24  # randomly drawn calls, compared with e3nn-jax and checked for the properties


def _random_irreps(rng, max_dim: int) -> str:
    while True:
        entries = []
        for _ in range(rng.integers(1, 3)):
            l = int(rng.integers(0, 3))
            entries.append(f"{rng.integers(1, 3)}x{l}{'eo'[rng.integers(0, 2)]}")
        irreps = " + ".join(entries)
        if Irreps(irreps).dim <= max_dim:
            return irreps


def _random_case(seed: int):
    """A random call: (function name, args, kwargs), sized to run in well under a second."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 4)
    kwargs = {}
    if rng.random() < 0.3:
        kwargs["keep_ir"] = [f"{l}{p}" for l in range(3) for p in "eo" if rng.random() < 0.5]
    if kind == 0:
        formula = str(rng.choice(["ij=ji", "ij=-ji", "ijk=jik", "ijk=jki", "ijk=-jik", "ijk=ikj=-jik"]))
        names = {"ij=ji": "i", "ij=-ji": "i", "ijk=jik": "ik", "ijk=jki": "i", "ijk=-jik": "ik"}.get(formula, "i")
        for name in names:
            kwargs[name] = _random_irreps(rng, 7 if len(formula) > 5 else 12)
        return "reduced_tensor_product_basis", (formula,), kwargs
    if kind == 1:
        irreps_list = [_random_irreps(rng, 7) for _ in range(rng.integers(1, 4))]
        return "reduced_tensor_product_basis", (irreps_list,), kwargs
    degree = int(rng.integers(2, 4))
    name = "reduced_symmetric_tensor_product_basis" if kind == 2 else "reduced_antisymmetric_tensor_product_basis"
    return name, (_random_irreps(rng, 12 if degree == 2 else 7), degree), kwargs


@pytest.mark.parametrize("seed", range(N_RANDOM))
def test_random_cases_match_e3nn_jax(e3nn_jax, seed):
    name, args, kwargs = _random_case(seed)
    ours = getattr(e3xp, name)(*args, **kwargs)
    theirs = getattr(e3nn_jax, name)(*args, **kwargs)
    assert_same_basis(ours, theirs)
    # the same linear functional of both (a random contraction of the tensor axes)
    np.testing.assert_allclose(
        _contract_random(ours.array, seed), _contract_random(np.asarray(theirs.array), seed), rtol=0, atol=1e-10
    )


@pytest.mark.parametrize("formula, kwargs", [("ij=ji", dict(i="1o")), ("ijk=jik", dict(i="1o", k="1e")),
                                             ("ijkl=jikl=klij", dict(i="1o"))], ids=str)
def test_matches_e3nn_torch_reduced_tensor_products(formula, kwargs):
    # e3nn's CartesianTensor is built on o3.ReducedTensorProducts; same basis, output axis first.
    o3 = pytest.importorskip("e3nn.o3")
    theirs = o3.ReducedTensorProducts(formula, **kwargs)
    ours = e3xp.reduced_tensor_product_basis(formula, **kwargs)
    assert ours.irreps == str(theirs.irreps_out)
    np.testing.assert_allclose(ours.array, np.moveaxis(theirs.change_of_basis.double().numpy(), 0, -1), atol=1e-10)


# ---------------------------------------------------------------------------
# properties, independent of e3nn-jax
# ---------------------------------------------------------------------------


def _transpositions(n):
    for a in range(n - 1):
        p = list(range(n))
        p[a], p[a + 1] = p[a + 1], p[a]
        yield tuple(p)


def _symmetry_of(name, args, kwargs):
    """``(generators, irreps per axis)`` of a call, read from its arguments alone.

    Generators are ``(sign, p)`` meaning ``T[x] = sign * T[x o p]``.  For formulas,
    an index without irreps takes those of the previous index (true of every
    formula used here: it is exchanged with that index).
    """
    if name != "reduced_tensor_product_basis":
        irreps, degree = Irreps(args[0]), args[1]
        sign = 1 if name == "reduced_symmetric_tensor_product_basis" else -1
        return [(sign, p) for p in _transpositions(degree)], [irreps] * degree
    if isinstance(args[0], list):
        return [], [Irreps(irreps) for irreps in args[0]]
    terms = [(-1 if t.startswith("-") else 1, t.lstrip("-")) for t in args[0].split("=")]
    f0 = terms[0][1]
    axes, last = [], None
    for c in f0:
        last = Irreps(kwargs[c]) if c in kwargs else last
        axes.append(last)
    return [(s, tuple(f0.index(c) for c in t)) for s, t in terms[1:]], axes


CALLS = (
    [("reduced_tensor_product_basis", (f,), kw) for f, kw in FORMULA_CASES]
    + [("reduced_symmetric_tensor_product_basis", (ir, n), kw) for ir, n, kw in SYMMETRIC_CASES]
    + [("reduced_antisymmetric_tensor_product_basis", (ir, n), kw) for ir, n, kw in ANTISYMMETRIC_CASES]
    + [_random_case(seed) for seed in range(N_RANDOM)]
)
CALL_IDS = [f"{name[8:-21] or 'formula'}{args}{kw or ''}" for name, args, kw in CALLS]


@pytest.mark.parametrize("name, args, kwargs", CALLS, ids=CALL_IDS)
def test_index_symmetry_holds_exactly(name, args, kwargs):
    Q = getattr(e3xp, name)(*args, **kwargs)
    gens, _ = _symmetry_of(name, args, kwargs)
    for sign, p in gens:
        permuted = np.transpose(Q.array, p + (len(p),))  # permuted[x] = Q[x o p]
        np.testing.assert_allclose(Q.array, sign * permuted, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name, args, kwargs", CALLS, ids=CALL_IDS)
def test_equivariant_under_random_o3(name, args, kwargs):
    # (D_1 x D_2 x ...) Q = Q D_out: rotating the irreps rotates the tensor.
    Q = getattr(e3xp, name)(*args, **kwargs)
    _, axes = _symmetry_of(name, args, kwargs)
    for seed in range(3):
        g = -e3xp.rand_matrix(seed) if seed == 0 else e3xp.rand_o3_matrix(seed)  # seed 0: with inversion
        left = Q.array
        for axis, irreps in enumerate(axes):
            left = np.moveaxis(np.tensordot(irreps.D_from_matrix(g), left, axes=(1, axis)), 0, axis)
        right = Q.array @ Q.irreps.D_from_matrix(g) if Q.irreps.dim else Q.array
        np.testing.assert_allclose(left, right, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name, args, kwargs", CALLS, ids=CALL_IDS)
def test_columns_orthonormal(name, args, kwargs):
    Q = getattr(e3xp, name)(*args, **kwargs)
    flat = Q.array.reshape(math.prod(Q.shape[:-1]), Q.shape[-1])
    np.testing.assert_allclose(flat.T @ flat, np.eye(Q.shape[-1]), rtol=0, atol=1e-10)


def _count_free_components(shape, gens) -> int:
    """Dimension of the tensors with ``T[x] = s T[x o p]`` for every generator, by orbits of index tuples.

    A union-find with signs over the index tuples: each generator links ``x`` to
    ``x o p`` with sign ``s``; a class containing a contradiction (``T[x] = -T[x]``)
    is zero, every other class is one free component.  Independent of the group
    closure and of the Burnside count used by the implementation.
    """
    parent, sign = {}, {}  # sign[x]: T[x] = sign[x] * T[parent[x]]

    def find(x):
        if parent.setdefault(x, x) == x:
            sign.setdefault(x, 1)
            return x, 1
        root, s = find(parent[x])
        parent[x], sign[x] = root, sign[x] * s
        return root, sign[x]

    killed = set()
    for x in itertools.product(*(range(d) for d in shape)):
        for s, p in gens:
            y = tuple(x[k] for k in p)
            (rx, sx), (ry, sy) = find(x), find(y)
            # T[x] = s T[y], T[x] = sx T[rx], T[y] = sy T[ry]  =>  T[rx] = sx s sy T[ry]
            if rx == ry:
                if sx * s * sy == -1:
                    killed.add(rx)
            else:
                parent[rx], sign[rx] = ry, sx * s * sy
    roots = {find(x)[0] for x in itertools.product(*(range(d) for d in shape))}
    return len(roots - {find(r)[0] for r in killed})


UNFILTERED = [call for call in CALLS if "keep_ir" not in call[2]]


@pytest.mark.parametrize("name, args, kwargs", UNFILTERED, ids=[CALL_IDS[CALLS.index(c)] for c in UNFILTERED])
def test_dimension_equals_symmetric_subspace(name, args, kwargs):
    # With the index symmetry holding and orthonormal columns (tests above), equal
    # dimensions mean the basis spans the whole symmetric subspace.
    Q = getattr(e3xp, name)(*args, **kwargs)
    gens, _ = _symmetry_of(name, args, kwargs)
    assert Q.shape[-1] == _count_free_components(Q.shape[:-1], gens)


@pytest.mark.parametrize("irreps", ["0e", "1o", "2x0e + 1o", "0e + 1o + 2e", "1o + 1e"])
@pytest.mark.parametrize("degree", [1, 2, 3])
def test_dimension_of_powers_is_binomial(irreps, degree):
    d = Irreps(irreps).dim
    assert e3xp.reduced_symmetric_tensor_product_basis(irreps, degree).shape[-1] == math.comb(d + degree - 1, degree)
    assert e3xp.reduced_antisymmetric_tensor_product_basis(irreps, degree).shape[-1] == math.comb(d, degree)


def test_known_bases():
    sq = np.sqrt
    Q = e3xp.reduced_tensor_product_basis("ij=ji", i="1o").array
    np.testing.assert_allclose(Q[:, :, 0], np.eye(3) / sq(3), atol=1e-15)
    np.testing.assert_allclose(Q[:, :, 1:], sq(5) * e3xp.clebsch_gordan(1, 1, 2), atol=1e-15)
    eps = np.zeros((3, 3, 3))
    for i, j, k in itertools.permutations(range(3)):
        eps[i, j, k] = np.linalg.det(np.eye(3)[[i, j, k]])
    np.testing.assert_allclose(e3xp.reduced_tensor_product_basis("ij=-ji", i="1o").array, eps / sq(2), atol=1e-15)
    Q = e3xp.reduced_antisymmetric_tensor_product_basis("1o", 3)
    assert Q.irreps == "0o"
    np.testing.assert_allclose(Q.array[..., 0], eps / sq(6), atol=1e-15)
    # no symmetry: the Clebsch-Gordan blocks, times sqrt(2l + 1), in irreps order
    Q = e3xp.reduced_tensor_product_basis(["1o", "2e"])
    assert Q.irreps == "1o + 2o + 3o"
    blocks = [sq(2 * l + 1) * e3xp.clebsch_gordan(1, 2, l) for l in (1, 2, 3)]
    np.testing.assert_allclose(Q.array, np.concatenate(blocks, axis=-1), atol=1e-15)


def test_keep_ir_filters_the_full_basis():
    full = e3xp.reduced_symmetric_tensor_product_basis("0e + 1o + 2e", 3)
    kept = e3xp.reduced_symmetric_tensor_product_basis("0e + 1o + 2e", 3, keep_ir="0e + 1o + 2e")
    assert kept.irreps == "5x0e + 5x1o + 6x2e"
    np.testing.assert_allclose(kept.array, full.filter(keep="0e + 1o + 2e").array, atol=1e-15)
    kept = e3xp.reduced_tensor_product_basis("ijk=jik", i="1o", k="1o", keep_ir=[e3xp.Irrep("1o")])
    full = e3xp.reduced_tensor_product_basis("ijk=jik", i="1o", k="1o")
    np.testing.assert_allclose(kept.array, full.filter(keep="1o").array, atol=1e-15)
    assert e3xp.reduced_tensor_product_basis("ij=ji", i="1o", keep_ir=[]).shape == (3, 3, 0)


def test_cached_and_read_only():
    Q1 = e3xp.reduced_symmetric_tensor_product_basis("0e + 1o", 2)
    Q2 = e3xp.reduced_symmetric_tensor_product_basis("1x0e+1x1o", 2)
    assert Q1.array is Q2.array
    assert Q1.array.dtype == np.float64 and isinstance(Q1.array, np.ndarray)
    assert not Q1.array.flags.writeable
    with pytest.raises(ValueError):
        Q1.array[0, 0, 0] = 1.0
    # the formula, the symmetric function and the same symmetry by keyword share results
    Q3 = e3xp.reduced_tensor_product_basis("ij=ji", i="0e + 1o")
    np.testing.assert_array_equal(Q3.array, Q1.array)


def test_formula_details():
    # whitespace is ignored; irreps given on either of two exchanged indices
    a = e3xp.reduced_tensor_product_basis("ij = -ji", j="1o")
    b = e3xp.reduced_tensor_product_basis("ij=-ji", i="1o")
    np.testing.assert_array_equal(a.array, b.array)
    # generators compose: ijk=jik=ikj implies the full symmetric group
    c = e3xp.reduced_tensor_product_basis("ijk=jik=ikj", i="1o")
    np.testing.assert_allclose(c.array, e3xp.reduced_symmetric_tensor_product_basis("1o", 3).array, atol=1e-15)
    # inconsistent signs leave nothing
    assert e3xp.reduced_tensor_product_basis("ij=ji=-ji", i="1o").shape == (3, 3, 0)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: e3xp.reduced_tensor_product_basis("ijk=jik", i="1o"), ValueError, "index 'k'.*no irreps"),
        (lambda: e3xp.reduced_tensor_product_basis("ij=ji", i="1o", j="1e"), ValueError, "'i' and 'j'"),
        (lambda: e3xp.reduced_tensor_product_basis("ij=ji", i="1o", k="1o"), ValueError, "index 'k'.*not appear"),
        (lambda: e3xp.reduced_tensor_product_basis("ij=ik", i="1o"), ValueError, "not a permutation"),
        (lambda: e3xp.reduced_tensor_product_basis("-ij=ji", i="1o"), ValueError, "first term"),
        (lambda: e3xp.reduced_tensor_product_basis("ii", i="1o"), ValueError, "distinct"),
        (lambda: e3xp.reduced_tensor_product_basis("", i="1o"), ValueError, "no index"),
        (lambda: e3xp.reduced_tensor_product_basis("ij", i="1o", ab="1o"), TypeError, "keyword argument 'ab'"),
        (lambda: e3xp.reduced_tensor_product_basis("ij", i="2q", j="1o"), ValueError, "i: expected irreps"),
        (lambda: e3xp.reduced_tensor_product_basis(3), TypeError, "formula_or_irreps_list"),
        (lambda: e3xp.reduced_tensor_product_basis([]), ValueError, "formula_or_irreps_list"),
        (lambda: e3xp.reduced_tensor_product_basis(["1o"], i="1o"), TypeError, "need a formula"),
        (lambda: e3xp.reduced_tensor_product_basis(["1o", "1x"]), ValueError, r"formula_or_irreps_list\[1\]"),
        (lambda: e3xp.reduced_tensor_product_basis("ij", i="1o", j="1o", epsilon=-1.0), ValueError, "epsilon"),
        (lambda: e3xp.reduced_tensor_product_basis("ij", i="1o", j="1o", epsilon="x"), TypeError, "epsilon"),
        (lambda: e3xp.reduced_tensor_product_basis("ij", i="1o", j="1o", keep_ir=3), TypeError, "keep_ir"),
        (lambda: e3xp.reduced_tensor_product_basis("ij", i="1o", j="1o", keep_ir="3q"), ValueError, "keep_ir"),
        (lambda: e3xp.reduced_symmetric_tensor_product_basis("1o", 0), ValueError, "degree"),
        (lambda: e3xp.reduced_symmetric_tensor_product_basis("1o", 2.0), TypeError, "degree"),
        (lambda: e3xp.reduced_antisymmetric_tensor_product_basis("1o", True), TypeError, "degree"),
        (lambda: e3xp.reduced_antisymmetric_tensor_product_basis(5, 2), TypeError, "irreps"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_formula_errors_are_also_runtime_errors():
    # e3nn-jax raises RuntimeError for these; code that catches it keeps working.
    with pytest.raises(RuntimeError):
        e3xp.reduced_tensor_product_basis("ijk=jik", i="1o")
    assert issubclass(FormulaError, ValueError) and issubclass(FormulaError, RuntimeError)


def test_mace_symmetric_contraction_pattern(e3nn_jax):
    # What e3nn-jax's SymmetricTensorProduct (MACE) does with the basis: per output
    # irrep, the (x^d, mul, 2l+1) chunk contracted with weights and d copies of x.
    irreps, keep = "0e + 1o + 2e", "0e + 1o"
    rng = np.random.default_rng(0)
    x = rng.normal(size=Irreps(irreps).dim)
    for order in (1, 2, 3):
        ours = e3xp.reduced_symmetric_tensor_product_basis(irreps, order, keep_ir=keep)
        theirs = e3nn_jax.reduced_symmetric_tensor_product_basis(irreps, order, keep_ir=keep)
        for (mul, ir), u, (mul_j, ir_j), u_j in zip(ours.irreps, ours.chunks, theirs.irreps, theirs.chunks):
            assert (mul, ir.l, ir.p) == (mul_j, ir_j.l, ir_j.p)
            w = rng.normal(size=mul)
            out, out_j = np.asarray(u), np.asarray(u_j)
            for _ in range(order):
                out, out_j = np.tensordot(x, out, axes=(0, 0)), np.tensordot(x, out_j, axes=(0, 0))
            np.testing.assert_allclose(w @ out, w @ out_j, rtol=0, atol=1e-10)
