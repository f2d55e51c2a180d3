"""Issue 15, rotations slice: e3nn-jax's log coordinates, identities, rotation angles,
``rand_*`` arguments, so(3) / SU(2) generators and SU(2) Clebsch-Gordan coefficients.

Each function is checked twice: against e3nn-jax on random inputs (angles near 0
and near pi included; skipped when e3nn-jax is missing), and by properties that do
not need it (round trips, composition = matrix product, exponentials of the
generators computed here by a Taylor series, commutation relations, invariance).
"""

import importlib.util

import numpy as np
import pytest

import e3xp
from e3xp import Irrep, Irreps
from e3xp.core.clebsch_gordan import change_basis_real_to_complex



# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def ej(jax_x64):
    """e3nn-jax, with JAX in float64 for this module."""
    return pytest.importorskip("e3nn_jax")


def np_(x):
    return np.asarray(x, dtype=np.float64)


def expm(A):
    """Matrix exponential by scaling and squaring of a Taylor series (independent of the code)."""
    A = np.asarray(A)
    norm = np.abs(A).sum(axis=(-1, -2)).max() if A.size else 0.0
    s = max(0, int(np.ceil(np.log2(max(norm, 1e-300)))) + 1)
    B = A / 2**s
    out = np.broadcast_to(np.eye(A.shape[-1], dtype=A.dtype), A.shape).copy()
    term = out.copy()
    for k in range(1, 30):
        term = term @ B / k
        out = out + term
    for _ in range(s):
        out = out @ out
    return out


