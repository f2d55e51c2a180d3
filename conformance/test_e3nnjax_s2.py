"""Signals on the sphere (issue 15, slice s2) on every backend.

Each function is checked against e3nn-jax 0.21 on random inputs (skipped when
e3nn_jax is missing) and by properties that do not need it: round trips, O(3)
equivariance through :func:`e3xp.to_s2point`, integrals, the reproducing property of
:func:`e3xp.s2_dirac`, orthonormality of the Legendre functions.
"""

import functools
import math

import numpy as np
import pytest

import e3xp
from e3xp import IrrepsArray

QUAD_GRIDS = [("soft", 10, 11), ("gausslegendre", 7, 11)]  # both resolve lmax = 4
NORMALIZATIONS = ["integral", "component", "norm"]


def _tol(xp) -> float:
    return 1e-10 if xp.dtype == "float64" else 2e-4


def _close(xp, got, want, scale=None):
    got, want = xp.to_numpy(got), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0))) if scale is None else scale
    err = float(np.max(np.abs(got - want), initial=0.0))
    assert err <= _tol(xp) * scale, f"max error {err} (scale {scale})"


def _ejax():
    return pytest.importorskip("e3nn_jax")


def _cached_reference(fn):
    """e3nn-jax's results (as numpy) computed once for all backend variants: it is the slow side."""

    @functools.lru_cache(maxsize=None)
    def cached(*args):
        return fn(_ejax(), *args)

    def call(*args):
        _ejax()  # skip before the cache sees the call
        return cached(*args)

    return call


def _signal(xp, values, quadrature, **kw):
    return e3xp.SphericalSignal(xp.asarray(values), quadrature, **kw)


# --- against e3nn-jax ------------------------------------------------------------------


@pytest.mark.parametrize("quadrature,res_beta,res_alpha", QUAD_GRIDS)
@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("fft", [True, False])
def test_to_s2grid_matches_e3nn_jax(xp, quadrature, res_beta, res_alpha, normalization, fft):
    irreps = "2e + 0e + 1o + 4e + 3o"  # unsorted: both libraries regroup first
    c = np.random.default_rng(1).normal(size=(2, 3, 25))
    kw = dict(quadrature=quadrature, normalization=normalization, fft=fft)
    want, parities = _ref_to_s2grid(irreps, res_beta, res_alpha, tuple(kw.items()))
    got = e3xp.to_s2grid(xp.irreps_array(irreps, c), res_beta, res_alpha, **kw)
    assert (got.p_val, got.p_arg, got.quadrature) == parities + (quadrature,)
    _close(xp, got.grid_values, want)


@_cached_reference
def _ref_to_s2grid(ej, irreps, res_beta, res_alpha, kw):
    c = np.random.default_rng(1).normal(size=(2, 3, 25))
    want = ej.to_s2grid(ej.IrrepsArray(irreps, c), res_beta, res_alpha, **dict(kw))
    return np.asarray(want.grid_values), (want.p_val, want.p_arg)


@pytest.mark.parametrize("quadrature,res_beta,res_alpha", QUAD_GRIDS + [("soft", 8, 10)])
@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("fft", [True, False])
def test_from_s2grid_matches_e3nn_jax(xp, quadrature, res_beta, res_alpha, normalization, fft):
    irreps = "1o + 0o + 3o + 2o"  # p_val = -1, p_arg = 1, unsorted: output keeps the order
    g = np.random.default_rng(2).normal(size=(3, res_beta, res_alpha))
    kw = dict(normalization=normalization, fft=fft, lmax_in=5)
    want = _ref_from_s2grid(irreps, quadrature, res_beta, res_alpha, tuple(kw.items()))
    got = e3xp.from_s2grid(_signal(xp, g, quadrature, p_val=-1, p_arg=1), irreps, **kw)
    assert got.irreps == e3xp.Irreps(irreps)
    _close(xp, got.array, want)


