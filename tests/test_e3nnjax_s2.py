"""Signals on the sphere (issue 15, slice s2): irreps helpers, construction, bad input.

The backend-parametrized checks (transforms against e3nn-jax, equivariance, round
trips, autodiff) are in conformance/test_e3nnjax_s2.py.
"""

import math

import numpy as np
import pytest

import e3xp
from e3xp import IrrepsArray, SphericalSignal


def _ejax():
    pytest.importorskip("jax").config.update("jax_enable_x64", True)
    return pytest.importorskip("e3nn_jax")


@pytest.mark.parametrize("lmax", [0, 1, 4])
@pytest.mark.parametrize("p_val", [1, -1])
@pytest.mark.parametrize("p_arg", [1, -1])
def test_s2_irreps_matches_e3nn_jax(lmax, p_val, p_arg):
    ej = _ejax()
    assert str(e3xp.s2_irreps(lmax, p_val, p_arg)) == str(ej.s2_irreps(lmax, p_val, p_arg))


def test_s2_irreps_parities_and_defaults():
    irreps = e3xp.s2_irreps(5)
    assert irreps.ls == [0, 1, 2, 3, 4, 5]
    assert all(ir.p == (-1) ** ir.l for _, ir in irreps)
    assert all(ir.p == -1 for _, ir in e3xp.s2_irreps(3, p_val=-1, p_arg=1))


def test_get_s2fft_grid_resolution_matches_e3nn_jax():
    ej = _ejax()
    for lmax in (0, 3, 10):
        assert e3xp.get_s2fft_grid_resolution(lmax) == tuple(ej.get_s2fft_grid_resolution(lmax))


