"""IrrepsArray, the ops' bookkeeping, e3xp.testing and the command line, on NumPy.

Cross-backend behaviour (torch, JAX, array_api_strict, CuPy) is the job of
``conformance/``; here every expected value is derived independently (index
arithmetic, closed forms, quadrature by scipy).
"""

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from e3xp.core.irreps import Irreps
from e3xp.core.rotations import angles_to_matrix, axis_angle_to_matrix, quaternion_to_matrix, rand_matrix
from e3xp.irreps_array import IrrepsArray
from e3xp.ops import (
    Linear,
    concatenate,
    elementwise_tensor_product,
    norm,
    normal,
    ones,
    scalar_activation,
    spherical_harmonics,
    stack,
    tensor_product,
    tensor_square,
    zeros,
)
from e3xp.ops.activations import activation_parity, normalize2mom_constant
from e3xp.testing import assert_equivariant, equivariance_error, rand_o3

RNG = np.random.default_rng(1234)


def rand(irreps, leading=()):
    return IrrepsArray(irreps, RNG.standard_normal(tuple(leading) + (Irreps(irreps).dim,)))


# --- construction and properties ------------------------------------------------


def test_construction_and_properties():
    x = IrrepsArray("2x0e + 1o", np.arange(10.0).reshape(2, 5))
    assert x.irreps == "2x0e+1x1o"
    assert x.shape == (2, 5) and x.ndim == 2 and x.dtype == np.float64 and str(x.device) == "cpu"
    assert [c.shape for c in x.chunks] == [(2, 2, 1), (2, 1, 3)]
    np.testing.assert_array_equal(x.chunks[1][1, 0], [7.0, 8.0, 9.0])
    assert IrrepsArray("1o", [1.0, 2.0, 3.0]).array.dtype == np.float64  # list -> default backend
    assert len(x) == 2


def test_construction_errors():
    with pytest.raises(TypeError, match="int64"):
        IrrepsArray("1o", np.arange(3))
    with pytest.raises(TypeError, match="IrrepsArray"):
        IrrepsArray("1o", IrrepsArray("1o", np.zeros(3)))
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\) does not match irreps 1x1o of dim 3"):
        IrrepsArray("1o", np.zeros((2, 4)))
    with pytest.raises(TypeError):
        IrrepsArray("1o", "abc")


def test_repr_like_e3nn_jax():
    assert repr(IrrepsArray("1o", np.array([1.0, 2.0, 3.0]))) == "1x1o [1. 2. 3.]"
    assert repr(IrrepsArray("0e", np.zeros((2, 1)))) == "1x0e\n[[0.]\n [0.]]"


# --- irreps manipulation ----------------------------------------------------------


def test_filter_sort_regroup_simplify_move_the_right_columns():
    irreps = "1o + 0e + 2x1o + 0e + 2e"
    # column ranges of the entries: 1o [0,3), 0e [3], 2x1o [4,10), 0e [10], 2e [11,16)
    x = IrrepsArray(irreps, np.arange(16.0))
    cols = {"1o": list(range(0, 3)), "0e": [3], "2x1o": list(range(4, 10)), "0e'": [10], "2e": list(range(11, 16))}
    y = x.sort()
    assert y.irreps == "1x0e+1x0e+1x1o+2x1o+1x2e"
    np.testing.assert_array_equal(y.array, np.concatenate([cols[k] for k in ("0e", "0e'", "1o", "2x1o", "2e")]))
    z = x.regroup()
    assert z.irreps == "2x0e+3x1o+1x2e"
    np.testing.assert_array_equal(z.array, y.array)
    assert x.simplify().irreps == x.irreps  # nothing adjacent to merge
    assert IrrepsArray("0e + 0e + 1o", np.arange(5.0)).simplify().irreps == "2x0e+1x1o"
    f = x.filter(keep="0e + 2e")
    assert f.irreps == "1x0e+1x0e+1x2e"
    np.testing.assert_array_equal(f.array, cols["0e"] + cols["0e'"] + cols["2e"])
    np.testing.assert_array_equal(x.filter(drop=["1o"]).array, f.array)
    np.testing.assert_array_equal(x.filter(lmax=0).array, cols["0e"] + cols["0e'"])
    assert x.filter(lambda mul_ir: mul_ir.mul == 2).irreps == "2x1o"
    assert x.filter(keep="3e").shape == (0,)


