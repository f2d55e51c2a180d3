"""Tests of e3xp.core.spherical_harmonics.

The plan (a Clebsch-Gordan recursion) and the reference (associated Legendre
recurrences) are two algorithms for the same functions; each is also checked
against properties derived independently here: quadrature integrals, the norms
on unit vectors, equivariance under a Wigner D built from angular-momentum
algebra, parity, homogeneity, and e3nn / e3nn-jax when installed.
"""

import functools
import math

import numpy as np
import pytest

from e3xp.core.spherical_harmonics import (
    NORMALIZATIONS,
    SphericalHarmonicsPlan,
    evaluate_plan_numpy,
    normalization_factors,
    spherical_harmonics_plan,
    spherical_harmonics_reference,
)

LMAX = 20


def _plan_eval(ls, x, normalize=True, normalization="component"):
    # one cached plan serves every degree the tests use; the call validates ls
    plan = spherical_harmonics_plan(LMAX)
    return evaluate_plan_numpy(plan, np.asarray(x, dtype=np.float64), ls, normalize, normalization)


EVALUATORS = {"plan": _plan_eval, "reference": spherical_harmonics_reference}


@pytest.fixture(params=sorted(EVALUATORS))
def sh(request):
    return EVALUATORS[request.param]


def _blocks(y, ls):
    out, i = [], 0
    for l in ls:
        out.append(y[..., i : i + 2 * l + 1])
        i += 2 * l + 1
    assert i == y.shape[-1]
    return out


def _random_vectors(seed, n):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    # the poles (y axis) and the x-z plane are where angle-based formulas break
    special = np.array(
        [[0, 1, 0], [0, -1, 0], [1e-9, 1, 0], [0, -1, 1e-12], [1, 0, 0], [0, 0, -1], [1, 0, 1]],
        dtype=np.float64,
    )
    return np.concatenate([x, special])


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# ----------------------------------------------------------------------------
# Anchors from reference-facts.md (measured with e3nn 0.6.0 / e3nn-jax 0.21.0)


def test_l1_is_sqrt3_times_the_vector(sh):
    # facts: Y1(e_x) = [sqrt(3), 0, 0]; l = 1 components are (x, y, z)
    np.testing.assert_allclose(sh([1], [1.0, 0.0, 0.0]), [math.sqrt(3), 0, 0], atol=1e-15)
    u = _unit(_random_vectors(0, 20))
    np.testing.assert_allclose(sh([1], u), math.sqrt(3) * u, atol=1e-14)


def test_l2_closed_form(sh):
    # facts: component-normalized l = 2 on unit vectors
    u = _unit(_random_vectors(1, 50))
    x, y, z = u[:, 0], u[:, 1], u[:, 2]
    s15, s5 = math.sqrt(15), math.sqrt(5)
    expected = np.stack(
        [s15 * x * z, s15 * x * y, s5 / 2 * (2 * y**2 - x**2 - z**2), s15 * y * z, s15 / 2 * (z**2 - x**2)],
        axis=-1,
    )
    np.testing.assert_allclose(sh([2], u), expected, atol=1e-14)
    # facts: Y2(e_y) = [0, 0, 2.236, 0, 0], Y2(e_x) = [0, 0, -1.118, 0, -1.9365]
    np.testing.assert_allclose(sh([2], [0.0, 1.0, 0.0]), [0, 0, s5, 0, 0], atol=1e-15)
    np.testing.assert_allclose(sh([2], [1.0, 0.0, 0.0]), [0, 0, -s5 / 2, 0, -s15 / 2], atol=1e-15)
    np.testing.assert_allclose(sh([2], [1.0, 0.0, 0.0]), [0, 0, -1.118, 0, -1.9365], atol=1e-4)


def test_integral_l1_factor(sh):
    # integral of (c x)^2 over the sphere is c^2 4 pi / 3 = 1, so c = sqrt(3 / (4 pi));
    # facts: 0.4886
    y = sh([1], [1.0, 0.0, 0.0], normalization="integral")
    np.testing.assert_allclose(y, [math.sqrt(3 / (4 * math.pi)), 0, 0], rtol=1e-15, atol=1e-16)
    assert abs(y[0] - 0.4886) < 1e-4


def test_unnormalized_scales_as_power(sh):
    # facts: normalize=False, Y2(2 e_y) = 4 * 2.236
    y = sh([2], [0.0, 2.0, 0.0], normalize=False)
    np.testing.assert_allclose(y, [0, 0, 4 * math.sqrt(5), 0, 0], atol=1e-14)


