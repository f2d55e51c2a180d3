"""Tests of e3xp.core.clebsch_gordan.

Every number is checked against something derived independently of the module:
textbook closed forms and sum rules in exact arithmetic, the defining
intertwining property with angular-momentum matrices built here, invariance under
Wigner D matrices built here with scipy's expm (and e3xp.core.wigner when it is
available), high-precision decimal square roots, and e3nn / e3nn-jax when installed.
"""

from __future__ import annotations

import decimal
import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

from e3xp.core.clebsch_gordan import (
    SqrtRational,
    change_basis_real_to_complex,
    clebsch_gordan,
    clebsch_gordan_exact,
    su2_clebsch_gordan_exact,
)

H = Fraction(1, 2)


def triples(lmax):
    for l1 in range(lmax + 1):
        for l2 in range(lmax + 1):
            for l3 in range(abs(l1 - l2), min(lmax, l1 + l2) + 1):
                yield l1, l2, l3


def half_range(j):
    """-j, -j+1, ..., j as Fractions."""
    return [Fraction(-j) + k for k in range(int(2 * j) + 1)]


# ---------------------------------------------------------------------------
# independent helpers: angular momentum matrices, real generators, Wigner D
# ---------------------------------------------------------------------------


def angular_momentum(j):
    """Standard Jx, Jy, Jz (Condon-Shortley) on the basis m = -j, ..., j."""
    m = np.arange(-j, j + 1, dtype=float)
    jp = np.diag(np.sqrt(j * (j + 1) - m[:-1] * (m[:-1] + 1)), -1)  # <m+1| J+ |m>
    jm = jp.T
    return (jp + jm) / 2, (jp - jm) / 2j, np.diag(m).astype(complex)


def real_generators(l, Q):
    """Generators of rotations about e3nn's x, y, z in the real basis defined by Q.

    In the complex basis the polar axis (Jz) is e3nn's y; the three identifications
    below are pinned by test_l1_generators_are_xyz_rotations.
    """
    jx, jy, jz = angular_momentum(l)
    out = []
    for s in (-1j * jy, 1j * jz, 1j * jx):
        g = Q.conj().T @ s @ Q
        assert np.abs(g.imag).max() < 1e-13
        out.append(g.real)
    return out


def expm_wigner_D(l, alpha, beta, gamma):
    """D^l = exp(alpha Y) exp(beta X) exp(gamma Y), e3nn's Y X Y Euler convention."""
    expm = pytest.importorskip("scipy.linalg").expm
    gx, gy, _ = real_generators(l, change_basis_real_to_complex(l))
    return expm(alpha * gy) @ expm(beta * gx) @ expm(gamma * gy)


def matrix_x(t):
    c, s = math.cos(t), math.sin(t)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def matrix_y(t):
    c, s = math.cos(t), math.sin(t)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _module_wigner_D():
    try:
        from e3xp.core.wigner import wigner_D
    except Exception:  # written in parallel; the expm route stands on its own
        return None
    return wigner_D


WIGNER_ROUTES = [pytest.param(expm_wigner_D, id="expm")]
if _module_wigner_D() is not None:
    WIGNER_ROUTES.append(
        pytest.param(lambda l, a, b, c: np.asarray(_module_wigner_D()(l, a, b, c)), id="e3xp.core.wigner")
    )


def sqrt_decimal_to_float(square: Fraction) -> float:
    """sqrt of a rational through 60-digit decimals: correctly rounded unless within 1e-60 of a tie."""
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        return float((decimal.Decimal(square.numerator) / decimal.Decimal(square.denominator)).sqrt())


# ---------------------------------------------------------------------------
# SU(2), exact
# ---------------------------------------------------------------------------


def test_su2_stretched_state_is_one():
    # |j1 j1> |j2 j2> is the only state with M = j1 + j2
    for j1, j2 in itertools.product([0, H, 1, 3 * H, 2, 7 * H], repeat=2):
        assert su2_clebsch_gordan_exact(j1, j2, j1 + j2, j1, j2, j1 + j2) == SqrtRational(1, Fraction(1))


def test_su2_coupling_to_zero():
    # <j m j -m | 0 0> = (-1)^(j - m) / sqrt(2j + 1)  (Condon-Shortley)
    for j in [0, H, 1, 3 * H, 2, 5]:
        for m in half_range(j):
            c = su2_clebsch_gordan_exact(j, j, 0, m, -m, 0)
            assert c.signed_square == (-1) ** int(j - m) * Fraction(1, int(2 * j + 1))


