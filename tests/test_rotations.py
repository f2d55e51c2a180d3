"""Rotations: conventions, conversions (including gimbal lock), randomness, validation.

Independent derivations used here: Rodrigues' formula written in this file (so
it does not share code with the module), the cross-product form of the
infinitesimal rotations, exact quarter turns, and Haar moments from character
theory (E[tr R] = 0, E[tr(R)^2] = 1, Var[tr(R)^2] = 2 for Haar SO(3)).
"""

import numpy as np
import pytest

from e3xp.core import rotations as r

TOL = 1e-12
EX, EY, EZ = np.eye(3)


def rodrigues(axis, angle):
    """R = I + sin(t) K + (1 - cos(t)) K^2 with K the cross-product matrix of the unit axis."""
    axis = np.asarray(axis, dtype=float)
    axis = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = np.asarray(angle, dtype=float)[..., None, None]
    x, y, z = np.moveaxis(axis, -1, 0)
    zero = np.zeros_like(x)
    K = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(x.shape + (3, 3))
    return np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * (K @ K)


def same_rotation_quaternion(q1, q2, atol=TOL):
    # q and -q are the same rotation.
    d = np.minimum(np.abs(q1 - q2).max(axis=-1), np.abs(q1 + q2).max(axis=-1))
    return np.all(d < atol)


# --------------------------------------------------------------------------- elementary


@pytest.mark.parametrize("k, fn", [(0, r.matrix_x), (1, r.matrix_y), (2, r.matrix_z)])
def test_elementary_matrices_are_right_handed(k, fn):
    t = np.linspace(-7, 7, 29)
    assert np.abs(fn(t) - rodrigues(np.eye(3)[k], t)).max() < TOL
    # Quarter turns, exact anchors of the right-hand rule: x -> y -> z -> x.
    e = np.eye(3)
    assert np.allclose(fn(np.pi / 2) @ e[(k + 1) % 3], e[(k + 2) % 3], atol=1e-15)
    # Derivative at 0 is v -> e_k x v.
    h = 1e-6
    G = (fn(h) - fn(-h)) / (2 * h)
    v = np.array([0.3, -1.2, 0.7])
    assert np.allclose(G @ v, np.cross(e[k], v), atol=1e-9)


def test_angles_to_matrix_is_y_x_y_product():
    a, b, c = r.rand_angles(0, (50,))
    expected = rodrigues(EY, a) @ rodrigues(EX, b) @ rodrigues(EY, c)
    assert np.abs(r.angles_to_matrix(a, b, c) - expected).max() < TOL


def test_angles_broadcast():
    a = np.zeros((4, 1))
    b = np.linspace(0, 1, 3)
    R = r.angles_to_matrix(a, b, 0.5)
    assert R.shape == (4, 3, 3, 3)
    assert np.abs(R[2, 1] - r.angles_to_matrix(0.0, b[1], 0.5)).max() == 0


# --------------------------------------------------------------------------- quaternions


def test_quaternion_anchors():
    # From reference-facts.md: identity [1, 0, 0, 0]; quarter turn about z [0.7071, 0, 0, 0.7071].
    assert np.allclose(r.quaternion_to_matrix([1.0, 0, 0, 0]), np.eye(3), atol=0)
    s = np.sqrt(0.5)
    assert np.allclose(r.quaternion_to_matrix([s, 0, 0, s]), r.matrix_z(np.pi / 2), atol=1e-15)
    assert np.allclose(r.matrix_to_quaternion(r.matrix_z(np.pi / 2)), [s, 0, 0, s], atol=1e-15)


def test_quaternion_to_matrix_vs_rodrigues():
    q = r.rand_quaternion(1, (200,))
    angle = 2 * np.arccos(np.clip(q[:, 0], -1, 1))
    assert np.abs(r.quaternion_to_matrix(q) - rodrigues(q[:, 1:], angle)).max() < 1e-12
    # Non-unit quaternions are normalized first.
    assert np.abs(r.quaternion_to_matrix(3.5 * q) - r.quaternion_to_matrix(q)).max() < TOL


