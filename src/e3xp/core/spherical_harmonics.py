"""Real spherical harmonics of any degree in e3nn's basis: evaluation plan and reference.

Conventions (equal to e3nn / e3nn-jax)
--------------------------------------
* ``y`` is the polar axis; the degree-1 components are ``(x, y, z)``; inside a
  degree ``l`` the components are ordered ``m = -l, ..., l`` and ``m = 0`` (the
  middle one) depends on ``y`` only.  ``m > 0`` goes with ``cos(m phi)`` and
  ``m < 0`` with ``sin(|m| phi)``, where ``phi = atan2(x, z)``; no
  Condon-Shortley phase, so ``Y_l(e_y) = [0, ..., 0, c_l, 0, ..., 0]`` with
  ``c_l > 0``.
* ``normalization``: ``"component"`` (default, ``|Y_l|^2 = 2l + 1`` on unit
  vectors, i.e. every component has mean square 1 over the sphere), ``"norm"``
  (``|Y_l| = 1``) or ``"integral"`` (the integral of ``Y_lm^2`` over the unit
  sphere is 1).
* ``normalize=True`` evaluates at ``x / |x|``; ``normalize=False`` gives the
  homogeneous polynomial of degree ``l`` (it scales as ``|x|^l``).  At the zero
  vector both give ``[1, 0, 0, ...]`` times the degree-0 factor, as e3nn does.

Two evaluators that check each other
------------------------------------
:class:`SphericalHarmonicsPlan` is what array backends execute: a recursion on
degree built from the exact Clebsch-Gordan block ``CG(l-1, 1, l)``.
:func:`spherical_harmonics_reference` is a float64 NumPy evaluator built on a
different algorithm (associated Legendre recurrences in ``cos(theta)``), so a
bug in either shows up as a disagreement.

How a backend executes a plan
-----------------------------
Only array-API-standard operations are needed (``sum``, ``where``, ``sqrt``,
elementwise ``*`` and ``/``, ``reshape``, ``matmul``, ``concat``); the reference
implementation is :func:`evaluate_plan_numpy`.  Given ``x`` of shape ``(..., 3)``
and a floating dtype ``dt``::

    if normalize:
        r2 = sum(x * x, axis=-1, keepdims=True)
        v = x / sqrt(where(r2 > 0, r2, 1))      # the zero vector maps to itself
    else:
        v = x
    y[0] = ones(batch + (1,), dt)
    for l in 1 .. max(ls):                       # M = plan.matrix(l), cast to dt
        y[l] = reshape(y[l-1][..., :, None] * v[..., None, :], batch + (3*(2l-1),)) @ M
    out = concat([y[l] * f[l] for l in ls], axis=-1)   # f = plan.factors(normalization)

``y[l]`` is the degree-``l`` harmonic in the ``"component"`` normalization (on
unit vectors) times ``|v|^l``; ``M_1 = sqrt(3) I`` so ``y[1] = sqrt(3) v``.  The
recursion works because the degree-``l`` part of ``Y_{l-1}(v) (x) v`` is a
harmonic polynomial of degree ``l``, and ``CG(l-1, 1, l)`` extracts it; each step
is a well-conditioned projection, so the error grows only linearly with ``l``
(no monomial expansion, no cancellation).

Zero vector: the ``where`` keeps the division away from ``0 / 0``; the branch
that is not taken is a constant, so reverse-mode gradients are finite too (at
``x = 0`` the gradient of ``v`` is the identity, i.e. that of the unnormalized
harmonics).  ``y[l >= 1]`` is then exactly 0 and ``y[0] = 1``.
"""

from __future__ import annotations

import functools
import math
import operator
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "NORMALIZATIONS",
    "SphericalHarmonicsPlan",
    "spherical_harmonics_plan",
    "normalization_factors",
    "evaluate_plan_numpy",
    "spherical_harmonics_reference",
]

NORMALIZATIONS = ("component", "norm", "integral")


def _check_l(value, name: str = "l") -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a non-negative int, got {value!r} (a bool)")
    try:
        l = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be a non-negative int, got {value!r}") from None
    if l < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return l


def _parse_ls(ls) -> tuple[int, ...]:
    """An int lmax means 0..lmax; a sequence lists the degrees, in output order."""
    if isinstance(ls, (str, bytes)):
        raise TypeError(f"ls must be an int lmax or a sequence of ints, got {ls!r}")
    if isinstance(ls, (list, tuple, range, np.ndarray)) and np.ndim(ls) == 1:
        if len(ls) == 0:
            raise ValueError(f"ls must name at least one degree, got {ls!r}")
        return tuple(_check_l(l, "every degree in ls") for l in ls)
    lmax = _check_l(ls, "ls")
    return tuple(range(lmax + 1))


