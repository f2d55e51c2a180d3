"""Tensor-product and linear plans: layouts, coefficients and the reference executors.

Each plan is executed with ``execute_plan_reference`` / ``execute_linear_reference``
and checked against something derived independently:
- closed forms (1o x 1o: dot, cross and the symmetric traceless part);
- a dense bilinear tensor assembled from the module docstring by explicit loops
  over channels (a second implementation of the execution semantics);
- exact second moments of Gaussian inputs (Isserlis' theorem on that dense
  tensor), which is what the normalization constants are designed to achieve;
- equivariance under random O(3) elements;
- e3nn / e3nn-jax with the same inputs and flat weights (when installed).
"""

import dataclasses
import itertools

import numpy as np
import pytest

from e3xp.core.clebsch_gordan import clebsch_gordan
from e3xp.core.irreps import Irrep, Irreps
from e3xp.core.plans import (
    LinearPlan,
    TensorProductPlan,
    TPPath,
    channelwise_tensor_product_plan,
    elementwise_tensor_product_plan,
    execute_linear_reference,
    execute_plan_reference,
    full_tensor_product_plan,
    fully_connected_tensor_product_plan,
    linear_plan,
    tensor_square_plan,
)
from e3xp.core.rotations import rand_o3_matrix

# --- helpers --------------------------------------------------------------------


def _offsets(irreps):
    return [s.start for s in Irreps(irreps).slices()]


def dense_tensor(plan):
    """``T[m, i, j, k]``: output k of ``W = e_m`` (``m = 0`` only when unweighted).

    Written from the module docstring with explicit loops over channels; it shares
    nothing with ``execute_plan_reference`` but the Clebsch-Gordan blocks.
    """
    n_w = max(plan.weight_numel, 1)
    T = np.zeros((n_w, plan.irreps_in1.dim, plan.irreps_in2.dim, plan.irreps_out.dim))
    o1s, o2s, oos = _offsets(plan.irreps_in1), _offsets(plan.irreps_in2), _offsets(plan.irreps_out)
    for p in plan.paths:
        (mul1, ir1), (mul2, ir2), (mul_o, ir_o) = (
            plan.irreps_in1[p.i_in1],
            plan.irreps_in2[p.i_in2],
            plan.irreps_out[p.i_out],
        )
        C = p.path_weight * clebsch_gordan(ir1.l, ir2.l, ir_o.l)
        d1, d2, do = ir1.dim, ir2.dim, ir_o.dim

        def put(m, u, v, w):
            i0, j0, k0 = o1s[p.i_in1] + u * d1, o2s[p.i_in2] + v * d2, oos[p.i_out] + w * do
            T[m, i0 : i0 + d1, j0 : j0 + d2, k0 : k0 + do] += C

        if p.mode == "uvw":
            for u, v, w in itertools.product(range(mul1), range(mul2), range(mul_o)):
                put(p.weight_offset + (u * mul2 + v) * mul_o + w, u, v, w)
        elif p.mode == "uvu":
            for u, v in itertools.product(range(mul1), range(mul2)):
                put(p.weight_offset + u * mul2 + v, u, v, u)
        elif p.mode == "uuu":
            for u in range(mul1):
                put(p.weight_offset + u if p.has_weight else 0, u, u, u)
        elif p.mode == "uvuv":
            for u, v in itertools.product(range(mul1), range(mul2)):
                put(p.weight_offset + u * mul2 + v if p.has_weight else 0, u, v, u * mul2 + v)
        elif p.mode == "uvuv_triu":
            for t, (u, v) in enumerate(itertools.combinations(range(mul1), 2)):
                put(0, u, v, t)
        else:
            raise AssertionError(p.mode)
    return T


def dense_apply(plan, x1, x2, w=None):
    T = dense_tensor(plan)
    if plan.weight_numel == 0:
        return np.einsum("...i,...j,ijk->...k", x1, x2, T[0])
    return np.einsum("...m,...i,...j,mijk->...k", w, x1, x2, T)


def block_dims(irreps):
    """The irrep dimension of every component (for norm-normalized inputs)."""
    return np.concatenate([np.full(mul * ir.dim, ir.dim) for mul, ir in irreps] or [np.zeros(0)])


def out_irrep_sums(values, irreps):
    """Sum ``values`` (one per output component) over each output irrep copy."""
    out, i = [], 0
    for mul, ir in irreps:
        for _ in range(mul):
            out.append(values[i : i + ir.dim].sum())
            i += ir.dim
    return np.array(out)


def rand(rng, *shape):
    return rng.standard_normal(shape)


# --- closed forms -------------------------------------------------------------------