def special_log_coordinates(rng, n=64):
    """Random rotation vectors, with norms spread over [0, pi] and clustered near 0 and pi."""
    axis = rng.standard_normal((n, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = np.concatenate(
        [
            rng.uniform(0, np.pi, n - 16),
            [1e-12, 1e-9, 1e-7, 1e-5, 1e-3, 0.01, 0.1, 0.5],
            np.pi - np.array([1e-3, 1e-4, 1e-5, 1e-6, 1e-2, 0.05, 0.1, 0.3]),
        ]
    )
    return axis * angle[:, None]


def same_rotation_log(v1, v2, atol=1e-10):
    R1 = e3xp.log_coordinates_to_matrix(v1)
    R2 = e3xp.log_coordinates_to_matrix(v2)
    return np.abs(R1 - R2).max() < atol


# --------------------------------------------------------------------------- against e3nn-jax


def test_log_coordinates_conversions_match_e3nnjax(ej):
    rng = np.random.default_rng(0)
    v = special_log_coordinates(rng)
    v = np.concatenate([v, 2.5 * v[:16]])  # norms beyond pi too (up to 2.5 pi)
    np.testing.assert_allclose(e3xp.log_coordinates_to_quaternion(v), np_(ej.log_coordinates_to_quaternion(v)),
                               atol=1e-14)
    np.testing.assert_allclose(e3xp.log_coordinates_to_matrix(v), np_(ej.log_coordinates_to_matrix(v)), atol=1e-13)
    axis, angle = e3xp.log_coordinates_to_axis_angle(v)
    axis_j, angle_j = ej.log_coordinates_to_axis_angle(v)
    np.testing.assert_allclose(axis, np_(axis_j), atol=1e-14)
    np.testing.assert_allclose(angle, np_(angle_j), atol=1e-15)
    # Euler angles: the same algorithm, away from gimbal lock (beta = 0 or pi).
    a, b, c = e3xp.log_coordinates_to_angles(v)
    a_j, b_j, c_j = (np_(t) for t in ej.log_coordinates_to_angles(v))
    ok = (np.sin(b) > 1e-6)
    for mine, theirs in ((a, a_j), (b, b_j), (c, c_j)):
        np.testing.assert_allclose(mine[ok], theirs[ok], atol=1e-9)
    np.testing.assert_allclose(e3xp.angles_to_matrix(a, b, c), e3xp.log_coordinates_to_matrix(v), atol=1e-12)
    # unit axes: the same as e3nn-jax (which does not normalize the axis)
    np.testing.assert_allclose(
        e3xp.axis_angle_to_log_coordinates(axis, angle), np_(ej.axis_angle_to_log_coordinates(axis, angle)), atol=1e-15
    )


def test_to_log_coordinates_match_e3nnjax(ej):
    rng = np.random.default_rng(1)
    v = special_log_coordinates(rng)
    R = e3xp.log_coordinates_to_matrix(v)
    # e3nn-jax's arccos of the trace is accurate to ~1e-8 near angle 0 (eps ** 0.5).
    np.testing.assert_allclose(e3xp.matrix_to_log_coordinates(R), np_(ej.matrix_to_log_coordinates(R)), atol=1e-7)
    np.testing.assert_allclose(e3xp.matrix_to_log_coordinates(R), v, atol=1e-13)
    # quaternions of both signs of w: the sign is kept (|v| in (pi, 2 pi] for w < 0)
    q = e3xp.rand_quaternion(2, (200,))
    assert (q[:, 0] < 0).any() and (q[:, 0] > 0).any()
    np.testing.assert_allclose(e3xp.quaternion_to_log_coordinates(q), np_(ej.quaternion_to_log_coordinates(q)),
                               atol=1e-10)
    a, b, c = e3xp.rand_angles(3, (200,))
    mine = e3xp.angles_to_log_coordinates(a, b, c)
    np.testing.assert_allclose(mine, np_(ej.angles_to_log_coordinates(a, b, c)), atol=1e-10)
    assert np.linalg.norm(mine, axis=-1).max() <= np.pi + 1e-15


def test_compose_inverse_identity_log_coordinates_match_e3nnjax(ej):
    rng = np.random.default_rng(4)
    v1, v2 = special_log_coordinates(rng), special_log_coordinates(rng)[::-1]
    np.testing.assert_allclose(e3xp.compose_log_coordinates(v1, v2), np_(ej.compose_log_coordinates(v1, v2)),
                               atol=1e-7)
    np.testing.assert_array_equal(e3xp.inverse_log_coordinates(v1), np_(ej.inverse_log_coordinates(v1)))
    for mine, theirs in (
        (e3xp.identity_log_coordinates((2, 3)), ej.identity_log_coordinates((2, 3))),
        (e3xp.identity_quaternion((2,)), ej.identity_quaternion((2,))),
        (np.stack(e3xp.identity_angles((4,))), np.stack(ej.identity_angles((4,)))),
    ):
        assert mine.shape == theirs.shape
        np.testing.assert_array_equal(mine, np_(theirs))


def test_rotation_angles_match_e3nnjax(ej):
    rng = np.random.default_rng(5)
    v1 = special_log_coordinates(rng)
    v2 = e3xp.rand_log_coordinates(6, (len(v1),))
    # e3nn-jax takes arccos of a cosine: ~1e-8 rad near 0 and pi in float64.
    np.testing.assert_allclose(e3xp.rotation_angle_from_log_coordinates(v1, v2),
                               np_(ej.rotation_angle_from_log_coordinates(v1, v2)), atol=1e-7)
    q1, q2 = e3xp.log_coordinates_to_quaternion(v1), e3xp.log_coordinates_to_quaternion(v2)
    np.testing.assert_allclose(e3xp.rotation_angle_from_quaternion(q1, q2),
                               np_(ej.rotation_angle_from_quaternion(q1, q2)), atol=1e-7)
    ax1, an1 = e3xp.log_coordinates_to_axis_angle(v1)
    ax2, an2 = e3xp.log_coordinates_to_axis_angle(v2)
    np.testing.assert_allclose(e3xp.rotation_angle_from_axis_angle(ax1, an1, ax2, an2),
                               np_(ej.rotation_angle_from_axis_angle(ax1, an1, ax2, an2)), atol=1e-7)
    R = e3xp.log_coordinates_to_matrix(v1)
    np.testing.assert_allclose(e3xp.rotation_angle_from_matrix(R), np_(ej.rotation_angle_from_matrix(R)), atol=1e-7)
    # e3nn-jax's rotation_angle_from_angles transposes every axis (R2.T): one rotation at a time.
    for i in range(8):
        a1, b1, c1 = e3xp.log_coordinates_to_angles(v1[i])
        a2, b2, c2 = e3xp.log_coordinates_to_angles(v2[i])
        np.testing.assert_allclose(e3xp.rotation_angle_from_angles(a1, b1, c1, a2, b2, c2),
                                   np_(ej.rotation_angle_from_angles(a1, b1, c1, a2, b2, c2)), atol=1e-7)


def test_compose_and_inverse_angles_take_e3nnjax_arguments(ej):
    a1, b1, c1 = e3xp.rand_angles(7, (50,))
    a2, b2, c2 = e3xp.rand_angles(8, (50,))
    mine = e3xp.compose_angles(a1=a1, b1=b1, c1=c1, a2=a2, b2=b2, c2=c2)
    theirs = ej.compose_angles(a1=a1, b1=b1, c1=c1, a2=a2, b2=b2, c2=c2)
    np.testing.assert_allclose(np.stack(mine), np_(np.stack(theirs)), atol=1e-10)
    np.testing.assert_array_equal(np.stack(e3xp.inverse_angles(a=a1, b=b1, c=c1)),
                                  np_(np.stack(ej.inverse_angles(a=a1, b=b1, c=c1))))
    axis, angle = e3xp.rand_axis_angle(9, (20,))
    np.testing.assert_allclose(e3xp.axis_angle_to_quaternion(xyz=axis, angle=angle),
                               np_(ej.axis_angle_to_quaternion(xyz=axis, angle=angle)), atol=1e-15)


def test_generators_match_e3nnjax(ej):
    for l in range(7):
        np.testing.assert_allclose(e3xp.generators(l), np_(ej.generators(l)), atol=1e-14)
        np.testing.assert_allclose(Irrep(l, 1).generators(), np_(ej.Irrep(l, 1).generators()), atol=1e-14)
    irreps = "2x0e + 1o + 2x2e + 3o"
    np.testing.assert_allclose(Irreps(irreps).generators(), np_(ej.Irreps(irreps).generators()), atol=1e-14)


def test_su2_matches_e3nnjax(ej):
    for tj in range(9):
        mine, theirs = e3xp.su2_generators(tj / 2), ej.su2_generators(tj / 2)
        assert mine.dtype == theirs.dtype == np.complex128
        np.testing.assert_allclose(mine, theirs, atol=1e-15)
    for tj1 in range(7):
        for tj2 in range(7):
            for tj3 in range(9):
                j1, j2, j3 = tj1 / 2, tj2 / 2, tj3 / 2
                mine, theirs = e3xp.su2_clebsch_gordan(j1, j2, j3), ej.su2_clebsch_gordan(j1, j2, j3)
                assert mine.shape == theirs.shape and mine.dtype == theirs.dtype
                np.testing.assert_allclose(mine, theirs, atol=1e-15)


def test_D_from_log_coordinates_matches_e3nnjax(ej):
    rng = np.random.default_rng(10)
    v = special_log_coordinates(rng)[::4]  # includes angles near 0 and near pi
    for ir in ["0o", "1e", "2e", "3o"]:
        for k in (0, 1):
            mine = Irrep(ir).D_from_log_coordinates(v, k)
            theirs = np_(ej.Irrep(ir).D_from_log_coordinates(v, k))
            np.testing.assert_allclose(mine, theirs, atol=1e-12)
    # e3nn-jax's Irreps.D_from_* takes one rotation (block_diag of 2D blocks)
    irreps = "2x0e + 1o + 2e + 0o"
    for i in range(4):
        np.testing.assert_allclose(Irreps(irreps).D_from_log_coordinates(v[i], 1),
                                   np_(ej.Irreps(irreps).D_from_log_coordinates(v[i], 1)), atol=1e-12)


def test_transform_by_log_coordinates_matches_e3nnjax(ej):
    import jax.numpy as jnp

    rng = np.random.default_rng(11)
    irreps = "2x0e + 1o + 2x2e + 1e + 3o"
    x = rng.standard_normal((5, Irreps(irreps).dim))
    v = special_log_coordinates(rng)[[0, 49, 52, 58, 63]]  # generic, near 0, near pi
    mine = e3xp.IrrepsArray(irreps, x).transform_by_log_coordinates(v, k=1)
    # e3nn-jax's version takes one rotation (its einsum has no batch axes for D)
    for i in range(len(v)):
        theirs = ej.IrrepsArray(irreps, jnp.asarray(x[i])).transform_by_log_coordinates(jnp.asarray(v[i]), 1)
        np.testing.assert_allclose(mine.array[i], np_(theirs.array), atol=1e-12)


# --------------------------------------------------------------------------- properties, without e3nn-jax


def test_log_coordinates_round_trips():
    rng = np.random.default_rng(20)
    v = special_log_coordinates(rng)
    for there, back in (
        (e3xp.log_coordinates_to_quaternion, e3xp.quaternion_to_log_coordinates),
        (e3xp.log_coordinates_to_matrix, e3xp.matrix_to_log_coordinates),
        (lambda t: e3xp.log_coordinates_to_angles(t), lambda a: e3xp.angles_to_log_coordinates(*a)),
        (e3xp.log_coordinates_to_axis_angle, lambda aa: e3xp.axis_angle_to_log_coordinates(*aa)),
    ):
        # 1e-12: the Euler-angle route at beta near 0 (the gimbal-locked cases) loses a few digits
        np.testing.assert_allclose(back(there(v)), v, atol=1e-12, rtol=1e-12)
    # a quaternion comes back with its sign (|v| up to 2 pi)
    q = e3xp.rand_quaternion(21, (100,))
    np.testing.assert_allclose(e3xp.log_coordinates_to_quaternion(e3xp.quaternion_to_log_coordinates(q)), q,
                               atol=1e-14)
    # tiny rotations keep their relative accuracy (no 0/0, no arccos)
    tiny = np.array([3e-200, -4e-200, 0.0])
    np.testing.assert_allclose(e3xp.quaternion_to_log_coordinates(e3xp.log_coordinates_to_quaternion(tiny)), tiny,
                               rtol=1e-15)
    np.testing.assert_array_equal(e3xp.log_coordinates_to_matrix(np.zeros(3)), np.eye(3))


def test_log_coordinates_are_the_exponential_of_the_generators():
    rng = np.random.default_rng(22)
    v = special_log_coordinates(rng)[::3]
    v = np.concatenate([v, 3 * v[:5]])  # norms beyond pi and 2 pi too
    G = e3xp.generators(1)
    np.testing.assert_allclose(e3xp.log_coordinates_to_matrix(v), expm(np.einsum("na,aij->nij", v, G)), atol=1e-13)
    for l in range(5):
        D = Irrep(l, (-1) ** l).D_from_log_coordinates(v)
        np.testing.assert_allclose(D, expm(np.einsum("na,aij->nij", v, e3xp.generators(l))), atol=1e-12)
        # D(log coordinates) = D(matrix)
        np.testing.assert_allclose(D, Irrep(l, 1).D_from_matrix(e3xp.log_coordinates_to_matrix(v)), atol=1e-12)


def test_D_from_log_coordinates_is_a_representation_with_parity():
    v1, v2 = e3xp.rand_log_coordinates(23, (10,)), e3xp.rand_log_coordinates(24, (10,))
    for ir in ["2o", "3e", "1o"]:
        ir = Irrep(ir)
        D12 = ir.D_from_log_coordinates(e3xp.compose_log_coordinates(v1, v2))
        np.testing.assert_allclose(D12, ir.D_from_log_coordinates(v1) @ ir.D_from_log_coordinates(v2), atol=1e-12)
        np.testing.assert_allclose(ir.D_from_log_coordinates(v1, k=np.array([1] * 10)),
                                   ir.p * ir.D_from_log_coordinates(v1), atol=0)
    irreps = Irreps("2x0e + 1o + 2e")
    D = irreps.D_from_log_coordinates(v1)
    assert D.shape == (10, irreps.dim, irreps.dim)
    np.testing.assert_allclose(D, irreps.D_from_matrix(e3xp.log_coordinates_to_matrix(v1)), atol=1e-12)
    np.testing.assert_allclose(irreps.D_from_log_coordinates(v1, k=1),
                               irreps.D_from_matrix(-e3xp.log_coordinates_to_matrix(v1)), atol=1e-12)


def test_transform_by_log_coordinates_equals_transform_by_matrix():
    rng = np.random.default_rng(25)
    x = e3xp.IrrepsArray("0e + 1o + 2e + 1e", rng.standard_normal((4, 12)))
    v = e3xp.rand_log_coordinates(26, (4,))
    R = e3xp.log_coordinates_to_matrix(v)
    np.testing.assert_allclose(x.transform_by_log_coordinates(v).array, x.transform_by_matrix(R).array, atol=1e-13)
    np.testing.assert_allclose(x.transform_by_log_coordinates(v, k=1).array, x.transform_by_matrix(-R).array,
                               atol=1e-13)
    # one rotation for all rows broadcasts; a bad shape names the argument
    assert x.transform_by_log_coordinates(v[0]).shape == (4, 12)
    msg = r"transform_by_log_coordinates: log_coordinates must have shape \(\.\.\., 3\)"
    with pytest.raises(ValueError, match=msg):
        x.transform_by_log_coordinates(np.zeros(4))
    with pytest.raises(ValueError, match="transform_by_log_coordinates: the rotations' batch shape"):
        x.transform_by_log_coordinates(np.zeros((3, 3)))


def test_compose_inverse_log_coordinates():
    rng = np.random.default_rng(27)
    v1, v2 = special_log_coordinates(rng), special_log_coordinates(rng)[::-1]
    M = e3xp.log_coordinates_to_matrix
    np.testing.assert_allclose(M(e3xp.compose_log_coordinates(v1, v2)), M(v1) @ M(v2), atol=1e-13)
    np.testing.assert_allclose(M(e3xp.inverse_log_coordinates(v1)) @ M(v1), np.broadcast_to(np.eye(3), M(v1).shape),
                               atol=1e-14)
    # the quaternions are composed: norms may exceed pi, rotations are the canonical ones
    c = e3xp.compose_log_coordinates(v1, v2)
    assert same_rotation_log(c, e3xp.matrix_to_log_coordinates(M(v1) @ M(v2)))
    assert np.linalg.norm(c, axis=-1).max() <= 2 * np.pi + 1e-12
    # broadcasting
    assert e3xp.compose_log_coordinates(v1[:, None], v2[None, :4]).shape == (len(v1), 4, 3)


def test_rotation_angles_are_accurate_and_consistent():
    rng = np.random.default_rng(28)
    v = special_log_coordinates(rng)
    angle = np.linalg.norm(v, axis=-1)
    zero = np.zeros(3)
    # exactly the norm, to rounding, including 1e-12 rad and pi - 1e-6 rad
    np.testing.assert_allclose(e3xp.rotation_angle_from_log_coordinates(v, zero), angle, rtol=1e-13, atol=0)
    np.testing.assert_allclose(e3xp.rotation_angle_from_matrix(e3xp.log_coordinates_to_matrix(v)), angle,
                               rtol=1e-9, atol=1e-15)
    # the angle between g1 and g2 is the angle of g1^-1 g2, symmetric, invariant under q -> -q
    v2 = e3xp.rand_log_coordinates(29, (len(v),))
    expected = np.linalg.norm(e3xp.matrix_to_log_coordinates(
        np.swapaxes(e3xp.log_coordinates_to_matrix(v), -1, -2) @ e3xp.log_coordinates_to_matrix(v2)), axis=-1)
    got = e3xp.rotation_angle_from_log_coordinates(v, v2)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    np.testing.assert_allclose(e3xp.rotation_angle_from_log_coordinates(v2, v), got, atol=1e-14)
    q1, q2 = e3xp.log_coordinates_to_quaternion(v), e3xp.log_coordinates_to_quaternion(v2)
    np.testing.assert_allclose(e3xp.rotation_angle_from_quaternion(-q1, 3 * q2), got, atol=1e-14)
    a1, a2 = e3xp.log_coordinates_to_angles(v), e3xp.log_coordinates_to_angles(v2)
    np.testing.assert_allclose(e3xp.rotation_angle_from_angles(*a1, *a2), got, atol=1e-12)
    ax1, ax2 = e3xp.log_coordinates_to_axis_angle(v), e3xp.log_coordinates_to_axis_angle(v2)
    np.testing.assert_allclose(e3xp.rotation_angle_from_axis_angle(*ax1, *ax2), got, atol=1e-12)
    # batch shapes broadcast (e3nn-jax's rotation_angle_from_angles cannot)
    assert e3xp.rotation_angle_from_angles(a1[0][:, None], 0.0, 0.0, 0.0, a2[1][None, :3], 0.0).shape == (len(v), 3)


def test_identities_and_rand_log_coordinates():
    assert e3xp.identity_quaternion((2, 3)).shape == (2, 3, 4)
    np.testing.assert_array_equal(e3xp.log_coordinates_to_matrix(e3xp.identity_log_coordinates()), np.eye(3))
    np.testing.assert_array_equal(e3xp.angles_to_matrix(*e3xp.identity_angles()), np.eye(3))
    np.testing.assert_array_equal(e3xp.quaternion_to_matrix(e3xp.identity_quaternion()), np.eye(3))
    assert e3xp.identity_angles(dtype="float32")[0].dtype == np.float32
    assert e3xp.identity_quaternion(3).shape == (3, 4)
    # Haar: E[tr R] = 0 and E[tr(R)^2] = 1 (characters of SO(3))
    v = e3xp.rand_log_coordinates(30, (40000,))
    assert np.linalg.norm(v, axis=-1).max() <= np.pi
    tr = np.trace(e3xp.log_coordinates_to_matrix(v), axis1=-2, axis2=-1)
    assert abs(tr.mean()) < 0.03 and abs((tr**2).mean() - 1) < 0.05


@pytest.mark.parametrize("name", ["rand_matrix", "rand_angles", "rand_quaternion", "rand_axis_angle",
                                  "rand_log_coordinates", "rand_o3_matrix"])
def test_rand_key_seed_and_dtype(name):
    fn = getattr(e3xp, name)

    def flat(out):
        return np.concatenate([np.ravel(o) for o in (out if isinstance(out, tuple) else (out,))])

    ref = flat(fn(0, (3,)))
    np.testing.assert_array_equal(flat(fn(key=0, shape=(3,))), ref)
    np.testing.assert_array_equal(flat(fn(seed=0, shape=(3,))), ref)  # e3xp's older name keeps working
    np.testing.assert_array_equal(flat(fn(np.random.default_rng(0), (3,))), ref)
    with pytest.raises(TypeError, match=f"{name}: pass the random state as key= or as seed=, not both"):
        fn(0, seed=0)
    dtypes = ["float32", np.float32, np.dtype("float32")]
    if importlib.util.find_spec("torch"):
        import torch

        dtypes.append(torch.float32)
    if importlib.util.find_spec("jax"):
        import jax
        import jax.numpy as jnp

        dtypes.append(jnp.float32)
        # a JAX PRNG key, raw or typed, is a key (the draws are e3xp's, not jax.random's)
        for key in (jax.random.PRNGKey(3), jax.random.key(3)):
            a, b = flat(fn(key, (2,))), flat(fn(key, (2,)))
            np.testing.assert_array_equal(a, b)
    for dt in dtypes:
        out = fn(1, (2,), dt)
        outs = out if isinstance(out, tuple) else (out,)
        assert all(o.dtype == np.float32 for o in outs), (dt, [o.dtype for o in outs])
        np.testing.assert_allclose(flat(out), flat(fn(1, (2,))), rtol=1e-6, atol=1e-6)
    with pytest.raises(TypeError, match=f"{name}: dtype must be a real floating dtype.*int32"):
        fn(0, (2,), np.int32)


def test_generators_commutation_and_exponential():
    for l in range(8):
        G = e3xp.generators(l)
        assert G.shape == (3, 2 * l + 1, 2 * l + 1) and not G.flags.writeable
        np.testing.assert_array_equal(G, -np.swapaxes(G, -1, -2))
        for a, b, c in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
            np.testing.assert_allclose(G[a] @ G[b] - G[b] @ G[a], G[c], atol=1e-12)
        # Casimir: sum G_a^2 = -l(l+1)
        np.testing.assert_allclose(np.einsum("aij,ajk->ik", G, G), -l * (l + 1) * np.eye(2 * l + 1), atol=1e-12)
    for k, fn in enumerate((e3xp.matrix_x, e3xp.matrix_y, e3xp.matrix_z)):
        np.testing.assert_allclose(expm(0.7 * e3xp.generators(1)[k]), fn(0.7), atol=1e-14)
    G = Irreps("0e + 2x1o + 2e").generators()
    assert G.shape == (3, 12, 12)
    np.testing.assert_array_equal(G[:, 1:4, 1:4], e3xp.generators(1))
    np.testing.assert_array_equal(G[:, 4:7, 4:7], e3xp.generators(1))
    np.testing.assert_array_equal(G[:, 1:4, 4:], 0)


def test_su2_generators_properties():
    for tj in range(10):
        j = tj / 2
        X = e3xp.su2_generators(j)
        n = tj + 1
        assert X.shape == (3, n, n) and X.dtype == np.complex128 and not X.flags.writeable
        np.testing.assert_allclose(X, -np.conj(np.swapaxes(X, -1, -2)), atol=0)  # anti-Hermitian
        for a, b, c in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
            np.testing.assert_allclose(X[a] @ X[b] - X[b] @ X[a], X[c], atol=1e-12)
        np.testing.assert_allclose(np.einsum("aij,ajk->ik", X, X), -j * (j + 1) * np.eye(n), atol=1e-12)
        # a 2 pi rotation is (-1)^(2j): the half-integer spins are SU(2), not SO(3)
        np.testing.assert_allclose(expm(2 * np.pi * X[1]), (-1) ** tj * np.eye(n), atol=1e-10)
    # for integer j, the real basis change gives the so(3) generators of e3nn's basis
    for l in range(5):
        Q = change_basis_real_to_complex(l)
        np.testing.assert_allclose(np.conj(Q.T) @ e3xp.su2_generators(l) @ Q, e3xp.generators(l), atol=1e-13)


def test_su2_clebsch_gordan_properties():
    for tj1 in range(6):
        for tj2 in range(6):
            for tj3 in range(abs(tj1 - tj2), tj1 + tj2 + 1, 2):
                C = e3xp.su2_clebsch_gordan(tj1 / 2, tj2 / 2, tj3 / 2)
                X1, X2, X3 = (e3xp.su2_generators(t / 2) for t in (tj1, tj2, tj3))
                # invariance: the total generator on (1, 2) equals the generator on 3
                lhs = np.einsum("aij,jkl->aikl", X1, C) + np.einsum("akj,ijl->aikl", X2, C)
                rhs = np.einsum("ikm,aml->aikl", C, X3)
                np.testing.assert_allclose(lhs, rhs, atol=1e-12)
                # orthogonality: sum_{m1 m2} C C = identity / (2 j3 + 1)
                np.testing.assert_allclose(np.einsum("ijk,ijl->kl", C, C), np.eye(tj3 + 1) / (tj3 + 1), atol=1e-14)
    # forbidden j3: zeros of the right shape
    assert not e3xp.su2_clebsch_gordan(0.5, 0.5, 0.5).any()
    assert e3xp.su2_clebsch_gordan(0.5, 1, 3).shape == (2, 3, 7)
    # integer spins: the real basis change gives e3xp's real clebsch_gordan
    for l1, l2, l3 in [(1, 1, 0), (1, 1, 1), (1, 1, 2), (2, 1, 3), (2, 2, 2), (3, 2, 1)]:
        Q1, Q2, Q3 = (change_basis_real_to_complex(l) for l in (l1, l2, l3))
        C = np.einsum("ij,kl,mn,ikn->jlm", Q1, Q2, np.conj(Q3.T), e3xp.su2_clebsch_gordan(l1, l2, l3))
        np.testing.assert_allclose(C.imag, 0, atol=1e-14)
        np.testing.assert_allclose(C.real, e3xp.clebsch_gordan(l1, l2, l3), atol=1e-14)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: e3xp.log_coordinates_to_matrix(np.zeros(4)), ValueError,
         r"log_coordinates must have shape \(\.\.\., 3\)"),
        (lambda: e3xp.log_coordinates_to_quaternion("x"), TypeError, "log_coordinates must be a real number"),
        (lambda: e3xp.compose_log_coordinates(np.zeros(3), np.zeros(2)), ValueError, "log2 must have shape"),
        (lambda: e3xp.inverse_log_coordinates(np.zeros(2)), ValueError, "log must have shape"),
        (lambda: e3xp.axis_angle_to_log_coordinates(np.zeros(3), 1.0), ValueError, "axis must be a nonzero"),
        (lambda: e3xp.axis_angle_to_quaternion(np.zeros(3), 1.0), ValueError, "xyz must be a nonzero"),
        (lambda: e3xp.quaternion_to_log_coordinates(np.zeros(4)), ValueError, "q must be a nonzero"),
        (lambda: e3xp.matrix_to_log_coordinates(np.diag([1.0, 1.0, 2.0])), ValueError, "R is not orthogonal"),
        (lambda: e3xp.rotation_angle_from_matrix(-np.eye(3)), ValueError, "R has determinant -1"),
        (lambda: e3xp.rotation_angle_from_quaternion(np.zeros(4), [1, 0, 0, 0]), ValueError, "q1 must be a nonzero"),
        (lambda: e3xp.rotation_angle_from_axis_angle([1, 0, 0], 1, [0, 0, 0], 1), ValueError, "axis2 must be"),
        (lambda: e3xp.identity_angles(dtype=int), TypeError, "identity_angles: dtype must be a real floating"),
        (lambda: e3xp.identity_quaternion(shape=(-1,)), TypeError, "shape must be"),
        (lambda: e3xp.su2_generators(0.3), ValueError, "j must be an integer or half-integer, got 0.3"),
        (lambda: e3xp.su2_generators("1"), TypeError, "j must be an integer or half-integer number"),
        (lambda: e3xp.su2_clebsch_gordan(1, -0.5, 1), ValueError, "j2 must be a non-negative"),
        (lambda: e3xp.su2_clebsch_gordan(1, 1, True), TypeError, "j3 must be an integer"),
        (lambda: e3xp.generators(1.5), TypeError, "l must be a non-negative int"),
        (lambda: Irrep("1o").D_from_log_coordinates(np.zeros((2, 2))), ValueError, "log_coordinates must have shape"),
    ],
)
def test_bad_input_names_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# --------------------------------------------------------------------------- equivariance (e3xp.testing)