def _check_normalization(normalization) -> str:
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}"
        )
    return normalization


def _check_vector_shape(shape) -> None:
    if len(shape) == 0 or shape[-1] != 3:
        raise ValueError(
            f"vectors must have a last axis of size 3 (x, y, z), got shape {tuple(shape)}"
        )


def normalization_factors(lmax: int, normalization: str = "component") -> np.ndarray:
    r"""Per-degree factors that turn the ``"component"`` harmonics into ``normalization``.

    Parameters
    ----------
    lmax : int
        Largest degree (non-negative).
    normalization : {"component", "norm", "integral"}
        ``"component"``: 1; ``"norm"``: :math:`1/\sqrt{2l+1}`;
        ``"integral"``: :math:`1/\sqrt{4\pi}` (the mean over the sphere of a
        component squared is 1, so its integral is :math:`4\pi`).

    Returns
    -------
    numpy.ndarray
        Read-only float64 array of shape ``(lmax + 1,)``.

    Examples
    --------
    >>> print(np.round(normalization_factors(2, "norm"), 4))
    [1.     0.5774 0.4472]
    >>> f = normalization_factors(1, "integral")
    >>> print(round(float(f[1] * np.sqrt(3)), 4))  # l = 1 factor sqrt(3 / (4 pi))
    0.4886
    """
    return _normalization_factors(_check_l(lmax, "lmax"), _check_normalization(normalization))


@functools.lru_cache(maxsize=None)
def _normalization_factors(lmax: int, normalization: str) -> np.ndarray:
    l = np.arange(lmax + 1, dtype=np.float64)
    if normalization == "component":
        f = np.ones_like(l)
    elif normalization == "norm":
        f = 1.0 / np.sqrt(2.0 * l + 1.0)
    else:
        f = np.full_like(l, 1.0 / math.sqrt(4.0 * math.pi))
    f.setflags(write=False)
    return f


@dataclass(frozen=True)
class SphericalHarmonicsPlan:
    r"""Constants to evaluate real spherical harmonics of degree ``0..lmax``.

    Build it with :func:`spherical_harmonics_plan` (cached).  The module
    docstring gives the exact evaluation procedure; :func:`evaluate_plan_numpy`
    implements it.  Plans compare and hash by ``lmax`` alone, since the
    matrices are a function of it.

    Attributes
    ----------
    lmax : int
        Largest degree the plan can evaluate.
    matrices : tuple of numpy.ndarray
        ``matrices[l - 1]`` is :math:`M_l`, read-only float64 of shape
        ``(3 (2l - 1), 2l + 1)``, for ``l = 1..lmax`` (empty when ``lmax = 0``).
        :math:`M_1 = \sqrt{3} I`; for ``l >= 2``, :math:`M_l` is
        ``CG(l-1, 1, l)`` reshaped (row index ``3 i + j`` for component ``i``
        of degree ``l-1`` and ``j`` of the vector) times the positive scale
        that makes ``Y_l(e_y)`` have middle component :math:`+\sqrt{2l+1}`.

    Examples
    --------
    >>> plan = spherical_harmonics_plan(3)
    >>> print(plan.lmax, [m.shape for m in plan.matrices])
    3 [(3, 3), (9, 5), (15, 7)]
    >>> plan == spherical_harmonics_plan(3)
    True
    """

    lmax: int
    matrices: tuple = field(repr=False, compare=False)

    def matrix(self, l: int) -> np.ndarray:
        """The recursion matrix :math:`M_l` for ``1 <= l <= lmax``.

        Examples
        --------
        >>> m = spherical_harmonics_plan(2).matrix(1)
        >>> bool(np.allclose(m, np.sqrt(3) * np.eye(3)))
        True
        """
        l = _check_l(l)
        if not 1 <= l <= self.lmax:
            raise ValueError(f"l must be in 1..{self.lmax} for this plan, got {l!r}")
        return self.matrices[l - 1]

    def factors(self, normalization: str = "component") -> np.ndarray:
        """Same as ``normalization_factors(self.lmax, normalization)``.

        Examples
        --------
        >>> print(spherical_harmonics_plan(1).factors("norm").shape)
        (2,)
        """
        return normalization_factors(self.lmax, normalization)