@_cached_reference
def _ref_from_s2grid(ej, irreps, quadrature, res_beta, res_alpha, kw):
    g = np.random.default_rng(2).normal(size=(3, res_beta, res_alpha))
    return np.asarray(ej.from_s2grid(ej.SphericalSignal(g, quadrature, p_val=-1, p_arg=1), irreps, **dict(kw)).array)


def test_to_s2point_matches_e3nn_jax(xp):
    ej = _ejax()
    rng = np.random.default_rng(3)
    c, p = rng.normal(size=(2, 16)), rng.normal(size=(4, 3))
    for normalization in NORMALIZATIONS:
        for vec, irreps in (("1o", "0e + 1o + 2e + 3o"), ("1e", "0o + 1o + 2o + 3o")):
            want = ej.to_s2point(ej.IrrepsArray(irreps, c), ej.IrrepsArray(vec, p), normalization=normalization)
            got = e3xp.to_s2point(xp.irreps_array(irreps, c), xp.irreps_array(vec, p), normalization=normalization)
            assert got.irreps == e3xp.Irreps(str(want.irreps))
            _close(xp, got.array, want.array)


@pytest.mark.parametrize("p_arg", [-1, 1])
def test_s2_dirac_matches_e3nn_jax(xp, p_arg):
    ej = _ejax()
    pos = np.random.default_rng(4).normal(size=(3, 3))
    want = ej.s2_dirac(pos, 5, p_val=1, p_arg=p_arg)
    got = e3xp.s2_dirac(xp.asarray(pos), 5, p_val=1, p_arg=p_arg)
    assert got.irreps == e3xp.Irreps(str(want.irreps))
    _close(xp, got.array, want.array)
    vec = "1o" if p_arg == -1 else "1e"
    _close(xp, e3xp.s2_dirac(xp.irreps_array(vec, pos), 5, p_arg=p_arg).array, want.array)


@pytest.mark.parametrize("phase", [1.0, -1.0])
@pytest.mark.parametrize("is_normalized", [True, False])
def test_legendre_matches_e3nn_jax(xp, phase, is_normalized):
    _ejax()
    from e3nn_jax._src.spherical_harmonics.legendre import legendre as ej_legendre

    x = np.random.default_rng(5).uniform(-1, 1, size=(2, 3))
    want = np.asarray(ej_legendre(7, x, phase, is_normalized))
    _close(xp, e3xp.legendre(7, xp.asarray(x), phase, is_normalized), want)


@pytest.mark.parametrize("quadrature,res_beta,res_alpha", QUAD_GRIDS)
@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_legendre_transforms_match_e3nn_jax(xp, quadrature, res_beta, res_alpha, normalization):
    ej = _ejax()
    rng = np.random.default_rng(6)
    c, xb = rng.normal(size=(2, 5)), rng.normal(size=(2, res_beta))
    kw = dict(quadrature=quadrature, normalization=normalization)
    _close(xp, e3xp.legendre_transform_to_s2grid(xp.asarray(c), res_beta, **kw),
           ej.legendre_transform_to_s2grid(c, res_beta, **kw))
    _close(xp, e3xp.legendre_transform_from_s2grid(xp.asarray(xb), 4, res_beta, **kw),
           ej.legendre_transform_from_s2grid(xb, 4, res_beta, **kw))


def test_m0_and_betas_helpers_match_e3nn_jax(xp):
    ej = _ejax()
    rng = np.random.default_rng(7)
    m0, xb = rng.normal(size=(3, 4)), rng.normal(size=(2, 6))
    want = ej.m0_values_to_irrepsarray(m0, 3, -1, 1)
    got = e3xp.m0_values_to_irrepsarray(xp.asarray(m0), 3, -1, 1)
    assert got.irreps == e3xp.Irreps(str(want.irreps))
    _close(xp, got.array, want.array)
    want = ej.betas_to_spherical_signal(xb, 5, quadrature="soft")
    got = e3xp.betas_to_spherical_signal(xp.asarray(xb), 5, quadrature="soft")
    assert (got.quadrature, got.p_val, got.p_arg) == ("soft", 1, -1)
    _close(xp, got.grid_values, want.grid_values)


