"""Rotations of 3D space: Euler angles, matrices, quaternions, axis-angle, random draws.

Conventions (those of e3nn / e3nn-jax):

- Euler angles ``(alpha, beta, gamma)`` mean ``Y(alpha) @ X(beta) @ Y(gamma)``,
  where ``X``, ``Y``, ``Z`` are the right-handed rotations about the x, y, z axes
  (:func:`matrix_x`, :func:`matrix_y`, :func:`matrix_z`).
- y is the polar axis: ``angles_to_xyz(0, 0) == (0, 1, 0)``.
- Quaternions are ``(w, x, y, z)``; the identity is ``[1, 0, 0, 0]`` and ``q`` and
  ``-q`` are the same rotation.
- Axis-angle is a unit 3-vector and an angle (right-hand rule).
- ``compose_*(a, b)`` is the rotation "apply ``b``, then ``a``", i.e. the matrix
  ``matrix(a) @ matrix(b)``.

Every function works in float64 on numpy arrays, batched over leading axes with
broadcasting between its arguments. Matrices have shape ``(..., 3, 3)``,
quaternions ``(..., 4)``, axes, points and log coordinates ``(..., 3)``.

As a drop-in for e3nn-jax's functions of the same names and arguments: results
are NumPy (float64 unless a ``dtype`` is asked of a ``rand_*`` / ``identity_*``
function), never JAX or torch arrays, because ``e3xp.core`` imports no
framework. Inputs may be anything ``numpy.asarray`` reads (lists, NumPy, CPU
torch tensors without grad, concrete JAX arrays); a JAX tracer or a tensor that
requires grad is refused with a TypeError, so these functions are not
differentiable and not jit-traceable. Conversions are accurate to rounding near
0 and near pi (atan2 forms, Shepperd's method), where e3nn-jax's ``arccos``
forms lose up to half the digits; other differences are noted per function.
"""

from __future__ import annotations

import numbers
import sys

import numpy as np

__all__ = [
    "as_generator",
    "rand_matrix",
    "rand_angles",
    "rand_quaternion",
    "rand_axis_angle",
    "rand_o3_matrix",
    "matrix_x",
    "matrix_y",
    "matrix_z",
    "angles_to_matrix",
    "matrix_to_angles",
    "angles_to_quaternion",
    "quaternion_to_angles",
    "quaternion_to_matrix",
    "matrix_to_quaternion",
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "axis_angle_to_quaternion",
    "quaternion_to_axis_angle",
    "angles_to_axis_angle",
    "axis_angle_to_angles",
    "compose_angles",
    "compose_quaternion",
    "compose_axis_angle",
    "inverse_angles",
    "inverse_quaternion",
    "inverse_axis_angle",
    "angles_to_xyz",
    "xyz_to_angles",
    "check_rotation",
    "angles_to_log_coordinates",
    "axis_angle_to_log_coordinates",
    "quaternion_to_log_coordinates",
    "matrix_to_log_coordinates",
    "log_coordinates_to_angles",
    "log_coordinates_to_axis_angle",
    "log_coordinates_to_matrix",
    "log_coordinates_to_quaternion",
    "compose_log_coordinates",
    "inverse_log_coordinates",
    "identity_log_coordinates",
    "rand_log_coordinates",
    "identity_angles",
    "identity_quaternion",
    "rotation_angle_from_angles",
    "rotation_angle_from_axis_angle",
    "rotation_angle_from_log_coordinates",
    "rotation_angle_from_matrix",
    "rotation_angle_from_quaternion",
]


# --------------------------------------------------------------------------- input checks


def _real(x, name: str) -> np.ndarray:
    try:
        a = np.asarray(x)
    except Exception as exc:  # e.g. a JAX tracer, a tensor requiring grad, a non-CPU array
        raise TypeError(
            f"{name} must be a real number or an array NumPy can read (e3xp.core computes "
            f"rotations in NumPy on the CPU), got {x!r}"
        ) from exc
    if a.dtype.kind not in "iuf":
        raise TypeError(
            f"{name} must be a real number or array (int or float dtype), "
            f"got dtype {a.dtype} in {x!r}"
        )
    return a.astype(np.float64, copy=False)


def _vectors(x, size: int, name: str) -> np.ndarray:
    a = _real(x, name)
    if a.ndim == 0 or a.shape[-1] != size:
        raise ValueError(f"{name} must have shape (..., {size}), got shape {a.shape}")
    return a


def _matrices(x, name: str = "R") -> np.ndarray:
    a = _real(x, name)
    if a.ndim < 2 or a.shape[-2:] != (3, 3):
        raise ValueError(f"{name} must have shape (..., 3, 3), got shape {a.shape}")
    return a


def _norm(v: np.ndarray) -> np.ndarray:
    # Scaled first so that tiny vectors (an angle of 1e-200) do not underflow to 0.
    scale = np.abs(v).max(axis=-1, keepdims=True)
    safe = np.where(scale > 0, scale, 1.0)
    return np.linalg.norm(v / safe, axis=-1) * scale[..., 0]


def _nonzero_norm(v: np.ndarray, name: str) -> np.ndarray:
    norm = _norm(v)
    bad = ~(norm > 0)  # also catches nan
    if np.any(bad):
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} must be a nonzero finite vector, got {v[idx].tolist()} at batch index {idx}"
        )
    return norm


def _shape(shape) -> tuple[int, ...]:
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        out = tuple(int(s) for s in shape)
        ok = all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in shape)
    except TypeError:
        ok = False
    if not ok or any(s < 0 for s in out):
        raise TypeError(f"shape must be an int or a tuple of non-negative ints, got {shape!r}")
    return out


# --------------------------------------------------------------------------- randomness


