"""SU(2): generators and Clebsch-Gordan coefficients for integer and half-integer spin.

These are the complex-basis objects e3nn-jax exposes as ``su2_generators`` and
``su2_clebsch_gordan``, with its conventions:

- the basis of spin ``j`` is ``|j, m>``, index ``j + m`` for ``m = -j, ..., j``,
  with the Condon-Shortley phases (``J+`` has non-negative entries);
- the three generators are ``(-i Jy, i Jz, i Jx)``, anti-Hermitian, in this
  order because e3nn's real basis has y as its polar axis: conjugated by
  :func:`e3xp.core.clebsch_gordan.change_basis_real_to_complex` they give
  :func:`e3xp.core.wigner.generators` for integer ``j``. They satisfy
  ``[X0, X1] = X2`` (and cyclic), the commutation relations of rotations about
  x, y, z;
- ``su2_clebsch_gordan(j1, j2, j3)[j1 + m1, j2 + m2, j3 + m3]`` is
  ``<j1 m1 j2 m2 | j3 m3> / sqrt(2 j3 + 1)`` (real), so the whole array has
  Frobenius norm 1 when ``j3`` is allowed, and is zero otherwise.

Both are exact up to the final rounding (integers and square roots of
rationals, see :mod:`e3xp.core.clebsch_gordan`), cached, and returned read-only
(``np.array(x)`` gives a writable copy; e3nn-jax returns fresh arrays).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .clebsch_gordan import _doubled_half_integer, _sqrt_ratio_to_float, _su2_cg_parts

__all__ = ["su2_generators", "su2_clebsch_gordan"]


def _twice_spin(name: str, j) -> int:
    tj = _doubled_half_integer(name, j)
    if tj < 0:
        raise ValueError(f"{name} must be a non-negative integer or half-integer, got {j!r}")
    return tj


def _read_only(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@functools.lru_cache(maxsize=None)
def _generators(tj: int) -> np.ndarray:
    # Doubled projections tm = 2m keep half-integer spins in integers.
    tm = np.arange(-tj, tj + 1, 2)
    # <m+1| J+ |m> = sqrt(j(j+1) - m(m+1)) = sqrt(tj(tj+2) - tm(tm+2)) / 2
    up = np.sqrt((tj * (tj + 2) - tm[:-1] * (tm[:-1] + 2)).astype(np.float64)) / 2
    j_plus = np.diag(up, k=-1).astype(np.complex128)
    j_minus = j_plus.T
    jx = (j_plus + j_minus) / 2
    jy = (j_plus - j_minus) / 2j
    jz = np.diag(tm / 2).astype(np.complex128)
    return _read_only(np.stack([-1j * jy, 1j * jz, 1j * jx]))


def su2_generators(j) -> np.ndarray:
    """Generators of SU(2) in the spin-``j`` representation (complex basis).

    Parameters
    ----------
    j : int, float or Fraction
        Spin: a non-negative integer or half-integer (``0.5``, ``1``, ``1.5``, ...).

    Returns
    -------
    ndarray of shape ``(3, 2j+1, 2j+1)``, complex128, read-only (cached).
        ``(-i Jy, i Jz, i Jx)`` (see the module docstring): anti-Hermitian, with
        ``[X0, X1] = X2``. Equals ``e3nn_jax.su2_generators(j)``.

    Raises
    ------
    TypeError, ValueError
        ``j`` is not a real number, or negative, or not a multiple of 1/2.

    Examples
    --------
    >>> X = su2_generators(0.5)
    >>> X.shape, X.dtype
    ((3, 2, 2), dtype('complex128'))
    >>> bool(np.allclose(X[0] @ X[1] - X[1] @ X[0], X[2]))
    True
    >>> su2_generators(-1)
    Traceback (most recent call last):
    ...
    ValueError: j must be a non-negative integer or half-integer, got -1
    """
    return _generators(_twice_spin("j", j))


@functools.lru_cache(maxsize=None)
def _clebsch_gordan(tj1: int, tj2: int, tj3: int) -> np.ndarray:
    C = np.zeros((tj1 + 1, tj2 + 1, tj3 + 1))
    if (tj1 + tj2 + tj3) % 2 == 0 and abs(tj1 - tj2) <= tj3 <= tj1 + tj2:
        for i1 in range(tj1 + 1):
            tm1 = 2 * i1 - tj1
            for i2 in range(tj2 + 1):
                tm2 = 2 * i2 - tj2
                tm3 = tm1 + tm2
                if abs(tm3) > tj3:
                    continue
                # <j1 m1 j2 m2 | j3 m3> = b sqrt((2 j3 + 1) p / q); divided by sqrt(2 j3 + 1).
                b, p, q = _su2_cg_parts(tj1, tj2, tj3, tm1, tm2)
                if b:
                    value = _sqrt_ratio_to_float(b * b * p, q)
                    C[i1, i2, (tm3 + tj3) // 2] = math.copysign(value, b)
    return _read_only(C)


def su2_clebsch_gordan(j1, j2, j3) -> np.ndarray:
    """Clebsch-Gordan coefficients of SU(2), divided by ``sqrt(2 j3 + 1)``.

    Parameters
    ----------
    j1, j2, j3 : int, float or Fraction
        Non-negative integers or half-integers.

    Returns
    -------
    ndarray of shape ``(2j1+1, 2j2+1, 2j3+1)``, float64, read-only (cached).
        ``C[j1 + m1, j2 + m2, j3 + m3] = <j1 m1 j2 m2 | j3 m3> / sqrt(2 j3 + 1)``
        (Condon-Shortley). All zeros when ``j3`` is not in
        ``|j1 - j2|, ..., j1 + j2`` (``j1 + j2 + j3`` not an integer included).
        Real, as in e3nn-jax (whose values it equals). Invariant:
        ``X1 C + X2 C = C X3`` for the generators of :func:`su2_generators`
        acting on the first, second and third index.

    Raises
    ------
    TypeError, ValueError
        An argument is not a real number, or negative, or not a multiple of 1/2
        (the message names it; e3nn-jax raises AssertionError for some of these).

    Examples
    --------
    >>> C = su2_clebsch_gordan(0.5, 0.5, 0)   # the singlet (|+-> - |-+>) / sqrt(2)
    >>> np.round(C[:, :, 0] * np.sqrt(2), 6).tolist()
    [[0.0, -1.0], [1.0, 0.0]]
    >>> float(np.linalg.norm(su2_clebsch_gordan(1, 1.5, 2.5)))
    1.0
    >>> float(np.abs(su2_clebsch_gordan(1, 1, 3)).max())
    0.0
    """
    return _clebsch_gordan(_twice_spin("j1", j1), _twice_spin("j2", j2), _twice_spin("j3", j3))