def test_soft_grid_of_s2fft_resolution_is_exact():
    """The soft grid of get_s2fft_grid_resolution(lmax) transforms degree lmax exactly."""
    lmax = 5
    irreps = e3xp.s2_irreps(lmax)
    c = np.random.default_rng(0).normal(size=(irreps.dim,))
    s = e3xp.to_s2grid(IrrepsArray(irreps, c), *e3xp.get_s2fft_grid_resolution(lmax), quadrature="soft")
    np.testing.assert_allclose(e3xp.from_s2grid(s, irreps).array, c, atol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch", "array_api_strict"])
def test_from_function_matches_e3nn_jax(backend):
    ej = _ejax()
    pytest.importorskip(backend)

    def f(r):
        return r[0] ** 2 - r[1] * r[2] + 0.5

    want = ej.SphericalSignal.from_function(f, 6, 7, "soft", dtype="float64")
    got = SphericalSignal.from_function(f, 6, 7, "soft", dtype="float64", backend=backend)
    assert got.backend.name == backend and (got.p_val, got.p_arg) == (1, -1)
    np.testing.assert_allclose(got.backend.to_numpy(got.grid_values), np.asarray(want.grid_values), atol=1e-12)


def test_zeros_and_repr_and_default_dtype():
    ej = _ejax()
    s = SphericalSignal.zeros(4, 5, "gausslegendre", p_val=-1, p_arg=1, backend="numpy")
    want = ej.SphericalSignal.zeros(4, 5, "gausslegendre", p_val=-1, p_arg=1)
    assert s.shape == tuple(want.shape) and str(s.dtype) == str(want.dtype) == "float32"
    assert repr(s) == repr(want)  # header line, then the values
    assert repr(s).startswith(
        "SphericalSignal(shape=(4, 5), res_beta=4, res_alpha=5, quadrature=gausslegendre, p_val=-1, p_arg=1)\n"
    )


def test_apply_follows_the_parity_of_the_function():
    odd = SphericalSignal(np.linspace(-1, 1, 12).reshape(3, 4), "soft", p_val=-1)
    assert odd.apply(np.tanh).p_val == -1
    assert odd.apply(np.cos).p_val == 1
    with pytest.raises(ValueError, match="neither even nor odd"):
        odd.apply(np.exp)
    even = SphericalSignal(np.zeros((3, 4)), "soft")
    assert even.apply(np.exp).p_val == 1


def test_integrate_of_odd_signal_is_pseudoscalar():
    s = SphericalSignal(np.ones((4, 5)), "soft", p_val=-1)
    out = s.integrate()
    assert out.irreps == e3xp.Irreps("0o")
    np.testing.assert_allclose(out.array, [4 * math.pi])


def test_parities_are_inferred_or_required():
    s = e3xp.to_s2grid(IrrepsArray("0o + 1e", np.ones(4)), 4, 5, quadrature="soft")
    assert (s.p_val, s.p_arg) == (-1, -1)  # 0o: p_val = -1; 1e: p_val p_arg = 1
    with pytest.raises(ValueError, match="do not determine p_val and p_arg"):
        e3xp.to_s2grid(IrrepsArray("1e", np.ones(3)), 4, 5, quadrature="soft")
    with pytest.raises(ValueError, match="do not determine p_val and p_arg"):
        e3xp.to_s2grid(IrrepsArray("0e", np.ones(1)), 4, 5, quadrature="soft")
    s = e3xp.to_s2grid(IrrepsArray("0e", np.ones(1)), 4, 5, quadrature="soft", p_val=1, p_arg=1)
    assert (s.p_val, s.p_arg) == (1, 1)


BAD_TO_S2GRID = [
    (dict(coeffs=np.ones(4)), TypeError, "coeffs must be an IrrepsArray"),
    (dict(quadrature="lebedev"), ValueError, "quadrature='lebedev'"),
    (dict(normalization="unit"), ValueError, "normalization='unit'"),
    (dict(res_alpha=6), ValueError, "res_alpha=6 must be odd"),
    (dict(res_beta=5), ValueError, "res_beta=5 must be even"),
    (dict(res_beta=4.0), TypeError, "res_beta=4.0"),
    (dict(p_val=1), ValueError, "both p_val and p_arg"),
    (dict(p_val=2, p_arg=-1), ValueError, "p_val=2"),
    (dict(p_val=1, p_arg=1), ValueError, "do not match p_val=1 and p_arg=1"),
    (dict(fft="yes"), TypeError, "fft='yes'"),
    (dict(use_s2fft=True), NotImplementedError, "use_s2fft"),
    (dict(coeffs=IrrepsArray("2x0e + 1o", np.ones(5))), ValueError, "multiplicities"),
    (dict(coeffs=IrrepsArray("0e + 1e + 1o", np.ones(7))), ValueError, "not those of a signal"),
]


@pytest.mark.parametrize("kwargs,error,match", BAD_TO_S2GRID, ids=[m for _, _, m in BAD_TO_S2GRID])
def test_to_s2grid_bad_input(kwargs, error, match):
    args = dict(coeffs=IrrepsArray("0e + 1o", np.ones(4)), res_beta=4, res_alpha=5, quadrature="soft")
    args.update(kwargs)
    with pytest.raises(error, match=match):
        e3xp.to_s2grid(args.pop("coeffs"), args.pop("res_beta"), args.pop("res_alpha"), **args)


def test_from_s2grid_bad_input():
    s = SphericalSignal(np.ones((4, 5)), "soft")
    with pytest.raises(TypeError, match="x must be a SphericalSignal"):
        e3xp.from_s2grid(np.ones((4, 5)), "0e")
    with pytest.raises(ValueError, match="do not match p_val=1 and p_arg=-1"):
        e3xp.from_s2grid(s, "0e + 1e")
    with pytest.raises(ValueError, match="multiplicities"):
        e3xp.from_s2grid(s, "0e + 0e")
    with pytest.raises(ValueError, match="res_alpha=5 resolves frequencies up to 2 < lmax=3"):
        e3xp.from_s2grid(s, e3xp.s2_irreps(3))
    assert e3xp.from_s2grid(s, e3xp.s2_irreps(3), fft=False).shape == (16,)
    with pytest.raises(TypeError, match="lmax_in"):
        e3xp.from_s2grid(s, "0e", lmax_in=1.5)


def test_signal_construction_bad_input():
    with pytest.raises(ValueError, match=r"grid_values of shape \(4,\)"):
        SphericalSignal(np.ones(4), "soft")
    with pytest.raises(ValueError, match="quadrature='healpix'"):
        SphericalSignal(np.ones((4, 5)), "healpix")
    with pytest.raises(ValueError, match="p_arg=0"):
        SphericalSignal(np.ones((4, 5)), "soft", p_arg=0)
    with pytest.raises(TypeError, match="grid_values must be an array"):
        SphericalSignal([[1.0]], "soft")
    a, b = SphericalSignal(np.ones((4, 5)), "soft"), SphericalSignal(np.ones((4, 7)), "soft")
    with pytest.raises(ValueError, match="grid resolutions"):
        a + b
    with pytest.raises(ValueError, match="quadratures"):
        a * SphericalSignal(np.ones((4, 5)), "gausslegendre")
    with pytest.raises(TypeError, match="only two SphericalSignals add"):
        a + 1.0
    with pytest.raises(ValueError, match="must be 0e"):
        a * IrrepsArray("1o", np.ones(3))


def test_point_dirac_legendre_bad_input():
    c = IrrepsArray("0e + 1o", np.ones(4))
    with pytest.raises(TypeError, match="point must be an IrrepsArray"):
        e3xp.to_s2point(c, np.ones(3))
    with pytest.raises(ValueError, match="point must have irreps 1o or 1e"):
        e3xp.to_s2point(c, IrrepsArray("0e + 0e + 0e", np.ones(3)))
    with pytest.raises(ValueError, match="p_val=-1"):
        e3xp.s2_dirac(np.ones(3), 2, p_val=-1)
    with pytest.raises(ValueError, match="with p_arg=1 expected 1x1e"):
        e3xp.s2_dirac(IrrepsArray("1o", np.ones(3)), 2, p_arg=1)
    with pytest.raises(ValueError, match=r"position of shape \(2,\)"):
        e3xp.s2_dirac(np.ones(2), 2)
    with pytest.raises(ValueError, match="lmax=-1"):
        e3xp.legendre(-1, np.ones(2), 1.0)
    with pytest.raises(TypeError, match="phase"):
        e3xp.legendre(2, np.ones(2), "cs")
    with pytest.raises(ValueError, match=r"x_beta of shape \(5,\); expected \(\.\.\., res_beta=4\)"):
        e3xp.legendre_transform_from_s2grid(np.ones(5), 2, 4, quadrature="soft")
    with pytest.raises(ValueError, match=r"expected \(\.\.\., lmax \+ 1 = 3\)"):
        e3xp.m0_values_to_irrepsarray(np.ones((2, 4)), 2, 1, -1)


def test_so3_signal_bad_input_and_repr():
    with pytest.raises(TypeError, match="s2_signals must be a SphericalSignal"):
        e3xp.SO3Signal(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match=r"s2_signals of shape \(4, 5\)"):
        e3xp.SO3Signal(SphericalSignal(np.ones((4, 5)), "soft"))
    with pytest.raises(ValueError, match="res_theta=1"):
        e3xp.SO3Signal.from_function(lambda R: R[0, 0], 4, 5, 1, "soft", backend="numpy")
    a = e3xp.SO3Signal(SphericalSignal(np.ones((3, 4, 5)), "soft"))
    with pytest.raises(ValueError, match="shapes"):
        a * e3xp.SO3Signal(SphericalSignal(np.ones((2, 4, 5)), "soft"))
    assert repr(a) == "SO3Signal(shape=(3, 4, 5), quadrature=soft)"
    np.testing.assert_allclose((a / a).grid_values, 1.0)


def test_signals_pickle_and_copy():
    import copy
    import pickle

    s = SphericalSignal(np.arange(20.0).reshape(4, 5), "soft", p_val=-1, p_arg=1)
    for t in (pickle.loads(pickle.dumps(s)), copy.copy(s), copy.deepcopy(s)):
        assert (t.quadrature, t.p_val, t.p_arg) == ("soft", -1, 1)
        np.testing.assert_array_equal(t.grid_values, s.grid_values)
    so3 = e3xp.SO3Signal(SphericalSignal(np.ones((3, 4, 5)), "gausslegendre"))
    assert pickle.loads(pickle.dumps(so3)).grid_resolution == (3, 4, 5)
    assert copy.deepcopy(so3).shape == (3, 4, 5)