# --- arithmetic -------------------------------------------------------------------


def test_addition_rules():
    x, y = rand("0e + 1o", (2,)), rand("0e + 1o", (2,))
    np.testing.assert_array_equal((x + y).array, x.array + y.array)
    np.testing.assert_array_equal((x - y).array, x.array - y.array)
    np.testing.assert_array_equal((-x).array, -x.array)
    assert (x + 0) is x and sum([x, y]).irreps == x.irreps
    with pytest.raises(ValueError, match=r"IrrepsArray\(1x0e\+1x1o\) \+ scalar 1.0 is not equivariant\."):
        x + 1.0
    s = rand("2x0e", (2,))
    np.testing.assert_array_equal((s + 1.0).array, s.array + 1.0)
    np.testing.assert_array_equal((1.0 - s).array, 1.0 - s.array)
    np.testing.assert_array_equal((s + np.ones((2, 1))).array, s.array + 1.0)
    with pytest.raises(ValueError, match=r"IrrepsArray\(1x0e\+1x1o\) \+ array of shape \(2, 1\) is not equivariant\."):
        x + np.ones((2, 1))
    with pytest.raises(ValueError, match=r"IrrepsArray\(1x0o\) \+ IrrepsArray\(1x0e\) is not equivariant\."):
        IrrepsArray("0o", np.ones(1)) + IrrepsArray("0e", np.ones(1))


def test_multiplication_rules():
    x = rand("0e + 1o + 2e", (3,))
    np.testing.assert_array_equal((x * 2.0).array, 2.0 * x.array)
    np.testing.assert_array_equal((2 * x).array, 2.0 * x.array)
    np.testing.assert_array_equal((x / 4.0).array, x.array / 4.0)
    lead = np.array([[1.0], [-2.0], [3.0]])  # one factor per row: a trailing axis of 1
    np.testing.assert_array_equal((x * lead).array, x.array * lead)
    np.testing.assert_array_equal((lead * x).array, x.array * lead)  # numpy defers to us
    np.testing.assert_array_equal((x / lead).array, x.array / lead)
    per = np.array([[1.0, 2.0, 3.0]] * 3)  # one factor per irrep
    expected = x.array * np.repeat(per, [1, 3, 5], axis=-1)
    np.testing.assert_allclose((x * per).array, expected)
    np.testing.assert_allclose((x / per).array, x.array / np.repeat(per, [1, 3, 5], axis=-1))
    with pytest.raises(ValueError, match=r"array of shape \(3, 9\) is not equivariant"):
        x * np.ones((3, 9))
    s = IrrepsArray("2x0e", np.array([2.0, 4.0]))
    np.testing.assert_array_equal((1.0 / s).array, [0.5, 0.25])
    # scalar irreps times irreps: the elementwise product, parity included
    v = IrrepsArray("1o + 1o", np.arange(6.0))
    p = IrrepsArray("0e + 0o", np.array([2.0, 3.0]))
    w = v * p
    assert w.irreps == "1x1o+1x1e"
    np.testing.assert_allclose(w.array, np.arange(6.0) * np.repeat([2.0, 3.0], 3))
    with pytest.raises(ValueError, match="tensor_product"):
        v * v


def test_factors_follow_e3nn_jax():
    # issue 13: an array of shape (rows,) was read as one factor per row, silently
    # wrong when rows == dim; e3nn-jax reads a last axis as per-irrep or refuses it.
    x = rand("1o", (3,))
    for bad in [np.array([1.0, 2.0, 3.0]), np.ones((3, 3)), np.ones((3, 2))]:
        for f in (lambda: x * bad, lambda: bad * x, lambda: x / bad):
            with pytest.raises(ValueError, match=rf"array of shape \({bad.shape[0]},.*is not equivariant"):
                f()
    with pytest.raises(ValueError, match=r"use a\[\.\.\., None\]"):
        rand("1o", (2,)) * np.ones(2)
    with pytest.raises(ValueError, match=r"leading axes \(2,\) of the factor do not broadcast with the leading shape \(3,\)"):
        x * np.ones((2, 1))
    # shape (num_irreps,) is one factor per irrep, as in e3nn-jax
    y = rand("0e + 1o + 2e", (3,))
    per = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose((y * per).array, y.array * np.repeat(per, [1, 3, 5]))
    np.testing.assert_allclose((per * y).array, y.array * np.repeat(per, [1, 3, 5]))
    # leading axes of the factor broadcast (and may add axes), as with arrays
    assert (x * np.ones((2, 1, 1))).shape == (2, 3, 3)
    assert (y * np.ones((5, 1, 3))).shape == (5, 3, 9)
    np.testing.assert_allclose((y / np.full((5, 1, 3), 2.0)).array, np.broadcast_to(y.array / 2.0, (5, 3, 9)))
    s = IrrepsArray("2x0e", np.array([[2.0, 4.0]] * 3))
    np.testing.assert_allclose((np.array([[1.0], [2.0], [4.0]]) / s).array, [[0.5, 0.25], [1.0, 0.5], [2.0, 1.0]])
    with pytest.raises(ValueError, match=r"array of shape \(3,\) / IrrepsArray\(2x0e\) is not equivariant"):
        np.ones(3) / s


