"""so(3) generators and Wigner D matrices in e3nn's real basis.

The real basis of degree ``l`` has components indexed ``i = l + m``,
``m = -l..l``. It is the basis of real spherical harmonics with y as the polar
axis and azimuth ``atan2(x, z)``: component ``m > 0`` goes like ``cos(m phi)``,
``m < 0`` like ``sin(|m| phi)``, without the Condon-Shortley sign. For ``l = 1``
the components are ``(x, y, z)``, so the Wigner D matrix of a rotation is the
rotation matrix itself. This is the basis of e3nn and e3nn-jax.

``wigner_D(l, alpha, beta, gamma) = expm(alpha G_y) expm(beta G_x) expm(gamma G_y)``
with ``G = so3_generators(l)``, the representation of ``Y(alpha) X(beta) Y(gamma)``.

How it is computed: a rotation about y is block diagonal in this basis (each
``+m`` component mixes only with ``-m``, with ``cos(m a)`` and ``sin(m a)``), so
applying it to a matrix costs O(l^2). A rotation about x is conjugate to one about y by the
half turn ``S`` about ``(1, 1, 0) / sqrt(2)`` (which swaps x and y):
``X(b) = S Y(b) S``. Its representation ``J = D(S)`` is a fixed symmetric,
orthogonal, involutive matrix per ``l``, built once from an eigendecomposition of
the generator of ``S``. One Wigner D matrix is then ``Y(a) J Y(b) J Y(g)``: one
dense (2l+1)^3 product, orthogonal to ~1e-14 for l = 30.
"""

from __future__ import annotations

import functools
import numbers

import numpy as np

from e3xp.core import rotations

__all__ = [
    "so3_generators",
    "generators",
    "wigner_D",
    "wigner_D_from_matrix",
    "wigner_D_from_quaternion",
    "wigner_D_from_axis_angle",
]


def _check_l(l) -> int:
    if isinstance(l, (bool, np.bool_)) or not isinstance(l, numbers.Integral):
        raise TypeError(f"l must be a non-negative int, got {l!r} of type {type(l).__name__}")
    if l < 0:
        raise ValueError(f"l must be a non-negative int, got {l!r}")
    return int(l)