def test_su2_spin_half_table():
    # textbook table for j2 = 1/2, J = j1 + 1/2:
    # <j1 M-1/2, 1/2 1/2 | J M> = sqrt((j1 + M + 1/2) / (2 j1 + 1)),
    # <j1 M+1/2, 1/2 -1/2 | J M> = sqrt((j1 - M + 1/2) / (2 j1 + 1));
    # and J = j1 - 1/2: -sqrt((j1 - M + 1/2)/(2j1+1)), +sqrt((j1 + M + 1/2)/(2j1+1)).
    for j1 in [H, 1, 3 * H, 4]:
        J = j1 + H
        for M in half_range(J):
            up = Fraction(j1 + M + H) / (2 * j1 + 1)
            down = Fraction(j1 - M + H) / (2 * j1 + 1)
            if abs(M - H) <= j1:
                assert su2_clebsch_gordan_exact(j1, H, J, M - H, H, M).signed_square == up
            if abs(M + H) <= j1:
                assert su2_clebsch_gordan_exact(j1, H, J, M + H, -H, M).signed_square == down
        J = j1 - H
        for M in half_range(J):
            assert su2_clebsch_gordan_exact(j1, H, J, M - H, H, M).signed_square == -Fraction(j1 - M + H) / (2 * j1 + 1)
            assert su2_clebsch_gordan_exact(j1, H, J, M + H, -H, M).signed_square == Fraction(j1 + M + H) / (2 * j1 + 1)


def test_su2_vector_coupling_to_same_j():
    # <j m 1 0 | j m> = m / sqrt(j (j + 1))
    for j in [H, 1, 3 * H, 2, 6]:
        for m in half_range(j):
            c = su2_clebsch_gordan_exact(j, 1, j, m, 0, m)
            assert c.signed_square == (1 if m >= 0 else -1) * m * m / (j * (j + 1))


def test_su2_normalization_exact_and_swap_symmetry():
    # sum_{m1} <j1 m1 j2 M-m1 | J M>^2 = 1 exactly; <j2 m2 j1 m1|J M> = (-1)^(j1+j2-J) <j1 m1 j2 m2|J M>
    for j1, j2 in itertools.product([0, H, 1, 3 * H, 2, 5 * H, 3], repeat=2):
        J = abs(j1 - j2)
        while J <= j1 + j2:
            for M in half_range(J):
                total = Fraction(0)
                for m1 in half_range(j1):
                    m2 = M - m1
                    if abs(m2) > j2:
                        continue
                    c = su2_clebsch_gordan_exact(j1, j2, J, m1, m2, M)
                    swapped = su2_clebsch_gordan_exact(j2, j1, J, m2, m1, M)
                    assert swapped.signed_square == (-1) ** int(j1 + j2 - J) * c.signed_square
                    total += c.square
                assert total == 1
            J += 1


def test_su2_orthogonality_high_precision():
    # sum_{m1, m2} <..|J M><..|J' M> = 0 for J != J': square roots of different
    # rationals, summed with 60-digit decimals
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        for j1, j2 in [(1, 1), (3 * H, 2), (3, 5 * H), (4, 4)]:
            Js = [abs(j1 - j2) + k for k in range(int(2 * min(j1, j2)) + 1)]
            for J, Jp in itertools.combinations(Js, 2):
                for M in half_range(min(J, Jp)):
                    s = decimal.Decimal(0)
                    for m1 in half_range(j1):
                        m2 = M - m1
                        if abs(m2) > j2:
                            continue
                        a = su2_clebsch_gordan_exact(j1, j2, J, m1, m2, M)
                        b = su2_clebsch_gordan_exact(j1, j2, Jp, m1, m2, M)
                        p = a.square * b.square
                        s += a.sign * b.sign * (decimal.Decimal(p.numerator) / decimal.Decimal(p.denominator)).sqrt()
                    assert abs(s) < decimal.Decimal("1e-50")


