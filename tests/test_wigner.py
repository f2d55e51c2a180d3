"""so(3) generators and Wigner D matrices.

Independent derivations used here: the l = 1 generators are the cross products
``v -> e_k x v`` (so ``[G_x, G_y] = G_z`` by the Jacobi identity); the Casimir
``sum_k G_k^2 = -l(l+1)``; scipy's matrix exponential of the generators; the
real spherical harmonics built from scipy's complex ones (y polar, azimuth
atan2(x, z), no Condon-Shortley sign), which must transform as
``Y(R v) = D(R) Y(v)``; the l = 2 harmonics quoted in reference-facts.md; and
e3nn / e3nn-jax when installed.
"""

import numpy as np
import pytest

from e3xp.core import rotations as r
from e3xp.core import wigner as w

scipy_linalg = pytest.importorskip("scipy.linalg")


def orthogonality_error(D):
    n = D.shape[-1]
    return np.abs(D @ np.swapaxes(D, -1, -2) - np.eye(n)).max()


# --------------------------------------------------------------------------- generators


def test_l1_generators_are_cross_products():
    G = w.so3_generators(1)
    v = np.random.default_rng(0).normal(size=(3, 10))
    for k in range(3):
        assert np.abs(G[k] @ v - np.cross(np.eye(3)[k][:, None], v, axis=0)).max() < 1e-15
        assert np.array_equal(G[k], np.round(G[k]))


@pytest.mark.parametrize("k, fn", [(0, r.matrix_x), (1, r.matrix_y), (2, r.matrix_z)])
def test_l1_exponential_is_elementary_rotation(k, fn):
    G = w.so3_generators(1)
    for t in (0.3, -2.0, 5.0):
        assert np.abs(scipy_linalg.expm(t * G[k]) - fn(t)).max() < 1e-14


@pytest.mark.parametrize("l", range(0, 11))
def test_generator_algebra(l):
    G = w.so3_generators(l)
    n = 2 * l + 1
    assert G.shape == (3, n, n) and G.dtype == np.float64
    assert np.abs(G + np.swapaxes(G, -1, -2)).max() == 0
    comm = lambda A, B: A @ B - B @ A  # noqa: E731
    tol = 1e-12 * (l + 1) ** 2
    # Same structure constants as l = 1 (cross products): [G_x, G_y] = G_z and cyclic.
    assert np.abs(comm(G[0], G[1]) - G[2]).max() < tol
    assert np.abs(comm(G[1], G[2]) - G[0]).max() < tol
    assert np.abs(comm(G[2], G[0]) - G[1]).max() < tol
    casimir = G[0] @ G[0] + G[1] @ G[1] + G[2] @ G[2]
    assert np.abs(casimir + l * (l + 1) * np.eye(n)).max() < tol
    # y is the polar axis: G_y pairs component l+m with l-m at frequency |m|.
    m = np.arange(-l, l + 1)
    expected = np.zeros((n, n))
    expected[np.arange(n), np.arange(n)[::-1]] = -m
    assert np.abs(G[1] - expected).max() < 1e-14


def test_generators_cached_read_only():
    G = w.so3_generators(4)
    assert G is w.so3_generators(4)
    assert not G.flags.writeable
    with pytest.raises(ValueError):
        G[0, 0, 0] = 1.0


@pytest.mark.parametrize("bad, exc", [(-1, ValueError), (1.5, TypeError), ("2", TypeError), (True, TypeError)])
def test_bad_l(bad, exc):
    with pytest.raises(exc, match=repr(bad).replace(".", r"\.")):
        w.so3_generators(bad)
    with pytest.raises(exc):
        w.wigner_D(bad, 0.0, 0.0, 0.0)


# --------------------------------------------------------------------------- Wigner D


@pytest.mark.parametrize("l", range(0, 7))
def test_wigner_D_equals_expm_of_generators(l):
    G = w.so3_generators(l)
    a, b, c = r.rand_angles(l, (5,))
    a = np.concatenate([a, [0.0, 0.0, -9.0]])
    b = np.concatenate([b, [0.0, np.pi, 12.0]])
    c = np.concatenate([c, [1.0, -1.0, 0.5]])
    D = w.wigner_D(l, a, b, c)
    for i in range(len(a)):
        expected = (
            scipy_linalg.expm(a[i] * G[1]) @ scipy_linalg.expm(b[i] * G[0]) @ scipy_linalg.expm(c[i] * G[1])
        )
        assert np.abs(D[i] - expected).max() < 1e-13 * (l + 1)


def test_l1_is_rotation_matrix():
    R = r.rand_matrix(1, (100,))
    assert np.abs(w.wigner_D_from_matrix(1, R) - R).max() < 1e-12
    a, b, c = r.rand_angles(2, (100,))
    assert np.abs(w.wigner_D(1, a, b, c) - r.angles_to_matrix(a, b, c)).max() < 1e-14