def test_compose_and_inverse_quaternion():
    q1, q2 = r.rand_quaternion(2, (2, 100))
    R1, R2 = r.quaternion_to_matrix(q1), r.quaternion_to_matrix(q2)
    assert np.abs(r.quaternion_to_matrix(r.compose_quaternion(q1, q2)) - R1 @ R2).max() < TOL
    ident = r.compose_quaternion(q1, r.inverse_quaternion(q1))
    assert np.abs(ident - [1, 0, 0, 0]).max() < TOL
    assert np.abs(r.quaternion_to_matrix(r.inverse_quaternion(q1)) - np.swapaxes(R1, -1, -2)).max() < TOL


# --------------------------------------------------------------------------- round trips


def gimbal_angles():
    rng = np.random.default_rng(3)
    a = rng.uniform(-7, 7, 40)
    c = rng.uniform(-7, 7, 40)
    b = np.repeat([0.0, np.pi, 1e-9, np.pi - 1e-9, 1e-5, -1e-12, np.pi + 1e-12, 2 * np.pi], 5)
    return a, b, c


@pytest.mark.parametrize("kind", ["random", "gimbal"])
def test_matrix_angles_round_trip(kind):
    a, b, c = r.rand_angles(4, (300,)) if kind == "random" else gimbal_angles()
    R = r.angles_to_matrix(a, b, c)
    a2, b2, c2 = r.matrix_to_angles(R)
    assert np.abs(r.angles_to_matrix(a2, b2, c2) - R).max() < 1e-14 * 10
    assert np.all((b2 >= 0) & (b2 <= np.pi))
    assert np.all(np.abs(a2) <= np.pi) and np.all(np.abs(c2) <= np.pi)
    if kind == "random":
        # Away from gimbal lock the canonical angles are recovered.
        wrap = lambda t: np.angle(np.exp(1j * t))  # noqa: E731
        assert np.abs(wrap(a2 - a)).max() < 1e-10 and np.abs(b2 - b).max() < 1e-10
        assert np.abs(wrap(c2 - c)).max() < 1e-10


@pytest.mark.parametrize("kind", ["random", "gimbal"])
def test_quaternion_angles_round_trip(kind):
    a, b, c = r.rand_angles(5, (300,)) if kind == "random" else gimbal_angles()
    q = r.angles_to_quaternion(a, b, c)
    assert np.abs(r.quaternion_to_matrix(q) - r.angles_to_matrix(a, b, c)).max() < TOL
    q2 = r.angles_to_quaternion(*r.quaternion_to_angles(q))
    assert same_rotation_quaternion(q, q2)


def special_axis_angles():
    axis = r.rand_quaternion(6, (48,))[:, 1:]  # random directions, varied lengths
    angle = np.repeat([0.0, np.pi, 1e-9, np.pi - 1e-9, 1e-300, np.pi - 1e-15], 8)
    return axis, angle


@pytest.mark.parametrize("kind", ["random", "special"])
def test_axis_angle_round_trips(kind):
    if kind == "random":
        axis, angle = r.rand_axis_angle(7, (300,))
    else:
        axis, angle = special_axis_angles()
    R = r.axis_angle_to_matrix(axis, angle)
    assert np.abs(R - rodrigues(axis, angle)).max() < TOL
    for ax2, an2 in [
        r.matrix_to_axis_angle(R),
        r.quaternion_to_axis_angle(r.axis_angle_to_quaternion(axis, angle)),
        r.angles_to_axis_angle(*r.axis_angle_to_angles(axis, angle)),
    ]:
        assert np.abs(r.axis_angle_to_matrix(ax2, an2) - R).max() < 1e-14 * 10
        assert np.all((an2 >= 0) & (an2 <= np.pi))
        assert np.allclose(np.linalg.norm(ax2, axis=-1), 1, atol=1e-15)
    ax2, an2 = r.matrix_to_axis_angle(R)
    # Small angles are recovered to relative precision (an atan2, not an arccos).
    small = (angle > 0) & (angle < 1e-6)
    assert np.all(np.abs(an2[small] - angle[small]) <= 1e-6 * angle[small])
    moderate = (angle > 1e-6) & (angle < np.pi - 1e-6)
    unit = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    assert np.all(np.abs(ax2[moderate] - unit[moderate]) < 1e-9)