def test_iteration_yields_rows():
    x = IrrepsArray("1o", np.arange(6.0).reshape(2, 3))
    rows = list(x)
    assert len(rows) == 2 and all(r.irreps == x.irreps for r in rows)
    np.testing.assert_array_equal(rows[1].array, [3.0, 4.0, 5.0])
    with pytest.raises(TypeError, match=r"no leading axis \(shape \(3,\)\)"):
        iter(IrrepsArray("1o", np.zeros(3)))


def test_indexing_and_reshape():
    x = IrrepsArray("1o", np.arange(24.0).reshape(2, 4, 3))
    np.testing.assert_array_equal(x[1].array, x.array[1])
    np.testing.assert_array_equal(x[:, 2].array, x.array[:, 2])
    np.testing.assert_array_equal(x[1, 2, :].array, x.array[1, 2])
    np.testing.assert_array_equal(x[..., :].array, x.array)
    assert x[None].shape == (1, 2, 4, 3)
    # An Ellipsis followed by explicit indices addresses the trailing leading axes.
    good = [(..., 0, slice(None)), (None, ..., 0, slice(None)), (0, ...), (0, 1, ...), (..., slice(None)),
            (0, None, 1, slice(None)), (slice(None), slice(None), slice(None)), (..., 1, slice(None), slice(None))]
    for index in good:
        np.testing.assert_array_equal(x[index].array, x.array[index])
    for bad in [(0, 0, 0), (..., 0), (0, 0, slice(0, 2)), (0, 1, 2, ...), (..., None), (0, 1, slice(None), None),
                (..., 0, 1)]:
        with pytest.raises(ValueError, match="irreps axis"):
            x[bad]
    with pytest.raises(IndexError, match="4 indexed axes"):
        x[0, 0, 0, 0]
    # e3nn-jax's irreps-axis indexing (issue 15): irreps, or a slice between irreps
    np.testing.assert_array_equal(x[..., "1o"].array, x.array)
    np.testing.assert_array_equal(x[1, :, 0:3].array, x.array[1])
    with pytest.raises(TypeError, match="irreps can only be the last index"):
        x["1o", 0]
    assert x.reshape(8, -1).shape == (8, 3) and x.reshape((4, 2, 3)).shape == (4, 2, 3)
    with pytest.raises(ValueError, match="last entry must be -1 or irreps.dim = 3"):
        x.reshape(6, 4)


# --- group action -----------------------------------------------------------------


def test_transforms_agree_with_the_matrix():
    x = rand("0e + 1o + 1e + 2e + 2o", (2,))
    R = rand_matrix(5)
    np.testing.assert_allclose(x.transform_by_matrix(R).array[:, 1:4], x.array[:, 1:4] @ R.T, atol=1e-14)
    P = x.transform_by_matrix(-np.eye(3)).array
    signs = np.repeat([1, -1, 1, 1, -1], [1, 3, 3, 5, 5])
    np.testing.assert_allclose(P, x.array * signs, atol=1e-15)
    a, b, c = 0.3, 1.1, -2.0
    np.testing.assert_allclose(
        x.transform_by_angles(a, b, c).array, x.transform_by_matrix(angles_to_matrix(a, b, c)).array, atol=1e-13
    )
    np.testing.assert_allclose(
        x.transform_by_angles(a, b, c, k=1).array,
        x.transform_by_matrix(-angles_to_matrix(a, b, c)).array,
        atol=1e-13,
    )
    q = np.array([0.5, -0.5, 0.1, 0.7])
    q = q / np.linalg.norm(q)
    np.testing.assert_allclose(
        x.transform_by_quaternion(q).array, x.transform_by_matrix(quaternion_to_matrix(q)).array, atol=1e-13
    )
    axis, angle = np.array([1.0, 2.0, 2.0]) / 3.0, 0.7
    np.testing.assert_allclose(
        x.transform_by_axis_angle(axis, angle).array,
        x.transform_by_matrix(axis_angle_to_matrix(axis, angle)).array,
        atol=1e-13,
    )
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 3\)"):
        x.transform_by_matrix(np.eye(2))