def as_generator(seed=None) -> np.random.Generator:
    """Turn any supported seed into a numpy random ``Generator``.

    Parameters
    ----------
    seed : None, int, numpy.random.Generator, JAX PRNG key or torch.Generator
        ``None`` draws fresh OS entropy; an int seeds a new generator; a numpy
        ``Generator`` is returned as is (so draws advance it); a JAX key (raw
        ``uint32`` key or typed ``jax.random.key``; anything numpy turns into an
        unsigned-int array) is hashed into a seed; a ``torch.Generator`` (any
        object with ``.initial_seed()``) is seeded from its initial seed, so its
        own state is neither read nor advanced.

    Returns
    -------
    numpy.random.Generator

    Raises
    ------
    TypeError
        For any other type (the message names it).

    Examples
    --------
    >>> a = as_generator(0).random()
    >>> b = as_generator(0).random()
    >>> a == b
    True
    """
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError(f"seed must be None, an int, a numpy Generator, a JAX key or a torch "
                        f"Generator, got the bool {seed!r}")
    if isinstance(seed, numbers.Integral):
        if seed < 0:
            raise ValueError(f"an integer seed must be non-negative, got {seed!r}")
        return np.random.default_rng(int(seed))
    initial_seed = getattr(seed, "initial_seed", None)
    if callable(initial_seed):
        return np.random.default_rng(int(initial_seed()))
    data = seed
    jax = sys.modules.get("jax")
    if jax is not None and str(getattr(seed, "dtype", "")).startswith("key<"):
        # Typed JAX keys refuse np.asarray; jax is already imported if we hold one.
        data = jax.random.key_data(seed)
    try:
        arr = np.asarray(data)
    except Exception:
        arr = None
    if arr is not None and arr.dtype.kind == "u" and arr.size > 0:
        # The size goes first so that keys of different lengths cannot collide.
        return np.random.default_rng(
            np.random.SeedSequence([int(arr.size)] + [int(v) for v in arr.ravel()])
        )
    raise TypeError(
        "seed must be None, an int, a numpy Generator, a JAX PRNG key or a torch Generator, "
        f"got an object of type {type(seed).__module__}.{type(seed).__qualname__}: {seed!r}"
    )


def _float_dtype(dtype, what: str) -> np.dtype:
    """A real floating dtype from a numpy / JAX / torch dtype or its name; None is float64."""
    if dtype is None:
        return np.dtype(np.float64)
    try:
        dt = np.dtype(dtype)
    except TypeError:
        # torch dtypes are not numpy dtypes, but "torch.float32" names one.
        name = str(dtype)
        dt = np.dtype(name[len("torch."):]) if name.startswith("torch.float") else None
    if dt is None or dt.kind != "f":
        raise TypeError(f"{what}: dtype must be a real floating dtype (float16, float32, float64), got {dtype!r}")
    return dt


def _random_state(key, seed, dtype, what: str) -> tuple[np.random.Generator, np.dtype]:
    """The generator and result dtype of a ``rand_*`` function called with e3nn-jax's
    ``key`` or e3xp's older ``seed``."""
    if seed is not None:
        if key is not None:
            raise TypeError(f"{what}: pass the random state as key= or as seed=, not both")
        key = seed
    return as_generator(key), _float_dtype(dtype, what)


def rand_quaternion(key=None, shape=(), dtype=None, *, seed=None) -> np.ndarray:
    """Haar-uniform random unit quaternions ``(w, x, y, z)``.

    Parameters
    ----------
    key : None, int, numpy Generator, JAX PRNG key or torch Generator
        The random state (e3nn-jax's name; see :func:`as_generator`).
    shape : int or tuple of int
        Batch shape.
    dtype : float dtype, optional
        Of the result (numpy, JAX or torch float dtypes and their names are
        understood). Default float64, where e3nn-jax defaults to float32.
    seed : keyword only
        e3xp's older name for ``key``; pass one of the two.

    Returns
    -------
    numpy ndarray of shape ``shape + (4,)``. The numbers differ from
    e3nn-jax's for the same JAX key (another generator); the distribution is
    the same.

    Examples
    --------
    >>> q = rand_quaternion(0, (5,))
    >>> q.shape, bool(np.allclose(np.linalg.norm(q, axis=-1), 1))
    ((5, 4), True)
    """
    rng, dtype = _random_state(key, seed, dtype, "rand_quaternion")
    # A normalized Gaussian 4-vector is uniform on S^3, which is Haar on SO(3).
    q = rng.standard_normal(_shape(shape) + (4,))
    return (q / np.linalg.norm(q, axis=-1, keepdims=True)).astype(dtype, copy=False)


def rand_matrix(key=None, shape=(), dtype=None, *, seed=None) -> np.ndarray:
    """Haar-uniform random rotation matrices.

    Parameters
    ----------
    key, shape, dtype, seed : see :func:`rand_quaternion`

    Returns
    -------
    ndarray of shape ``shape + (3, 3)``

    Examples
    --------
    >>> R = rand_matrix(0, (2,))
    >>> bool(np.allclose(R @ np.swapaxes(R, -1, -2), np.eye(3)))
    True
    >>> np.round(np.linalg.det(R), 6).tolist()
    [1.0, 1.0]
    """
    rng, dtype = _random_state(key, seed, dtype, "rand_matrix")
    return quaternion_to_matrix(rand_quaternion(rng, shape)).astype(dtype, copy=False)