def test_every_degree_is_positive_on_the_polar_axis(sh):
    # P_l(1) = 1 with no Condon-Shortley phase: Y_l(e_y) = sqrt(2l+1) e_middle
    y = _blocks(sh(LMAX, [0.0, 1.0, 0.0]), range(LMAX + 1))
    for l, b in enumerate(y):
        expected = np.zeros(2 * l + 1)
        expected[l] = math.sqrt(2 * l + 1)
        np.testing.assert_allclose(b, expected, atol=1e-13 * math.sqrt(2 * l + 1))


# ----------------------------------------------------------------------------
# The two algorithms against each other


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("normalize", [True, False])
def test_plan_matches_reference(normalization, normalize):
    x = _random_vectors(2, 500)
    if not normalize:
        x = x * np.random.default_rng(3).uniform(0.5, 1.5, size=(len(x), 1))
    a = _plan_eval(LMAX, x, normalize, normalization)
    b = spherical_harmonics_reference(LMAX, x, normalize, normalization)
    r = np.linalg.norm(x, axis=-1)
    f = normalization_factors(LMAX, normalization)
    for l, (pa, pb) in enumerate(zip(_blocks(a, range(LMAX + 1)), _blocks(b, range(LMAX + 1)))):
        # scale of |Y_l| at each point, so the test is relative
        scale = f[l] * math.sqrt(2 * l + 1) * (1.0 if normalize else r[:, None] ** l)
        assert np.max(np.abs(pa - pb) / scale) < 1e-12, l


def test_selected_degrees_in_any_order(sh):
    x = _random_vectors(4, 30)
    full = _blocks(sh(5, x), range(6))
    ls = [3, 0, 5, 3]
    np.testing.assert_allclose(sh(ls, x), np.concatenate([full[l] for l in ls], axis=-1), rtol=0, atol=1e-15)


def test_batch_shapes(sh):
    x = _random_vectors(5, 5)[:6].reshape(2, 3, 3)
    y = sh(3, x)
    assert y.shape == (2, 3, 16)
    np.testing.assert_allclose(y, sh(3, x.reshape(6, 3)).reshape(2, 3, 16), rtol=0, atol=1e-15)
    assert sh(2, np.zeros((0, 3))).shape == (0, 9)
    assert sh(2, [0.0, 1.0, 0.0]).shape == (9,)


def test_plan_keeps_float32():
    x = _random_vectors(6, 100).astype(np.float32)
    y = evaluate_plan_numpy(spherical_harmonics_plan(6), x, 6)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, spherical_harmonics_reference(6, x), atol=2e-5)


# ----------------------------------------------------------------------------
# Independent properties


def _sphere_quadrature(degree):
    """Nodes and weights integrating polynomials of degree <= degree over the sphere."""
    n_t = degree // 2 + 1  # Gauss-Legendre with n nodes is exact to degree 2n - 1
    n_phi = degree + 1  # a uniform grid of K angles is exact for trig degree < K
    t, w = np.polynomial.legendre.leggauss(n_t)
    phi = 2 * np.pi * np.arange(n_phi) / n_phi
    s = np.sqrt(1 - t**2)
    x = np.stack(np.broadcast_arrays(s[:, None] * np.sin(phi), t[:, None], s[:, None] * np.cos(phi)), -1)
    weights = np.broadcast_to(w[:, None] * (2 * np.pi / n_phi), x.shape[:-1])
    return x.reshape(-1, 3), weights.reshape(-1)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_quadrature_orthonormality(sh, normalization):
    x, w = _sphere_quadrature(2 * LMAX)
    y = sh(LMAX, x, normalization=normalization)
    gram = y.T @ (w[:, None] * y)
    # integral of Y_lm Y_l'm' over the sphere, from the definition of each normalization
    per_l = {
        "integral": np.ones(LMAX + 1),
        "component": np.full(LMAX + 1, 4 * np.pi),
        "norm": 4 * np.pi / (2 * np.arange(LMAX + 1) + 1),
    }[normalization]
    expected = np.diag(np.repeat(per_l, 2 * np.arange(LMAX + 1) + 1))
    assert np.max(np.abs(gram - expected)) < 1e-12 * np.max(expected)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_norms_on_unit_vectors(sh, normalization):
    x = _random_vectors(7, 200)
    expected = {
        "component": lambda l: 2 * l + 1,
        "norm": lambda l: 1.0,
        "integral": lambda l: (2 * l + 1) / (4 * np.pi),
    }[normalization]
    for l, b in enumerate(_blocks(sh(LMAX, x, normalization=normalization), range(LMAX + 1))):
        np.testing.assert_allclose(np.sum(b**2, axis=-1), expected(l), rtol=1e-12)