@pytest.mark.parametrize("j1, j2", [(1, 1), (H, 3 * H), (2, 3), (5 * H, 2), (4, 3)])
def test_su2_intertwines_angular_momentum(j1, j2):
    # The defining property: sum_{m1 m2} C[m1, m2, M] |m1>|m2> is the |J M> of the
    # coupled system, i.e. (J^(1) + J^(2)) C = C J^(3) for each component, and the
    # Condon-Shortley sign <j1 j1 j2 J-j1 | J J> > 0.  Together these determine C.
    ops1, ops2 = angular_momentum(float(j1)), angular_momentum(float(j2))
    J = abs(j1 - j2)
    while J <= j1 + j2:
        ops3 = angular_momentum(float(J))
        C = np.zeros((int(2 * j1 + 1), int(2 * j2 + 1), int(2 * J + 1)))
        for (a, m1), (b, m2), (c, m3) in itertools.product(
            enumerate(half_range(j1)), enumerate(half_range(j2)), enumerate(half_range(J))
        ):
            C[a, b, c] = float(su2_clebsch_gordan_exact(j1, j2, J, m1, m2, m3))
        for A1, A2, A3 in zip(ops1, ops2, ops3):
            lhs = np.einsum("ia,ajk->ijk", A1, C) + np.einsum("jb,ibk->ijk", A2, C)
            rhs = np.einsum("ijc,ck->ijk", C, A3)
            np.testing.assert_allclose(lhs, rhs, atol=1e-13)
        assert C[-1, int(J - j1 + j2), -1] > 0
        J += 1


def test_su2_against_sympy():
    cg = pytest.importorskip("sympy.physics.quantum.cg").CG
    sympy = pytest.importorskip("sympy")
    for j1, j2, J, m1, m2 in [(1, 1, 1, 1, -1), (2, 3 * H, 5 * H, -1, H), (3, 2, 3, 2, -1), (5, 4, 6, -3, 2)]:
        c = su2_clebsch_gordan_exact(j1, j2, J, m1, m2, m1 + m2)
        s = cg(*(sympy.Rational(x) for x in (j1, m1, j2, m2, J, m1 + m2))).doit()
        square = sympy.nsimplify(s**2)
        assert square.is_Rational and sympy.sign(s) * square == sympy.Rational(c.signed_square)


def test_su2_selection_rules_give_zero():
    zero = SqrtRational(0, Fraction(0))
    assert su2_clebsch_gordan_exact(1, 1, 1, 1, 0, 0) == zero  # m3 != m1 + m2
    assert su2_clebsch_gordan_exact(1, 1, 3, 1, 1, 2) == zero  # triangle
    assert su2_clebsch_gordan_exact(1, 1, 1, 0, 0, 0) == zero  # Racah sum vanishes


def test_su2_bad_input():
    with pytest.raises(ValueError, match=r"j1 must be non-negative, got -1"):
        su2_clebsch_gordan_exact(-1, 1, 1, 0, 0, 0)
    with pytest.raises(ValueError, match=r"j2 must be an integer or half-integer, got 0.3"):
        su2_clebsch_gordan_exact(1, 0.3, 1, 0, 0, 0)
    with pytest.raises(ValueError, match=r"m1 must be one of .* got 2"):
        su2_clebsch_gordan_exact(1, 1, 1, 2, -1, 1)
    with pytest.raises(ValueError, match=r"m2 must be one of .* got 1/2"):
        su2_clebsch_gordan_exact(1, 1, 1, 0, H, H)
    with pytest.raises(TypeError, match=r"m3 .* got '0'"):
        su2_clebsch_gordan_exact(1, 1, 1, 0, 0, "0")


def test_sqrt_rational_float_is_correctly_rounded():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        q = Fraction(int(rng.integers(1, 10**18)), int(rng.integers(1, 10**18))) * Fraction(2) ** int(rng.integers(-80, 80))
        assert float(SqrtRational(1, q)) == sqrt_decimal_to_float(q)
    for q in [Fraction(1), Fraction(4, 9), Fraction(2), Fraction(1, 3), Fraction(10**40 + 1, 3)]:
        assert float(SqrtRational(-1, q)) == -sqrt_decimal_to_float(q)
    assert float(SqrtRational(0, Fraction(0))) == 0.0


# ---------------------------------------------------------------------------
# basis change
# ---------------------------------------------------------------------------


def test_change_basis_formula_and_unitarity():
    # the formula of the docstring (e3nn's), written out entry by entry
    for l in range(7):
        Q = change_basis_real_to_complex(l)
        expected = np.zeros((2 * l + 1, 2 * l + 1), complex)
        c = (-1j) ** l
        expected[l, l] = c
        for m in range(1, l + 1):
            expected[l - m, l + m] = c / math.sqrt(2)
            expected[l - m, l - m] = -1j * c / math.sqrt(2)
            expected[l + m, l + m] = (-1) ** m * c / math.sqrt(2)
            expected[l + m, l - m] = 1j * (-1) ** m * c / math.sqrt(2)
        np.testing.assert_allclose(Q, expected, atol=1e-16)
        np.testing.assert_allclose(Q @ Q.conj().T, np.eye(2 * l + 1), atol=1e-15)


