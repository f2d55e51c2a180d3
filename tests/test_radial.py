"""Tests of e3xp.ops.radial: against e3nn / e3nn-jax, and against independent derivations
(closed forms, finite differences, quadrature)."""

import math

import numpy as np
import pytest

from e3xp.ops.radial import bessel, poly_envelope, soft_envelope, soft_one_hot_linspace, soft_unit_step, sus

BASES = ["gaussian", "cosine", "smooth_finite", "fourier", "bessel"]


def _grid():
    # includes both edges exactly, points outside, and a dense interior
    return np.concatenate([np.linspace(-0.7, 2.3, 301), [-0.5, 1.5, 0.0, 1.0]])


@pytest.mark.parametrize("basis", BASES)
@pytest.mark.parametrize("cutoff", [True, False])
def test_soft_one_hot_matches_e3nn(basis, cutoff):
    torch = pytest.importorskip("torch")
    e3nn_math = pytest.importorskip("e3nn.math")
    x = _grid()
    if basis == "bessel":
        x = x[x != -0.5]  # e3nn divides 0/0 at x = start
    ref = e3nn_math.soft_one_hot_linspace(torch.tensor(x, dtype=torch.float64), -0.5, 1.5, 5, basis, cutoff).numpy()
    if basis == "smooth_finite":
        # e3nn 0.6.0 forms its prefactor in float32 (1.14136 * exp(torch.tensor(2.0)));
        # e3xp and e3nn-jax use float64: rescale to compare at float64 rounding
        ref = ref * (1.14136 * math.exp(2.0) / float(1.14136 * torch.exp(torch.tensor(2.0))))
    ours = soft_one_hot_linspace(x, -0.5, 1.5, 5, basis=basis, cutoff=cutoff)
    assert ours.shape == ref.shape and ours.dtype == np.float64
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("basis", ["gaussian", "cosine", "smooth_finite", "fourier"])
@pytest.mark.parametrize("cutoff", [True, False])
def test_soft_one_hot_matches_e3nn_jax(basis, cutoff):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    e3nn_jax = pytest.importorskip("e3nn_jax")
    x = _grid()
    ref = np.asarray(e3nn_jax.soft_one_hot_linspace(x, start=-0.5, end=1.5, number=6, basis=basis, cutoff=cutoff))
    ours = soft_one_hot_linspace(x, -0.5, 1.5, 6, basis=basis, cutoff=cutoff)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)