@pytest.mark.parametrize("quadrature,res_beta,res_alpha", QUAD_GRIDS)
def test_spherical_signal_matches_e3nn_jax(xp, quadrature, res_beta, res_alpha):
    want = _ref_signal(quadrature, res_beta, res_alpha)
    c = np.random.default_rng(8).normal(size=(2, 16))
    got = e3xp.to_s2grid(xp.irreps_array(e3xp.s2_irreps(3), c), res_beta, res_alpha, quadrature=quadrature)
    assert (got.shape, got.ndim, got.res_beta, got.res_alpha, got.grid_resolution) == want["layout"]
    assert got.integrate().irreps == e3xp.Irreps("0e")
    for name, value in _signal_results(got, xp.asarray).items():
        _close(xp, value, want[name])


def _signal_results(s, asarray) -> dict:
    """What test_spherical_signal_matches_e3nn_jax compares, for an e3xp or an e3nn-jax signal."""
    axis = np.array([0.3, -1.0, 0.5]) / math.sqrt(1.34)  # a unit axis: e3nn-jax does not normalize it
    w = asarray(np.array([0.5, -2.0]))
    out = {name: getattr(s, name) for name in ("grid_y", "grid_alpha", "grid_vectors", "quadrature_weights")}
    out["integrate"] = s.integrate().array
    out["resample"] = s.resample(8, 9, lmax=3, quadrature="gausslegendre").grid_values
    out["angles"] = s.transform_by_angles(0.3, 1.1, -0.4, lmax=3).grid_values
    out["matrix"] = s.transform_by_matrix(e3xp.rand_matrix(0), lmax=3).grid_values
    out["quaternion"] = s.transform_by_quaternion(e3xp.rand_quaternion(1), lmax=3).grid_values
    out["axis_angle"] = s.transform_by_axis_angle(axis, 0.7, lmax=3).grid_values
    out["arithmetic"] = (s * s * w - s / 2.0)[1].grid_values
    return out


@_cached_reference
def _ref_signal(ej, quadrature, res_beta, res_alpha):
    c = np.random.default_rng(8).normal(size=(2, 16))
    s = ej.to_s2grid(ej.IrrepsArray(ej.s2_irreps(3), c), res_beta, res_alpha, quadrature=quadrature)
    out = {k: np.asarray(v) for k, v in _signal_results(s, np.asarray).items()}
    out["layout"] = (tuple(s.shape), s.ndim, s.res_beta, s.res_alpha, tuple(s.grid_resolution))
    return out


# --- properties (no e3nn-jax) -----------------------------------------------------------


@pytest.mark.parametrize("quadrature,res_beta,res_alpha", QUAD_GRIDS)
@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("fft", [True, False])
def test_round_trip_of_band_limited_coefficients(xp, quadrature, res_beta, res_alpha, normalization, fft):
    irreps = e3xp.s2_irreps(4, p_val=-1, p_arg=-1)
    c = np.random.default_rng(9).normal(size=(3, irreps.dim))
    kw = dict(normalization=normalization, fft=fft)
    s = e3xp.to_s2grid(xp.irreps_array(irreps, c), res_beta, res_alpha, quadrature=quadrature, **kw)
    back = e3xp.from_s2grid(s, irreps, **kw)
    assert back.irreps == irreps
    _close(xp, back.array, c)