def test_full_1o_1o_closed_form():
    # 0e = x.y / sqrt(3), 1e = (x cross y) / sqrt(2) (reference-facts.md). The 2e part is
    # sqrt(2/15) times the polarization of the quadratic form |x|^2 Y2(x/|x|), with Y2
    # (component normalization) from reference-facts.md and the + sign from its
    # "CG(1,1,2) on two harmonics gives +0.4899 = sqrt(6)/5 times Y2" anchor.
    rng = np.random.default_rng(0)
    x, y = rand(rng, 7, 3), rand(rng, 7, 3)
    plan = full_tensor_product_plan("1o", "1o")
    assert plan.irreps_out == "0e + 1e + 2e"
    z = execute_plan_reference(plan, x, y)
    X, Y, Z = x.T
    Xp, Yp, Zp = y.T
    s2, s6 = np.sqrt(2), np.sqrt(6)
    two = np.stack(
        [
            (X * Zp + Z * Xp) / s2,
            (X * Yp + Y * Xp) / s2,
            (2 * Y * Yp - X * Xp - Z * Zp) / s6,
            (Y * Zp + Z * Yp) / s2,
            (Z * Zp - X * Xp) / s2,
        ],
        axis=-1,
    )
    np.testing.assert_allclose(z[:, 0], np.sum(x * y, -1) / np.sqrt(3), atol=1e-14)
    np.testing.assert_allclose(z[:, 1:4], np.cross(x, y) / s2, atol=1e-14)
    np.testing.assert_allclose(z[:, 4:], two, atol=1e-14)


def test_square_closed_form():
    # The e3nn-jax docstring example (its printed values) for "0e + 1o" and x = [10, 1, 2, 3]:
    # 0e*0e: 100/sqrt(3); 1o.1o: 14/sqrt(5); 0e*1o: 10 x; 2e: as above with x = y.
    x = np.array([10.0, 1.0, 2.0, 3.0])
    plan = tensor_square_plan("0e + 1o")
    assert plan.irreps_out == "0e + 0e + 1o + 2e"
    z = execute_plan_reference(plan, x, x)
    v = x[1:]
    # uuu on 0e: C = 1, alpha = 1 / (1 + 2); on 1o -> 0e: C = I/sqrt(3), alpha = 1 / 5.
    np.testing.assert_allclose(z[0], 100 / np.sqrt(3), atol=1e-13)
    np.testing.assert_allclose(z[1], v @ v / np.sqrt(3) / np.sqrt(5), atol=1e-13)
    np.testing.assert_allclose(z[2:5], 10 * v, atol=1e-13)
    np.testing.assert_allclose(
        z[5:], [3.0, 2.0, -0.58, 6.0, 4.0], atol=6e-3
    )  # printed in e3nn-jax's docstring to 2 decimals


def test_linear_reference_facts():
    # reference-facts.md: Linear("2x0e", "3x0e") with w = arange(6) maps e_0 to [0, 1, 2] / sqrt(2).
    plan = linear_plan("2x0e", "3x0e")
    y = execute_linear_reference(plan, [1.0, 0.0], np.arange(6.0))
    np.testing.assert_allclose(y, np.array([0, 1, 2]) / np.sqrt(2), atol=1e-15)
    # 8x0e + 3x0e -> 5x0e: coefficient 1/sqrt(11) on both paths.
    plan = linear_plan("8x0e + 3x0e", "5x0e")
    assert [p.path_weight for p in plan.paths] == pytest.approx([11**-0.5] * 2, rel=1e-15)
    assert [(p.weight_offset, p.weight_shape) for p in plan.paths] == [(0, (8, 5)), (40, (3, 5))]


# --- the executor equals the dense, loop-built tensor --------------------------------

PLANS = {
    "full": lambda: full_tensor_product_plan("2x0e + 2x1o + 2e", "0e + 3x1o + 2o"),
    "full_filter_norm": lambda: full_tensor_product_plan(
        "2x1o + 0e", "1e + 2e", filter_ir_out="1o + 2o + 3o", irrep_normalization="norm"
    ),
    "elementwise": lambda: elementwise_tensor_product_plan("2x0e + 3x1o", "1e + 2x2o + 2x0e"),
    "square": lambda: tensor_square_plan("3x0e + 2x1o + 1e + 3x2e"),
    "square_norm": lambda: tensor_square_plan("2x1o + 0e", irrep_normalization="norm"),
    "fctp": lambda: fully_connected_tensor_product_plan("2x0e + 2x1o + 2e", "0e + 1o + 2e", "3x0e + 2x1o + 1e + 2x2e"),
    "fctp_path_norm": lambda: fully_connected_tensor_product_plan(
        "2x0e + 2x1o", "0e + 1o", "2x0e + 3x1o + 2e", irrep_normalization="norm", path_normalization="path"
    ),
    "channelwise": lambda: channelwise_tensor_product_plan("2x0e + 2x1o + 2e", "0e + 1o + 2e + 3o"),
    "channelwise_filter": lambda: channelwise_tensor_product_plan(
        "2x0e + 2x1o", "2x0e + 1o", filter_ir_out="0e + 1o + 2e"
    ),
}


