"""Equivariance testing: random O(3) elements and the error ``f(D x) - D f(x)``.

Works with IrrepsArrays of any backend; the group elements are drawn in float64
NumPy and applied with :meth:`IrrepsArray.transform_by_matrix`, so the same test
runs unchanged on NumPy, PyTorch, JAX, CuPy or any array-API library.
"""

from __future__ import annotations

import numpy as np

from .core.rotations import as_generator, rand_matrix
from .irreps_array import IrrepsArray

__all__ = ["rand_o3", "equivariance_error", "assert_equivariant", "default_atol"]


def rand_o3(seed=None) -> np.ndarray:
    """A random element of O(3): a Haar-random rotation times a random sign.

    Parameters
    ----------
    seed : None, int, numpy Generator, JAX key or torch Generator

    Returns
    -------
    numpy.ndarray
        float64 ``(3, 3)`` orthogonal matrix with determinant +1 or -1.

    Examples
    --------
    >>> Q = rand_o3(0)
    >>> bool(np.allclose(Q @ Q.T, np.eye(3))), round(abs(float(np.linalg.det(Q))), 12)
    (True, 1.0)
    """
    rng = as_generator(seed)
    sign = -1.0 if rng.integers(0, 2) else 1.0
    return sign * rand_matrix(rng)


def _group_elements(seed, n: int) -> list:
    # Alternate proper and improper elements so that every check sees parity,
    # whatever the random signs would have been.
    rng = as_generator(seed)
    return [(1.0 if k % 2 == 0 else -1.0) * rand_matrix(rng) for k in range(n)]


def _outputs(y, what: str) -> list:
    if isinstance(y, IrrepsArray):
        return [y]
    if isinstance(y, (list, tuple)):
        return [z for item in y for z in _outputs(item, what)]
    if isinstance(y, dict):
        return [z for key in sorted(y) for z in _outputs(y[key], what)]
    raise TypeError(
        f"{what} must return an IrrepsArray (or a list/tuple/dict of them), got {type(y).__name__}"
    )


def equivariance_error(f, *irreps_arrays, seed=0, n: int = 4, relative: bool = False) -> float:
    r"""Largest ``|f(D_in(g) x) - D_out(g) f(x)|`` over ``n`` random elements ``g`` of O(3).

    Half of the elements (every second one) are improper (``det = -1``), so parity is
    always tested.

    Parameters
    ----------
    f : callable
        Takes the IrrepsArrays and returns an IrrepsArray (or a list/tuple/dict of them).
    *irreps_arrays : IrrepsArray
        The inputs; each is transformed by its own irreps.
    seed : int or numpy Generator
    n : int
        Number of group elements.
    relative : bool
        Divide by ``max(1, max |f(x)|)``.

    Returns
    -------
    float
        In the units of the output (float64).

    Examples
    --------
    >>> x = IrrepsArray("1o", np.array([1.0, 2.0, 3.0]))
    >>> equivariance_error(lambda v: v * 2.0, x) < 1e-14
    True
    >>> equivariance_error(lambda v: IrrepsArray("1o", v.array ** 2), x) > 0.1
    True
    """
    for x in irreps_arrays:
        if not isinstance(x, IrrepsArray):
            raise TypeError(f"equivariance_error: inputs must be IrrepsArrays, got {type(x).__name__}")
    y = _outputs(f(*irreps_arrays), "f")
    ref = [np.asarray(z.backend.to_numpy(z.array), dtype=np.float64) for z in y]
    scale = max([1.0] + [float(np.max(np.abs(r))) for r in ref if r.size]) if relative else 1.0
    err = 0.0
    for R in _group_elements(seed, n):
        y_rot = _outputs(f(*[x.transform_by_matrix(R) for x in irreps_arrays]), "f")
        if len(y_rot) != len(y):
            raise ValueError("f returned a different number of outputs on rotated inputs")
        for a, b in zip(y_rot, y):
            if a.irreps != b.irreps:
                raise ValueError(f"f returned irreps {a.irreps} on rotated inputs but {b.irreps} on the originals")
            rot = b.transform_by_matrix(R)
            d = np.asarray(a.backend.to_numpy(a.array), np.float64) - np.asarray(
                rot.backend.to_numpy(rot.array), np.float64
            )
            if d.size:
                err = max(err, float(np.max(np.abs(d))))
    return err / scale


def default_atol(dtype) -> float:
    """Tolerance on the relative equivariance error: 1e-10 for float64, 1e-5 otherwise.

    Examples
    --------
    >>> default_atol(np.float64), default_atol(np.float32)
    (1e-10, 1e-05)
    """
    return 1e-10 if "64" in str(dtype) else 1e-5


def assert_equivariant(f, *irreps_arrays, atol=None, seed=0, n: int = 4) -> float:
    """Assert that ``f`` is O(3)-equivariant on these inputs; return the (relative) error.

    Parameters
    ----------
    f, *irreps_arrays, seed, n
        As in :func:`equivariance_error` (the error is relative to ``max(1, max|f(x)|)``).
    atol : float, optional
        Defaults to :func:`default_atol` of the first input's dtype.

    Raises
    ------
    AssertionError
        With the measured error and the tolerance.

    Examples
    --------
    >>> x = IrrepsArray("1o + 0e", np.array([1.0, 2.0, 3.0, 4.0]))
    >>> assert_equivariant(lambda v: v.regroup(), x) < 1e-12
    True
    """
    err = equivariance_error(f, *irreps_arrays, seed=seed, n=n, relative=True)
    if atol is None:
        atol = default_atol(irreps_arrays[0].dtype if irreps_arrays else "float64")
    if not err <= atol:
        irreps = ", ".join(str(x.irreps) for x in irreps_arrays)
        raise AssertionError(
            f"not equivariant: relative error {err:.3g} > atol={atol:.3g} for inputs ({irreps})"
        )
    return err