@functools.lru_cache(maxsize=None)
def _real_generators(l):
    """so(3) generators in e3nn's real basis from the angular-momentum algebra.

    Standard |l m> matrices (J_z diagonal, J_+ with sqrt((l-m)(l+m+1))) about a
    z_s axis, taken to the real basis Y_{l,+-m} ~ cos / sin(m phi) without the
    Condon-Shortley phase.  With L = -i x cross grad, d/dt Y(exp(t [n]_x) x) =
    i (n . L) Y, so the real generator is i Q J^T Q^dagger.  The standard axes
    (x_s, y_s, z_s) are e3nn's (z, x, y) (y is the polar axis), a cyclic
    relabelling, so the order (J_y_s, J_z_s, J_x_s) gives e3nn's (x, y, z).
    """
    m = np.arange(-l, l + 1)
    jp = np.zeros((2 * l + 1, 2 * l + 1), dtype=complex)
    jp[np.arange(1, 2 * l + 1), np.arange(2 * l)] = np.sqrt((l - m[:-1]) * (l + m[:-1] + 1))
    jm = jp.T
    jx, jy, jz = (jp + jm) / 2, (jp - jm) / 2j, np.diag(m).astype(complex)
    q = np.zeros((2 * l + 1, 2 * l + 1), dtype=complex)
    q[l, l] = 1
    for k in range(1, l + 1):
        q[l + k, l + k], q[l + k, l - k] = (-1) ** k / math.sqrt(2), 1 / math.sqrt(2)
        q[l - k, l + k], q[l - k, l - k] = (-1) ** k / (1j * math.sqrt(2)), -1 / (1j * math.sqrt(2))
    gens = [1j * q @ j.T @ q.conj().T for j in (jy, jz, jx)]
    assert max(np.max(np.abs(g.imag)) for g in gens) < 1e-12
    return tuple(g.real for g in gens)


def _rotation(seed):
    rng = np.random.default_rng(seed)
    n = _unit(rng.normal(size=3))
    return n, rng.uniform(0.1, 3.0)


@functools.lru_cache(maxsize=None)
def _wigner_from_generators(l, seed):
    expm = pytest.importorskip("scipy.linalg").expm
    n, angle = _rotation(seed)
    return expm(angle * sum(a * g for a, g in zip(n, _real_generators(l))))