def test_matrix_to_quaternion_half_turns():
    # Trace -1: the w pivot vanishes, Shepperd must pick a vector pivot.
    axis = r.rand_quaternion(8, (100,))[:, 1:]
    axis = np.concatenate([axis, np.eye(3), -np.eye(3)])
    R = rodrigues(axis, np.pi)
    q = r.matrix_to_quaternion(R)
    assert np.abs(r.quaternion_to_matrix(q) - R).max() < 1e-14 * 5
    assert np.abs(q[:, 0]).max() < 1e-15 * 10
    assert np.all(q[:, 0] >= 0)


def test_matrix_to_quaternion_random_and_sign():
    R = r.rand_matrix(9, (500,))
    q = r.matrix_to_quaternion(R)
    assert np.all(q[:, 0] >= 0)
    assert np.abs(np.linalg.norm(q, axis=-1) - 1).max() < 1e-15 * 4
    assert np.abs(r.quaternion_to_matrix(q) - R).max() < 1e-14


def test_compose_angles_and_axis_angle():
    a1, a2 = r.rand_angles(10, (2, 100))[0], r.rand_angles(11, (2, 100))[0]
    b1, b2 = r.rand_angles(12, (2, 100))[1], r.rand_angles(13, (2, 100))[1]
    c1, c2 = r.rand_angles(14, (2, 100))[2], r.rand_angles(15, (2, 100))[2]
    expected = r.angles_to_matrix(a1, b1, c1) @ r.angles_to_matrix(a2, b2, c2)
    got = r.angles_to_matrix(*r.compose_angles(a1, b1, c1, a2, b2, c2))
    assert np.abs(got - expected).max() < 1e-13
    inv = r.angles_to_matrix(*r.inverse_angles(a1, b1, c1)) @ r.angles_to_matrix(a1, b1, c1)
    assert np.abs(inv - np.eye(3)).max() < TOL

    (x1, t1), (x2, t2) = r.rand_axis_angle(16, (100,)), r.rand_axis_angle(17, (100,))
    expected = rodrigues(x1, t1) @ rodrigues(x2, t2)
    assert np.abs(r.axis_angle_to_matrix(*r.compose_axis_angle(x1, t1, x2, t2)) - expected).max() < 1e-13
    xi, ti = r.inverse_axis_angle(3 * x1, t1)
    assert np.abs(rodrigues(xi, ti) @ rodrigues(x1, t1) - np.eye(3)).max() < TOL


# --------------------------------------------------------------------------- sphere


def test_angles_to_xyz():
    # From reference-facts.md: angles_to_xyz(0, 0) is (0, 1, 0), y is the polar axis.
    assert r.angles_to_xyz(0.0, 0.0).tolist() == [0.0, 1.0, 0.0]
    a, b, c = r.rand_angles(18, (100,))
    assert np.abs(r.angles_to_xyz(a, b) - r.angles_to_matrix(a, b, c) @ EY).max() < TOL


def test_xyz_to_angles():
    rng = np.random.default_rng(19)
    v = rng.normal(size=(200, 3)) * rng.uniform(0.01, 100, size=(200, 1))
    a, b = r.xyz_to_angles(v)
    assert np.abs(r.angles_to_xyz(a, b) - v / np.linalg.norm(v, axis=-1, keepdims=True)).max() < TOL
    # Near the pole beta is accurate (atan2, not arccos of a rounded cosine).
    _, b = r.xyz_to_angles([1e-10, 1.0, 0.0])
    assert abs(b - 1e-10) < 1e-22
    a, b = r.xyz_to_angles([0.0, -2.0, 0.0])
    assert b == np.pi


# --------------------------------------------------------------------------- randomness


def haar_checks(R):
    n = R.shape[0]
    assert np.abs(R.mean(axis=0)).max() < 5 * np.sqrt(1 / (3 * n))  # each entry: variance 1/3
    tr = np.trace(R, axis1=-2, axis2=-1)
    assert abs(tr.mean()) < 5 * np.sqrt(1 / n)
    assert abs((tr**2).mean() - 1) < 5 * np.sqrt(2 / n)