def _read_only(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@functools.lru_cache(maxsize=None)
def _generators(l: int) -> np.ndarray:
    # Closed form in the real basis, so that no entry carries rounding from a basis
    # change (each is an integer or one square root). With y polar, G_y only pairs
    # cos(k phi) with sin(k phi) at frequency k. G_x and G_z are combinations of the
    # ladder operators: they link |m| = k to k + 1 with magnitude
    # sqrt(l(l+1) - k(k+1)) / 2, and m = 0 to its cos partner (G_x) or sin partner
    # (G_z) with sqrt(2) times that. The signs follow from the real combinations
    # without the Condon-Shortley sign; the tests rederive the whole matrices from
    # complex ladder operators and compare with e3nn.
    n = 2 * l + 1
    G = np.zeros((3, n, n))
    for k in range(1, l + 1):
        G[1, l - k, l + k] = k
    if l >= 1:
        c0 = np.sqrt(l * (l + 1) / 2)
        G[0, l, l + 1] = -c0
        G[2, l - 1, l] = -c0
    for k in range(1, l):
        c = np.sqrt(l * (l + 1) - k * (k + 1)) / 2
        G[0, l - k - 1, l - k] = c
        G[0, l + k, l + k + 1] = -c
        G[2, l - k, l + k + 1] = -c
        G[2, l - k - 1, l + k] = -c
    G = G - np.swapaxes(G, -1, -2)
    return _read_only(G)


def so3_generators(l) -> np.ndarray:
    """Real antisymmetric generators of rotations about x, y, z for degree ``l``.

    Parameters
    ----------
    l : int
        Degree, ``>= 0``.

    Returns
    -------
    ndarray of shape ``(3, 2l+1, 2l+1)``, float64, read-only (cached).
        ``expm(t * G[k])`` represents the rotation by ``t`` about axis ``k``; they
        satisfy ``[G_x, G_y] = G_z`` (and cyclic). For ``l = 1`` they are the
        infinitesimal rotations of ``(x, y, z)`` themselves.

    Examples
    --------
    >>> G = so3_generators(1)
    >>> G[0].astype(int).tolist()  # d/dt matrix_x(t) at t = 0
    [[0, 0, 0], [0, 0, -1], [0, 1, 0]]
    >>> G = so3_generators(3)
    >>> bool(np.allclose(G[0] @ G[1] - G[1] @ G[0], G[2]))
    True
    """
    return _generators(_check_l(l))


def generators(l) -> np.ndarray:
    """e3nn-jax's name for :func:`so3_generators`: the same (cached, read-only) array.

    Equals ``e3nn_jax.generators(l)`` to rounding (here each entry is an integer or
    one correctly rounded square root; e3nn-jax changes basis from
    ``su2_generators(l)`` in floating point). e3nn-jax returns a fresh writable
    array; ``np.array(generators(l))`` gives one.

    Examples
    --------
    >>> generators(1)[2].astype(int).tolist()  # d/dt matrix_z(t) at t = 0
    [[0, -1, 0], [1, 0, 0], [0, 0, 0]]
    >>> generators(2) is so3_generators(2)
    True
    """
    return so3_generators(l)


@functools.lru_cache(maxsize=None)
def _y_plan(l: int) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies ``f`` and partner indices ``p`` of the rotation about y.

    ``expm(a G_y)[i, i] = cos(f_i a)`` and ``expm(a G_y)[i, p_i] = sin(f_i a)``,
    read off the generator (``G_y[i, p_i] = f_i``, zero elsewhere).
    """
    Gy = _generators(l)[1]
    n = 2 * l + 1
    p = np.arange(n)[::-1].copy()
    f = Gy[np.arange(n), p].copy()
    # The fast path is only valid if G_y really is this 2x2-block matrix with
    # integer frequencies; check instead of trusting it.
    expected = np.zeros((n, n))
    expected[np.arange(n), p] = f
    if not (np.allclose(Gy, expected, atol=1e-12) and np.allclose(f, np.round(f), atol=1e-12)):
        raise RuntimeError(f"internal error: G_y for l={l} is not in the expected block form")
    return _read_only(np.round(f)), _read_only(p)


@functools.lru_cache(maxsize=None)
def _swap_xy(l: int) -> np.ndarray:
    """``D(S)`` for the half turn ``S`` about ``(1, 1, 0) / sqrt(2)``."""
    G = _generators(l)
    # i G is Hermitian with integer eigenvalues; exp(pi G) = V diag((-1)^lam) V^H is
    # real, and the phases of the eigenvectors cancel in the outer products.
    H = 1j * (G[0] + G[1]) / np.sqrt(2)
    lam, V = np.linalg.eigh(H)
    lam_int = np.round(lam)
    if not np.allclose(lam, lam_int, atol=1e-8):
        raise RuntimeError(f"internal error: eigenvalues for l={l} are not integers: {lam}")
    sign = np.where(lam_int % 2 == 0, 1.0, -1.0)
    # Re(V S V^H) = Vr S Vr^T + Vi S Vi^T: real products only.
    J = (V.real * sign) @ V.real.T + (V.imag * sign) @ V.imag.T
    J = (J + J.T) / 2  # exact symmetry: S is a half turn, so D(S) = D(S)^T = D(S)^-1
    return _read_only(J)


def _rotate_y_left(A: np.ndarray, angle: np.ndarray, f: np.ndarray, p: np.ndarray) -> np.ndarray:
    # expm(angle G_y) @ A using the 2x2 block structure.
    t = angle[..., None] * f
    return np.cos(t)[..., :, None] * A + np.sin(t)[..., :, None] * A[..., p, :]


def _rotate_y_right(A: np.ndarray, angle: np.ndarray, f: np.ndarray, p: np.ndarray) -> np.ndarray:
    # A @ expm(angle G_y); column j picks up row p_j of the block, whose sine is -sin(f_j a).
    t = angle[..., None] * f
    return np.cos(t)[..., None, :] * A - np.sin(t)[..., None, :] * A[..., :, p]


def wigner_D(l, alpha, beta, gamma) -> np.ndarray:
    """Wigner D matrices of Euler angles, in e3nn's real basis.

    ``expm(alpha G_y) @ expm(beta G_x) @ expm(gamma G_y)`` with
    ``G = so3_generators(l)``: the representation of
    ``angles_to_matrix(alpha, beta, gamma)``.

    Parameters
    ----------
    l : int
        Degree, ``>= 0``.
    alpha, beta, gamma : array_like
        Euler angles, broadcast against each other.

    Returns
    -------
    ndarray of shape ``broadcast_shape + (2l+1, 2l+1)``, float64.

    Examples
    --------
    >>> D = wigner_D(1, 0.1, 0.2, 0.3)
    >>> bool(np.allclose(D, rotations.angles_to_matrix(0.1, 0.2, 0.3)))
    True
    >>> wigner_D(4, np.zeros(5), 0.0, 0.0).shape
    (5, 9, 9)
    """
    l = _check_l(l)
    a, b, c = np.broadcast_arrays(
        rotations._real(alpha, "alpha"), rotations._real(beta, "beta"),
        rotations._real(gamma, "gamma"),
    )
    f, p = _y_plan(l)
    J = _swap_xy(l)
    X = J @ _rotate_y_left(J, b, f, p)  # D(X(b)) = J D(Y(b)) J
    return _rotate_y_right(_rotate_y_left(X, a, f, p), c, f, p)


def wigner_D_from_matrix(l, R) -> np.ndarray:
    """Wigner D matrices of rotation matrices.

    ``R`` must be a rotation (validated with
    :func:`e3xp.core.rotations.check_rotation`); parity is the caller's business:
    for an element ``s R`` of O(3) pass ``R`` and multiply by ``s**l`` or as the
    irrep's parity requires.

    Examples
    --------
    >>> R = rotations.rand_matrix(0)
    >>> bool(np.allclose(wigner_D_from_matrix(1, R), R))
    True
    """
    R = rotations.check_rotation(R)
    return wigner_D(l, *rotations._angles_of_rotation(R))  # checked just above


def wigner_D_from_quaternion(l, q) -> np.ndarray:
    """Wigner D matrices of quaternions ``(w, x, y, z)`` (normalized first).

    Examples
    --------
    >>> q = rotations.axis_angle_to_quaternion([0, 0, 1], np.pi / 2)
    >>> bool(np.allclose(wigner_D_from_quaternion(1, q), rotations.matrix_z(np.pi / 2)))
    True
    """
    return wigner_D(l, *rotations.quaternion_to_angles(q))


def wigner_D_from_axis_angle(l, axis, angle) -> np.ndarray:
    """Wigner D matrices of rotations given as axis (normalized first) and angle.

    Examples
    --------
    >>> D = wigner_D_from_axis_angle(2, [0, 1, 0], 0.3)
    >>> bool(np.allclose(D, wigner_D(2, 0.3, 0.0, 0.0)))
    True
    """
    return wigner_D(l, *rotations.axis_angle_to_angles(axis, angle))