def rand_angles(key=None, shape=(), dtype=None, *, seed=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Haar-uniform random Euler angles ``(alpha, beta, gamma)``.

    ``alpha, gamma`` are uniform in ``[0, 2 pi)`` and ``cos(beta)`` uniform in
    ``[-1, 1]``: the Haar measure in these coordinates is ``sin(beta)``.
    ``key, shape, dtype, seed``: see :func:`rand_quaternion`.

    Examples
    --------
    >>> a, b, c = rand_angles(0, (3,))
    >>> a.shape, bool(np.all((0 <= b) & (b <= np.pi)))
    ((3,), True)
    """
    rng, dtype = _random_state(key, seed, dtype, "rand_angles")
    u = rng.random((3,) + _shape(shape))
    angles = 2 * np.pi * u[0], np.arccos(2 * u[1] - 1), 2 * np.pi * u[2]
    return tuple(a.astype(dtype, copy=False) for a in angles)


def rand_axis_angle(key=None, shape=(), dtype=None, *, seed=None) -> tuple[np.ndarray, np.ndarray]:
    """Haar-uniform random rotations as ``(axis, angle)``, angle in ``[0, pi]``.

    ``key, shape, dtype, seed``: see :func:`rand_quaternion`.

    Examples
    --------
    >>> axis, angle = rand_axis_angle(0, (4,))
    >>> axis.shape, angle.shape
    ((4, 3), (4,))
    """
    rng, dtype = _random_state(key, seed, dtype, "rand_axis_angle")
    axis, angle = quaternion_to_axis_angle(rand_quaternion(rng, shape))
    return axis.astype(dtype, copy=False), angle.astype(dtype, copy=False)


def rand_o3_matrix(key=None, shape=(), dtype=None, *, seed=None) -> np.ndarray:
    """Random elements of O(3): a Haar rotation times a random sign.

    ``key, shape, dtype, seed``: see :func:`rand_quaternion` (e3xp only; e3nn-jax
    has no such function).

    Each matrix is ``s * R`` with ``R`` Haar-uniform in SO(3) and ``s = +1`` or
    ``-1`` with probability 1/2 each (``s = det`` of the result; ``-1`` is the
    inversion, i.e. parity). This is the Haar measure on O(3).

    Returns
    -------
    ndarray of shape ``shape + (3, 3)`` with determinant +1 or -1.

    Examples
    --------
    >>> Q = rand_o3_matrix(0, (6,))
    >>> np.round(np.linalg.det(Q), 6).tolist()
    [1.0, -1.0, -1.0, 1.0, 1.0, -1.0]
    >>> bool(np.allclose(Q @ np.swapaxes(Q, -1, -2), np.eye(3)))
    True
    """
    rng, dtype = _random_state(key, seed, dtype, "rand_o3_matrix")
    shape = _shape(shape)
    R = rand_matrix(rng, shape)
    sign = np.where(rng.integers(0, 2, size=shape) == 1, -1.0, 1.0)
    return (sign[..., None, None] * R).astype(dtype, copy=False)


# --------------------------------------------------------------------------- elementary


def _rotation_about(angle, i: int, j: int) -> np.ndarray:
    # Right-handed rotation in the (i, j) plane: e_i -> cos e_i + sin e_j.
    a = _real(angle, "angle")
    c, s = np.cos(a), np.sin(a)
    R = np.zeros(a.shape + (3, 3))
    k = 3 - i - j
    R[..., k, k] = 1.0
    R[..., i, i] = c
    R[..., j, j] = c
    R[..., j, i] = s
    R[..., i, j] = -s
    return R


def matrix_x(angle) -> np.ndarray:
    """Rotation matrices about the x axis (right-handed).

    Examples
    --------
    >>> matrix_x(np.pi / 2).round(6) @ np.array([0.0, 1.0, 0.0]) + 0.0
    array([0., 0., 1.])
    """
    return _rotation_about(angle, 1, 2)


def matrix_y(angle) -> np.ndarray:
    """Rotation matrices about the y axis (right-handed: z goes to x).

    Examples
    --------
    >>> matrix_y(np.pi / 2).round(6) @ np.array([0.0, 0.0, 1.0]) + 0.0
    array([1., 0., 0.])
    """
    return _rotation_about(angle, 2, 0)


def matrix_z(angle) -> np.ndarray:
    """Rotation matrices about the z axis (right-handed: x goes to y).

    Examples
    --------
    >>> matrix_z(np.pi / 2).round(6) @ np.array([1.0, 0.0, 0.0]) + 0.0
    array([0., 1., 0.])
    """
    return _rotation_about(angle, 0, 1)


# --------------------------------------------------------------------------- angles <-> matrix


def angles_to_matrix(alpha, beta, gamma) -> np.ndarray:
    """Euler angles to matrices: ``Y(alpha) @ X(beta) @ Y(gamma)``.

    Examples
    --------
    >>> R = angles_to_matrix(0.1, 0.2, 0.3)
    >>> bool(np.allclose(R, matrix_y(0.1) @ matrix_x(0.2) @ matrix_y(0.3)))
    True
    """
    a, b, c = np.broadcast_arrays(
        _real(alpha, "alpha"), _real(beta, "beta"), _real(gamma, "gamma")
    )
    return matrix_y(a) @ matrix_x(b) @ matrix_y(c)


def matrix_to_angles(R) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Euler angles ``(alpha, beta, gamma)`` of rotation matrices.

    ``alpha, gamma`` are in ``[-pi, pi]`` and ``beta`` in ``[0, pi]``. At gimbal
    lock (``beta`` = 0 or pi) only ``alpha + gamma`` (or ``alpha - gamma``) is
    determined; the returned angles still reproduce the matrix to rounding.

    Raises
    ------
    ValueError
        ``R`` is not a rotation (see :func:`check_rotation`): not orthogonal, or
        determinant -1. Euler angles of anything else would silently describe
        some other matrix. e3nn asserts ``det(R) == 1`` here too.

    Examples
    --------
    >>> R = angles_to_matrix(0.1, 0.2, 0.3)
    >>> np.round(matrix_to_angles(R), 6).tolist()
    [0.1, 0.2, 0.3]
    >>> R = matrix_y(0.7)  # gimbal lock: beta = 0
    >>> bool(np.allclose(angles_to_matrix(*matrix_to_angles(R)), R))
    True
    >>> matrix_to_angles(np.diag([2.0, 1.0, 1.0]))
    Traceback (most recent call last):
    ...
    ValueError: R is not orthogonal: max |R^T R - I| = 3 > atol=1e-06 at batch index (), R = [[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    return _angles_of_rotation(check_rotation(R))


def _angles_of_rotation(R) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`matrix_to_angles` without the check, for matrices that are rotations by
    construction (or already checked)."""
    R = _matrices(R)
    # The image of the polar axis fixes alpha and beta; what is left is a rotation
    # about y, read off exactly even when alpha is arbitrary (gimbal lock).
    alpha, beta = xyz_to_angles(R[..., :, 1])
    rest = np.swapaxes(angles_to_matrix(alpha, beta, np.zeros_like(alpha)), -1, -2) @ R
    gamma = np.arctan2(rest[..., 0, 2], rest[..., 0, 0])
    return alpha, beta, gamma


# --------------------------------------------------------------------------- quaternions


def compose_quaternion(q1, q2) -> np.ndarray:
    """Hamilton product ``q1 * q2``: apply ``q2`` then ``q1``.

    ``quaternion_to_matrix(compose_quaternion(q1, q2)) ==
    quaternion_to_matrix(q1) @ quaternion_to_matrix(q2)``.

    Examples
    --------
    >>> qz = axis_angle_to_quaternion([0, 0, 1], np.pi / 4)
    >>> np.round(compose_quaternion(qz, qz), 4).tolist()  # quarter turn about z
    [0.7071, 0.0, 0.0, 0.7071]
    """
    q1 = _vectors(q1, 4, "q1")
    q2 = _vectors(q2, 4, "q2")
    w1, x1, y1, z1 = np.moveaxis(q1, -1, 0)
    w2, x2, y2, z2 = np.moveaxis(q2, -1, 0)
    return np.stack(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ],
        axis=-1,
    )