@pytest.mark.parametrize(
    "sampler",
    [
        lambda s, n: r.rand_matrix(s, n),
        lambda s, n: r.angles_to_matrix(*r.rand_angles(s, n)),
        lambda s, n: r.quaternion_to_matrix(r.rand_quaternion(s, n)),
        lambda s, n: r.axis_angle_to_matrix(*r.rand_axis_angle(s, n)),
    ],
)
def test_haar_uniformity_smoke(sampler):
    haar_checks(sampler(20, 20000))


def test_haar_check_is_not_vacuous():
    # Uniform Euler angles (beta uniform instead of arccos-uniform) are not Haar.
    rng = np.random.default_rng(21)
    a, b, c = rng.uniform(0, 2 * np.pi, (3, 20000))
    b = b / 2
    with pytest.raises(AssertionError):
        haar_checks(r.angles_to_matrix(a, b, c))


def test_rand_o3_matrix():
    Q = r.rand_o3_matrix(22, (4000,))
    det = np.linalg.det(Q)
    assert np.abs(np.abs(det) - 1).max() < 1e-13
    assert 0.45 < (det < 0).mean() < 0.55
    haar_checks(det[:, None, None] * Q)


def test_random_shapes_and_reproducibility():
    assert r.rand_matrix(0).shape == (3, 3)
    assert r.rand_matrix(0, 5).shape == (5, 3, 3)
    assert r.rand_quaternion(0, (2, 3)).shape == (2, 3, 4)
    assert np.array_equal(r.rand_matrix(123, (3,)), r.rand_matrix(123, (3,)))
    assert not np.array_equal(r.rand_matrix(123, (3,)), r.rand_matrix(124, (3,)))
    rng = np.random.default_rng(0)
    assert not np.array_equal(r.rand_matrix(rng), r.rand_matrix(rng))  # a Generator advances
    with pytest.raises(TypeError, match="shape"):
        r.rand_matrix(0, (2.5,))


def test_as_generator_types():
    assert isinstance(r.as_generator(None), np.random.Generator)
    g = np.random.default_rng(1)
    assert r.as_generator(g) is g
    assert r.as_generator(np.int64(7)).random() == r.as_generator(7).random()
    with pytest.raises(TypeError, match="str"):
        r.as_generator("seed")
    with pytest.raises(TypeError, match="float"):
        r.as_generator(1.5)
    with pytest.raises(TypeError, match="bool"):
        r.as_generator(True)
    with pytest.raises(ValueError, match="-3"):
        r.as_generator(-3)
    # An unsigned array is accepted as a key; different keys give different streams.
    k1 = r.as_generator(np.array([0, 1], dtype=np.uint32)).random()
    k2 = r.as_generator(np.array([1, 0], dtype=np.uint32)).random()
    assert k1 != k2


def test_as_generator_jax_keys():
    jax = pytest.importorskip("jax")
    raw = r.as_generator(jax.random.PRNGKey(3)).random()
    assert raw == r.as_generator(jax.random.PRNGKey(3)).random()
    assert raw != r.as_generator(jax.random.PRNGKey(4)).random()
    typed = r.as_generator(jax.random.key(3)).random()
    assert typed == raw  # same key data
    assert r.rand_matrix(jax.random.PRNGKey(0)).shape == (3, 3)


def test_as_generator_torch_generator():
    torch = pytest.importorskip("torch")
    a = r.as_generator(torch.Generator().manual_seed(5)).random()
    assert a == r.as_generator(torch.Generator().manual_seed(5)).random()
    assert a != r.as_generator(torch.Generator().manual_seed(6)).random()


# --------------------------------------------------------------------------- validation