def spherical_harmonics_plan(lmax: int) -> SphericalHarmonicsPlan:
    """The (cached) evaluation plan for degrees ``0..lmax``.

    Parameters
    ----------
    lmax : int
        Largest degree, any non-negative int.

    Returns
    -------
    SphericalHarmonicsPlan

    Raises
    ------
    TypeError
        If ``lmax`` is not an int.
    ValueError
        If ``lmax`` is negative.

    Examples
    --------
    >>> plan = spherical_harmonics_plan(2)
    >>> print(plan.matrix(2).shape)
    (9, 5)
    """
    return _plan(_check_l(lmax, "lmax"))


@functools.lru_cache(maxsize=None)
def _plan(lmax: int) -> SphericalHarmonicsPlan:
    return SphericalHarmonicsPlan(lmax, tuple(_recursion_matrix(l) for l in range(1, lmax + 1)))


@functools.lru_cache(maxsize=None)
def _recursion_matrix(l: int) -> np.ndarray:
    if l == 1:
        m = math.sqrt(3.0) * np.eye(3)
    else:
        # Imported here so importing this module stays cheap and cycle-free.
        from e3xp.core.clebsch_gordan import clebsch_gordan_uncached

        # Uncached: the plan keeps M_l itself, a second copy of the CG tensor would
        # double the memory of high degrees (l = 200: 260 MB each).
        c = clebsch_gordan_uncached(l - 1, 1, l)
        # At v = e_y the input y_{l-1} is sqrt(2l-1) times the middle basis
        # vector, and so must the output be sqrt(2l+1) times its middle one;
        # by symmetry about y, CG[l-1, 1, :] is nonzero only in the middle.
        scale = math.sqrt(2 * l + 1) / (math.sqrt(2 * l - 1) * float(c[l - 1, 1, l]))
        m = scale * np.reshape(c, (3 * (2 * l - 1), 2 * l + 1))
    m = np.ascontiguousarray(m, dtype=np.float64)
    m.setflags(write=False)
    return m


def evaluate_plan_numpy(
    plan: SphericalHarmonicsPlan,
    vectors,
    ls,
    normalize: bool = True,
    normalization: str = "component",
) -> np.ndarray:
    """Execute ``plan`` with NumPy, using only array-API-standard operations.

    This is the procedure every backend mirrors (see the module docstring).

    Parameters
    ----------
    plan : SphericalHarmonicsPlan
        With ``plan.lmax >= max(ls)``.
    vectors : numpy.ndarray
        Real floating array of shape ``(..., 3)``; the result keeps its dtype.
    ls : int or sequence of int
        An int ``lmax`` means degrees ``0..lmax``; a sequence gives the degrees
        in output order.
    normalize : bool
        Evaluate on ``x / |x|`` (True) or on ``x`` (False, homogeneous polynomials).
    normalization : {"component", "norm", "integral"}

    Returns
    -------
    numpy.ndarray
        Shape ``(..., sum(2l + 1 for l in ls))``.

    Raises
    ------
    TypeError
        If ``vectors`` is not a real floating array or ``ls`` is malformed.
    ValueError
        If the last axis is not 3, a degree is negative or above ``plan.lmax``,
        or the normalization is unknown.

    Examples
    --------
    >>> plan = spherical_harmonics_plan(2)
    >>> y = evaluate_plan_numpy(plan, np.array([1.0, 0.0, 0.0]), [1, 2])
    >>> print(np.round(y, 4))
    [ 1.7321  0.      0.      0.      0.     -1.118   0.     -1.9365]
    """
    if not isinstance(plan, SphericalHarmonicsPlan):
        raise TypeError(f"plan must be a SphericalHarmonicsPlan, got {type(plan).__name__}")
    ls = _parse_ls(ls)
    normalization = _check_normalization(normalization)
    x = np.asarray(vectors)
    if x.dtype.kind != "f":
        raise TypeError(f"vectors must be a real floating array, got dtype {x.dtype}")
    _check_vector_shape(x.shape)
    lmax = max(ls)
    if lmax > plan.lmax:
        raise ValueError(f"degree {lmax} is above the plan's lmax = {plan.lmax}")

    if normalize:
        r2 = np.sum(x * x, axis=-1, keepdims=True)
        v = x / np.sqrt(np.where(r2 > 0, r2, np.ones_like(r2)))
    else:
        v = x
    batch = x.shape[:-1]
    ys = [np.ones(batch + (1,), dtype=x.dtype)]
    for l in range(1, lmax + 1):
        outer = np.reshape(ys[-1][..., :, None] * v[..., None, :], batch + (3 * (2 * l - 1),))
        ys.append(np.matmul(outer, np.asarray(plan.matrix(l), dtype=x.dtype)))
    f = plan.factors(normalization)
    # np.concatenate is the array API's concat (np.concat needs NumPy >= 2).
    return np.concatenate([ys[l] * x.dtype.type(f[l]) for l in ls], axis=-1)


