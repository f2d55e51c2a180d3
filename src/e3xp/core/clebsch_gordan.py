"""Exact Clebsch-Gordan coefficients of SU(2) and of the real irreps of SO(3).

The real coefficients use the basis of e3nn / e3nn-jax: the l = 1 components are
(x, y, z) and y is the polar (quantization) axis.  They equal
``e3nn.o3.wigner_3j(l1, l2, l3)`` and ``e3nn_jax.clebsch_gordan(l1, l2, l3)``.

How the numbers are made exact
------------------------------
Racah's formula is evaluated with integers only: its alternating sum is rewritten
as a sum of products of binomial coefficients, so the complex-basis coefficient is
``sign * sqrt(p / q)`` with integers ``p, q``.

The change to the real basis mixes, for every real entry, at most two complex
entries, ``(m1, m2, m3)`` and ``(-m1, -m2, -m3)``.  Those two have the same
magnitude (they differ by the sign ``(-1)**(l1 + l2 + l3)``), and each entry of
the basis change is a power of ``i`` times ``1`` or ``1/sqrt(2)``.  So every
real coefficient is ``z * sqrt(p / (q * 2**h))`` with ``z`` in {0, +-1, +-2}:
still a signed square root of a rational.  Its float64 value is computed from
integers with ``math.isqrt`` and a sticky bit, hence correctly rounded.
"""

from __future__ import annotations

import functools
import math
import numbers
import operator
from fractions import Fraction
from typing import NamedTuple

import numpy as np

__all__ = [
    "SqrtRational",
    "su2_clebsch_gordan_exact",
    "change_basis_real_to_complex",
    "clebsch_gordan_exact",
    "clebsch_gordan",
]


# ---------------------------------------------------------------------------
# exact signed square roots
# ---------------------------------------------------------------------------