@pytest.mark.parametrize("name", sorted(PLANS))
def test_executor_matches_dense_tensor(name):
    plan = PLANS[name]()
    rng = np.random.default_rng(1)
    x1, x2 = rand(rng, 3, 1, plan.irreps_in1.dim), rand(rng, 1, 2, plan.irreps_in2.dim)
    if plan.weight_numel:
        w_shared = rand(rng, plan.weight_numel)
        w_sample = rand(rng, 3, 2, plan.weight_numel)
        for w in (w_shared, w_sample):
            got = execute_plan_reference(plan, x1, x2, w)
            assert got.shape == (3, 2, plan.irreps_out.dim)
            np.testing.assert_allclose(got, dense_apply(plan, x1, x2, w), atol=1e-12)
    else:
        got = execute_plan_reference(plan, x1, x2)
        assert got.shape == (3, 2, plan.irreps_out.dim)
        np.testing.assert_allclose(got, dense_apply(plan, x1, x2), atol=1e-12)


def test_linear_executor_matches_loops():
    plan = linear_plan("3x0e + 2x1o + 0e + 2e", "2x0e + 2x1o + 1e + 2e", biases=True)
    rng = np.random.default_rng(2)
    x = rand(rng, 4, plan.irreps_in.dim)
    w, b = rand(rng, 4, plan.weight_numel), rand(rng, plan.bias_numel)
    want = np.zeros((4, plan.irreps_out.dim))
    oi, oo = _offsets(plan.irreps_in), _offsets(plan.irreps_out)
    for p in plan.paths:
        d = plan.irreps_in[p.i_in].ir.dim
        mul_in, mul_out = p.weight_shape
        for u, v in itertools.product(range(mul_in), range(mul_out)):
            wm = w[:, p.weight_offset + u * mul_out + v]
            want[:, oo[p.i_out] + v * d : oo[p.i_out] + (v + 1) * d] += (
                p.path_weight * wm[:, None] * x[:, oi[p.i_in] + u * d : oi[p.i_in] + (u + 1) * d]
            )
    for i_out, off, mul in plan.biases:
        want[:, oo[i_out] : oo[i_out] + mul] += b[off : off + mul]
    np.testing.assert_allclose(execute_linear_reference(plan, x, w, b), want, atol=1e-13)
    # The 1e output block has no input: it stays zero.
    s = plan.irreps_out.slices()[2]
    assert plan.irreps_out[2].ir == Irrep("1e") and np.all(execute_linear_reference(plan, x, w, b)[:, s] == 0)


# --- normalization: exact second moments for Gaussian inputs -----------------------


def _second_moment_independent(plan, irrep_normalization):
    """E[z_k^2] for independent x1, x2 (and weights) with i.i.d. Gaussian components.

    "component": unit variance per component; "norm": variance 1/dim per component,
    so each input irrep has E|x|^2 = 1. Then E[z_k^2] = sum_{m,i,j} T_mijk^2 var_i var_j.
    """
    T = dense_tensor(plan)
    if irrep_normalization == "component":
        v1, v2 = np.ones(plan.irreps_in1.dim), np.ones(plan.irreps_in2.dim)
    else:
        v1, v2 = 1 / block_dims(plan.irreps_in1), 1 / block_dims(plan.irreps_in2)
    return np.einsum("mijk,i,j->k", T**2, v1, v2)


@pytest.mark.parametrize("norm", ["component", "norm"])
@pytest.mark.parametrize(
    "build",
    [
        lambda n: full_tensor_product_plan("2x0e + 1o + 2x2e", "1o + 2e + 3o", irrep_normalization=n),
        lambda n: elementwise_tensor_product_plan("2x1o + 2e", "1e + 2x3o", irrep_normalization=n),
        lambda n: fully_connected_tensor_product_plan(
            "2x0e + 2x1o + 2e", "0e + 1o + 2e", "3x0e + 2x1o + 1e + 2x2e + 3o", irrep_normalization=n
        ),
        lambda n: fully_connected_tensor_product_plan(
            "2x0e + 2x1o + 2e", "0e + 1o", "3x0e + 2x1o + 2e", irrep_normalization=n, path_normalization="path"
        ),
        lambda n: channelwise_tensor_product_plan("3x0e + 2x1o + 2e", "0e + 1o + 2e", irrep_normalization=n),
    ],
    ids=["full", "elementwise", "fctp_element", "fctp_path", "channelwise"],
)
def test_unit_second_moment(build, norm):
    plan = build(norm)
    m = _second_moment_independent(plan, norm)
    if norm == "component":
        np.testing.assert_allclose(m, 1.0, atol=1e-12)
    else:
        np.testing.assert_allclose(out_irrep_sums(m, plan.irreps_out), 1.0, atol=1e-12)