@pytest.mark.parametrize("p_val,p_arg", [(1, -1), (-1, -1), (1, 1), (-1, 1)])
def test_grid_and_point_evaluation_are_equivariant(xp, p_val, p_arg):
    """Rotating the coefficients (any O(3) element, parity included) = the signal at rotated points."""
    irreps = e3xp.s2_irreps(4, p_val, p_arg)
    vec = "1o" if p_arg == -1 else "1e"
    c = xp.irreps_array(irreps, np.random.default_rng(10).normal(size=(2, irreps.dim)))
    for seed in range(2):
        R = e3xp.rand_o3_matrix(seed)
        for quadrature, res_beta, res_alpha in QUAD_GRIDS:
            s = e3xp.to_s2grid(c.transform_by_matrix(R), res_beta, res_alpha, quadrature=quadrature)
            points = IrrepsArray(vec, s.grid_vectors).transform_by_matrix(R.T)  # R^-1 x, with parity
            want = e3xp.to_s2point(c, points).transform_by_matrix(R)  # 0e, or 0o: sign det(R)
            _close(xp, s.grid_values, xp.to_numpy(want.array)[..., 0])
            # SphericalSignal.transform_by_matrix: the same rotation, done on the grid values
            on_grid = e3xp.to_s2grid(c, res_beta, res_alpha, quadrature=quadrature).transform_by_matrix(R, lmax=4)
            _close(xp, on_grid.grid_values, xp.to_numpy(s.grid_values))


def test_integral_of_constant_and_of_expansion(xp):
    for quadrature, res_beta, res_alpha in QUAD_GRIDS:
        ones = _signal(xp, np.ones((res_beta, res_alpha)), quadrature)
        _close(xp, ones.integrate().array, [4 * math.pi])
        c = np.random.default_rng(11).normal(size=(2, 25))
        s = e3xp.to_s2grid(xp.irreps_array(e3xp.s2_irreps(4), c), res_beta, res_alpha, quadrature=quadrature)
        _close(xp, s.integrate().array, 4 * math.pi * c[:, :1])  # only l = 0 integrates to non-zero


def test_dirac_reproduces_point_values_and_integrates_to_one(xp):
    rng = np.random.default_rng(12)
    c, pos = rng.normal(size=(36,)), rng.normal(size=(4, 3))
    delta = e3xp.s2_dirac(xp.asarray(pos), 5)
    f = e3xp.to_s2point(xp.irreps_array(e3xp.s2_irreps(5), c), xp.irreps_array("1o", pos))
    _close(xp, 4 * math.pi * (delta.array @ xp.asarray(c)), xp.to_numpy(f.array)[:, 0])
    s = e3xp.to_s2grid(delta, 12, 11, quadrature="gausslegendre")
    _close(xp, s.integrate().array, np.ones((4, 1)))


def test_legendre_is_orthonormal_and_matches_scipy(xp):
    y, w = np.polynomial.legendre.leggauss(12)
    p = xp.to_numpy(e3xp.legendre(6, xp.asarray(y), 1.0, True))  # [l, m, node]
    for m in range(7):
        gram = np.einsum("ix,jx,x->ij", p[m:, m], p[m:, m], w) * 2 * math.pi
        np.testing.assert_allclose(gram, np.eye(7 - m), atol=100 * _tol(xp))
    special = pytest.importorskip("scipy.special")
    x = np.linspace(-0.95, 0.95, 5)
    want = np.array([[special.lpmv(m, l, x) for m in range(5)] for l in range(5)])  # Condon-Shortley
    _close(xp, e3xp.legendre(4, xp.asarray(x), -1.0), want)


@pytest.mark.parametrize("quadrature,res_beta,res_alpha", QUAD_GRIDS)
def test_m0_transforms_agree_with_the_full_transform(xp, quadrature, res_beta, res_alpha):
    """The Legendre transforms are the m = 0 part of to_s2grid / from_s2grid."""
    m0 = np.random.default_rng(13).normal(size=(2, 5))
    coeffs = e3xp.m0_values_to_irrepsarray(xp.asarray(m0), 4, 1, -1)
    full = e3xp.to_s2grid(coeffs, res_beta, res_alpha, quadrature=quadrature)
    along = e3xp.legendre_transform_to_s2grid(xp.asarray(m0), res_beta, quadrature=quadrature)
    expanded = e3xp.betas_to_spherical_signal(along, res_alpha, quadrature=quadrature)
    _close(xp, full.grid_values, xp.to_numpy(expanded.grid_values))
    back = e3xp.legendre_transform_from_s2grid(along, 4, res_beta, quadrature=quadrature)
    _close(xp, back, m0)