def test_l1_generators_are_xyz_rotations():
    # pins the real basis: l = 1 components are (x, y, z), y is the polar axis
    gx, gy, gz = real_generators(1, change_basis_real_to_complex(1))
    np.testing.assert_allclose(gx, [[0, 0, 0], [0, 0, -1], [0, 1, 0]], atol=1e-15)
    np.testing.assert_allclose(gy, [[0, 0, 1], [0, 0, 0], [-1, 0, 0]], atol=1e-15)
    np.testing.assert_allclose(gz, [[0, -1, 0], [1, 0, 0], [0, 0, 0]], atol=1e-15)
    a, b, c = 0.3, -1.1, 2.5
    np.testing.assert_allclose(expm_wigner_D(1, a, b, c), matrix_y(a) @ matrix_x(b) @ matrix_y(c), atol=1e-14)


def test_change_basis_bad_input():
    with pytest.raises(ValueError, match="got -2"):
        change_basis_real_to_complex(-2)
    with pytest.raises(TypeError, match="got '1'"):
        change_basis_real_to_complex("1")


# ---------------------------------------------------------------------------
# real coefficients
# ---------------------------------------------------------------------------


def test_real_equals_basis_change_of_su2():
    # C_real[a,b,c] = sum Q1[i,a] Q2[k,b] conj(Q3[n,c]) C_su2[i,k,n] / sqrt(2 l3 + 1),
    # evaluated in complex floats through the matrices: a different route from the
    # exact orbit bookkeeping of the module
    for l1, l2, l3 in triples(4):
        su2 = np.zeros((2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1))
        for m1, m2 in itertools.product(range(-l1, l1 + 1), range(-l2, l2 + 1)):
            if abs(m1 + m2) <= l3:
                su2[l1 + m1, l2 + m2, l3 + m1 + m2] = float(su2_clebsch_gordan_exact(l1, l2, l3, m1, m2, m1 + m2))
        Q1, Q2, Q3 = (change_basis_real_to_complex(l) for l in (l1, l2, l3))
        C = np.einsum("ia,kb,nc,ikn->abc", Q1, Q2, Q3.conj(), su2) / math.sqrt(2 * l3 + 1)
        assert np.abs(C.imag).max() < 1e-15
        np.testing.assert_allclose(clebsch_gordan(l1, l2, l3), C.real, atol=2e-16, rtol=0)


def test_exact_entries_and_correct_rounding():
    for l1, l2, l3 in list(triples(5)) + [(9, 7, 12), (12, 12, 20)]:
        exact = clebsch_gordan_exact(l1, l2, l3)
        C = clebsch_gordan(l1, l2, l3)
        assert sum(x.square for x in exact.values()) == 1  # Frobenius norm 1, exactly
        assert np.count_nonzero(C) == len(exact)
        for (i, j, k), x in exact.items():
            assert C[i, j, k] == x.sign * sqrt_decimal_to_float(x.square)


def test_exact_orthonormality_of_each_column():
    # sum_{m1 m2} C[m1, m2, m3]^2 = 1 / (2 l3 + 1) for every m3, in Fractions
    for l1, l2, l3 in list(triples(4)) + [(10, 10, 10)]:
        columns = [Fraction(0)] * (2 * l3 + 1)
        for (_, _, k), x in clebsch_gordan_exact(l1, l2, l3).items():
            columns[k] += x.square
        assert columns == [Fraction(1, 2 * l3 + 1)] * (2 * l3 + 1)


@pytest.mark.parametrize("l1, l2, l3", list(triples(8)) + [(20, 20, 20), (20, 13, 9), (20, 20, 40), (0, 20, 20)])
def test_orthonormality(l1, l2, l3):
    C = clebsch_gordan(l1, l2, l3)
    assert C.shape == (2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1)
    assert C.dtype == np.float64
    gram = np.einsum("ijk,ijl->kl", C, C)
    np.testing.assert_allclose(gram, np.eye(2 * l3 + 1) / (2 * l3 + 1), atol=4e-16, rtol=0)