def test_l0_is_one():
    assert np.array_equal(w.wigner_D(0, np.zeros(3), 1.0, 2.0), np.ones((3, 1, 1)))


@pytest.mark.parametrize("l", [2, 5, 10, 30])
def test_homomorphism(l):
    R1, R2 = r.rand_matrix(3 + l, (2, 20))
    D12 = w.wigner_D_from_matrix(l, R1 @ R2)
    assert np.abs(D12 - w.wigner_D_from_matrix(l, R1) @ w.wigner_D_from_matrix(l, R2)).max() < 1e-12
    assert np.abs(w.wigner_D_from_matrix(l, np.eye(3)) - np.eye(2 * l + 1)).max() < 1e-13
    assert np.abs(w.wigner_D_from_matrix(l, np.swapaxes(R1, -1, -2)) - np.swapaxes(w.wigner_D_from_matrix(l, R1), -1, -2)).max() < 1e-12


def test_orthogonality_up_to_l30():
    a, b, c = r.rand_angles(4, (20,))
    for l in range(0, 31):
        assert orthogonality_error(w.wigner_D(l, a, b, c)) < 1e-10


def test_gimbal_lock_matrices():
    # beta = 0 or pi: matrix_to_angles is not unique, D must still be D(R).
    a = np.array([0.3, -2.0, 1.0, 0.0])
    c = np.array([1.1, 0.4, -3.0, 0.0])
    for beta in (0.0, np.pi, 1e-10, np.pi - 1e-10):
        R = r.angles_to_matrix(a, beta, c)
        for l in (1, 3, 8):
            assert np.abs(w.wigner_D_from_matrix(l, R) - w.wigner_D(l, a, beta, c)).max() < 1e-12


def test_from_quaternion_and_axis_angle():
    axis, angle = r.rand_axis_angle(5, (20,))
    q = r.axis_angle_to_quaternion(axis, angle)
    R = r.axis_angle_to_matrix(axis, angle)
    for l in (1, 4, 7):
        D = w.wigner_D_from_matrix(l, R)
        assert np.abs(w.wigner_D_from_quaternion(l, q) - D).max() < 1e-12
        assert np.abs(w.wigner_D_from_quaternion(l, -2 * q) - D).max() < 1e-12
        assert np.abs(w.wigner_D_from_axis_angle(l, axis, angle) - D).max() < 1e-12
        # Rotation about an axis by t is expm(t n.G).
        G = w.so3_generators(l)
        expected = scipy_linalg.expm(angle[0] * np.tensordot(axis[0], G, axes=1))
        assert np.abs(w.wigner_D_from_axis_angle(l, axis[0], angle[0]) - expected).max() < 1e-12


def test_broadcast_shapes():
    D = w.wigner_D(2, np.zeros((4, 1)), np.zeros(3), 0.0)
    assert D.shape == (4, 3, 5, 5)
    assert w.wigner_D(3, 0.1, 0.2, 0.3).shape == (7, 7)
    assert w.wigner_D_from_matrix(2, r.rand_matrix(0, (2, 3))).shape == (2, 3, 5, 5)


def test_from_matrix_rejects_non_rotations():
    with pytest.raises(ValueError, match="determinant -1"):
        w.wigner_D_from_matrix(2, -np.eye(3))
    with pytest.raises(ValueError, match="not orthogonal"):
        w.wigner_D_from_matrix(2, 2 * np.eye(3))
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 3\)"):
        w.wigner_D_from_matrix(2, np.eye(2))


# --------------------------------------------------------------------------- basis = real harmonics


def real_harmonics(l, v):
    """Real orthonormal harmonics in e3nn's frame, from scipy's complex ones.

    Polar axis y, azimuth atan2(x, z); scipy's Y_l^m carries the Condon-Shortley
    sign (-1)^m, which the real basis does not, hence the (-1)^m factors.
    """
    special = pytest.importorskip("scipy.special")
    x, y, z = np.moveaxis(v / np.linalg.norm(v, axis=-1, keepdims=True), -1, 0)
    theta = np.arccos(np.clip(y, -1, 1))
    phi = np.arctan2(x, z)
    out = []
    for m in range(-l, l + 1):
        Y = special.sph_harm_y(l, abs(m), theta, phi)
        if m > 0:
            out.append(np.sqrt(2) * (-1) ** m * Y.real)
        elif m < 0:
            out.append(np.sqrt(2) * (-1) ** m * Y.imag)
        else:
            out.append(Y.real)
    return np.stack(out, axis=-1)


@pytest.mark.parametrize("l", range(0, 7))
def test_D_rotates_real_harmonics(l):
    v = np.random.default_rng(6).normal(size=(30, 3))
    R = r.rand_matrix(7, (30,))
    lhs = real_harmonics(l, np.einsum("bij,bj->bi", R, v))
    rhs = np.einsum("bij,bj->bi", w.wigner_D_from_matrix(l, R), real_harmonics(l, v))
    assert np.abs(lhs - rhs).max() < 1e-12