def test_generators_are_so3():
    expm = pytest.importorskip("scipy.linalg").expm
    # l = 1 must reproduce the rotation itself: the basis is (x, y, z)
    n, angle = _rotation(8)
    cross = np.array([[0, -n[2], n[1]], [n[2], 0, -n[0]], [-n[1], n[0], 0]])
    d1 = expm(angle * sum(a * g for a, g in zip(n, _real_generators(1))))
    np.testing.assert_allclose(d1, expm(angle * cross), atol=1e-14)
    gx, gy, gz = _real_generators(5)
    np.testing.assert_allclose(gx @ gy - gy @ gx, gz, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_equivariance(sh, seed):
    x = _random_vectors(9 + seed, 100)
    R = _wigner_from_generators(1, seed)
    y, y_rot = sh(LMAX, x), sh(LMAX, x @ R.T)
    worst = 0.0
    for l, (b, b_rot) in enumerate(zip(_blocks(y, range(LMAX + 1)), _blocks(y_rot, range(LMAX + 1)))):
        D = _wigner_from_generators(l, seed)
        worst = max(worst, np.max(np.abs(b_rot - b @ D.T)) / math.sqrt(2 * l + 1))
    assert worst < 1e-12


def test_equivariance_with_core_wigner(sh):
    wigner = pytest.importorskip("e3xp.core.wigner")
    rotations = pytest.importorskip("e3xp.core.rotations")
    R = rotations.rand_matrix(3)
    x = _random_vectors(12, 50)
    ls = [0, 1, 2, 7, 12]
    y, y_rot = _blocks(sh(ls, x), ls), _blocks(sh(ls, x @ R.T), ls)
    for l, b, b_rot in zip(ls, y, y_rot):
        D = wigner.wigner_D_from_matrix(l, R)
        assert np.max(np.abs(b_rot - b @ D.T)) < 1e-12 * math.sqrt(2 * l + 1), l


def test_parity(sh):
    x = _random_vectors(13, 100)
    for normalize in (True, False):
        y, y_neg = sh(LMAX, x, normalize), sh(LMAX, -x, normalize)
        for l, (b, b_neg) in enumerate(zip(_blocks(y, range(LMAX + 1)), _blocks(y_neg, range(LMAX + 1)))):
            scale = math.sqrt(2 * l + 1) * (1 if normalize else np.linalg.norm(x, axis=-1)[:, None] ** l)
            assert np.max(np.abs(b_neg - (-1) ** l * b) / scale) < 1e-12, l


@pytest.mark.parametrize("c", [2.5, 0.3, -1.7])
def test_homogeneity(sh, c):
    x = _random_vectors(14, 50)
    y, y_c = sh(12, x, normalize=False), sh(12, c * x, normalize=False)
    r = np.linalg.norm(x, axis=-1)[:, None]
    for l, (b, b_c) in enumerate(zip(_blocks(y, range(13)), _blocks(y_c, range(13)))):
        assert np.max(np.abs(b_c - c**l * b) / (abs(c) ** l * r**l * math.sqrt(2 * l + 1))) < 1e-12, l


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("normalize", [True, False])
def test_zero_vector(sh, normalization, normalize):
    y = sh(4, np.zeros((2, 3)), normalize, normalization)
    # e3nn's convention: only the constant survives; its value is the l = 0 factor
    expected = np.zeros((2, 25))
    expected[:, 0] = normalization_factors(0, normalization)[0]
    np.testing.assert_array_equal(y, expected)


def test_documented_procedure_has_finite_gradients_at_zero():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    plan = spherical_harmonics_plan(4)

    # a line-by-line mirror of the procedure in the module docstring
    def f(x):
        r2 = jnp.sum(x * x, axis=-1, keepdims=True)
        v = x / jnp.sqrt(jnp.where(r2 > 0, r2, 1.0))
        ys = [jnp.ones(x.shape[:-1] + (1,), x.dtype)]
        for l in range(1, 5):
            outer = jnp.reshape(ys[-1][..., :, None] * v[..., None, :], x.shape[:-1] + (3 * (2 * l - 1),))
            ys.append(outer @ jnp.asarray(plan.matrix(l)))
        return jnp.concatenate(ys, axis=-1)

    for x in (np.zeros(3), _random_vectors(15, 3)[0]):
        np.testing.assert_allclose(np.asarray(f(jnp.asarray(x))), evaluate_plan_numpy(plan, x, 4), atol=1e-14)
        jac = np.asarray(jax.jacrev(f)(jnp.asarray(x)))
        assert np.all(np.isfinite(jac))
    # at zero the gradient is that of the unnormalized harmonics: sqrt(3) I for l = 1
    jac0 = np.asarray(jax.jacrev(f)(jnp.zeros(3)))
    np.testing.assert_allclose(jac0[1:4], math.sqrt(3) * np.eye(3), atol=1e-15)


# ----------------------------------------------------------------------------
# The plan object


def test_plan_structure():
    plan = spherical_harmonics_plan(6)
    assert isinstance(plan, SphericalHarmonicsPlan)
    assert plan is spherical_harmonics_plan(6) and plan == spherical_harmonics_plan(6)
    assert hash(plan) == hash(spherical_harmonics_plan(6)) and plan != spherical_harmonics_plan(5)
    assert spherical_harmonics_plan(0).matrices == ()
    for l in range(1, 7):
        m = plan.matrix(l)
        assert m.shape == (3 * (2 * l - 1), 2 * l + 1) and m.dtype == np.float64
        assert not m.flags.writeable
        with pytest.raises(ValueError):
            m[0, 0] = 1.0
    assert not plan.factors("norm").flags.writeable
    np.testing.assert_allclose(plan.factors("norm"), 1 / np.sqrt(2 * np.arange(7) + 1), rtol=1e-15)


def test_plan_matrices_are_scaled_clebsch_gordan():
    cg = pytest.importorskip("e3xp.core.clebsch_gordan").clebsch_gordan
    plan = spherical_harmonics_plan(LMAX)
    for l in range(2, LMAX + 1):
        c = np.reshape(cg(l - 1, 1, l), (3 * (2 * l - 1), 2 * l + 1))
        ratio = np.sum(plan.matrix(l) * c)  # = scale since |c| = 1
        np.testing.assert_allclose(plan.matrix(l), ratio * c, atol=1e-14 * abs(ratio))


# ----------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("bad", [np.zeros((4, 2)), np.zeros(4), np.zeros(())])
def test_bad_vector_shape(sh, bad):
    with pytest.raises(ValueError, match=r"last axis of size 3.*got shape"):
        sh(2, bad)


def test_bad_degrees(sh):
    x = np.ones(3)
    with pytest.raises(ValueError, match="-1"):
        sh(-1, x)
    with pytest.raises(ValueError, match="-2"):
        sh([1, -2], x)
    with pytest.raises(ValueError, match=r"\[\]"):
        sh([], x)
    with pytest.raises(TypeError, match="True"):
        sh(True, x)
    with pytest.raises(TypeError, match="'2'"):
        sh("2", x)
    with pytest.raises(TypeError, match="1.5"):
        sh([1.5], x)


def test_bad_normalization(sh):
    with pytest.raises(ValueError, match="'integrals'"):
        sh(2, np.ones(3), normalization="integrals")
    with pytest.raises(ValueError, match="'foo'"):
        normalization_factors(2, "foo")


def test_plan_bad_input():
    plan = spherical_harmonics_plan(2)
    with pytest.raises(ValueError, match="degree 3 is above the plan's lmax = 2"):
        evaluate_plan_numpy(plan, np.ones(3), 3)
    with pytest.raises(TypeError, match="int64"):
        evaluate_plan_numpy(plan, np.ones(3, dtype=np.int64), 2)
    with pytest.raises(TypeError, match="SphericalHarmonicsPlan"):
        evaluate_plan_numpy(2, np.ones(3), 2)
    with pytest.raises(ValueError, match="got 3"):
        plan.matrix(3)
    with pytest.raises(ValueError, match="got 0"):
        plan.matrix(0)
    with pytest.raises(ValueError, match="-1"):
        spherical_harmonics_plan(-1)
    with pytest.raises(TypeError, match="2.0"):
        spherical_harmonics_plan(2.0)


# ----------------------------------------------------------------------------
# The reference libraries


def test_matches_e3nn_jax_up_to_l20():
    jax = pytest.importorskip("jax")
    e3nn_jax = pytest.importorskip("e3nn_jax")
    jax.config.update("jax_enable_x64", True)
    # Above l = 8 e3nn-jax switches to its Legendre algorithm, which derives
    # sin(theta) from cos(theta) and so loses ~sqrt(eps) within 1e-8 of the poles
    # (it returns Y1(1e-9, 1, 0) = [0, sqrt(3), 0]); compare away from them.
    # Its recursive algorithm is exact there but needs minutes past l = 12.
    x = np.random.default_rng(16).normal(size=(200, 3))
    expected = np.asarray(
        e3nn_jax.spherical_harmonics(
            e3nn_jax.Irreps.spherical_harmonics(LMAX), jax.numpy.asarray(x), normalize=True, normalization="component"
        ).array
    )
    for name, sh in EVALUATORS.items():
        y = sh(LMAX, x)
        for l, (b, e) in enumerate(zip(_blocks(y, range(LMAX + 1)), _blocks(expected, range(LMAX + 1)))):
            assert np.max(np.abs(b - e)) < 1e-12 * math.sqrt(2 * l + 1), (name, l)


# every option value once: each combination costs e3nn-jax a fresh trace
@pytest.mark.parametrize(
    "normalize, normalization", [(True, "component"), (False, "integral"), (True, "norm"), (False, "component")]
)
def test_matches_e3nn_jax_options(normalization, normalize):
    jax = pytest.importorskip("jax")
    e3nn_jax = pytest.importorskip("e3nn_jax")
    jax.config.update("jax_enable_x64", True)
    # lmax <= 8: e3nn-jax's recursive (Clebsch-Gordan) algorithm, poles included
    x = np.concatenate([_random_vectors(17, 20), np.zeros((1, 3))])
    expected = e3nn_jax.spherical_harmonics(
        e3nn_jax.Irreps.spherical_harmonics(4), jax.numpy.asarray(x), normalize, normalization
    ).array
    for sh in EVALUATORS.values():
        np.testing.assert_allclose(sh(4, x, normalize, normalization), np.asarray(expected), atol=1e-13)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("normalize", [True, False])
def test_matches_e3nn_torch_up_to_l11(normalization, normalize):
    torch = pytest.importorskip("torch")
    o3 = pytest.importorskip("e3nn.o3")
    x = np.concatenate([_random_vectors(18, 100), np.zeros((1, 3))])
    # e3nn (torch) defaults to "integral": pass the normalization explicitly
    expected = o3.spherical_harmonics(
        list(range(12)), torch.from_numpy(x), normalize=normalize, normalization=normalization
    ).numpy()
    scale = 1.0 if normalize else np.linalg.norm(x, axis=-1, keepdims=True) ** 11 + 1.0
    for name, sh in EVALUATORS.items():
        y = sh(11, x, normalize, normalization)
        assert np.max(np.abs(y - expected) / scale) < 1e-12, name
