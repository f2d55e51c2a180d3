"""Radial functions: smooth bases and envelopes of a distance, on any array namespace.

Everything here uses only array-API standard functions on the namespace of the
input (``array_api_compat.array_namespace``), so it runs on NumPy, PyTorch, JAX,
CuPy and ``array_api_strict`` alike, under autograd, ``jax.jit`` and
``torch.compile``. Values follow e3nn (``soft_one_hot_linspace``,
``soft_unit_step``) and e3nn-jax (``sus``, ``bessel``, ``poly_envelope``,
``soft_envelope``).

Points where a naive formula divides by zero (``exp(-1/x)`` at ``x <= 0``,
``sin(k x) / x`` at ``x = 0``) use the "double where" pattern: the unsafe branch is
evaluated on a harmless substitute so that neither the value nor the gradient of the
discarded branch can be NaN.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

import numpy as np

__all__ = [
    "soft_one_hot_linspace",
    "soft_unit_step",
    "sus",
    "bessel",
    "poly_envelope",
    "soft_envelope",
]

_BASES = ("gaussian", "cosine", "smooth_finite", "fourier", "bessel")


def _as_float_array(x, what: str):
    """Return ``(xp, x)`` for an input array; Python numbers and lists become NumPy."""
    import array_api_compat

    if isinstance(x, (int, float, list, tuple)) and not isinstance(x, bool):
        x = np.asarray(x, dtype=np.float64)
    try:
        xp = array_api_compat.array_namespace(x)
    except TypeError as e:
        raise TypeError(f"{what} must be an array (numpy, torch, jax, ...), got {type(x).__name__}") from e
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"{what} must be a real floating-point array, got dtype {x.dtype}")
    return xp, x


def _zeros(xp, x):
    return xp.zeros_like(x)


def _ones(xp, x):
    return xp.ones_like(x)


def _sus(xp, x):
    positive = x > 0.0
    safe = xp.where(positive, x, _ones(xp, x))
    return xp.where(positive, xp.exp(-1.0 / safe), _zeros(xp, x))


def sus(x):
    r"""Smooth unit step :math:`\theta(x) e^{-1/x}`, :math:`C^\infty` everywhere.

    Equal to e3nn-jax's ``sus`` and e3nn's ``soft_unit_step``; finite values and
    gradients for every real input (zero for ``x <= 0``).

    Parameters
    ----------
    x : array
        Real floating-point array of any shape and backend.

    Returns
    -------
    array
        Same shape, dtype and backend as ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> print(np.round(sus(np.array([-1.0, 0.0, 2.0])), 4))
    [0.     0.     0.6065]
    """
    xp, x = _as_float_array(x, "sus: x")
    return _sus(xp, x)


def soft_unit_step(x):
    r"""Smooth unit step :math:`\theta(x) e^{-1/x}` (e3nn's name for :func:`sus`).

    Parameters
    ----------
    x : array
        Real floating-point array of any shape and backend.

    Returns
    -------
    array
        Same shape, dtype and backend as ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> print(np.round(soft_unit_step(np.array([0.5, 1.0])), 4))
    [0.1353 0.3679]
    """
    xp, x = _as_float_array(x, "soft_unit_step: x")
    return _sus(xp, x)


def _check_number(number, what):
    if isinstance(number, bool) or not isinstance(number, (int, np.integer)) or number < 1:
        raise ValueError(f"{what} must be a positive int, got {number!r}")
    return int(number)


def soft_one_hot_linspace(input, start, end, number, basis=None, cutoff=None, *, start_zero=None, end_zero=None):  # noqa: A002
    r"""Project ``x`` on ``number`` smooth basis functions spread over ``[start, end]``.

    Equal to e3nn's ``soft_one_hot_linspace`` (and, for the gaussian, cosine,
    smooth_finite and fourier bases, to e3nn-jax's with ``cutoff``). The bases are
    scaled so that :math:`\langle \sum_i y_i(x)^2 \rangle_x \approx 1` (except
    ``"bessel"``, which has a :math:`1/x`).

    Parameters
    ----------
    input : array
        Real floating-point array of shape ``(...)``, any backend (e3nn-jax's name).
    start, end : float
        Interval spanned by the basis.
    number : int
        Number of basis functions ``N``.
    basis : {"gaussian", "cosine", "smooth_finite", "fourier", "bessel"}
        Family of functions; required, as in e3nn.
    cutoff : bool
        If True every function vanishes (smoothly for gaussian-free bases) outside
        ``(start, end)``; the same as ``start_zero=end_zero=cutoff``. Pass either
        ``cutoff`` or both of ``start_zero`` and ``end_zero`` (as e3nn-jax).
    start_zero, end_zero : bool
        e3nn-jax's one-sided cutoffs: the first (last) function vanishes at ``start``
        (``end``); the centres are spread accordingly. For "fourier" and "bessel"
        they must be equal.

    Returns
    -------
    array
        Shape ``(..., N)``, same dtype and backend as ``x``.

    Notes
    -----
    ``"bessel"`` is :math:`\sqrt{2/c}\,\sin(n \pi (x - s) / c) / (x - s)` with
    ``c = end - start``, ``s = start``. At ``x = start`` e3nn returns NaN; here the
    basis takes its limit :math:`\sqrt{2/c}\, n\pi/c` (``cutoff=False``) or 0
    (``cutoff=True``, where e3nn masks ``x > start``), with a finite gradient.

    Examples
    --------
    >>> import numpy as np
    >>> y = soft_one_hot_linspace(np.array([0.0, 0.5]), 0.0, 1.0, 3, basis="cosine", cutoff=True)
    >>> print(y.shape, np.round(y[1], 4))
    (2, 3) [0. 1. 0.]
    """
    xp, x = _as_float_array(input, "soft_one_hot_linspace: input")
    number = _check_number(number, "soft_one_hot_linspace: number")
    if cutoff is not None:
        if start_zero is not None or end_zero is not None:
            raise ValueError("soft_one_hot_linspace: pass cutoff or start_zero / end_zero, not both")
        start_zero = end_zero = cutoff
    elif start_zero is not None or end_zero is not None:
        for name, v in (("start_zero", start_zero), ("end_zero", end_zero)):
            if v not in (True, False):
                raise ValueError(f"soft_one_hot_linspace: {name} must be True or False, got {v!r}")
        if start_zero == end_zero:
            cutoff = start_zero
        elif basis not in ("gaussian", "cosine", "smooth_finite"):
            raise ValueError(
                f"soft_one_hot_linspace: basis={basis!r} needs start_zero == end_zero, got "
                f"start_zero={start_zero}, end_zero={end_zero}"
            )
        else:
            cutoff = "one-sided"
    if basis not in _BASES:
        raise ValueError(f"soft_one_hot_linspace: basis={basis!r} is not one of {_BASES}")
    if cutoff not in (True, False, "one-sided"):
        raise ValueError(f"soft_one_hot_linspace: cutoff must be True or False, got {cutoff!r}")
    start = float(start)
    end = float(end)
    if not end > start:
        raise ValueError(f"soft_one_hot_linspace: need start < end, got start={start}, end={end}")
    if not cutoff and number < 2 and basis in ("gaussian", "cosine", "smooth_finite"):
        raise ValueError(
            f"soft_one_hot_linspace: number={number} needs to be >= 2 without cutoff (the spacing is (end - start) / (number - 1))"
        )

    import array_api_compat

    device = array_api_compat.device(x)
    dtype = x.dtype
    xe = x[..., None]

    if basis in ("gaussian", "cosine", "smooth_finite"):
        # Centres: number points (no cutoff) or the interior of number + 2 points.
        if cutoff == "one-sided":  # one centre dropped at the end that is zero
            step = (end - start) / number
            first = 1.0 if start_zero else 0.0
        elif cutoff:
            step = (end - start) / (number + 1)
            first = 1.0
        else:
            step = (end - start) / (number - 1)
            first = 0.0
        idx = xp.arange(number, dtype=dtype, device=device) + first
        values = start + idx * step
        diff = (xe - values) / step
        if basis == "gaussian":
            return xp.exp(-(diff**2)) / 1.12
        if basis == "cosine":
            inside = (diff > -1.0) & (diff < 1.0)
            return xp.where(inside, xp.cos((math.pi / 2) * diff), _zeros(xp, diff))
        return (1.14136 * math.exp(2.0)) * _sus(xp, diff + 1.0) * _sus(xp, 1.0 - diff)

    if basis == "fourier":
        u = (xe - start) / (end - start)
        norm = math.sqrt(0.25 + number / 2)
        if not cutoff:
            i = xp.arange(number, dtype=dtype, device=device)
            return xp.cos(math.pi * i * u) / norm
        i = xp.arange(1, number + 1, dtype=dtype, device=device)
        y = xp.sin(math.pi * i * u) / norm
        inside = (u > 0.0) & (u < 1.0)
        return xp.where(inside, y, _zeros(xp, y))

    # bessel
    c = end - start
    r = xe - start
    k = xp.arange(1, number + 1, dtype=dtype, device=device) * (math.pi / c)
    out = _sinc_ratio(xp, r, k) * math.sqrt(2.0 / c)
    if not cutoff:
        return out
    inside = (r > 0.0) & (r < c)
    return xp.where(inside, out, _zeros(xp, out))


def _sinc_ratio(xp, r, k):
    """``sin(k r) / r`` with its limit ``k`` at ``r = 0`` (finite value and gradient)."""
    r = r + xp.zeros_like(k)  # broadcast first so both branches have the output shape
    is_zero = r == 0.0
    safe = xp.where(is_zero, xp.ones_like(r), r)
    return xp.where(is_zero, k + xp.zeros_like(r), xp.sin(k * safe) / safe)


def bessel(x, n, x_max=1.0):
    r"""Bessel radial basis of e3nn-jax (DimeNet eq. 7).

    :math:`B_i(x) = \sqrt{2/x_\max}\, \sin(i \pi x / x_\max) / x` for
    :math:`i = 1..n`, normalized so that
    :math:`\int_0^{x_\max} x^2 B_i B_j \, dx = \delta_{ij}`. At ``x = 0`` the value is
    the limit :math:`\sqrt{2/x_\max}\, i\pi/x_\max` and the gradient is finite (0).
    No cutoff is applied beyond ``x_max`` (as in e3nn-jax).

    Parameters
    ----------
    x : array
        Real floating-point array of shape ``(...)``.
    n : int
        Number of basis functions.
    x_max : float
        Cutoff radius.

    Returns
    -------
    array
        Shape ``(..., n)``, same dtype and backend as ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> print(np.round(bessel(np.array([0.0, 0.5]), 2), 4))
    [[4.4429 8.8858]
     [2.8284 0.    ]]
    """
    xp, x = _as_float_array(x, "bessel: x")
    n = _check_number(n, "bessel: n")
    x_max = float(x_max)
    if not x_max > 0.0:
        raise ValueError(f"bessel: x_max must be > 0, got {x_max}")
    import array_api_compat

    k = xp.arange(1, n + 1, dtype=x.dtype, device=array_api_compat.device(x)) * (math.pi / x_max)
    return _sinc_ratio(xp, x[..., None], k) * math.sqrt(2.0 / x_max)


@lru_cache(maxsize=None)
def _envelope_coefficients(n0: int, n1: int) -> tuple:
    """Exact polynomial in ``t = x - 1/2``: value 1 and ``n0`` zero derivatives at
    ``t = -1/2``; value 0 and ``n1`` zero derivatives at ``t = +1/2``.

    Solved in rational arithmetic (Gauss-Jordan on Fractions); returns float
    coefficients, highest degree first.
    """
    degree = n0 + n1 + 2
    rows = []
    for t, value, nder in ((Fraction(-1, 2), 1, n0), (Fraction(1, 2), 0, n1)):
        for d in range(nder + 1):
            row = []
            for N in range(degree):
                if d > N:
                    row.append(Fraction(0))
                else:
                    row.append(Fraction(math.factorial(N) // math.factorial(N - d)) * t ** (N - d))
            rows.append(row + [Fraction(value if d == 0 else 0)])
    m = len(rows)
    for col in range(m):
        piv = next(r for r in range(col, m) if rows[r][col] != 0)
        rows[col], rows[piv] = rows[piv], rows[col]
        p = rows[col][col]
        rows[col] = [v / p for v in rows[col]]
        for r in range(m):
            if r != col and rows[r][col] != 0:
                f = rows[r][col]
                rows[r] = [a - f * b for a, b in zip(rows[r], rows[col])]
    coeffs = [rows[i][-1] for i in range(m)]  # ascending powers of t
    return tuple(float(c) for c in reversed(coeffs))


def poly_envelope(n0, n1, x_max=1.0):
    r"""Polynomial envelope of e3nn-jax: returns a function ``f(x)``.

    ``f`` is the polynomial of degree ``n0 + n1 + 1`` with ``f(0) = 1``, its first
    ``n0`` derivatives zero at ``x = 0``, ``f(x_max) = 0`` and its first ``n1``
    derivatives zero at ``x_max``; ``f(x) = 0`` for ``x >= x_max``.
    ``poly_envelope(p - 1, 2)`` is the DimeNet envelope :math:`u_p`.

    Parameters
    ----------
    n0, n1 : int
        Number of vanishing derivatives at ``0`` and at ``x_max``.
    x_max : float
        Cutoff.

    Returns
    -------
    callable
        ``f(x)`` mapping an array of any backend to an array of the same shape.

    Examples
    --------
    >>> import numpy as np
    >>> f = poly_envelope(2, 2)
    >>> print(np.round(f(np.array([0.0, 0.5, 1.0, 2.0])), 4))
    [1.  0.5 0.  0. ]
    """
    for name, v in (("n0", n0), ("n1", n1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"poly_envelope: {name} must be an int >= 0, got {v!r}")
    x_max = float(x_max)
    if not x_max > 0.0:
        raise ValueError(f"poly_envelope: x_max must be > 0, got {x_max}")
    return _PolyEnvelope(int(n0), int(n1), x_max)


class _PolyEnvelope:
    """The function :func:`poly_envelope` returns: a module-level class, so it pickles
    (a model holding it can be sent to other processes) and compares by its arguments."""

    __slots__ = ("n0", "n1", "x_max", "_coeffs")

    def __init__(self, n0: int, n1: int, x_max: float):
        self.n0, self.n1, self.x_max = n0, n1, x_max
        self._coeffs = _envelope_coefficients(n0, n1)

    def __reduce__(self):
        return (_PolyEnvelope, (self.n0, self.n1, self.x_max))

    def __eq__(self, other):
        if not isinstance(other, _PolyEnvelope):
            return NotImplemented
        return (self.n0, self.n1, self.x_max) == (other.n0, other.n1, other.x_max)

    def __hash__(self):
        return hash((_PolyEnvelope, self.n0, self.n1, self.x_max))

    def __repr__(self):
        return f"poly_envelope({self.n0}, {self.n1}, x_max={self.x_max})"

    def __call__(self, x):
        x_max, coeffs = self.x_max, self._coeffs
        xp, x = _as_float_array(x, "poly_envelope: x")
        below = x < x_max
        # clamp so the discarded branch stays bounded (and its gradient finite)
        t = xp.where(below, x, xp.full_like(x, x_max)) / x_max - 0.5
        y = xp.zeros_like(t) + coeffs[0]
        for c in coeffs[1:]:
            y = y * t + c
        return xp.where(below, y, _zeros(xp, y))


def soft_envelope(x, x_max=1.0, arg_multiplicator=2.0, value_at_origin=1.2):
    r"""Smooth (:math:`C^\infty`) envelope of e3nn-jax, zero for ``x >= x_max``.

    :math:`f(x) = v_0\, \mathrm{sus}(a (1 - x / x_\max)) / \mathrm{sus}(a)` with
    ``a = arg_multiplicator`` and ``v_0 = value_at_origin``.

    Parameters
    ----------
    x : array
        Real floating-point array.
    x_max, arg_multiplicator, value_at_origin : float
        Cutoff, steepness and value at ``x = 0``.

    Returns
    -------
    array
        Same shape, dtype and backend as ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> print(np.round(soft_envelope(np.array([0.0, 1.0])), 4))
    [1.2 0. ]
    """
    xp, x = _as_float_array(x, "soft_envelope: x")
    a = float(arg_multiplicator)
    const = float(value_at_origin) / math.exp(-1.0 / a)
    return const * _sus(xp, a * (1.0 - x / float(x_max)))