def test_D_rotates_reference_l2_harmonics():
    # The l=2 component formulas of reference-facts.md (component normalization).
    def Y2(v):
        x, y, z = np.moveaxis(v / np.linalg.norm(v, axis=-1, keepdims=True), -1, 0)
        s15 = np.sqrt(15)
        return np.stack(
            [s15 * x * z, s15 * x * y, np.sqrt(5) / 2 * (2 * y**2 - x**2 - z**2), s15 * y * z, s15 / 2 * (z**2 - x**2)],
            axis=-1,
        )

    v = np.random.default_rng(8).normal(size=(30, 3))
    R = r.rand_matrix(9, (30,))
    rhs = np.einsum("bij,bj->bi", w.wigner_D_from_matrix(2, R), Y2(v))
    assert np.abs(Y2(np.einsum("bij,bj->bi", R, v)) - rhs).max() < 1e-12


# --------------------------------------------------------------------------- reference libraries


def test_against_e3nn():
    torch = pytest.importorskip("torch")
    o3 = pytest.importorskip("e3nn.o3")
    a, b, c = r.rand_angles(10, (50,))
    ta, tb, tc = (torch.tensor(t, dtype=torch.float64) for t in (a, b, c))
    R = r.rand_matrix(11, (20,))
    # e3nn builds its generators in the default dtype; float32 would cost 1e-7.
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        for l in range(0, 11):
            assert np.abs(o3.so3_generators(l).numpy() - w.so3_generators(l)).max() < 1e-14
            D = o3.wigner_D(l, ta, tb, tc).numpy()
            assert np.abs(D - w.wigner_D(l, a, b, c)).max() < 1e-12
        for l in (1, 2, 5):
            e = o3.Irrep(l, (-1) ** l).D_from_matrix(torch.tensor(R)).numpy()
            assert np.abs(e - w.wigner_D_from_matrix(l, R)).max() < 1e-12
    finally:
        torch.set_default_dtype(previous)


def test_against_e3nn_jax():
    jax = pytest.importorskip("jax")
    e3nn_jax = pytest.importorskip("e3nn_jax")
    ls = (0, 1, 2, 3, 5, 8, 10)
    a, b, c = r.rand_angles(12, (50,))
    with jax.enable_x64(True):
        for l in range(0, 11):
            assert np.abs(np.asarray(e3nn_jax.generators(l)) - w.so3_generators(l)).max() < 1e-14
        # One compiled call for all degrees: compiling per degree would take ~2 s each.
        irreps = e3nn_jax.Irreps("+".join(f"{l}e" for l in ls))
        D = np.asarray(jax.jit(jax.vmap(irreps.D_from_angles))(a, b, c))
    start = 0
    for l in ls:
        n = 2 * l + 1
        assert np.abs(D[:, start : start + n, start : start + n] - w.wigner_D(l, a, b, c)).max() < 1e-12
        start += n


def generators_from_complex_ladder(l):
    """Rederive the generators: complex angular momentum, then the real basis change.

    Complex basis |l, m> about the polar axis with Condon-Shortley ladder phases
    L+ |m> = sqrt(l(l+1) - m(m+1)) |m+1>. Real basis vectors (columns of U):
    ((-1)^k Y_k + Y_-k)/sqrt(2) ~ cos(k phi) at index l+k and
    ((-1)^k Y_k - Y_-k)/(i sqrt(2)) ~ sin(k phi) at index l-k. A rotation
    exp(-i t L) acting on functions has the real generator -i L. The complex
    frame's axes (1, 2, 3) are e3nn's (z, x, y): polar 3 = y, phi from z to x.
    """
    n = 2 * l + 1
    m = np.arange(-l, l + 1)
    raising = np.diag(np.sqrt(l * (l + 1) - m[:-1] * (m[:-1] + 1.0)), k=-1)
    lowering = raising.T
    L = [(raising + lowering) / 2, (raising - lowering) / 2j, np.diag(m).astype(complex)]
    U = np.zeros((n, n), dtype=complex)
    U[l, l] = 1
    for k in range(1, l + 1):
        U[l + k, l + k] = (-1) ** k / np.sqrt(2)
        U[l - k, l + k] = 1 / np.sqrt(2)
        U[l + k, l - k] = (-1) ** k / (1j * np.sqrt(2))
        U[l - k, l - k] = -1 / (1j * np.sqrt(2))
    real = [U.conj().T @ (-1j * Lk) @ U for Lk in L]
    assert max(np.abs(g.imag).max() for g in real) < 1e-13
    return np.stack([real[1].real, real[2].real, real[0].real])


@pytest.mark.parametrize("l", [0, 1, 2, 3, 7, 20])
def test_generators_match_complex_derivation(l):
    assert np.abs(w.so3_generators(l) - generators_from_complex_ladder(l)).max() < 1e-12