@pytest.mark.parametrize("norm", ["component", "norm"])
def test_tensor_square_unit_second_moment(norm):
    # z_k = x^T S_k x with S_k the symmetrized slice; for x ~ N(0, V) Isserlis gives
    # E z_k^2 = tr(S_k V)^2 + 2 tr(S_k V S_k V).
    plan = tensor_square_plan("3x0e + 2x1o + 1e + 2x2e + 3o", irrep_normalization=norm)
    T = dense_tensor(plan)[0]
    S = (T + T.transpose(1, 0, 2)) / 2
    var = np.ones(plan.irreps_in1.dim) if norm == "component" else 1 / block_dims(plan.irreps_in1)
    SV = S * var[:, None, None]  # (S V)_{ij} for each k, V diagonal
    m = np.einsum("iik->k", SV) ** 2 + 2 * np.einsum("ijk,jik->k", SV, SV)
    if norm == "component":
        np.testing.assert_allclose(m, 1.0, atol=1e-12)
    else:
        np.testing.assert_allclose(out_irrep_sums(m, plan.irreps_out), 1.0, atol=1e-12)


def test_linear_unit_second_moment():
    plan = linear_plan("3x0e + 2x1o + 0e + 2e", "2x0e + 2x1o + 4x2e")
    x = np.eye(plan.irreps_in.dim)[:, None, :]
    w = np.eye(plan.weight_numel)[None, :, :]
    T = execute_linear_reference(plan, x, w)  # (i, m, k): response to x = e_i, W = e_m
    np.testing.assert_allclose(np.sum(T**2, axis=(0, 1)), 1.0, atol=1e-12)


# --- equivariance -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PLANS))
def test_equivariance(name):
    plan = PLANS[name]()
    rng = np.random.default_rng(3)
    x1, x2 = rand(rng, 2, plan.irreps_in1.dim), rand(rng, 2, plan.irreps_in2.dim)
    if name.startswith("square"):
        x2 = x1
    w = rand(rng, 2, plan.weight_numel) if plan.weight_numel else None
    for seed in range(3):
        R = rand_o3_matrix(seed + 10 * len(name))
        D1, D2, Do = (irreps.D_from_matrix(R) for irreps in (plan.irreps_in1, plan.irreps_in2, plan.irreps_out))
        lhs = execute_plan_reference(plan, x1 @ D1.T, x2 @ D2.T, w)
        rhs = execute_plan_reference(plan, x1, x2, w) @ Do.T
        np.testing.assert_allclose(lhs, rhs, atol=1e-11)
    assert np.abs(rhs).max() > 0.1  # the check is not vacuous


def test_linear_equivariance():
    plan = linear_plan("3x0e + 2x1o + 0e + 2e", "2x0e + 2x1o + 2e", biases=True)
    rng = np.random.default_rng(4)
    x, w, b = rand(rng, 3, plan.irreps_in.dim), rand(rng, plan.weight_numel), rand(rng, plan.bias_numel)
    R = rand_o3_matrix(5)
    Di, Do = plan.irreps_in.D_from_matrix(R), plan.irreps_out.D_from_matrix(R)
    np.testing.assert_allclose(
        execute_linear_reference(plan, x @ Di.T, w, b), execute_linear_reference(plan, x, w, b) @ Do.T, atol=1e-12
    )


# --- layouts and structure ------------------------------------------------------------


def test_full_layout_and_empty():
    # reference-facts.md: "2x0e+1o" x "1o+2e" regrouped by e3nn-jax is 1x0e+3x1o+1x1e+3x2e+1x2o+1x3o.
    plan = full_tensor_product_plan("2x0e + 1o", "1o + 2e")
    assert plan.irreps_out.simplify() == "1x0e+3x1o+1x1e+3x2e+1x2o+1x3o"
    assert all(p.mode == "uvuv" and not p.has_weight for p in plan.paths) and plan.weight_numel == 0
    empty = full_tensor_product_plan("1o", "1o", filter_ir_out="3e")
    assert empty.irreps_out == "" and empty.paths == ()
    assert execute_plan_reference(empty, np.ones((2, 3)), np.ones(3)).shape == (2, 0)
    # zero multiplicities keep their (empty) output blocks but get no path
    z = full_tensor_product_plan("0x1o + 0e", "1o")
    assert z.irreps_out == "0x0e + 1o + 0x1e + 0x2e" and len(z.paths) == 1