def test_log_coordinates_are_axial_vectors_under_O3():
    """Rotating space conjugates a rotation: its log coordinates transform as 1e."""
    from e3xp.testing import assert_equivariant

    rng = np.random.default_rng(40)
    v1 = e3xp.IrrepsArray("1e", special_log_coordinates(rng, 24)[:: 3][:8] * 0.9)
    v2 = e3xp.IrrepsArray("1e", e3xp.rand_log_coordinates(41, (8,)))

    def compose(a, b):
        return e3xp.IrrepsArray("1e", e3xp.compose_log_coordinates(a.array, b.array))

    def through_matrix(a):
        return e3xp.IrrepsArray("1e", e3xp.matrix_to_log_coordinates(e3xp.log_coordinates_to_matrix(a.array)))

    def through_angles(a):
        return e3xp.IrrepsArray("1e", e3xp.angles_to_log_coordinates(*e3xp.log_coordinates_to_angles(a.array)))

    def angle_between(a, b):
        return e3xp.IrrepsArray("0e", e3xp.rotation_angle_from_log_coordinates(a.array, b.array)[..., None])

    assert_equivariant(compose, v1, v2, atol=1e-11)
    assert_equivariant(through_matrix, v1, atol=1e-11)
    assert_equivariant(through_angles, v1, atol=1e-11)
    assert_equivariant(angle_between, v1, v2, atol=1e-11)


def test_D_from_log_coordinates_is_conjugation_equivariant():
    # D(R v) = D(R) D(v) D(R)^T for proper R: the representation of a conjugated rotation
    v = e3xp.rand_log_coordinates(42, (6,))
    R = e3xp.rand_matrix(43, (6,))
    Rv = np.einsum("nij,nj->ni", R, v)
    for l in (1, 2, 3):
        ir = Irrep(l, 1)
        DR = ir.D_from_matrix(R)
        conjugated = DR @ ir.D_from_log_coordinates(v) @ np.swapaxes(DR, -1, -2)
        np.testing.assert_allclose(ir.D_from_log_coordinates(Rv), conjugated, atol=1e-12)