@pytest.mark.parametrize("l1, l2", [(l1, l2) for l1 in range(7) for l2 in range(7)] + [(12, 9)])
def test_completeness(l1, l2):
    n = (2 * l1 + 1) * (2 * l2 + 1)
    total = np.zeros((n, n))
    for l3 in range(abs(l1 - l2), l1 + l2 + 1):
        C = clebsch_gordan(l1, l2, l3).reshape(n, 2 * l3 + 1)
        total += (2 * l3 + 1) * C @ C.T
    np.testing.assert_allclose(total, np.eye(n), atol=3e-15, rtol=0)


def rotate(C, D1, D2, D3):
    return np.einsum("ijk,ia,jb,kc->abc", C, D1, D2, D3, optimize=True)


@pytest.mark.parametrize("wigner_D", WIGNER_ROUTES)
def test_invariance_under_rotations_and_parity(wigner_D):
    rng = np.random.default_rng(1)
    lmax = 5
    for _ in range(2):
        a, b, c = rng.uniform(0, 2 * math.pi, 3)
        D = [wigner_D(l, a, b, c) for l in range(lmax + 1)]
        for l1, l2, l3 in triples(lmax):
            C = clebsch_gordan(l1, l2, l3)
            np.testing.assert_allclose(rotate(C, D[l1], D[l2], D[l3]), C, atol=1e-13, rtol=0)
            # the O(3) element -R acts on irrep (l, p) as p D_l(R); the coupling
            # (l1 p1) x (l2 p2) -> (l3 p3) exists iff p3 = p1 p2
            for p1, p2, p3 in itertools.product((1, -1), repeat=3):
                rotated = rotate(C, p1 * D[l1], p2 * D[l2], p3 * D[l3])
                assert np.allclose(rotated, C, atol=1e-13, rtol=0) == (p3 == p1 * p2)


def test_invariance_high_l():
    rng = np.random.default_rng(2)
    a, b, c = rng.uniform(0, 2 * math.pi, 3)
    for l1, l2, l3 in [(10, 10, 10), (12, 7, 9)]:
        C = clebsch_gordan(l1, l2, l3)
        D1, D2, D3 = (expm_wigner_D(l, a, b, c) for l in (l1, l2, l3))
        np.testing.assert_allclose(rotate(C, D1, D2, D3), C, atol=1e-12, rtol=0)


def test_permutation_symmetries():
    # SU(2): swapping the first two slots costs (-1)^(j1 + j2 - J); the real basis
    # change treats slots alike, so for the real, normalized tensor every odd
    # permutation of (l1, l2, l3) costs (-1)^(l1 + l2 + l3) and even ones are free
    # (the 3j symmetry).  The entries are correctly rounded exact values, so the
    # relations hold bit for bit.
    for l1, l2, l3 in triples(6):
        s = (-1) ** (l1 + l2 + l3)
        C = clebsch_gordan(l1, l2, l3)
        assert np.array_equal(clebsch_gordan(l2, l1, l3).transpose(1, 0, 2), s * C)
        assert np.array_equal(clebsch_gordan(l3, l2, l1).transpose(2, 1, 0), s * C)
        assert np.array_equal(clebsch_gordan(l1, l3, l2).transpose(0, 2, 1), s * C)
        assert np.array_equal(clebsch_gordan(l2, l3, l1).transpose(2, 0, 1), C)
        assert np.array_equal(clebsch_gordan(l3, l1, l2).transpose(1, 2, 0), C)


def test_l1_l1_anchors():
    # anchors quoted in reference-facts.md (measured on e3nn 0.6.0)
    np.testing.assert_allclose(clebsch_gordan(1, 1, 0)[:, :, 0], np.eye(3) / math.sqrt(3), atol=1e-16)
    eps = np.zeros((3, 3, 3))
    for (i, j, k), sign in [((0, 1, 2), 1), ((1, 2, 0), 1), ((2, 0, 1), 1), ((0, 2, 1), -1), ((2, 1, 0), -1), ((1, 0, 2), -1)]:
        eps[i, j, k] = sign
    np.testing.assert_allclose(clebsch_gordan(1, 1, 1), eps / math.sqrt(6), atol=1e-16)
    values = set(np.round(clebsch_gordan(1, 1, 2)[np.nonzero(clebsch_gordan(1, 1, 2))], 5))
    # 1/sqrt(10), sqrt(2/15), 1/sqrt(30)
    assert values == {0.31623, -0.31623, 0.36515, -0.18257}


def sh1(v):
    x, y, z = v / np.linalg.norm(v)
    return math.sqrt(3) * np.array([x, y, z])