def inverse_quaternion(q) -> np.ndarray:
    """Inverse quaternion ``conj(q) / |q|^2`` (the conjugate for unit quaternions).

    Examples
    --------
    >>> q = rand_quaternion(0)
    >>> bool(np.allclose(compose_quaternion(q, inverse_quaternion(q)), [1, 0, 0, 0]))
    True
    """
    q = _vectors(q, 4, "q")
    norm = _nonzero_norm(q, "q")
    return q * np.array([1.0, -1.0, -1.0, -1.0]) / norm[..., None] ** 2


def quaternion_to_matrix(q) -> np.ndarray:
    """Rotation matrices of quaternions ``(w, x, y, z)`` (normalized first).

    Raises ``ValueError`` for a zero quaternion.

    Examples
    --------
    >>> q = [np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)]
    >>> bool(np.allclose(quaternion_to_matrix(q), matrix_z(np.pi / 2)))
    True
    """
    q = _vectors(q, 4, "q")
    norm = _nonzero_norm(q, "q")
    w, x, y, z = np.moveaxis(q / norm[..., None], -1, 0)
    R = np.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        axis=-1,
    )
    return R.reshape(R.shape[:-1] + (3, 3))


def matrix_to_quaternion(R) -> np.ndarray:
    """Unit quaternions of rotation matrices, with ``w >= 0``.

    Uses Shepperd's method: of the four algebraically equivalent formulas it
    takes, per matrix, the one whose pivot (``4 w^2``, ``4 x^2``, ...) is
    largest, so no small number is ever divided by and every angle (including
    pi) is accurate to rounding.

    Raises
    ------
    ValueError
        ``R`` is not a rotation (see :func:`check_rotation`): a quaternion of
        ``-I`` or ``diag(2, 1, 1)`` would describe some other matrix.

    Examples
    --------
    >>> np.round(matrix_to_quaternion(matrix_z(np.pi / 2)), 4).tolist()
    [0.7071, 0.0, 0.0, 0.7071]
    """
    R = check_rotation(R)
    r = {(i, j): R[..., i, j] for i in range(3) for j in range(3)}
    # Row k is 4 q_k q; its k-th entry is the pivot 4 q_k^2.
    cand = np.stack(
        [
            np.stack([1 + r[0, 0] + r[1, 1] + r[2, 2], r[2, 1] - r[1, 2],
                      r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]], axis=-1),
            np.stack([r[2, 1] - r[1, 2], 1 + r[0, 0] - r[1, 1] - r[2, 2],
                      r[0, 1] + r[1, 0], r[0, 2] + r[2, 0]], axis=-1),
            np.stack([r[0, 2] - r[2, 0], r[0, 1] + r[1, 0],
                      1 - r[0, 0] + r[1, 1] - r[2, 2], r[1, 2] + r[2, 1]], axis=-1),
            np.stack([r[1, 0] - r[0, 1], r[0, 2] + r[2, 0],
                      r[1, 2] + r[2, 1], 1 - r[0, 0] - r[1, 1] + r[2, 2]], axis=-1),
        ],
        axis=-2,
    )
    pivots = np.diagonal(cand, axis1=-2, axis2=-1)
    best = np.argmax(pivots, axis=-1)
    q = np.take_along_axis(cand, best[..., None, None], axis=-2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., :1] < 0, -q, q)


def angles_to_quaternion(alpha, beta, gamma) -> np.ndarray:
    """Quaternions of Euler angles (``q_y(alpha) q_x(beta) q_y(gamma)``).

    Examples
    --------
    >>> q = angles_to_quaternion(0.1, 0.2, 0.3)
    >>> bool(np.allclose(quaternion_to_matrix(q), angles_to_matrix(0.1, 0.2, 0.3)))
    True
    """
    a, b, c = np.broadcast_arrays(
        _real(alpha, "alpha"), _real(beta, "beta"), _real(gamma, "gamma")
    )
    ey = np.array([0.0, 1.0, 0.0])
    ex = np.array([1.0, 0.0, 0.0])
    qa = axis_angle_to_quaternion(ey, a)
    qb = axis_angle_to_quaternion(ex, b)
    qc = axis_angle_to_quaternion(ey, c)
    return compose_quaternion(compose_quaternion(qa, qb), qc)