def test_signal_arithmetic_and_indexing(xp):
    g = np.random.default_rng(14).normal(size=(2, 6, 7))
    a, b = _signal(xp, g, "soft"), _signal(xp, 2 * g, "soft", p_val=-1)
    prod = a * b
    assert (prod.p_val, prod.p_arg) == (-1, -1)
    _close(xp, prod.grid_values, 2 * g * g)
    _close(xp, (a + a - a * 2.0 + (-a) / 0.5).grid_values, -2 * g)
    _close(xp, (a * xp.irreps_array("0e", [[2.0], [3.0]])).grid_values, g * np.array([2.0, 3.0])[:, None, None])
    _close(xp, a[1].grid_values, g[1])
    with pytest.raises(ValueError, match="parities"):
        a + b
    with pytest.raises(ValueError, match="not a signal"):
        a[0, 0]


# --- autodiff and compilation -----------------------------------------------------------


def test_jax_jit_vmap_grad(jax):
    jnp = jax.numpy
    irreps = e3xp.s2_irreps(3)
    c = jnp.asarray(np.random.default_rng(15).normal(size=(4, 16)))

    def f(a):
        s = e3xp.to_s2grid(IrrepsArray(irreps, a), 8, 9, quadrature="soft")
        s = s.apply(jnp.tanh) * s
        return e3xp.from_s2grid(s, irreps).array

    eager = f(c)
    np.testing.assert_allclose(jax.jit(f)(c), eager, atol=1e-12)
    np.testing.assert_allclose(jax.vmap(f)(c), eager, atol=1e-12)
    g = jax.grad(lambda a: jnp.sum(f(a) ** 2))(c)
    assert g.shape == c.shape and bool(jnp.all(jnp.isfinite(g)))
    # SphericalSignal is a pytree: through jit as argument and result.
    s = e3xp.to_s2grid(IrrepsArray(irreps, c), 8, 9, quadrature="soft")
    out = jax.jit(lambda s: s * 2.0)(s)
    assert isinstance(out, e3xp.SphericalSignal) and out.quadrature == "soft"
    np.testing.assert_allclose(out.grid_values, 2 * s.grid_values)
    point = IrrepsArray("1o", jnp.asarray([[0.0, 0.6, 0.8]]))
    gp = jax.grad(lambda a: jnp.sum(e3xp.to_s2point(IrrepsArray(irreps, a), point).array))(c[0])
    assert gp.shape == (16,)


def test_jax_jit_grad_of_legendre_helpers(jax):
    jnp = jax.numpy
    x = jnp.asarray([0.1, -0.4, 0.7])

    def f(x):
        p = e3xp.legendre(4, x, 1.0, True)  # [l, m, 3]
        along = e3xp.legendre_transform_to_s2grid(p[:, 0, :].T, 6, quadrature="soft")  # [3, 6]
        m0 = e3xp.legendre_transform_from_s2grid(along, 4, 6, quadrature="soft")
        delta = e3xp.s2_dirac(jnp.stack([x, x[::-1], x + 1.0], axis=-1), 2)
        return jnp.sum(e3xp.m0_values_to_irrepsarray(m0, 4, 1, -1).array ** 2) + jnp.sum(delta.array ** 2)

    np.testing.assert_allclose(jax.jit(f)(x), f(x), rtol=1e-12)
    g = jax.jit(jax.grad(f))(x)
    assert g.shape == (3,) and bool(jnp.all(jnp.isfinite(g)))
    assert jax.vmap(lambda v: e3xp.legendre(3, v, -1.0))(x[:, None]).shape == (3, 4, 4, 1)