def test_elementwise_refinement():
    plan = elementwise_tensor_product_plan("3x1o + 2x2e", "2x0e + 3x1e")
    assert plan.irreps_in1 == "2x1o + 1x1o + 2x2e"
    assert plan.irreps_in2 == "2x0e + 1x1e + 2x1e"
    # 1o*0e = 1o; 1o*1e = 0o + 1o + 2o; 2e*1e = 1e + 2e + 3e, in loop order
    assert plan.irreps_out == "2x1o + 1x0o + 1x1o + 1x2o + 2x1e + 2x2e + 2x3e"
    assert all(p.mode == "uuu" and p.i_in1 == p.i_in2 for p in plan.paths)
    with pytest.raises(ValueError, match=r"3x1o.*1x1e"):
        elementwise_tensor_product_plan("3x1o", "1e")


def test_square_structure():
    plan = tensor_square_plan("3x1o")
    assert plan.irreps_in1 == plan.irreps_in2 == "3x1o"
    modes = sorted((p.mode, str(plan.irreps_out[p.i_out])) for p in plan.paths)
    # pairs u < v give 3 copies of 0e, 1e, 2e; the diagonal gives the even-l 0e and 2e
    assert modes == [("uuu", "3x0e"), ("uuu", "3x2e"), ("uvuv_triu", "3x0e"), ("uvuv_triu", "3x1e"), ("uvuv_triu", "3x2e")]
    assert tensor_square_plan("3x1o", filter_ir_out="1e").irreps_out == "3x1e"


def test_fctp_layout():
    plan = fully_connected_tensor_product_plan("2x0e + 3x1o", "0e + 1o", "4x0e + 2x1o + 1e")
    want = [(0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 0), (1, 1, 2)]
    assert [(p.i_in1, p.i_in2, p.i_out) for p in plan.paths] == want
    sizes = [2 * 1 * 4, 2 * 1 * 2, 3 * 1 * 2, 3 * 1 * 4, 3 * 1 * 1]
    assert [p.weight_offset for p in plan.paths] == list(np.cumsum([0] + sizes[:-1]))
    assert plan.weight_numel == sum(sizes)
    # element: the paths into 4x0e share fan_in = 2*1 + 3*1; "component": alpha = 1
    assert plan.paths[0].path_weight == pytest.approx(5**-0.5, rel=1e-15)
    assert plan.paths[3].path_weight == pytest.approx(5**-0.5, rel=1e-15)
    # into 2x1o: fan_in = 2 + 3, alpha = 3
    assert plan.paths[1].path_weight == pytest.approx((3 / 5) ** 0.5, rel=1e-15)
    path = fully_connected_tensor_product_plan("2x0e + 3x1o", "0e + 1o", "4x0e + 2x1o + 1e", path_normalization="path")
    # path: fan_in = mul1 * mul2 * (number of paths into that output) = 2 * 2
    assert path.paths[0].path_weight == pytest.approx((1 / 4) ** 0.5, rel=1e-15)
    assert path.paths[3].path_weight == pytest.approx((1 / 6) ** 0.5, rel=1e-15)


def test_channelwise_mace_order():
    plan = channelwise_tensor_product_plan("2x0e + 2x1o", "0e + 1o + 2e")
    # loop order: 0e*0e=0e, 0e*1o=1o, 0e*2e=2e, 1o*0e=1o, 1o*1o=0e,1e,2e, 1o*2e=1o,2o,3o
    assert plan.irreps_out == "2x0e + 2x0e + 2x1o + 2x1o + 2x1o + 2x1e + 2x2e + 2x2e + 2x2o + 2x3o"
    # MACE reorders the instructions by output block, so weights follow output order
    assert [p.i_out for p in plan.paths] == list(range(10))
    assert [(p.i_in1, p.i_in2) for p in plan.paths] == [
        (0, 0), (1, 1), (0, 1), (1, 0), (1, 2), (1, 1), (0, 2), (1, 1), (1, 2), (1, 2)
    ]
    assert [p.weight_offset for p in plan.paths] == [2 * i for i in range(10)]
    # fan_in = mul2 = 1 for every path: coefficient sqrt(dim out)
    assert [p.path_weight**2 for p in plan.paths] == pytest.approx([plan.irreps_out[p.i_out].ir.dim for p in plan.paths])