def quaternion_to_angles(q) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Euler angles of quaternions (see :func:`matrix_to_angles`).

    Examples
    --------
    >>> np.round(quaternion_to_angles(angles_to_quaternion(0.1, 0.2, 0.3)), 6).tolist()
    [0.1, 0.2, 0.3]
    """
    return _angles_of_rotation(quaternion_to_matrix(q))


# --------------------------------------------------------------------------- axis-angle


def axis_angle_to_quaternion(xyz, angle) -> np.ndarray:
    """Quaternions ``(cos(angle/2), sin(angle/2) * axis)``; the axis ``xyz`` is normalized.

    The first argument is named ``xyz`` as in e3nn-jax. Raises ``ValueError``
    for a zero axis (e3nn-jax returns the identity for it).

    Examples
    --------
    >>> np.round(axis_angle_to_quaternion([0, 0, 2], np.pi / 2), 4).tolist()
    [0.7071, 0.0, 0.0, 0.7071]
    """
    return _axis_angle_quaternion(xyz, angle, "xyz")


def _axis_angle_quaternion(axis, angle, name: str) -> np.ndarray:
    # The work of axis_angle_to_quaternion; ``name`` is the axis argument's name in
    # the public function that was called (``xyz`` there, ``axis`` elsewhere).
    axis = _vectors(axis, 3, name)
    angle = _real(angle, "angle")
    norm = _nonzero_norm(axis, name)
    axis = axis / norm[..., None]
    axis, angle = np.broadcast_arrays(axis, angle[..., None])
    half = angle[..., 0] / 2
    return np.concatenate([np.cos(half)[..., None], np.sin(half)[..., None] * axis], axis=-1)


def quaternion_to_axis_angle(q) -> tuple[np.ndarray, np.ndarray]:
    """Axis and angle of quaternions; angle in ``[0, pi]``.

    The angle is ``2 atan2(|v|, |w|)``, accurate near 0 and near pi. For the
    identity the axis is undetermined and ``(0, 1, 0)`` is returned.

    Examples
    --------
    >>> axis, angle = quaternion_to_axis_angle([0.0, 0.0, 0.0, -1.0])
    >>> axis.tolist(), round(float(angle), 6)
    ([0.0, 0.0, -1.0], 3.141593)
    """
    q = _vectors(q, 4, "q")
    norm = _nonzero_norm(q, "q")
    q = q / norm[..., None]
    q = np.where(q[..., :1] < 0, -q, q)
    v = q[..., 1:]
    s = _norm(v)
    angle = 2 * np.arctan2(s, q[..., 0])
    safe = np.where(s > 0, s, 1.0)
    axis = np.where((s > 0)[..., None], v / safe[..., None], np.array([0.0, 1.0, 0.0]))
    return axis, angle


def axis_angle_to_matrix(axis, angle) -> np.ndarray:
    """Rotation matrices of axis-angle pairs (right-hand rule; axis normalized).

    Examples
    --------
    >>> bool(np.allclose(axis_angle_to_matrix([1, 0, 0], 0.3), matrix_x(0.3)))
    True
    """
    return quaternion_to_matrix(_axis_angle_quaternion(axis, angle, "axis"))


def matrix_to_axis_angle(R) -> tuple[np.ndarray, np.ndarray]:
    """Axis and angle (in ``[0, pi]``) of rotation matrices.

    A ValueError when ``R`` is not a rotation, as :func:`matrix_to_quaternion`.

    Examples
    --------
    >>> axis, angle = matrix_to_axis_angle(matrix_y(-0.5))
    >>> np.round(axis, 6).tolist(), round(float(angle), 6)
    ([0.0, -1.0, 0.0], 0.5)
    """
    return quaternion_to_axis_angle(matrix_to_quaternion(R))


def angles_to_axis_angle(alpha, beta, gamma) -> tuple[np.ndarray, np.ndarray]:
    """Axis and angle of Euler angles.

    Examples
    --------
    >>> axis, angle = angles_to_axis_angle(0.4, 0.0, 0.0)
    >>> np.round(axis, 6).tolist(), round(float(angle), 6)
    ([0.0, 1.0, 0.0], 0.4)
    """
    return quaternion_to_axis_angle(angles_to_quaternion(alpha, beta, gamma))


def axis_angle_to_angles(axis, angle) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Euler angles of axis-angle pairs.

    Examples
    --------
    >>> np.round(axis_angle_to_angles([1, 0, 0], 0.3), 6).tolist()
    [0.0, 0.3, 0.0]
    """
    return _angles_of_rotation(axis_angle_to_matrix(axis, angle))


# --------------------------------------------------------------------------- composition, inverse


def compose_angles(a1, b1, c1, a2, b2, c2):
    """Euler angles of ``angles_to_matrix(a1, b1, c1) @ angles_to_matrix(a2, b2, c2)``
    (apply 2, then 1).

    The argument names are e3nn-jax's (and e3nn's). The six arrays broadcast
    against each other; the result is canonical (see :func:`matrix_to_angles`).

    Examples
    --------
    >>> np.round(compose_angles(0.1, 0.2, 0.0, 0.0, 0.0, 0.3), 6).tolist()
    [0.1, 0.2, 0.3]
    >>> [a.shape for a in compose_angles(np.zeros(4), 0.0, 0.0, 0.0, np.zeros((2, 1)), 0.0)]
    [(2, 4), (2, 4), (2, 4)]
    """
    R = angles_to_matrix(a1, b1, c1) @ angles_to_matrix(a2, b2, c2)
    return _angles_of_rotation(R)


def compose_axis_angle(axis1, angle1, axis2, angle2) -> tuple[np.ndarray, np.ndarray]:
    """Axis-angle of "apply ``(axis2, angle2)``, then ``(axis1, angle1)``".

    Examples
    --------
    >>> axis, angle = compose_axis_angle([0, 0, 1], 0.25, [0, 0, 1], 0.5)
    >>> np.round(axis, 6).tolist(), round(float(angle), 6)
    ([0.0, 0.0, 1.0], 0.75)
    """
    q = compose_quaternion(
        _axis_angle_quaternion(axis1, angle1, "axis1"), _axis_angle_quaternion(axis2, angle2, "axis2")
    )
    return quaternion_to_axis_angle(q)


def inverse_angles(a, b, c):
    """Euler angles of the inverse rotation: ``(-c, -b, -a)``.

    The argument names are e3nn-jax's (and e3nn's): ``a, b, c`` are
    ``alpha, beta, gamma``; they broadcast against each other.

    ``beta`` comes out in ``[-pi, 0]`` for inputs in ``[0, pi]``; the angles are
    valid, just not canonical (pass through :func:`compose_angles` or
    ``matrix_to_angles(angles_to_matrix(...))`` to canonicalize).

    Examples
    --------
    >>> R = angles_to_matrix(0.1, 0.2, 0.3)
    >>> bool(np.allclose(angles_to_matrix(*inverse_angles(0.1, 0.2, 0.3)) @ R, np.eye(3)))
    True
    """
    a, b, c = np.broadcast_arrays(_real(a, "a"), _real(b, "b"), _real(c, "c"))
    return -c, -b, -a


def inverse_axis_angle(axis, angle) -> tuple[np.ndarray, np.ndarray]:
    """Axis-angle of the inverse rotation: same (normalized) axis, opposite angle.

    Examples
    --------
    >>> axis, angle = inverse_axis_angle([0, 2, 0], 0.5)
    >>> axis.tolist(), float(angle)
    ([0.0, 1.0, 0.0], -0.5)
    """
    axis = _vectors(axis, 3, "axis")
    angle = _real(angle, "angle")
    axis = axis / _nonzero_norm(axis, "axis")[..., None]
    axis, angle = np.broadcast_arrays(axis, angle[..., None])
    return axis.copy(), -angle[..., 0]


# --------------------------------------------------------------------------- log coordinates
#
# Log coordinates (e3nn-jax's name) are the rotation vector ``angle * axis``: the
# rotation is ``expm(v_x G_x + v_y G_y + v_z G_z)`` with ``G = so3_generators(1)``.
# Most functions give ``|v| <= pi``; the exceptions follow e3nn-jax: a quaternion
# with ``w < 0`` keeps its sign (``|v|`` in ``(pi, 2 pi]``, so that
# ``log_coordinates_to_quaternion`` gives the same ``q`` back), and so does
# ``compose_log_coordinates``, which composes the quaternions.


def _log_coordinates(x, name: str = "log_coordinates") -> np.ndarray:
    return _vectors(x, 3, name)