def test_torch_autograd(torch):
    irreps = e3xp.s2_irreps(3)
    c = torch.tensor(np.random.default_rng(16).normal(size=(2, 16)), requires_grad=True)

    def f(a):
        s = e3xp.to_s2grid(IrrepsArray(irreps, a), 8, 9, quadrature="gausslegendre")
        return e3xp.from_s2grid(s * s, irreps, fft=True).array

    assert torch.autograd.gradcheck(f, (c,), eps=1e-6, atol=1e-7)
    d = torch.tensor([[0.3, 0.4, 0.5]], dtype=torch.float64, requires_grad=True)
    e3xp.s2_dirac(d, 3).array.sum().backward()
    assert d.grad is not None and d.grad.shape == (1, 3)
    y = torch.tensor([0.2, -0.5], dtype=torch.float64, requires_grad=True)
    along = e3xp.legendre(3, y, 1.0, True)[:, 0, :].T @ torch.ones(4, 6, dtype=torch.float64)  # [2, 6]
    m0 = e3xp.legendre_transform_from_s2grid(along, 3, 6, quadrature="soft")
    m0.sum().backward()
    assert y.grad is not None and bool(torch.all(torch.isfinite(y.grad)))


# --- SO3Signal ---------------------------------------------------------------------------


def _so3_function(R):
    return R[..., 0, 0] + R[..., 1, 2] ** 2  # indexing that works on one matrix of any backend


@_cached_reference
def _ref_so3(ej):
    s = ej.SO3Signal.from_function(_so3_function, 6, 7, 9, "soft", dtype="float64")
    v = ej.SO3Signal.from_function(lambda R: R[:, 1], 4, 5, 5, "gausslegendre", dtype="float64")
    return {
        "values": np.asarray(s.grid_values), "integral": np.asarray(s.integrate()),
        "over_angles": np.asarray(s.integrate_over_angles().grid_values), "theta": np.asarray(s.grid_theta),
        "vector": np.asarray(v.grid_values), "vector_integral": np.asarray((v * v / 2.0).integrate()),
    }


def test_so3_signal_matches_e3nn_jax(xp):
    want = _ref_so3()
    dtype = xp.dtype
    s = e3xp.SO3Signal.from_function(_so3_function, 6, 7, 9, "soft", dtype=dtype, backend=xp.backend)
    assert s.grid_resolution == (9, 6, 7) and s.batch_dims == ()
    _close(xp, s.grid_values, want["values"])
    _close(xp, s.grid_theta, want["theta"])
    _close(xp, s.integrate(), want["integral"])
    _close(xp, s.integrate_over_angles().grid_values, want["over_angles"])
    v = e3xp.SO3Signal.from_function(lambda R: R[:, 1], 4, 5, 5, "gausslegendre", dtype=dtype, backend=xp.backend)
    assert v.batch_dims == (3,)
    _close(xp, v.grid_values, want["vector"])
    _close(xp, (v * v / 2.0).integrate(), want["vector_integral"])


def test_so3_signal_integrals(xp):
    """The normalized Haar integral: 1 for the constant, 1/3 for R_ij^2 (fine enough grid)."""
    ones = e3xp.SO3Signal(_signal(xp, np.ones((3, 17, 10, 11)), "gausslegendre"))
    _close(xp, ones.integrate(), np.ones(3))
    sq = e3xp.SO3Signal.from_function(lambda R: R[0, 2] ** 2, 10, 11, 17, "gausslegendre",
                                      dtype=xp.dtype, backend=xp.backend)
    _close(xp, sq.integrate(), 1 / 3)
    _close(xp, (-sq).apply(lambda a: a * a).integrate(), xp.to_numpy((sq * sq).integrate()))