def test_e3nn_jax_other_functions():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    e3nn_jax = pytest.importorskip("e3nn_jax")
    x = np.concatenate([np.linspace(-0.5, 3.0, 201), [0.0, 1.0, 2.5]])
    np.testing.assert_allclose(sus(x), np.asarray(e3nn_jax.sus(x)), rtol=0, atol=1e-15)
    np.testing.assert_allclose(bessel(x, 7, 2.5), np.asarray(e3nn_jax.bessel(x, 7, 2.5)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(soft_envelope(x, 2.5), np.asarray(e3nn_jax.soft_envelope(x, 2.5)), rtol=0, atol=1e-12)
    for n0, n1 in [(1, 2), (4, 4), (0, 0), (5, 2), (10, 5)]:
        ours = poly_envelope(n0, n1, 2.5)(x)
        ref = np.asarray(e3nn_jax.poly_envelope(n0, n1, 2.5)(x))
        # e3nn-jax solves the (ill-conditioned) constraint system with np.linalg.solve;
        # at degree 16 its coefficients are off by ~1e-10 (its derivative constraints
        # have residuals ~1e-4), while ours are exact rationals rounded once
        # (test_poly_envelope_coefficients_exact).
        atol = 1e-9 if n0 + n1 > 12 else 1e-12
        np.testing.assert_allclose(ours, ref, rtol=0, atol=atol)


def test_soft_unit_step_closed_form():
    x = np.array([-2.0, -1e-300, 0.0, 1e-3, 0.25, 1.0, 7.0])
    expected = np.array([0.0, 0.0, 0.0] + [math.exp(-1 / v) for v in x[3:]])
    np.testing.assert_array_equal(soft_unit_step(x), expected)
    np.testing.assert_array_equal(sus(x), expected)


def test_gaussian_closed_form_and_normalization():
    # centres of the cutoff variant: interior of linspace(start, end, number + 2)
    x = np.linspace(0.0, 3.0, 7)
    y = soft_one_hot_linspace(x, 0.0, 3.0, 2, basis="gaussian", cutoff=True)
    centres, step = np.array([1.0, 2.0]), 1.0
    np.testing.assert_allclose(y, np.exp(-((x[:, None] - centres) ** 2) / step**2) / 1.12, rtol=1e-15)
    # the documented normalization <sum_i y_i^2> ~ 1 over the interval (by quadrature)
    for basis in ["gaussian", "cosine", "smooth_finite", "fourier"]:
        t = np.linspace(0.0, 1.0, 20001)
        s = (soft_one_hot_linspace(t, 0.0, 1.0, 20, basis=basis, cutoff=True) ** 2).sum(-1)
        assert abs(np.trapezoid(s, t) - 1.0) < 0.15, basis


def test_bessel_orthonormal_by_quadrature():
    # int_0^c r^2 B_i B_j dr = delta_ij (DimeNet); independent check with a fine trapezoid rule
    c = 1.7
    r = np.linspace(0.0, c, 200001)
    b = bessel(r, 6, c)
    gram = np.trapezoid(r[:, None, None] ** 2 * b[:, :, None] * b[:, None, :], r, axis=0)
    np.testing.assert_allclose(gram, np.eye(6), atol=1e-8)
    # the limit at 0 is sqrt(2/c) * n pi / c
    np.testing.assert_allclose(b[0], math.sqrt(2 / c) * np.arange(1, 7) * math.pi / c, rtol=1e-15)
    # the soft_one_hot "bessel" basis is the same function shifted to start
    y = soft_one_hot_linspace(r[1:-1] + 0.3, 0.3, 0.3 + c, 6, basis="bessel", cutoff=True)
    np.testing.assert_allclose(y, b[1:-1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n0,n1", [(0, 0), (1, 2), (3, 1), (4, 4), (6, 2)])
def test_poly_envelope_derivatives_by_finite_differences(n0, n1):
    x_max = 1.3
    f = poly_envelope(n0, n1, x_max)
    assert f(np.array([0.0]))[0] == pytest.approx(1.0, abs=1e-13)
    assert f(np.array([x_max]))[0] == 0.0
    assert np.all(f(np.array([x_max, 1.5, 10.0])) == 0.0)
    # fit the polynomial back from samples (independent of how it was solved) and
    # check the vanishing derivatives at both ends
    t = np.linspace(0.0, x_max, 60)
    p = np.polynomial.Polynomial.fit(t / x_max, f(t), n0 + n1 + 1)
    for d in range(1, n0 + 1):
        assert abs(p.deriv(d)(0.0)) < 1e-6 * math.factorial(d + 3) ** 2
    for d in range(1, n1 + 1):
        assert abs(p.deriv(d)(1.0)) < 1e-6 * math.factorial(d + 3) ** 2
    assert abs(p(0.0) - 1) < 1e-9 and abs(p(1.0)) < 1e-9


@pytest.mark.parametrize("n0,n1", [(0, 0), (3, 1), (10, 5)])
def test_poly_envelope_coefficients_exact(n0, n1):
    from fractions import Fraction

    from e3xp.ops.radial import _envelope_coefficients

    # differentiate the rounded coefficients exactly: every constraint holds to the
    # rounding of the coefficients themselves
    p = np.poly1d([Fraction(c) for c in _envelope_coefficients(n0, n1)])
    for t, value, nder in ((Fraction(-1, 2), 1, n0), (Fraction(1, 2), 0, n1)):
        q = p
        for d in range(nder + 1):
            target = value if d == 0 else 0
            assert abs(float(q(t) - target)) < 1e-13 * math.factorial(n0 + n1 + 1) / math.factorial(max(n0 + n1 + 1 - d, 1))
            q = q.deriv()


def test_poly_envelope_is_dimenet_u_p():
    # u_p(x) = 1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2)  (DimeNet eq. 8)
    x = np.linspace(0.0, 0.999, 50)
    for p in [2, 5, 6]:
        u = 1 - (p + 1) * (p + 2) / 2 * x**p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2)
        np.testing.assert_allclose(poly_envelope(p - 1, 2)(x), u, atol=1e-12)


def _torch_grad(f, x_np):
    torch = pytest.importorskip("torch")
    x = torch.tensor(x_np, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(f(x).sum(), x)
    return g.numpy()


@pytest.mark.parametrize("basis", BASES)
@pytest.mark.parametrize("cutoff", [True, False])
def test_gradients_finite_at_edges_and_match_finite_differences(basis, cutoff):
    pytest.importorskip("torch")
    start, end = 0.0, 2.0
    edges = np.array([start, end, 0.5 * (start + end)])
    f = lambda x: soft_one_hot_linspace(x, start, end, 4, basis=basis, cutoff=cutoff)  # noqa: E731
    g = _torch_grad(f, edges)
    assert np.all(np.isfinite(g)), g
    assert np.all(np.isfinite(f(edges)))
    # away from the masked discontinuities, autodiff = central finite differences
    x = np.array([0.37, 0.81, 1.23, 1.66])
    h = 1e-6
    fd = (f(x + h).sum(-1) - f(x - h).sum(-1)) / (2 * h)
    np.testing.assert_allclose(_torch_grad(f, x), fd, rtol=1e-6, atol=1e-7)


def test_smooth_finite_vanishes_smoothly_at_cutoff():
    # all derivatives of exp(-1/t) vanish at t = 0+: value and slope near the edge are tiny
    f = lambda x: soft_one_hot_linspace(x, 0.0, 1.0, 3, basis="smooth_finite", cutoff=True)  # noqa: E731
    x = np.array([1.0 - 1e-3, 1.0, 1.0 + 1e-3])  # exp(-1/0.004) underflows the slope too
    assert np.max(np.abs(f(x))) < 1e-10
    assert np.max(np.abs(_torch_grad(f, x))) < 1e-8


def test_bessel_gradient_at_zero_is_finite_and_zero():
    g = _torch_grad(lambda x: bessel(x, 4, 1.5), np.array([0.0]))
    assert np.isfinite(g).all() and abs(g[0]) < 1e-14  # sin(kx)/x is even in x
    # and matches finite differences just away from 0
    x, h = np.array([0.2]), 1e-6
    fd = (bessel(x + h, 4, 1.5).sum() - bessel(x - h, 4, 1.5).sum()) / (2 * h)
    np.testing.assert_allclose(_torch_grad(lambda t: bessel(t, 4, 1.5), x), fd, rtol=1e-6)


def test_poly_envelope_gradient_matches_derivative_of_closed_form():
    # poly_envelope(p-1, 2) = u_p; d u_p / dx from the closed form
    p, x_np = 4, np.array([0.0, 0.3, 0.9, 1.0, 1.2])
    du = (
        -(p + 1) * (p + 2) / 2 * p * x_np ** (p - 1)
        + p * (p + 2) * (p + 1) * x_np**p
        - p * (p + 1) / 2 * (p + 2) * x_np ** (p + 1)
    )
    du[x_np >= 1.0] = 0.0  # zero beyond the cutoff (and u_p'(1) = 0 anyway)
    np.testing.assert_allclose(_torch_grad(poly_envelope(p - 1, 2), x_np), du, atol=1e-12)


def test_jax_gradients_and_jit():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def all_bases(t):
        return jnp.stack([soft_one_hot_linspace(t, 0.0, 1.0, 5, basis=b, cutoff=True) for b in BASES])

    x = jnp.array([0.0, 0.5, 1.0, 1.7])
    g = jax.jit(jax.grad(lambda t: all_bases(t).sum()))(x)
    assert np.all(np.isfinite(np.asarray(g)))
    eager = np.stack([soft_one_hot_linspace(np.asarray(x), 0.0, 1.0, 5, basis=b, cutoff=True) for b in BASES])
    np.testing.assert_allclose(np.asarray(jax.jit(all_bases)(x)), eager, atol=1e-14)
    hess = jax.jit(jax.grad(jax.grad(lambda t: bessel(t, 3).sum())))(0.0)
    assert np.isfinite(float(hess))


@pytest.mark.parametrize("basis", BASES)
def test_array_api_strict_and_float32(basis):
    xps = pytest.importorskip("array_api_strict")
    x_np = np.linspace(-0.2, 1.2, 17)
    ref = soft_one_hot_linspace(x_np, 0.0, 1.0, 4, basis=basis, cutoff=True)
    y = soft_one_hot_linspace(xps.asarray(x_np), 0.0, 1.0, 4, basis=basis, cutoff=True)
    np.testing.assert_allclose(np.asarray(y), ref, atol=1e-14)
    y32 = soft_one_hot_linspace(x_np.astype(np.float32), 0.0, 1.0, 4, basis=basis, cutoff=True)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, ref, atol=2e-5)
    for f in (sus, lambda t: bessel(t, 3), poly_envelope(2, 3), soft_envelope):
        np.testing.assert_allclose(np.asarray(f(xps.asarray(x_np))), f(x_np), atol=1e-15)


def test_bad_input():
    x = np.linspace(0, 1, 3)
    with pytest.raises(ValueError, match="basis='foo'"):
        soft_one_hot_linspace(x, 0.0, 1.0, 3, basis="foo", cutoff=True)
    with pytest.raises(ValueError, match="cutoff must be True or False, got None"):
        soft_one_hot_linspace(x, 0.0, 1.0, 3, basis="gaussian")
    with pytest.raises(ValueError, match="number must be a positive int, got 0"):
        soft_one_hot_linspace(x, 0.0, 1.0, 0, basis="gaussian", cutoff=True)
    with pytest.raises(ValueError, match="start=1.0, end=0.0"):
        soft_one_hot_linspace(x, 1.0, 0.0, 3, basis="gaussian", cutoff=True)
    with pytest.raises(TypeError, match="real floating-point array, got dtype int64"):
        soft_one_hot_linspace(np.arange(3), 0.0, 1.0, 3, basis="gaussian", cutoff=True)
    with pytest.raises(TypeError, match="got str"):
        bessel("abc", 3)
    with pytest.raises(ValueError, match="n0 must be an int >= 0, got -1"):
        poly_envelope(-1, 2)
    with pytest.raises(ValueError, match="x_max must be > 0, got 0.0"):
        bessel(x, 3, 0.0)