def _canonical_quaternion(q: np.ndarray) -> np.ndarray:
    # q and -q are the same rotation; w >= 0 gives the rotation angle in [0, pi].
    return np.where(q[..., :1] < 0, -q, q)


def log_coordinates_to_quaternion(log_coordinates) -> np.ndarray:
    """Unit quaternions ``(cos(t/2), sin(t/2) v / t)`` of log coordinates ``v``, ``t = |v|``.

    Parameters
    ----------
    log_coordinates : array_like of shape ``(..., 3)``

    Returns
    -------
    ndarray of shape ``(..., 4)``, float64. Exact at ``v = 0`` (the identity)
    and to rounding for tiny ``|v|`` (the ratio ``sin(t/2)/t`` is evaluated
    with ``numpy.sinc``, never ``0/0``).

    Examples
    --------
    >>> np.round(log_coordinates_to_quaternion([0.0, 0.0, np.pi / 2]), 4).tolist()
    [0.7071, 0.0, 0.0, 0.7071]
    >>> log_coordinates_to_quaternion(np.zeros(3)).tolist()
    [1.0, 0.0, 0.0, 0.0]
    """
    v = _log_coordinates(log_coordinates)
    half = _norm(v) / 2
    # sin(t/2) / t = sinc(t / (2 pi)) / 2 with numpy's normalized sinc.
    ratio = np.sinc(half / np.pi) / 2
    return np.concatenate([np.cos(half)[..., None], ratio[..., None] * v], axis=-1)


def quaternion_to_log_coordinates(q) -> np.ndarray:
    """Log coordinates of quaternions ``(w, x, y, z)`` (normalized first).

    The sign of ``q`` is kept, as in e3nn-jax: ``|v| = 2 atan2(|(x, y, z)|, w)``
    is in ``[0, pi]`` for ``w >= 0`` and in ``(pi, 2 pi]`` for ``w < 0``, so
    ``log_coordinates_to_quaternion`` returns ``q`` itself (not ``-q``). For
    ``q = (-1, 0, 0, 0)`` the axis is undetermined and 0 is returned (the
    identity rotation), as e3nn-jax does. The atan2 form is accurate near 0 and
    near pi, where e3nn-jax's ``arccos(w)`` loses half the digits.

    Raises ``ValueError`` for a zero quaternion.

    Examples
    --------
    >>> np.round(quaternion_to_log_coordinates([np.cos(0.25), 0.0, np.sin(0.25), 0.0]), 6).tolist()
    [0.0, 0.5, 0.0]
    >>> np.round(quaternion_to_log_coordinates([-np.cos(0.25), 0.0, -np.sin(0.25), 0.0]), 6).tolist()
    [0.0, -5.783185, 0.0]
    """
    q = _vectors(q, 4, "q")
    q = q / _nonzero_norm(q, "q")[..., None]
    v = q[..., 1:]
    s = _norm(v)
    angle = 2 * np.arctan2(s, q[..., 0])
    factor = np.where(s > 0, angle / np.where(s > 0, s, 1.0), 0.0)
    return factor[..., None] * v


def log_coordinates_to_axis_angle(log_coordinates) -> tuple[np.ndarray, np.ndarray]:
    """Unit axis ``v / |v|`` and angle ``|v|`` of log coordinates ``v``.

    For ``v = 0`` the axis is undetermined and ``(0, 1, 0)`` is returned, as by
    :func:`quaternion_to_axis_angle` (e3nn-jax returns the zero vector, which
    e3xp's axis-angle functions refuse as an axis).

    Examples
    --------
    >>> axis, angle = log_coordinates_to_axis_angle([0.0, 0.0, -2.0])
    >>> axis.tolist(), float(angle)
    ([0.0, 0.0, -1.0], 2.0)
    >>> [a.tolist() for a in log_coordinates_to_axis_angle(np.zeros(3))]
    [[0.0, 1.0, 0.0], 0.0]
    """
    v = _log_coordinates(log_coordinates)
    angle = _norm(v)
    safe = np.where(angle > 0, angle, 1.0)
    axis = np.where((angle > 0)[..., None], v / safe[..., None], np.array([0.0, 1.0, 0.0]))
    return axis, angle


def axis_angle_to_log_coordinates(axis, angle) -> np.ndarray:
    """Log coordinates ``angle * axis / |axis|`` (broadcast between the two).

    The angle is kept as given (not reduced modulo 2 pi), as in e3nn-jax. The
    axis is normalized, as by every e3xp axis-angle function; e3nn-jax
    multiplies the raw axis (the same for unit axes). Raises ``ValueError`` for a
    zero axis.

    Examples
    --------
    >>> axis_angle_to_log_coordinates([0.0, 2.0, 0.0], 0.5).tolist()
    [0.0, 0.5, 0.0]
    >>> axis_angle_to_log_coordinates([1.0, 0.0, 0.0], [0.1, 0.2]).shape
    (2, 3)
    """
    axis = _vectors(axis, 3, "axis")
    angle = _real(angle, "angle")
    axis = axis / _nonzero_norm(axis, "axis")[..., None]
    return axis * angle[..., None]


def log_coordinates_to_matrix(log_coordinates) -> np.ndarray:
    """Rotation matrices ``expm(v_x G_x + v_y G_y + v_z G_z)`` of log coordinates ``v``.

    ``G = so3_generators(1)`` are the infinitesimal rotations about x, y, z, so
    this is the rotation by ``|v|`` about ``v`` (right-hand rule). Computed in
    closed form through the quaternion (e3nn-jax calls ``expm``; the numbers
    agree to rounding).

    Examples
    --------
    >>> bool(np.allclose(log_coordinates_to_matrix([0.0, 0.0, 0.3]), matrix_z(0.3)))
    True
    """
    return quaternion_to_matrix(log_coordinates_to_quaternion(log_coordinates))


def matrix_to_log_coordinates(R) -> np.ndarray:
    """Log coordinates of rotation matrices, with ``|v|`` in ``[0, pi]``.

    Through the quaternion of Shepperd's method (:func:`matrix_to_quaternion`),
    so angles near 0 and near pi are accurate to rounding; e3nn-jax's
    ``arccos`` of the trace loses digits there and returns 0 at exactly pi. At
    exactly pi, ``v`` and ``-v`` are the same rotation and either may be returned.

    Raises
    ------
    ValueError
        ``R`` is not a rotation (see :func:`check_rotation`).

    Examples
    --------
    >>> np.round(matrix_to_log_coordinates(matrix_x(-0.4)), 6).tolist()
    [-0.4, 0.0, 0.0]
    """
    return quaternion_to_log_coordinates(matrix_to_quaternion(R))