def _sqrt_ratio_to_float(num: int, den: int) -> float:
    """Correctly rounded ``sqrt(num / den)`` for integers ``num >= 0``, ``den > 0``."""
    if num == 0:
        return 0.0
    # Scale by an even power of two so the integer square root carries >= 64
    # significant bits; the sticky bit then keeps round-half-even exact.
    shift = 130 - (num.bit_length() - den.bit_length())
    shift += shift & 1
    if shift >= 0:
        x, rem = divmod(num << shift, den)
    else:
        x, rem = divmod(num, den << -shift)
    r = math.isqrt(x)
    sticky = 1 if (rem or r * r != x) else 0
    return math.ldexp(float((r << 1) | sticky), -(shift // 2) - 1)


class SqrtRational(NamedTuple):
    """An exact real number ``sign * sqrt(square)``.

    Attributes
    ----------
    sign : int
        -1, 0 or +1.
    square : fractions.Fraction
        The non-negative square of the value (0 exactly when ``sign`` is 0).

    Examples
    --------
    >>> from fractions import Fraction
    >>> x = SqrtRational(-1, Fraction(1, 2))
    >>> print(round(float(x), 6), x.signed_square)
    -0.707107 -1/2
    """

    sign: int
    square: Fraction

    @property
    def signed_square(self) -> Fraction:
        """``sign * square``: the value squared, with the value's sign attached."""
        return self.sign * self.square

    def __float__(self) -> float:
        return self.sign * _sqrt_ratio_to_float(self.square.numerator, self.square.denominator)


# ---------------------------------------------------------------------------
# SU(2): Racah's formula in integers
# ---------------------------------------------------------------------------


def _su2_cg_parts(tj1: int, tj2: int, tj3: int, tm1: int, tm2: int) -> tuple[int, int, int]:
    """Integers ``(b, p, q)`` with ``<j1 m1 j2 m2 | j3 m1+m2> = b * sqrt(p / q)``.

    Arguments are doubled (``tj1 = 2 j1``, ...) so half-integers stay integers;
    the caller guarantees the selection rules.  The normalization factor
    ``2 j3 + 1`` is left out of ``p`` (see the callers).
    """
    tm3 = tm1 + tm2
    n1 = (tj1 + tj2 - tj3) // 2  # j1 + j2 - j3
    n2 = (tj3 + tj1 - tj2) // 2  # j3 + j1 - j2
    n3 = (tj3 - tj1 + tj2) // 2  # j3 - j1 + j2
    a = (tj1 - tm1) // 2  # j1 - m1
    b2 = (tj2 + tm2) // 2  # j2 + m2
    # Racah's alternating sum, each denominator split into three binomials:
    #   k!(n1-k)! -> C(n1, k);  (a-k)!(n2-a+k)! -> C(n2, a-k);  (b2-k)!(n3-b2+k)! -> C(n3, b2-k)
    # so sum_k (-1)^k / prod(...) = bsum / (n1! n2! n3!).
    kmin = max(0, a - n2, b2 - n3)
    kmax = min(n1, a, b2)
    comb = math.comb
    bsum = 0
    for k in range(kmin, kmax + 1):
        term = comb(n1, k) * comb(n2, a - k) * comb(n3, b2 - k)
        bsum += -term if k & 1 else term
    fact = _factorial
    p = (
        fact((tj3 + tm3) // 2)
        * fact((tj3 - tm3) // 2)
        * fact(a)
        * fact((tj1 + tm1) // 2)
        * fact((tj2 - tm2) // 2)
        * fact(b2)
    )
    q = fact((tj1 + tj2 + tj3) // 2 + 1) * fact(n1) * fact(n2) * fact(n3)
    return bsum, p, q


@functools.lru_cache(maxsize=None)
def _factorial(n: int) -> int:
    return math.factorial(n)


def _doubled_half_integer(name: str, value) -> int:
    """``2 * value`` as an int, for an int / Fraction / float that is a multiple of 1/2."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be an integer or half-integer number, got {value!r} of type {type(value).__name__}"
        )
    if not math.isfinite(value):
        raise ValueError(f"{name} must be an integer or half-integer, got {value}")
    twice = 2 * Fraction(value)
    if twice.denominator != 1:
        raise ValueError(f"{name} must be an integer or half-integer, got {value}")
    return int(twice)


def su2_clebsch_gordan_exact(j1, j2, j3, m1, m2, m3) -> SqrtRational:
    r"""Exact Clebsch-Gordan coefficient :math:`\langle j_1 m_1 j_2 m_2 | j_3 m_3 \rangle` of SU(2).

    Condon-Shortley phase convention, computed with Racah's formula in integer
    arithmetic.  Coefficients forbidden by the selection rules (``m3 != m1 + m2``,
    triangle rule, ``j1 + j2 + j3`` not an integer) are exactly zero.

    Parameters
    ----------
    j1, j2, j3 : int, Fraction or float
        Non-negative integers or half-integers.
    m1, m2, m3 : int, Fraction or float
        Projections, ``|m| <= j`` with ``j - m`` an integer.

    Returns
    -------
    SqrtRational
        The coefficient as ``sign * sqrt(square)``; ``float()`` of it is correctly rounded.

    Raises
    ------
    TypeError
        If an argument is not a real number.
    ValueError
        If a ``j`` is negative or not a multiple of 1/2, or an ``m`` does not fit its ``j``.

    Examples
    --------
    >>> from fractions import Fraction
    >>> c = su2_clebsch_gordan_exact(1, 1, 0, 1, -1, 0)
    >>> print(c.sign, c.square)
    1 1/3
    >>> h = Fraction(1, 2)
    >>> print(su2_clebsch_gordan_exact(h, h, 0, h, -h, 0).signed_square)
    1/2
    """
    names = ("j1", "j2", "j3", "m1", "m2", "m3")
    tj1, tj2, tj3, tm1, tm2, tm3 = (
        _doubled_half_integer(n, v) for n, v in zip(names, (j1, j2, j3, m1, m2, m3))
    )
    for jn, mn, tj, tm, j, m in (
        ("j1", "m1", tj1, tm1, j1, m1),
        ("j2", "m2", tj2, tm2, j2, m2),
        ("j3", "m3", tj3, tm3, j3, m3),
    ):
        if tj < 0:
            raise ValueError(f"{jn} must be non-negative, got {j}")
        if abs(tm) > tj or (tj - tm) % 2:
            raise ValueError(f"{mn} must be one of -{jn}, -{jn}+1, ..., {jn} (here {jn}={j}), got {m}")
    zero = SqrtRational(0, Fraction(0))
    if tm3 != tm1 + tm2 or (tj1 + tj2 + tj3) % 2 or not abs(tj1 - tj2) <= tj3 <= tj1 + tj2:
        return zero
    bsum, p, q = _su2_cg_parts(tj1, tj2, tj3, tm1, tm2)
    if bsum == 0:
        return zero
    return SqrtRational(1 if bsum > 0 else -1, Fraction(bsum * bsum * (tj3 + 1) * p, q))


# ---------------------------------------------------------------------------
# real <-> complex basis
# ---------------------------------------------------------------------------


def _check_l(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and not float(value).is_integer():
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        raise TypeError(f"{name} must be an int, got {value!r} of type {type(value).__name__}")
    value = operator.index(value)
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def change_basis_real_to_complex(l: int) -> np.ndarray:
    r"""Unitary change of basis from e3nn's real basis to the complex (spherical) basis.

    Rows index the complex basis ``m = -l, ..., l`` (eigenvectors of the rotation
    generator about the polar axis), columns the real basis in the same order;
    a real vector ``x`` has complex components ``Q @ x``, and real generators are
    ``Q^H X Q``.  For ``m > 0``::

        Q[l-m, l+m] = c / sqrt(2),   Q[l-m, l-m] = -i c / sqrt(2),
        Q[l+m, l+m] = (-1)^m c / sqrt(2),   Q[l+m, l-m] = i (-1)^m c / sqrt(2),
        Q[l, l] = c,   with c = (-i)^l.

    The global phase ``c`` makes the real Clebsch-Gordan coefficients real.  No
    permutation matrix is needed for the (x, y, z) order: the axes are relabeled
    instead, the complex basis being quantized along e3nn's ``y``.  With the
    Condon-Shortley angular-momentum matrices ``Jx, Jy, Jz`` on the complex basis,
    the real generators of rotations about e3nn's x, y, z are
    ``Q^H (-i Jy) Q``, ``Q^H (i Jz) Q`` and ``Q^H (i Jx) Q``; for ``l = 1`` these
    are the infinitesimal rotations of (x, y, z) coordinates.

    Parameters
    ----------
    l : int
        Non-negative degree.

    Returns
    -------
    numpy.ndarray
        complex128 unitary matrix of shape ``(2l+1, 2l+1)`` (a fresh, writable copy).

    Examples
    --------
    >>> Q = change_basis_real_to_complex(1)
    >>> bool(np.allclose(Q @ Q.conj().T, np.eye(3)))
    True
    >>> bool(np.allclose(Q * 2**0.5, [[-1, 0, -1j], [0, -2**0.5 * 1j, 0], [-1, 0, 1j]]))
    True
    """
    l = _check_l("l", l)
    q = np.zeros((2 * l + 1, 2 * l + 1), dtype=np.complex128)
    powers_of_i = (1.0, 1.0j, -1.0, -1.0j)
    s = 1.0 / math.sqrt(2.0)
    for m in range(-l, l + 1):
        for col, f, _ in _slot(l, m):
            q[l + m, col] = powers_of_i[(f + 3 * l) % 4] * (s if m else 1.0)
    return q


# ---------------------------------------------------------------------------
# real coefficients
# ---------------------------------------------------------------------------


def _real_cg_orbits(l1: int, l2: int, l3: int):
    """Nonzero real coefficients grouped by magnitude, normalized to Frobenius norm 1.

    Returns a list of ``(num, den, entries)``: every ``(i, j, k, sign)`` in
    ``entries`` has the value ``sign * sqrt(num / den)``.  Assumes validated arguments.
    """
    # Each real entry mixes the complex entries a = (m1, m2, m3) and
    # b = (-m1, -m2, -m3), with b = (-1)^(l1+l2+l3) a.  Writing Q[m, r] = (-i)^l i^f / sqrt(2)
    # (f from _slot), the phase of b relative to a is i^(sum of
    # 2 (|m| + [r < 0]) over the slots with m != 0) * (-1)^(l1+l2+l3), and
    # |m1| + |m2| + |m3| is even, so the two add (z = 2 i^f_a) when the number of
    # negative r plus l1 + l2 + l3 is even, and cancel otherwise.
    parity = (l1 + l2 + l3) & 1
    base = 3 * (l1 + l2 - l3)
    orbits = []
    # walk each orbit once, through its representative with m1 > 0, or m1 == 0 and m2 >= 0
    for m1 in range(0, l1 + 1):
        for m2 in range(-l2 if m1 else 0, l2 + 1):
            m3 = m1 + m2
            if abs(m3) > l3:
                continue
            b, p, q = _su2_cg_parts(2 * l1, 2 * l2, 2 * l3, 2 * m1, 2 * m2)
            if b == 0:
                continue
            # e3nn's 1/sqrt(2 l3 + 1) cancels the (2 l3 + 1) of Racah's prefactor,
            # which _su2_cg_parts leaves out.
            sign_b = 1 if b > 0 else -1
            num = b * b * p
            if m1 == 0 and m2 == 0:
                # the single complex entry (0, 0, 0), phase i^(3 (l1 + l2 - l3))
                e = base % 4
                if e & 1:  # impossible: (0, 0, 0) vanishes when l1 + l2 + l3 is odd
                    raise AssertionError("imaginary real-basis coefficient")
                orbits.append((num, q, [(l1, l2, l3, sign_b if e == 0 else -sign_b)]))
                continue
            nonzero = (m1 != 0) + (m2 != 0) + (m3 != 0)
            # per slot: (index, phase exponent of Q[m, r], r < 0)
            s1 = _slot(l1, m1)
            s2 = _slot(l2, m2)
            s3 = _slot(l3, m3)
            entries = []
            for i, f1, n1 in s1:
                for j, f2, n2 in s2:
                    for k, f3, n3 in s3:
                        if (n1 + n2 + n3 + parity) & 1:
                            continue  # the two complex terms cancel
                        e = (base + f1 + f2 - f3) % 4
                        if e & 1:
                            raise AssertionError("imaginary real-basis coefficient")
                        entries.append((i, j, k, sign_b if e == 0 else -sign_b))
            # |z| = 2 and each nonzero m brings 1/sqrt(2)
            orbits.append((4 * num, q << nonzero, entries))
    return orbits


def _slot(l: int, m: int):
    """``(l + r, f, r < 0)`` for the real indices ``r = +-|m|`` that complex ``m`` touches.

    ``Q[l+m, l+r] = (-i)^l i^f / sqrt(2)^(m != 0)``; the common ``(-i)^l`` is e3nn's:
    without it the real coefficients of odd ``l1 + l2 + l3`` would be imaginary.
    """
    if m == 0:
        return ((l, 0, 0),)
    a = abs(m)
    if m < 0:
        return ((l + a, 0, 0), (l - a, 3, 1))
    return ((l + a, (2 * a) % 4, 0), (l - a, (2 * a + 1) % 4, 1))


def _real_cg_entries(l1: int, l2: int, l3: int):
    """Nonzero real coefficients as ``(i, j, k, sign, num, den)``: ``sign * sqrt(num / den)``."""
    return [
        (i, j, k, s, num, den)
        for num, den, entries in _real_cg_orbits(l1, l2, l3)
        for i, j, k, s in entries
    ]


def _check_triple(l1, l2, l3) -> tuple[int, int, int]:
    l1, l2, l3 = _check_l("l1", l1), _check_l("l2", l2), _check_l("l3", l3)
    if not abs(l1 - l2) <= l3 <= l1 + l2:
        raise ValueError(
            f"(l1, l2, l3) = ({l1}, {l2}, {l3}) violates the triangle rule |l1 - l2| <= l3 <= l1 + l2"
        )
    return l1, l2, l3


def clebsch_gordan_exact(l1: int, l2: int, l3: int) -> dict[tuple[int, int, int], SqrtRational]:
    r"""Exact nonzero entries of :func:`clebsch_gordan` (e3nn's real basis, Frobenius norm 1).

    Parameters
    ----------
    l1, l2, l3 : int
        Degrees satisfying ``|l1 - l2| <= l3 <= l1 + l2``.

    Returns
    -------
    dict
        Maps array indices ``(i, j, k)`` (``i = l1 + m1`` ...) to a :class:`SqrtRational`;
        entries not listed are zero.

    Raises
    ------
    TypeError, ValueError
        As :func:`clebsch_gordan`.

    Examples
    --------
    >>> C = clebsch_gordan_exact(1, 1, 1)
    >>> print(C[0, 1, 2].signed_square, sum(c.square for c in C.values()))
    1/6 1
    """
    l1, l2, l3 = _check_triple(l1, l2, l3)
    return {
        (i, j, k): SqrtRational(s, Fraction(num, den))
        for i, j, k, s, num, den in _real_cg_entries(l1, l2, l3)
    }


def clebsch_gordan(l1: int, l2: int, l3: int) -> np.ndarray:
    r"""Real Clebsch-Gordan coefficients of SO(3) in e3nn's basis.

    ``C[i, j, k]`` couples component ``i`` of degree ``l1`` and ``j`` of ``l2``
    into component ``k`` of ``l3``.  It is the unique (up to sign) tensor invariant
    under ``D1(R) x D2(R) x D3(R)``, normalized to Frobenius norm 1, with e3nn's
    sign; equal to ``e3nn.o3.wigner_3j`` and ``e3nn_jax.clebsch_gordan``.
    Computed exactly and rounded once to float64 (correctly rounded entries).
    Results are cached; the returned array is shared and read-only.

    Parameters
    ----------
    l1, l2, l3 : int
        Non-negative degrees with ``|l1 - l2| <= l3 <= l1 + l2``.

    Returns
    -------
    numpy.ndarray
        Read-only float64 array of shape ``(2l1+1, 2l2+1, 2l3+1)``.

    Raises
    ------
    TypeError
        If a degree is not an int (``bool`` included).
    ValueError
        If a degree is negative or not integral, or the triangle rule fails.

    Examples
    --------
    >>> C = clebsch_gordan(1, 1, 0)
    >>> bool(np.allclose(C[:, :, 0], np.eye(3) / np.sqrt(3)))
    True
    >>> print(np.round(clebsch_gordan(1, 1, 1)[0, 1, 2] * np.sqrt(6), 12))
    1.0
    >>> print(clebsch_gordan(2, 3, 4).shape, round(float(np.linalg.norm(clebsch_gordan(2, 3, 4))), 12))
    (5, 7, 9) 1.0
    """
    return _clebsch_gordan_cached(*_check_triple(l1, l2, l3))


@functools.lru_cache(maxsize=None)
def _clebsch_gordan_cached(l1: int, l2: int, l3: int) -> np.ndarray:
    return clebsch_gordan_uncached(l1, l2, l3)


def clebsch_gordan_uncached(l1: int, l2: int, l3: int) -> np.ndarray:
    """:func:`clebsch_gordan` for valid degrees, computed afresh and not kept in its cache.

    For callers that keep a transformed copy of their own (the harmonics' recursion
    matrices): caching the tensor too would hold its memory twice.
    """
    c = np.zeros((2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1), dtype=np.float64)
    for num, den, entries in _real_cg_orbits(l1, l2, l3):
        x = _sqrt_ratio_to_float(num, den)
        for i, j, k, s in entries:
            c[i, j, k] = x if s > 0 else -x
    c.setflags(write=False)
    return c