def test_batched_transforms_broadcast_or_say_why():
    x = rand("0e + 1o + 2e", (2,))
    Rs = np.stack([rand_matrix(1), rand_matrix(2)])
    y = x.transform_by_matrix(Rs)
    for i in range(2):
        np.testing.assert_allclose(y.array[i], x[i].transform_by_matrix(Rs[i]).array, atol=1e-13)
    # a batch of rotations acting on one vector broadcasts to the batch
    assert x[0].transform_by_matrix(Rs).shape == (2, 9)
    assert x.transform_by_angles(np.zeros((3, 1)), 0.0, 0.0).shape == (3, 2, 9)
    # issue 13: these failed inside numpy's reshape / matmul broadcasting
    msg = r"batch shape \(3,\) does not broadcast with the leading shape \(2,\)"
    with pytest.raises(ValueError, match="transform_by_matrix: the rotations' " + msg):
        x.transform_by_matrix(np.stack([np.eye(3)] * 3))
    with pytest.raises(ValueError, match="transform_by_angles: the rotations' " + msg):
        x.transform_by_angles(np.zeros(3), 0.0, 0.0)
    with pytest.raises(ValueError, match="transform_by_quaternion: the rotations' " + msg):
        x.transform_by_quaternion(np.tile([1.0, 0, 0, 0], (3, 1)))
    with pytest.raises(ValueError, match="transform_by_axis_angle: the rotations' " + msg):
        x.transform_by_axis_angle(np.array([0.0, 0.0, 1.0]), np.zeros(3))
    with pytest.raises(ValueError, match=r"parameters do not broadcast: alpha \(2,\), beta \(3,\)"):
        x.transform_by_angles(np.zeros(2), np.zeros(3), 0.0)
    with pytest.raises(ValueError, match=r"q must have shape \(\.\.\., 4\)"):
        x.transform_by_quaternion(np.zeros(3))


# --- e3xp.testing -----------------------------------------------------------------


def test_rand_o3_draws_both_components():
    dets = {round(float(np.linalg.det(rand_o3(s)))) for s in range(20)}
    assert dets == {-1, 1}
    Q = rand_o3(3)
    np.testing.assert_allclose(Q @ Q.T, np.eye(3), atol=1e-14)


def test_equivariance_error_sees_parity_and_rotations():
    x = rand("1o", (4,))
    assert equivariance_error(lambda v: v * 3.0, x) < 1e-14
    # Relabelling a vector as a pseudovector is rotation-equivariant but breaks parity.
    assert equivariance_error(lambda v: IrrepsArray("1e", v.array), x) > 0.1
    # Squaring components commutes with parity but not with rotations.
    assert equivariance_error(lambda v: IrrepsArray("1o", v.array**3), x) > 0.01
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(lambda v: IrrepsArray("1e", v.array), x)
    assert assert_equivariant(lambda v: [v, 2.0 * v], x) < 1e-12


# --- ops: values from closed forms ---------------------------------------------------