def test_check_rotation():
    R = r.check_rotation(np.eye(3, dtype=int))
    assert R.dtype == np.float64
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 3\).*\(3, 4\)"):
        r.check_rotation(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="not orthogonal.*= 3 "):
        r.check_rotation(2 * np.eye(3))
    M = r.rand_matrix(0, (4,))
    M[2, 0, 0] += 1e-3
    with pytest.raises(ValueError, match=r"0\.00\d+ > atol=1e-06 at batch index \(2,\)"):
        r.check_rotation(M)
    r.check_rotation(M, atol=1e-2)
    with pytest.raises(ValueError, match="determinant -1"):
        r.check_rotation(-r.rand_matrix(1))
    assert np.allclose(r.check_rotation(-np.eye(3), allow_parity=True), -np.eye(3))
    with pytest.raises(ValueError, match="finite"):
        r.check_rotation(np.full((3, 3), np.nan))
    with pytest.raises(TypeError, match="dtype"):
        r.check_rotation(np.eye(3, dtype=complex))


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\).*\(3,\)"):
        r.quaternion_to_matrix([1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"\[0\.0, 0\.0, 0\.0, 0\.0\]"):
        r.quaternion_to_matrix(np.zeros(4))
    with pytest.raises(ValueError, match=r"batch index \(1,\)"):
        r.axis_angle_to_matrix([[1.0, 0, 0], [0, 0, 0]], 0.3)
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 3\)"):
        r.matrix_to_angles(np.eye(4))
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        r.xyz_to_angles([1.0, 2.0])
    with pytest.raises(TypeError, match="alpha"):
        r.angles_to_matrix("a", 0, 0)


# --------------------------------------------------------------------------- reference libraries


def test_against_e3nn():
    torch = pytest.importorskip("torch")
    o3 = pytest.importorskip("e3nn.o3")
    a, b, c = r.rand_angles(30, (100,))
    ta, tb, tc = (torch.tensor(t, dtype=torch.float64) for t in (a, b, c))
    assert np.abs(o3.angles_to_matrix(ta, tb, tc).numpy() - r.angles_to_matrix(a, b, c)).max() < TOL
    assert np.abs(o3.angles_to_xyz(ta, tb).numpy() - r.angles_to_xyz(a, b)).max() < TOL
    q = r.angles_to_quaternion(a, b, c)
    assert same_rotation_quaternion(o3.angles_to_quaternion(ta, tb, tc).numpy(), q)
    R = r.angles_to_matrix(a, b, c)
    assert np.abs(o3.quaternion_to_matrix(torch.tensor(q)).numpy() - R).max() < TOL
    axis, angle = r.rand_axis_angle(31, (100,))
    assert np.abs(
        o3.axis_angle_to_matrix(torch.tensor(axis), torch.tensor(angle)).numpy()
        - r.axis_angle_to_matrix(axis, angle)
    ).max() < TOL
    # e3nn's matrix_to_angles uses arccos; agreement is to its precision, not ours.
    ea, eb, ec = (t.numpy() for t in o3.matrix_to_angles(torch.tensor(R)))
    wrap = lambda t: np.angle(np.exp(1j * t))  # noqa: E731
    ma, mb, mc = r.matrix_to_angles(R)
    assert max(np.abs(wrap(ea - ma)).max(), np.abs(eb - mb).max(), np.abs(wrap(ec - mc)).max()) < 1e-7


def test_against_e3nn_jax():
    jax = pytest.importorskip("jax")
    e3nn_jax = pytest.importorskip("e3nn_jax")
    with jax.enable_x64(True):
        a, b, c = r.rand_angles(32, (100,))
        R = r.angles_to_matrix(a, b, c)
        assert np.abs(np.asarray(e3nn_jax.angles_to_matrix(a, b, c)) - R).max() < TOL
        q = r.angles_to_quaternion(a, b, c)
        assert same_rotation_quaternion(np.asarray(e3nn_jax.angles_to_quaternion(a, b, c)), q)
        assert np.abs(r.quaternion_to_matrix(np.asarray(e3nn_jax.matrix_to_quaternion(R))) - R).max() < 1e-12
        axis, angle = r.rand_axis_angle(33, (100,))
        assert np.abs(
            np.asarray(e3nn_jax.axis_angle_to_matrix(axis, angle)) - r.axis_angle_to_matrix(axis, angle)
        ).max() < TOL