def test_cached_frozen_hashable():
    a = full_tensor_product_plan("1o", Irreps("2e"))
    assert full_tensor_product_plan(Irreps("1x1o"), "2e") is a
    # e3nn-jax sorts the output blocks whatever regroup_output is, so the plan is the same
    assert full_tensor_product_plan("1o", "2e", regroup_output=False) is a
    assert fully_connected_tensor_product_plan("1o", "1o", "0e") is fully_connected_tensor_product_plan(
        [(1, "1o")], "1o", Irrep("0e")
    )
    assert channelwise_tensor_product_plan("1o", "1o", ["0e", "2e"]) is channelwise_tensor_product_plan(
        "1o", "1o", "2e + 0e"
    )
    assert linear_plan("2x0e", "0e", biases=True) is linear_plan("2x0e", "0e", biases=[True])
    hash(a), hash(linear_plan("2x0e", "0e"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.weight_numel = 3


# --- bad input -------------------------------------------------------------------------


def test_bad_input():
    with pytest.raises(ValueError, match=r"'unit'.*'component', 'norm'"):
        full_tensor_product_plan("1o", "1o", irrep_normalization="unit")
    with pytest.raises(ValueError, match=r"'edge'.*'element', 'path'"):
        fully_connected_tensor_product_plan("1o", "1o", "0e", path_normalization="edge")
    with pytest.raises(ValueError, match=r"'uvx'.*uvw"):
        TPPath(0, 0, 0, "uvx", 1.0, -1, ())
    with pytest.raises(ValueError, match=r"1x1o x 1x1o.*irreps_out=1x0o"):
        fully_connected_tensor_product_plan("1o", "1o", "0o")
    with pytest.raises(ValueError, match=r"1x0e x 1x0e.*filter_ir_out=1x1o"):
        channelwise_tensor_product_plan("0e", "0e", filter_ir_out="1o")
    with pytest.raises(TypeError, match="filter_ir_out"):
        full_tensor_product_plan("1o", "1o", filter_ir_out=3.5)
    with pytest.raises(ValueError, match="cannot parse irreps"):
        full_tensor_product_plan("1x", "1o")
    with pytest.raises(ValueError, match=r"biases=\[True, True\].*1x1o"):
        linear_plan("0e + 1o", "0e + 1o", biases=[True, True])
    plan = fully_connected_tensor_product_plan("1o", "1o", "0e")
    with pytest.raises(ValueError, match=r"x1 has shape \(4,\).*3"):
        execute_plan_reference(plan, np.ones(4), np.ones(3), np.ones(1))
    with pytest.raises(ValueError, match="weights is required"):
        execute_plan_reference(plan, np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match=r"weights has shape \(2,\)"):
        execute_plan_reference(plan, np.ones(3), np.ones(3), np.ones(2))
    with pytest.raises(TypeError, match="complex"):
        execute_plan_reference(plan, np.ones(3, dtype=complex), np.ones(3), np.ones(1))
    # a hand-made plan that breaks the selection rule or the mode's shapes is refused
    ir = Irreps("1o")
    with pytest.raises(ValueError, match="selection rule"):
        TensorProductPlan(ir, ir, Irreps("1o"), (TPPath(0, 0, 0, "uvuv", 1.0, -1, ()),), 0)
    with pytest.raises(ValueError, match="weight_shape"):
        TensorProductPlan(ir, ir, Irreps("0e"), (TPPath(0, 0, 0, "uvw", 1.0, 0, (1, 1)),), 1)
    with pytest.raises(ValueError, match="irreps must be equal"):
        from e3xp.core.plans import LinearPath

        LinearPlan(Irreps("1o"), Irreps("1e"), (LinearPath(0, 0, 1.0, 0, (1, 1)),), 1, (), 0)


# --- against e3nn-jax -------------------------------------------------------------------


@pytest.fixture(scope="module")
def ejax():
    jax = pytest.importorskip("jax")
    e3nn_jax = pytest.importorskip("e3nn_jax")
    jax.config.update("jax_enable_x64", True)
    return e3nn_jax


def _jax_run(jax, fn, irreps, arrays, **kwargs):
    # One jit per call: e3nn-jax run eagerly compiles every einsum separately (slow).
    import e3nn_jax

    def f(*xs):
        return fn(*[e3nn_jax.IrrepsArray(str(ir), x) for ir, x in zip(irreps, xs)], **kwargs)

    out = jax.jit(f)(*arrays)
    return out.irreps, np.asarray(out.array)


FULL_CASES = [
    ("2x0e + 1o", "1o + 2e", None, "component", True),
    ("0e + 2x1o + 2e", "0e + 1o + 2e", "0e + 1o + 2e + 3o", "norm", True),
    ("1o + 0e + 2x1o + 2o", "1e + 0o", None, "component", False),
    ("2e + 1o", "2x1o + 0e", "1e + 2e", "none", False),
]


@pytest.mark.parametrize("in1, in2, filt, norm, regroup", FULL_CASES)
def test_full_vs_e3nn_jax(ejax, in1, in2, filt, norm, regroup):
    import jax

    if regroup:  # e3nn-jax regroups the inputs itself; the e3xp op does so before planning
        in1, in2 = Irreps(in1).regroup(), Irreps(in2).regroup()
    plan = full_tensor_product_plan(in1, in2, filter_ir_out=filt, irrep_normalization=norm, regroup_output=regroup)
    rng = np.random.default_rng(6)
    x1, x2 = rand(rng, 3, plan.irreps_in1.dim), rand(rng, 3, plan.irreps_in2.dim)
    irreps, ref = _jax_run(
        jax, ejax.tensor_product, (in1, in2), (x1, x2),
        filter_ir_out=filt, irrep_normalization=norm, regroup_output=regroup,
    )
    assert str(irreps) == str(plan.irreps_out.simplify() if regroup else plan.irreps_out)
    err = np.abs(execute_plan_reference(plan, x1, x2) - ref).max()
    assert err < 1e-12, err


@pytest.mark.parametrize(
    "in1, in2, filt, norm",
    [
        ("2x0e + 1o", "1e + 0o + 0o", None, "component"),
        ("3x1o + 2x2e", "2x0e + 3x1e", "1o + 2o + 1e", "norm"),
    ],
)
def test_elementwise_vs_e3nn_jax(ejax, in1, in2, filt, norm):
    import jax

    plan = elementwise_tensor_product_plan(in1, in2, filter_ir_out=filt, irrep_normalization=norm)
    rng = np.random.default_rng(7)
    x1, x2 = rand(rng, 4, plan.irreps_in1.dim), rand(rng, 4, plan.irreps_in2.dim)
    irreps, ref = _jax_run(
        jax, ejax.elementwise_tensor_product, (in1, in2), (x1, x2), filter_ir_out=filt, irrep_normalization=norm
    )
    assert str(irreps) == str(plan.irreps_out)
    err = np.abs(execute_plan_reference(plan, x1, x2) - ref).max()
    assert err < 1e-12, err


@pytest.mark.parametrize(
    "irreps, norm, regroup",
    [
        ("2x0e + 3x1o + 1e + 2e", "component", True),
        ("2x0e + 3x1o + 1e + 2e", "norm", True),
        ("1o + 0e + 2x1o", "component", False),
        ("2x2e + 1o", "norm", False),
    ],
)
def test_square_vs_e3nn_jax(ejax, irreps, norm, regroup):
    import jax

    irreps = Irreps(irreps).regroup() if regroup else Irreps(irreps)
    plan = tensor_square_plan(irreps, irrep_normalization=norm)
    x = rand(np.random.default_rng(8), 5, irreps.dim)
    out_irreps, ref = _jax_run(
        jax, ejax.tensor_square, (irreps,), (x,), irrep_normalization=norm, regroup_output=regroup
    )
    assert str(out_irreps) == str(plan.irreps_out.simplify() if regroup else plan.irreps_out)
    err = np.abs(execute_plan_reference(plan, x, x) - ref).max()
    assert err < 1e-12, err


# --- against e3nn (torch) ------------------------------------------------------------------


@pytest.fixture(scope="module")
def o3():
    torch = pytest.importorskip("torch")
    pytest.importorskip("e3nn")
    from e3nn import o3

    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # e3nn keeps its constants in the default dtype
    yield o3
    torch.set_default_dtype(old)


def _t(x):
    import torch

    return torch.as_tensor(np.asarray(x), dtype=torch.float64)


@pytest.mark.parametrize(
    "in1, in2, out, inorm, pnorm",
    [
        ("2x0e + 3x1o + 2e", "0e + 1o + 2e", "3x0e + 2x1o + 1x1e + 2x2e", "component", "element"),
        ("2x0e + 3x1o + 2e", "0e + 1o + 2e", "3x0e + 2x1o + 1x1e + 2x2e", "norm", "path"),
        ("2x1o + 0e + 1o", "1o + 0x2e + 0e", "2x0e + 1o + 2x1e + 0x2e + 2e", "component", "path"),
    ],
)
def test_fctp_vs_e3nn(o3, in1, in2, out, inorm, pnorm):
    plan = fully_connected_tensor_product_plan(in1, in2, out, irrep_normalization=inorm, path_normalization=pnorm)
    tp = o3.FullyConnectedTensorProduct(
        in1, in2, out, irrep_normalization=inorm, path_normalization=pnorm, internal_weights=False, shared_weights=True
    )
    assert tp.weight_numel == plan.weight_numel
    ref_paths = [(i.i_in1, i.i_in2, i.i_out, i.path_weight) for i in tp.instructions if 0 not in i.path_shape]
    assert [(p.i_in1, p.i_in2, p.i_out) for p in plan.paths] == [r[:3] for r in ref_paths]
    np.testing.assert_allclose([p.path_weight for p in plan.paths], [r[3] for r in ref_paths], rtol=1e-15)
    rng = np.random.default_rng(9)
    x1, x2, w = rand(rng, 4, plan.irreps_in1.dim), rand(rng, 4, plan.irreps_in2.dim), rand(rng, plan.weight_numel)
    ref = tp(_t(x1), _t(x2), _t(w)).numpy()
    err = np.abs(execute_plan_reference(plan, x1, x2, w) - ref).max()
    assert err < 1e-12, err


def _mace_instructions(o3, irreps1, irreps2, target):
    # MACE's tp_out_irreps_with_instructions, restated with e3nn (torch) irreps
    out, ins = [], []
    for i, (mul, ir_in) in enumerate(o3.Irreps(irreps1)):
        for j, (_, ir_edge) in enumerate(o3.Irreps(irreps2)):
            for ir_out in ir_in * ir_edge:
                if ir_out in o3.Irreps(target):
                    ins.append((i, j, len(out), "uvu", True))
                    out.append((mul, ir_out))
    irreps_out, perm, _ = o3.Irreps(out).sort()
    ins = sorted([(a, b, perm[k], m, t) for a, b, k, m, t in ins], key=lambda x: x[2])
    return irreps_out, ins


@pytest.mark.parametrize(
    "in1, in2, target",
    [
        ("4x0e + 4x1o + 4x2e", "0e + 1o + 2e + 3o", "0e + 1o + 2e + 3o"),  # a MACE interaction
        ("3x0e + 2x1o", "2x0e + 1o + 2e", "0e + 1o + 1e + 2e"),
    ],
)
def test_channelwise_vs_mace_e3nn(o3, in1, in2, target):
    # Targets with one parity per l, as in MACE, where e3nn (torch) and e3nn-jax sort alike.
    plan = channelwise_tensor_product_plan(in1, in2, filter_ir_out=target)
    irreps_mid, ins = _mace_instructions(o3, in1, in2, target)
    assert str(irreps_mid) == str(plan.irreps_out)
    assert [(p.i_in1, p.i_in2, p.i_out) for p in plan.paths] == [i[:3] for i in ins]
    tp = o3.TensorProduct(in1, in2, irreps_mid, ins, shared_weights=False, internal_weights=False)
    assert tp.weight_numel == plan.weight_numel
    rng = np.random.default_rng(10)
    x1, x2 = rand(rng, 5, plan.irreps_in1.dim), rand(rng, 5, plan.irreps_in2.dim)
    w = rand(rng, 5, plan.weight_numel)
    err = np.abs(execute_plan_reference(plan, x1, x2, w) - tp(_t(x1), _t(x2), _t(w)).numpy()).max()
    assert err < 1e-12, err


@pytest.mark.parametrize("inorm, pnorm", [("component", "element"), ("norm", "path")])
def test_channelwise_vs_e3nn_tensor_product(o3, inorm, pnorm):
    # Mixed parities (no filter): compare with o3.TensorProduct on the plan's own instructions.
    plan = channelwise_tensor_product_plan("3x0e + 2x1o + 2e", "2x0e + 1o + 2e", irrep_normalization=inorm, path_normalization=pnorm)
    ins = [(p.i_in1, p.i_in2, p.i_out, "uvu", True) for p in plan.paths]
    tp = o3.TensorProduct(
        str(plan.irreps_in1), str(plan.irreps_in2), str(plan.irreps_out), ins,
        irrep_normalization=inorm, path_normalization=pnorm, shared_weights=False, internal_weights=False,
    )
    rng = np.random.default_rng(11)
    x1, x2 = rand(rng, 5, plan.irreps_in1.dim), rand(rng, 5, plan.irreps_in2.dim)
    w = rand(rng, 5, plan.weight_numel)
    err = np.abs(execute_plan_reference(plan, x1, x2, w) - tp(_t(x1), _t(x2), _t(w)).numpy()).max()
    assert err < 1e-12, err


@pytest.mark.parametrize(
    "irreps_in, irreps_out, biases, pnorm",
    [
        ("8x0e + 3x0e + 2x1o + 1o", "5x0e + 3x1o + 2e", True, "element"),
        ("2x1o + 3x0e + 2e + 1o", "2x0e + 1e + 3x1o + 0e", [True, False, False, True], "path"),
    ],
)
def test_linear_vs_e3nn(o3, irreps_in, irreps_out, biases, pnorm):
    plan = linear_plan(irreps_in, irreps_out, biases=biases, path_normalization=pnorm)
    lin = o3.Linear(
        irreps_in, irreps_out, biases=biases, path_normalization=pnorm, internal_weights=False, shared_weights=True
    )
    assert (lin.weight_numel, lin.bias_numel) == (plan.weight_numel, plan.bias_numel)
    rng = np.random.default_rng(12)
    x, w, b = rand(rng, 4, plan.irreps_in.dim), rand(rng, plan.weight_numel), rand(rng, plan.bias_numel)
    err = np.abs(execute_linear_reference(plan, x, w, b) - lin(_t(x), _t(w), _t(b)).numpy()).max()
    assert err < 1e-12, err