def test_spherical_harmonics_anchors():
    # reference-facts.md anchors, and the l = 2 polynomial for a unit vector
    np.testing.assert_allclose(spherical_harmonics(1, np.array([1.0, 0.0, 0.0])).array, [math.sqrt(3), 0, 0])
    np.testing.assert_allclose(spherical_harmonics(2, np.array([0.0, 1.0, 0.0])).array, [0, 0, math.sqrt(5), 0, 0])
    v = np.array([0.36, 0.48, 0.8])  # unit
    x, y, z = v
    s15 = math.sqrt(15)
    expected = [s15 * x * z, s15 * x * y, math.sqrt(5) / 2 * (2 * y * y - x * x - z * z), s15 * y * z, s15 / 2 * (z * z - x * x)]
    np.testing.assert_allclose(spherical_harmonics(2, 3.0 * v).array, expected, atol=1e-14)
    np.testing.assert_allclose(
        spherical_harmonics(2, 3.0 * v, normalize=False).array, 9.0 * np.array(expected), atol=1e-13
    )
    np.testing.assert_allclose(spherical_harmonics([0, 1, 2], np.zeros(3)).array, [1.0] + [0.0] * 8)
    y4 = spherical_harmonics(Irreps.spherical_harmonics(4), v)
    assert y4.irreps == "1x0e+1x1o+1x2e+1x3o+1x4e"
    assert spherical_harmonics(range(3), IrrepsArray("1e", v)).irreps == "1x0e+1x1e+1x2e"
    for l, block in zip(range(5), y4.chunks):
        np.testing.assert_allclose(np.sum(block**2), 2 * l + 1)  # component normalization
    with pytest.raises(ValueError, match="1x1o or 1x1e"):
        spherical_harmonics(2, IrrepsArray("2x0e + 0e", v))


def test_tensor_products_closed_forms():
    xv, yv = RNG.standard_normal(3), RNG.standard_normal(3)
    x, y = IrrepsArray("1o", xv), IrrepsArray("1o", yv)
    z = tensor_product(x, y)
    assert z.irreps == "1x0e+1x1e+1x2e"
    np.testing.assert_allclose(z.array[0], xv @ yv / math.sqrt(3))
    np.testing.assert_allclose(z.array[1:4], np.cross(xv, yv) / math.sqrt(2))
    z = tensor_product(x, y, filter_ir_out="1e", irrep_normalization="norm")
    np.testing.assert_allclose(z.array, np.cross(xv, yv) / math.sqrt(2) * math.sqrt(9 / 3))
    # regroup_output=False: inputs as given, output sorted but not simplified
    a = IrrepsArray("0e + 0e", np.array([2.0, 3.0]))
    assert tensor_product(a, x, regroup_output=False).irreps == "1x1o+1x1o"
    assert tensor_product(a, x).irreps == "2x1o"
    np.testing.assert_allclose(tensor_product(a, x).array, np.concatenate([2.0 * xv, 3.0 * xv]))
    s = tensor_square(IrrepsArray("0e", np.array([3.0])))
    # one 0e output: x^2 with alpha = dim_out / (dim + 2) = 1/3, so sqrt(1/3) * 9
    np.testing.assert_allclose(s.array, [9.0 / math.sqrt(3)])
    e = elementwise_tensor_product(IrrepsArray("2x0e", np.array([2.0, 3.0])), IrrepsArray("2x1o", np.arange(6.0)))
    np.testing.assert_allclose(e.array, np.arange(6.0) * np.repeat([2.0, 3.0], 3))