def sh2(v):
    # component-normalized l = 2 harmonics of e3nn, from reference-facts.md
    x, y, z = v / np.linalg.norm(v)
    r15 = math.sqrt(15)
    return np.array([r15 * x * z, r15 * x * y, math.sqrt(5) / 2 * (2 * y * y - x * x - z * z), r15 * y * z, r15 / 2 * (z * z - x * x)])


def test_e3nn_sign_of_cg_112():
    # C(1,1,2) contracted with Y1(v) Y1(v) is +sqrt(6)/5 Y2(v): for the xz entry,
    # 2 * 3 * C[0,2,0] = 6 / sqrt(10) against sqrt(15), ratio sqrt(6)/5 = 0.4899
    C = clebsch_gordan(1, 1, 2)
    rng = np.random.default_rng(3)
    for v in rng.normal(size=(10, 3)):
        y1 = sh1(v)
        np.testing.assert_allclose(np.einsum("ijk,i,j->k", C, y1, y1), math.sqrt(6) / 5 * sh2(v), atol=1e-14)


def test_cached_read_only_and_numpy_ints():
    C = clebsch_gordan(2, 3, 4)
    assert clebsch_gordan(np.int64(2), np.int32(3), 4) is C
    assert not C.flags.writeable
    with pytest.raises(ValueError):
        C[0, 0, 0] = 1.0


@pytest.mark.parametrize(
    "args, exc, pattern",
    [
        ((1, 1, 3), ValueError, r"\(1, 1, 3\).*triangle rule \|l1 - l2\| <= l3 <= l1 \+ l2"),
        ((4, 1, 2), ValueError, r"\(4, 1, 2\).*triangle"),
        ((-1, 1, 1), ValueError, r"l1 must be a non-negative integer, got -1"),
        ((1, 1.5, 1), ValueError, r"l2 must be a non-negative integer, got 1.5"),
        ((1, 1, 2.0), TypeError, r"l3 must be an int, got 2.0 of type float"),
        (("1", 1, 1), TypeError, r"l1 must be an int, got '1'"),
        ((1, None, 1), TypeError, r"l2 must be an int, got None"),
        ((True, 1, 1), TypeError, r"l1 must be an int, got True of type bool"),
    ],
)
def test_bad_input(args, exc, pattern):
    with pytest.raises(exc, match=pattern):
        clebsch_gordan(*args)
    with pytest.raises(exc, match=pattern):
        clebsch_gordan_exact(*args)


# ---------------------------------------------------------------------------
# reference libraries
# ---------------------------------------------------------------------------

# e3nn 0.6.0 needs ~12 s for all 175 triples with l <= 6, so it gets the sorted
# ones (l1 <= l2 <= l3; the other orders follow from test_permutation_symmetries),
# every triple with l <= 4, and (10, 10, 10); e3nn-jax is fast enough for all.
E3NN_TRIPLES = sorted(
    {t for t in triples(6) if t[0] <= t[1] <= t[2]} | set(triples(4)) | {(10, 10, 10)}
)
E3NN_JAX_TRIPLES = list(triples(6)) + [(10, 10, 10)]


def test_against_e3nn():
    o3 = pytest.importorskip("e3nn.o3")
    torch = pytest.importorskip("torch")
    worst = 0.0
    for l1, l2, l3 in E3NN_TRIPLES:
        ref = o3.wigner_3j(l1, l2, l3, dtype=torch.float64).numpy()
        worst = max(worst, np.abs(ref - clebsch_gordan(l1, l2, l3)).max())
    # e3nn rounds a handful of float operations per entry
    assert worst < 1e-15


def test_against_e3nn_jax():
    e3nn_jax = pytest.importorskip("e3nn_jax")
    worst = 0.0
    for l1, l2, l3 in E3NN_JAX_TRIPLES:
        ref = np.asarray(e3nn_jax.clebsch_gordan(l1, l2, l3), dtype=np.float64)
        worst = max(worst, np.abs(ref - clebsch_gordan(l1, l2, l3)).max())
    # e3nn-jax 0.21 sums Racah's alternating series in floats ((-1.0)**v * Fraction),
    # so it loses digits to cancellation as l grows: 1.4e-15 at (10, 10, 10) here,
    # and (outside this set) 2.9e-12 at (6, 6, 12), where the exact values of this
    # module agree with e3nn (exact Fraction sum) to 1e-16
    assert worst < 1e-14