def spherical_harmonics_reference(
    ls, vectors, normalize: bool = True, normalization: str = "component"
) -> np.ndarray:
    r"""Float64 reference evaluation by associated Legendre recurrences.

    Independent of the plan: with :math:`\cos\theta = y/r`,
    :math:`\sin\theta = \sqrt{x^2 + z^2}/r` and :math:`\phi = \mathrm{atan2}(x, z)`,
    :math:`Y_{l,0} = \bar P_l^0(\cos\theta)`,
    :math:`Y_{l,m} = \sqrt{2}\,\bar P_l^m(\cos\theta)\cos(m\phi)` and
    :math:`Y_{l,-m} = \sqrt{2}\,\bar P_l^m(\cos\theta)\sin(m\phi)` for ``m > 0``,
    where :math:`\bar P_l^m = \sqrt{(2l+1)(l-m)!/(l+m)!}\,P_l^m` (no
    Condon-Shortley phase) comes from the standard three-term recurrence in
    ``l``, which is stable in floating point.

    Parameters
    ----------
    ls : int or sequence of int
        An int ``lmax`` means degrees ``0..lmax``; a sequence gives the degrees
        in output order.
    vectors : array_like
        Real array of shape ``(..., 3)``; computed in float64.
    normalize : bool
        Evaluate on ``x / |x|`` (True) or return :math:`|x|^l Y_l(x/|x|)` (False).
    normalization : {"component", "norm", "integral"}

    Returns
    -------
    numpy.ndarray
        float64, shape ``(..., sum(2l + 1 for l in ls))``.

    Raises
    ------
    TypeError
        If ``ls`` is malformed or ``vectors`` is not real.
    ValueError
        If the last axis is not 3, a degree is negative, or the normalization
        is unknown.

    Examples
    --------
    >>> print(np.round(spherical_harmonics_reference([2], [0.0, 1.0, 0.0]), 3))
    [0.    0.    2.236 0.    0.   ]
    >>> y = spherical_harmonics_reference(1, [0.0, 0.0, 0.0])
    >>> print(y)
    [1. 0. 0. 0.]
    """
    ls = _parse_ls(ls)
    normalization = _check_normalization(normalization)
    x = np.asarray(vectors)
    if x.dtype.kind not in "fiu":
        raise TypeError(f"vectors must be a real array, got dtype {x.dtype}")
    x = x.astype(np.float64)
    _check_vector_shape(x.shape)
    lmax = max(ls)

    r = np.sqrt(np.sum(x * x, axis=-1))
    nonzero = r > 0
    safe_r = np.where(nonzero, r, 1.0)
    cos_t = x[..., 1] / safe_r
    sin_t = np.hypot(x[..., 0], x[..., 2]) / safe_r
    phi = np.arctan2(x[..., 0], x[..., 2])

    # pbar[(l, m)] for 0 <= m <= l <= lmax
    pbar = {(0, 0): np.ones_like(cos_t)}
    for m in range(1, lmax + 1):
        pbar[m, m] = math.sqrt((2 * m + 1) / (2 * m)) * sin_t * pbar[m - 1, m - 1]
    for m in range(lmax):
        pbar[m + 1, m] = math.sqrt(2 * m + 3) * cos_t * pbar[m, m]
    for m in range(lmax + 1):
        for l in range(m + 2, lmax + 1):
            a = math.sqrt((2 * l + 1) * (2 * l - 1) / ((l - m) * (l + m)))
            b = math.sqrt(
                (2 * l + 1) * (l + m - 1) * (l - m - 1) / ((2 * l - 3) * (l - m) * (l + m))
            )
            pbar[l, m] = a * cos_t * pbar[l - 1, m] - b * pbar[l - 2, m]

    factors = normalization_factors(lmax, normalization)
    blocks = []
    for l in range(lmax + 1):
        comps = []
        for m in range(-l, l + 1):
            if m < 0:
                comps.append(math.sqrt(2.0) * pbar[l, -m] * np.sin(-m * phi))
            elif m == 0:
                comps.append(pbar[l, 0])
            else:
                comps.append(math.sqrt(2.0) * pbar[l, m] * np.cos(m * phi))
        block = np.stack(comps, axis=-1) * factors[l]
        if normalize:
            # e3nn's value at the zero vector: only the constant survives.
            block = np.where(nonzero[..., None] | (l == 0), block, 0.0)
        else:
            block = block * (r**l)[..., None]
        blocks.append(block)
    return np.concatenate([blocks[l] for l in ls], axis=-1)