def test_linear_biases_and_layout():
    x = IrrepsArray("2x0e + 1o", np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    lin = Linear("3x0e + 1o", biases=True)
    params = lin.init(7, x)
    assert sorted(params) == ["bias", "weight"]
    assert params["weight"].shape == (2 * 3 + 1,) and params["bias"].shape == (3,)
    np.testing.assert_array_equal(params["bias"], np.zeros(3))
    np.testing.assert_array_equal(params["weight"], np.random.default_rng(7).standard_normal(7))
    params["bias"] = np.array([10.0, 20.0, 30.0])
    y = lin.apply(params, x)
    w = params["weight"]
    np.testing.assert_allclose(y.array[:3], np.array([1.0, 2.0]) @ w[:6].reshape(2, 3) / math.sqrt(2) + [10, 20, 30])
    np.testing.assert_allclose(y.array[3:], w[6] * np.array([3.0, 4.0, 5.0]))
    # a 0e output with no 0e input is fed by its bias alone
    lin0 = Linear("0e + 1o", biases=True)
    p0 = lin0.init(0, IrrepsArray("1o", np.ones(3)))
    assert lin0.apply(p0, IrrepsArray("1o", np.ones(3))).irreps == "1x0e+1x1o"
    # an unreachable output is zero, as in e3nn-jax (design.md section 3)
    lin1 = Linear("0e + 1o")
    y1 = lin1.apply(lin1.init(0, IrrepsArray("1o", np.ones(3))), IrrepsArray("1o", np.ones(3)))
    assert y1.irreps == "1x0e+1x1o" and y1.array[0] == 0.0
    with pytest.raises(ValueError, match=r"params\['weight'\] has shape \(3,\), but inputs with irreps 2x0e\+1x1o"):
        lin.apply({"weight": np.zeros(3), "bias": np.zeros(3)}, x)


def test_linear_regroups_its_input_like_e3nn_jax():
    lin = Linear("2x1o")
    a = IrrepsArray("1o + 0e + 1o", np.arange(7.0))
    params = lin.init(0, a)
    assert params["weight"].shape == (4,)  # one (2, 2) block for the regrouped 2x1o
    b = IrrepsArray("2x1o + 0e", np.concatenate([np.arange(3.0), np.arange(4.0, 7.0), [3.0]]))
    np.testing.assert_allclose(lin.apply(params, a).array, lin.apply(params, b).array)


def test_norm_values_and_zero_gradient_safety():
    x = IrrepsArray("0e + 1o", np.array([-2.0, 3.0, 4.0, 0.0]))
    np.testing.assert_allclose(norm(x).array, [2.0, 5.0])
    np.testing.assert_allclose(norm(x, squared=True).array, [4.0, 25.0])
    np.testing.assert_allclose(norm(x, per_irrep=False).array, [math.sqrt(29.0)])
    np.testing.assert_array_equal(norm(IrrepsArray("1o", np.zeros(3))).array, [0.0])


@pytest.mark.parametrize("dtype, big, tiny", [(np.float64, 1e200, 1e-200), (np.float32, 1e30, 1e-30)])
def test_norm_does_not_overflow_or_underflow(dtype, big, tiny):
    # issue 13: the sum of squares overflowed to inf / underflowed to 0 first.
    x = IrrepsArray("1o + 1o", np.array([3 * big, 4 * big, 0, -tiny, 0, 0], dtype=dtype))
    for n in (norm(x).array, norm(x, per_irrep=False).array[:1]):
        assert n.dtype == dtype
    np.testing.assert_allclose(norm(x).array, [5 * big, tiny], rtol=1e-6)
    np.testing.assert_allclose(norm(x, per_irrep=False).array, [5 * big], rtol=1e-6)
    with np.errstate(over="ignore"):
        assert norm(x, squared=True).array[0] == np.inf  # the square itself is not representable
    specials = IrrepsArray("1o + 1o", np.array([np.inf, 0, 1, np.nan, 0, 0], dtype=dtype))
    n = norm(specials).array
    assert n[0] == np.inf and np.isnan(n[1])


def test_normalize2mom_constants_by_scipy_quadrature():
    scipy_integrate = pytest.importorskip("scipy.integrate")

    def second_moment(f):
        g = lambda z: f(z) ** 2 * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
        return sum(scipy_integrate.quad(g, a, b, limit=200)[0] for a, b in [(-40.0, 0.0), (0.0, 40.0)])  # the tails beyond 40 are < 1e-340

    silu = lambda v: v / (1.0 + np.exp(-v))  # noqa: E731
    for f in (np.tanh, silu, np.sin, lambda v: np.maximum(v, 0.0), np.abs):
        assert abs(normalize2mom_constant(f) ** 2 - second_moment(f)) < 1e-12
    assert abs(normalize2mom_constant(lambda v: v**3) ** 2 - 15.0) < 1e-10  # E[z^6] = 15
    assert activation_parity(np.tanh) == -1 and activation_parity(np.abs) == 1 and activation_parity(silu) == 0


def test_scalar_activation_parity_and_normalization():
    x = IrrepsArray("0e + 0o + 0o + 1o", np.array([0.5, 0.7, -0.2, 1.0, 2.0, 3.0]))
    y = scalar_activation(x, [np.tanh, np.tanh, np.abs, None])
    assert y.irreps == "1x0e+1x0o+1x0e+1x1o"
    c_tanh, c_abs = normalize2mom_constant(np.tanh), normalize2mom_constant(np.abs)
    np.testing.assert_allclose(y.array, [np.tanh(0.5) / c_tanh, np.tanh(0.7) / c_tanh, 0.2 / c_abs, 1.0, 2.0, 3.0])
    raw = scalar_activation(x, [np.tanh, np.tanh, np.abs, None], normalize_act=False)
    np.testing.assert_allclose(raw.array[:3], [np.tanh(0.5), np.tanh(0.7), 0.2])
    with pytest.raises(ValueError, match="neither even nor odd"):
        scalar_activation(x, [None, np.exp, None, None])
    with pytest.raises(ValueError, match="one callable or None per entry"):
        scalar_activation(x, [np.tanh])
    assert_equivariant(lambda v: scalar_activation(v, [np.tanh, np.tanh, np.abs, None]), x)


# --- creation and combination --------------------------------------------------------


def test_creation():
    z = zeros("2x0e + 1o", (2, 3), backend="numpy")
    assert z.shape == (2, 3, 5) and z.dtype == np.float64 and not z.array.any()
    assert ones("1o", 4, backend="numpy", dtype="float32").dtype == np.float32
    n = normal("0e + 1o", 5, (3,), backend="numpy")
    np.testing.assert_array_equal(n.array, np.random.default_rng(5).standard_normal((3, 4)))
    with pytest.raises(ValueError):
        zeros("1o", (-1,))


def test_concatenate_and_stack():
    x, y = rand("0e + 1o", (2,)), rand("2e", (2,))
    c = concatenate([x, y])
    assert c.irreps == "1x0e+1x1o+1x2e"
    np.testing.assert_array_equal(c.array, np.concatenate([x.array, y.array], axis=-1))
    c0 = concatenate([x, x], axis=0)
    assert c0.shape == (4, 4) and c0.irreps == x.irreps
    s = stack([x, x, x], axis=1)
    assert s.shape == (2, 3, 4)
    np.testing.assert_array_equal(s.array[:, 1], x.array)
    assert stack([x, x], axis=-2).shape == (2, 2, 4)
    with pytest.raises(ValueError, match="irreps axis"):
        stack([x, x], axis=-1)
    with pytest.raises(ValueError, match="same irreps"):
        concatenate([x, y], axis=0)
    with pytest.raises(ValueError, match="non-empty"):
        concatenate([])


# --- backends and JAX pytree -----------------------------------------------------------


def test_to_backend_round_trip():
    torch = pytest.importorskip("torch")
    from e3xp.backends import to_backend

    x = rand("0e + 1o", (2,))
    t = to_backend({"x": x}, "torch")["x"]
    assert isinstance(t, IrrepsArray) and isinstance(t.array, torch.Tensor) and t.irreps == x.irreps
    np.testing.assert_array_equal(to_backend(t, "numpy").array, x.array)


@pytest.mark.parametrize("jax_first", [True, False])
def test_jax_pytree_registration_in_either_import_order(jax_first):
    pytest.importorskip("jax")
    imports = ["import jax", "from e3xp.irreps_array import IrrepsArray"]
    code = textwrap.dedent(
        f"""
        import numpy as np
        {(imports if jax_first else imports[::-1])[0]}
        from e3xp.backends import available_backends
        assert "jax" in available_backends()  # looks jax up without importing it
        {(imports if jax_first else imports[::-1])[1]}
        x = IrrepsArray("0e + 1o", np.arange(4.0))  # a numpy array: nothing registers here
        leaves = jax.tree_util.tree_leaves(x)
        assert len(leaves) == 1 and leaves[0] is x.array, leaves
        y = jax.jit(lambda v: v * 2.0)(IrrepsArray("0e + 1o", jax.numpy.arange(4.0)))
        assert isinstance(y, IrrepsArray) and str(y.irreps) == "1x0e+1x1o"
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stdout + out.stderr


def test_importing_e3xp_modules_imports_no_framework():
    code = (
        "import sys, e3xp.irreps_array, e3xp.ops, e3xp.testing, e3xp.conformance_checks, e3xp.__main__; "
        "print(sorted(m for m in ('torch', 'jax', 'cupy', 'array_api_strict') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


# --- command line ----------------------------------------------------------------------


def test_validate_exit_status(monkeypatch, capsys):
    from e3xp import __main__ as cli
    from e3xp import conformance_checks as cc

    assert cli.main(["validate", "--backends", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "tensor_product" in out and f"{len(cc.CASES)}/{len(cc.CASES)} passed" in out

    broken = cc.Case("relabel 1o as 1e", ("1o",), lambda t: lambda v: IrrepsArray("1e", v.array))
    monkeypatch.setattr(cc, "CASES", [broken])
    assert cli.main(["validate", "--backends", "numpy"]) == 1
    assert "FAIL" in capsys.readouterr().out