def angles_to_log_coordinates(alpha, beta, gamma) -> np.ndarray:
    """Log coordinates (``|v|`` in ``[0, pi]``) of Euler angles.

    Examples
    --------
    >>> np.round(angles_to_log_coordinates(0.3, 0.0, 0.2), 6).tolist()
    [0.0, 0.5, 0.0]
    """
    q = _canonical_quaternion(angles_to_quaternion(alpha, beta, gamma))
    return quaternion_to_log_coordinates(q)


def log_coordinates_to_angles(log_coordinates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Euler angles of log coordinates (see :func:`matrix_to_angles` for their ranges).

    Examples
    --------
    >>> np.round(log_coordinates_to_angles(angles_to_log_coordinates(0.1, 0.2, 0.3)), 6).tolist()
    [0.1, 0.2, 0.3]
    """
    return _angles_of_rotation(log_coordinates_to_matrix(log_coordinates))


def compose_log_coordinates(log1, log2) -> np.ndarray:
    """Log coordinates of "apply ``log2``, then ``log1``" (the two broadcast).

    As in e3nn-jax the quaternions are composed and their product converted with
    :func:`quaternion_to_log_coordinates`, so the result may have a norm in
    ``(pi, 2 pi]``; it is the same rotation as the canonical one
    (``matrix_to_log_coordinates`` of the matrix product).

    Examples
    --------
    >>> np.round(compose_log_coordinates([0.0, 0.0, 0.25], [0.0, 0.0, 0.5]), 6).tolist()
    [0.0, 0.0, 0.75]
    """
    q = compose_quaternion(
        log_coordinates_to_quaternion(_log_coordinates(log1, "log1")),
        log_coordinates_to_quaternion(_log_coordinates(log2, "log2")),
    )
    return quaternion_to_log_coordinates(q)


def inverse_log_coordinates(log) -> np.ndarray:
    """Log coordinates of the inverse rotation: ``-log``.

    Examples
    --------
    >>> inverse_log_coordinates([0.1, 0.0, -0.2]).tolist()
    [-0.1, -0.0, 0.2]
    """
    return -_log_coordinates(log, "log")


def identity_log_coordinates(shape=(), dtype=None) -> np.ndarray:
    """Log coordinates of the identity: zeros of shape ``shape + (3,)``.

    ``dtype`` defaults to float64 (e3nn-jax: float32); see :func:`rand_quaternion`.

    Examples
    --------
    >>> identity_log_coordinates((2,)).tolist()
    [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """
    return np.zeros(_shape(shape) + (3,), _float_dtype(dtype, "identity_log_coordinates"))


def rand_log_coordinates(key=None, shape=(), dtype=None, *, seed=None) -> np.ndarray:
    """Haar-uniform random rotations as log coordinates, ``|v|`` in ``[0, pi]``.

    ``key, shape, dtype, seed``: see :func:`rand_quaternion`.

    Examples
    --------
    >>> v = rand_log_coordinates(0, (100,))
    >>> v.shape, bool(np.all(np.linalg.norm(v, axis=-1) <= np.pi))
    ((100, 3), True)
    """
    rng, dtype = _random_state(key, seed, dtype, "rand_log_coordinates")
    q = _canonical_quaternion(rand_quaternion(rng, shape))
    return quaternion_to_log_coordinates(q).astype(dtype, copy=False)


# --------------------------------------------------------------------------- identity


def identity_angles(shape=(), dtype=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Euler angles of the identity: three zero arrays of shape ``shape``.

    ``dtype`` defaults to float64 (e3nn-jax: float32); see :func:`rand_quaternion`.

    Examples
    --------
    >>> [a.shape for a in identity_angles((2, 3))]
    [(2, 3), (2, 3), (2, 3)]
    """
    dtype = _float_dtype(dtype, "identity_angles")
    shape = _shape(shape)
    return np.zeros(shape, dtype), np.zeros(shape, dtype), np.zeros(shape, dtype)


def identity_quaternion(shape=(), dtype=None) -> np.ndarray:
    """Quaternions ``(1, 0, 0, 0)`` of shape ``shape + (4,)``.

    ``dtype`` defaults to float64 (e3nn-jax: float32); see :func:`rand_quaternion`.

    Examples
    --------
    >>> identity_quaternion().tolist()
    [1.0, 0.0, 0.0, 0.0]
    """
    q = np.zeros(_shape(shape) + (4,), _float_dtype(dtype, "identity_quaternion"))
    q[..., 0] = 1
    return q


# --------------------------------------------------------------------------- rotation angles
#
# The angle (in [0, pi]) of a rotation, or of the rotation between two rotations
# g1, g2 (the angle of g1^-1 g2, which is also that of g1 g2^-1 since the angle is
# invariant under conjugation and inversion). e3nn-jax takes arccos of a cosine,
# which is accurate only to ~1e-8 rad near 0 and near pi; here it is the atan2 of
# a sine and a cosine, accurate to rounding everywhere.


def _angle_of_quaternion(q: np.ndarray) -> np.ndarray:
    # q unit; |w| makes q and -q the same rotation.
    return 2 * np.arctan2(_norm(q[..., 1:]), np.abs(q[..., 0]))


def rotation_angle_from_quaternion(q1, q2) -> np.ndarray:
    """Angle of the rotation between quaternions ``q1`` and ``q2`` (normalized first).

    ``2 atan2(|vec(conj(q1) q2)|, |q1 . q2|)``, in ``[0, pi]``; ``q`` and ``-q``
    give the same angle. The two broadcast. Raises ``ValueError`` for a zero
    quaternion (e3nn-jax does not normalize).

    Examples
    --------
    >>> q1 = axis_angle_to_quaternion([0, 0, 1], 0.2)
    >>> q2 = axis_angle_to_quaternion([0, 0, 1], -0.3)
    >>> round(float(rotation_angle_from_quaternion(q1, -q2)), 12)
    0.5
    """
    q1 = _vectors(q1, 4, "q1")
    q2 = _vectors(q2, 4, "q2")
    q1 = q1 / _nonzero_norm(q1, "q1")[..., None]
    q2 = q2 / _nonzero_norm(q2, "q2")[..., None]
    return _angle_of_quaternion(compose_quaternion(q1 * np.array([1.0, -1.0, -1.0, -1.0]), q2))


def rotation_angle_from_matrix(R) -> np.ndarray:
    """Rotation angle (in ``[0, pi]``) of rotation matrices ``R`` (one argument, as e3nn-jax).

    ``atan2(sin, cos)`` with ``2 sin`` the norm of the axial vector of
    ``R - R^T`` and ``2 cos = tr(R) - 1``.

    Raises
    ------
    ValueError
        ``R`` is not a rotation (see :func:`check_rotation`); e3nn-jax returns a
        number for any matrix.

    Examples
    --------
    >>> round(float(rotation_angle_from_matrix(matrix_y(-2.0))), 12)
    2.0
    """
    R = check_rotation(R)
    axial = np.stack(
        [R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]],
        axis=-1,
    )
    trace = R[..., 0, 0] + R[..., 1, 1] + R[..., 2, 2]
    return np.arctan2(_norm(axial), trace - 1)


def rotation_angle_from_angles(a1, b1, c1, a2, b2, c2) -> np.ndarray:
    """Angle of the rotation between two triples of Euler angles (they broadcast).

    The angle of ``R1 R2^T``, as e3nn-jax (whose ``R2.T`` reverses every axis, so
    it works only without batch axes; here any batch shapes broadcast).

    Examples
    --------
    >>> round(float(rotation_angle_from_angles(0.1, 0.0, 0.0, 0.0, 0.0, 0.4)), 12)
    0.3
    """
    return rotation_angle_from_quaternion(
        angles_to_quaternion(a1, b1, c1), angles_to_quaternion(a2, b2, c2)
    )


def rotation_angle_from_axis_angle(axis1, angle1, axis2, angle2) -> np.ndarray:
    """Angle of the rotation between two axis-angle rotations (axes normalized first).

    Examples
    --------
    >>> round(float(rotation_angle_from_axis_angle([1, 0, 0], 0.5, [1, 0, 0], -0.5)), 12)
    1.0
    """
    return rotation_angle_from_quaternion(
        _axis_angle_quaternion(axis1, angle1, "axis1"), _axis_angle_quaternion(axis2, angle2, "axis2")
    )


def rotation_angle_from_log_coordinates(log1, log2) -> np.ndarray:
    """Angle of the rotation between two rotations given by log coordinates.

    Examples
    --------
    >>> angle = rotation_angle_from_log_coordinates([0, 3.0, 0], [0, -3.0, 0])  # 6 rad = 2 pi - 0.283
    >>> bool(np.isclose(angle, 2 * np.pi - 6))
    True
    """
    return rotation_angle_from_quaternion(
        log_coordinates_to_quaternion(_log_coordinates(log1, "log1")),
        log_coordinates_to_quaternion(_log_coordinates(log2, "log2")),
    )


# --------------------------------------------------------------------------- points on the sphere


def angles_to_xyz(alpha, beta) -> np.ndarray:
    """Point on the unit sphere with polar angle ``beta`` from y, azimuth ``alpha``.

    Equals ``angles_to_matrix(alpha, beta, *) @ (0, 1, 0)``:
    ``(sin(beta) sin(alpha), cos(beta), sin(beta) cos(alpha))``.

    Examples
    --------
    >>> angles_to_xyz(0.0, 0.0).tolist()
    [0.0, 1.0, 0.0]
    """
    a, b = np.broadcast_arrays(_real(alpha, "alpha"), _real(beta, "beta"))
    sb = np.sin(b)
    return np.stack([sb * np.sin(a), np.cos(b), sb * np.cos(a)], axis=-1)


def xyz_to_angles(xyz) -> tuple[np.ndarray, np.ndarray]:
    """Angles ``(alpha, beta)`` of the direction of ``xyz`` (inverse of :func:`angles_to_xyz`).

    The input need not be normalized; the atan2 formulas are scale invariant and
    accurate near the poles. ``alpha`` is in ``[-pi, pi]``, ``beta`` in
    ``[0, pi]``. The zero vector gives ``(0, 0)``.

    Examples
    --------
    >>> np.round(xyz_to_angles([0.0, 0.0, 5.0]), 6).tolist()
    [0.0, 1.570796]
    """
    xyz = _vectors(xyz, 3, "xyz")
    x, y, z = np.moveaxis(xyz, -1, 0)
    beta = np.arctan2(np.hypot(x, z), y)
    alpha = np.arctan2(x, z)
    return alpha, beta


# --------------------------------------------------------------------------- validation


def check_rotation(R, *, allow_parity: bool = False, atol: float = 1e-6) -> np.ndarray:
    """Validate rotation matrices and return them as a float64 array.

    Parameters
    ----------
    R : array_like of shape ``(..., 3, 3)``
    allow_parity : bool
        Accept determinant -1 (improper rotations, elements of O(3)).
    atol : float
        Tolerance on ``max |R^T R - I|``.

    Raises
    ------
    ValueError
        Wrong shape, non-finite entries, not orthogonal (the message gives the
        measured error), or determinant -1 when ``allow_parity`` is false.

    Examples
    --------
    >>> check_rotation(np.eye(3)).dtype
    dtype('float64')
    >>> check_rotation(-np.eye(3))
    Traceback (most recent call last):
    ...
    ValueError: R has determinant -1.0 at batch index () (an improper rotation); expected a rotation with determinant +1, or pass allow_parity=True
    """
    R = _matrices(R)
    if not np.all(np.isfinite(R)):
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(R))[0][:-2])
        raise ValueError(f"R must be finite, got {R[idx].tolist()} at batch index {idx}")
    err = np.abs(np.swapaxes(R, -1, -2) @ R - np.eye(3)).max(axis=(-1, -2))
    if np.any(err > atol):
        idx = np.unravel_index(np.argmax(err), err.shape)
        idx = tuple(int(i) for i in idx)
        raise ValueError(
            f"R is not orthogonal: max |R^T R - I| = {float(err[idx]):.3g} > atol={atol:g} "
            f"at batch index {idx}, R = {R[idx].tolist()}"
        )
    if not allow_parity:
        det = np.linalg.det(R)
        if np.any(det < 0):
            idx = tuple(int(i) for i in np.argwhere(det < 0)[0])
            raise ValueError(
                f"R has determinant {float(np.round(det[idx], 6))} at batch index {idx} "
                "(an improper rotation); expected a rotation with determinant +1, "
                "or pass allow_parity=True"
            )
    return R
