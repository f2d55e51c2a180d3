r"""Grids on the sphere and the constant tables of the spherical-harmonic transforms.

Everything here is float64 NumPy, computed once per argument set (cached, read-only),
and backend-free; :mod:`e3xp.ops.s2grid` materialises the tables on each backend.

Conventions (equal to e3nn-jax 0.21)
------------------------------------
* The grid is ``res_beta x res_alpha`` points.  ``y = cos(beta)`` runs from -1 to 1
  (``y`` is the polar axis, as in e3xp's harmonics) and ``alpha = 2 pi j / res_alpha``.
  A grid point is ``(sqrt(1 - y^2) sin(alpha), y, sqrt(1 - y^2) cos(alpha))``.
* ``"soft"``: ``beta_i = pi (i + 1/2) / res_beta`` with the weights of Kostelec and
  Rockmore (``res_beta`` even); ``"gausslegendre"``: the Gauss-Legendre nodes in ``y``.
  The weights ``qw`` sum to 1 along ``y`` (the mean over alpha completes the
  average over the sphere).
* The harmonics factor as ``Y_lm(beta, alpha) = Pbar_l^|m|(y) A_m(alpha)`` with
  ``Pbar`` the normalized associated Legendre functions without the Condon-Shortley
  phase (``integral over the sphere of Y^2 = 1``) and ``A_0 = 1``,
  ``A_m = sqrt(2) cos(m alpha)``, ``A_-m = sqrt(2) sin(m alpha)`` for ``m > 0``.
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = [
    "QUADRATURES",
    "S2_NORMALIZATIONS",
    "legendre_table",
    "quadrature_weights",
    "s2grid",
    "grid_vectors",
    "sh_alpha",
    "normalization_per_l",
    "to_grid_tables",
    "from_grid_tables",
    "m0_tables",
]

QUADRATURES = ("soft", "gausslegendre")
S2_NORMALIZATIONS = ("integral", "component", "norm")


def legendre_table(lmax: int, x, phase, is_normalized: bool, xp):
    r"""Associated Legendre functions ``P(l, m)`` of ``x`` for ``0 <= m <= l <= lmax``.

    Written against an array namespace ``xp`` (only ``sqrt``, ``where``, ``zeros_like``,
    ``stack`` and arithmetic), so the same recurrence serves the NumPy tables and
    :func:`e3xp.legendre` on every backend.

    The result equals ``phase**m`` times the functions without the Condon-Shortley
    phase, shape ``(lmax + 1, lmax + 1) + x.shape`` (zero where ``m > l``).  With
    ``is_normalized`` the functions are multiplied by
    ``sqrt((2l + 1) / (4 pi) (l - m)! / (l + m)!)``.

    Examples
    --------
    >>> import numpy as np
    >>> p = legendre_table(2, np.array([0.5]), 1.0, False, np)
    >>> np.round(p[:, :, 0], 4)  # P_1^1(x) = sqrt(1 - x^2), P_2^0 = (3x^2 - 1) / 2
    array([[ 1.   ,  0.   ,  0.   ],
           [ 0.5  ,  0.866,  0.   ],
           [-0.125,  1.299,  2.25 ]])
    """
    # The recurrence runs on the normalized functions (entries stay O(1) for any l;
    # the unnormalized ones reach (2l-1)!! and overflow float64 past l ~ 150).
    one_minus = 1.0 - x * x
    s = xp.sqrt(xp.where(one_minus > 0, one_minus, 0.0 * one_minus))
    zero = xp.zeros_like(x)
    rows = [[None] * (lmax + 1) for _ in range(lmax + 1)]
    diag = zero + 1.0 / math.sqrt(4.0 * math.pi)
    for m in range(lmax + 1):
        if m > 0:
            diag = math.sqrt((2 * m + 1) / (2 * m)) * s * diag
        rows[m][m] = diag
        if m + 1 <= lmax:
            rows[m + 1][m] = math.sqrt(2 * m + 3) * x * diag
        for l in range(m + 2, lmax + 1):
            a = math.sqrt((4 * l * l - 1) / (l * l - m * m))
            b = math.sqrt(((l - 1) ** 2 - m * m) / (4 * (l - 1) ** 2 - 1))
            rows[l][m] = a * (x * rows[l - 1][m] - b * rows[l - 2][m])
    for l in range(lmax + 1):
        for m in range(l + 1):
            factor = float(phase) ** m
            if not is_normalized:
                # 1 / N_lm, through log-gamma so that large l does not overflow early
                log_ratio = math.lgamma(l + m + 1) - math.lgamma(l - m + 1)
                factor *= math.sqrt(4.0 * math.pi / (2 * l + 1)) * math.exp(0.5 * log_ratio)
            rows[l][m] = factor * rows[l][m]
        for m in range(l + 1, lmax + 1):
            rows[l][m] = zero
    return xp.stack([xp.stack(row, axis=0) for row in rows], axis=0)


def _readonly(*arrays):
    for a in arrays:
        a.setflags(write=False)
    return arrays if len(arrays) > 1 else arrays[0]


def _soft_weights(res_beta: int) -> np.ndarray:
    """Kostelec-Rockmore weights of the uniform beta grid (they sum to 2)."""
    j = np.arange(res_beta)[:, None]
    k = np.arange(res_beta // 2)[None, :]
    inner = np.sum(np.sin((2 * j + 1) * (2 * k + 1) * np.pi / (2 * res_beta)) / (2 * k + 1), axis=1)
    return (4.0 / res_beta) * np.sin(np.pi * (2 * np.arange(res_beta) + 1) / (2 * res_beta)) * inner


@functools.lru_cache(maxsize=128)
def quadrature_weights(res_beta: int, quadrature: str):
    """``(y, qw)``: the ``y = cos(beta)`` nodes (increasing) and weights summing to 1.

    Examples
    --------
    >>> y, qw = quadrature_weights(4, "soft")
    >>> np.round(y, 4), round(float(qw.sum()), 12)
    (array([-0.9239, -0.3827,  0.3827,  0.9239]), 1.0)
    """
    if quadrature == "soft":
        if res_beta % 2:
            raise ValueError(f"res_beta={res_beta} must be even for the 'soft' quadrature")
        betas = (np.arange(res_beta) + 0.5) / res_beta * np.pi
        y = -np.cos(betas)  # from -1 to 1, like the Gauss-Legendre nodes
        qw = _soft_weights(res_beta)
    elif quadrature == "gausslegendre":
        y, qw = np.polynomial.legendre.leggauss(res_beta)
    else:
        raise ValueError(f"quadrature={quadrature!r} must be one of {QUADRATURES}")
    return _readonly(np.ascontiguousarray(y, dtype=np.float64), np.asarray(qw, dtype=np.float64) / 2.0)


@functools.lru_cache(maxsize=128)
def s2grid(res_beta: int, res_alpha: int, quadrature: str):
    """``(y, alpha, qw)`` of the grid, shapes ``(res_beta,)``, ``(res_alpha,)``, ``(res_beta,)``.

    Examples
    --------
    >>> y, alpha, qw = s2grid(2, 4, "gausslegendre")
    >>> np.round(alpha / np.pi, 2)
    array([0. , 0.5, 1. , 1.5])
    """
    y, qw = quadrature_weights(res_beta, quadrature)
    alpha = np.arange(res_alpha) / res_alpha * 2 * np.pi
    return y, _readonly(alpha), qw


@functools.lru_cache(maxsize=128)
def grid_vectors(res_beta: int, res_alpha: int, quadrature: str) -> np.ndarray:
    """Unit vectors of the grid points, shape ``(res_beta, res_alpha, 3)``.

    Examples
    --------
    >>> v = grid_vectors(2, 3, "soft")
    >>> v.shape, np.allclose(np.linalg.norm(v, axis=-1), 1.0)
    ((2, 3, 3), True)
    """
    y, alpha, _ = s2grid(res_beta, res_alpha, quadrature)
    r = np.sqrt(1.0 - y**2)[:, None]
    y_col = np.broadcast_to(y[:, None], (len(y), len(alpha)))
    out = np.stack([r * np.sin(alpha), y_col, r * np.cos(alpha)], axis=-1)
    return _readonly(np.ascontiguousarray(out))


def sh_alpha(lmax: int, alpha: np.ndarray) -> np.ndarray:
    """``A_m(alpha)`` for ``m = -lmax .. lmax`` (columns), shape ``alpha.shape + (2 lmax + 1,)``.

    Examples
    --------
    >>> np.round(sh_alpha(1, np.array([np.pi / 2])), 4)
    array([[1.4142, 1.    , 0.    ]])
    """
    alpha = np.asarray(alpha, dtype=np.float64)[..., None]
    m = np.arange(-lmax, lmax + 1)
    return np.where(m < 0, np.sqrt(2) * np.sin(-m * alpha), np.where(m > 0, np.sqrt(2) * np.cos(m * alpha), 1.0))


def normalization_per_l(lmax: int, normalization: str, direction: str, lmax_in: int | None = None) -> np.ndarray:
    """Per-degree factors between the coefficients and the integral-normalized harmonics.

    ``direction`` is ``"to_s2"`` (coefficients to values) or ``"from_s2"``.
    ``"integral"``: ``sqrt(4 pi)`` both ways (the l=0 coefficient is the mean of
    the signal over the sphere); ``"component"``: a signal with unit-variance coefficients has the same
    variance for every l; ``"norm"``: the same for coefficients of variance
    ``1 / (2l + 1)``; ``lmax_in`` (default ``lmax``) enters ``"norm"`` from the grid.

    Examples
    --------
    >>> np.round(normalization_per_l(1, "component", "to_s2"), 4)
    array([2.5066, 1.4472])
    """
    l = np.arange(lmax + 1, dtype=np.float64)
    c = math.sqrt(4 * math.pi)
    if lmax_in is None:
        lmax_in = lmax
    if normalization == "integral":
        return np.full(lmax + 1, c)
    if normalization == "component":
        f = np.sqrt(2 * l + 1) * math.sqrt(lmax + 1)
        return c / f if direction == "to_s2" else c * f
    if normalization == "norm":
        if direction == "to_s2":
            return np.full(lmax + 1, c / math.sqrt(lmax + 1))
        return np.full(lmax + 1, c * math.sqrt(lmax_in + 1))
    raise ValueError(f"normalization={normalization!r} must be one of {S2_NORMALIZATIONS}")


def _beta_table(ls: tuple, res_beta: int, quadrature: str, factors: np.ndarray) -> np.ndarray:
    """``S[i, b, lmax + m] = factors[l] Pbar_l^|m|(y_b)`` for component ``i = (l, m)`` of ``ls``."""
    lmax = max(ls)
    y, _ = quadrature_weights(res_beta, quadrature)
    p = legendre_table(lmax, y, 1.0, True, np)  # [l, |m|, b]
    table = np.zeros((sum(2 * l + 1 for l in ls), res_beta, 2 * lmax + 1))
    i = 0
    for l in ls:
        for m in range(-l, l + 1):
            table[i, :, lmax + m] = factors[l] * p[l, abs(m)]
            i += 1
    return table


def _fourier_split(table: np.ndarray, kmax: int):
    """Columns ``m = -lmax..lmax`` of ``table`` regrouped by frequency ``k = 0..kmax``.

    Returns ``(re, im)`` with ``table @ A(alpha) = re @ cos(k alpha) - im @ sin(k alpha)``
    summed over ``k`` with weight 2 for ``k > 0``, i.e. the (real, imaginary) parts of a
    half spectrum as :func:`numpy.fft.irfft` reads them.
    """
    lmax = (table.shape[-1] - 1) // 2
    re = np.zeros(table.shape[:-1] + (kmax + 1,))
    im = np.zeros_like(re)
    re[..., 0] = table[..., lmax]
    for k in range(1, kmax + 1):
        re[..., k] = table[..., lmax + k] / math.sqrt(2)
        im[..., k] = -table[..., lmax - k] / math.sqrt(2)
    return re, im


@functools.lru_cache(maxsize=64)
def to_grid_tables(ls: tuple, res_beta: int, res_alpha: int, quadrature: str, normalization: str, fft: bool):
    """Tables of :func:`e3xp.to_s2grid` for coefficients of degrees ``ls`` (in order).

    ``fft=False``: ``(beta, alpha)`` with ``beta`` of shape ``(dim, res_beta * (2 lmax + 1))``
    and ``alpha`` of shape ``(2 lmax + 1, res_alpha)``: values = ``(c @ beta) @ alpha``.
    ``fft=True``: ``(re, im)`` of shape ``(dim, res_beta * (kmax + 1))`` with
    ``kmax = min(lmax, res_alpha // 2)``: values = ``irfft(c @ re + i c @ im, res_alpha)``.

    Examples
    --------
    >>> re, im = to_grid_tables((0,), 2, 3, "gausslegendre", "integral", True)
    >>> re  # a constant coefficient 1 is the value 1 everywhere (times res_alpha)
    array([[3., 3.]])
    """
    lmax = max(ls)
    beta = _beta_table(ls, res_beta, quadrature, normalization_per_l(lmax, normalization, "to_s2"))
    dim = beta.shape[0]
    if not fft:
        _, alpha, _ = s2grid(res_beta, res_alpha, quadrature)
        return _readonly(beta.reshape(dim, -1), np.ascontiguousarray(sh_alpha(lmax, alpha).T))
    kmax = min(lmax, res_alpha // 2)
    re, im = _fourier_split(beta * res_alpha, kmax)  # irfft divides by res_alpha
    return _readonly(re.reshape(dim, -1), im.reshape(dim, -1))


@functools.lru_cache(maxsize=64)
def from_grid_tables(
    ls: tuple, res_beta: int, res_alpha: int, quadrature: str, normalization: str, lmax_in: int, fft: bool
):
    """Tables of :func:`e3xp.from_s2grid` for coefficients of degrees ``ls`` (in order).

    ``fft=False``: ``(alpha, beta)``, shapes ``(res_alpha, 2 lmax + 1)`` and
    ``(res_beta * (2 lmax + 1), dim)``: coefficients = ``(x @ alpha) @ beta``.
    ``fft=True``: ``(re, im)`` of shape ``(res_beta * (lmax + 1), dim)``: with
    ``F = rfft(x)[..., :lmax + 1]``, coefficients = ``real(F) @ re + imag(F) @ im``.

    Examples
    --------
    >>> re, im = from_grid_tables((0,), 2, 3, "gausslegendre", "integral", 0, True)
    >>> np.round(re.T * 3 * 2, 12)  # sums the grid with the quadrature weights (1/2 each)
    array([[1., 1.]])
    """
    lmax = max(ls)
    _, alpha, qw = s2grid(res_beta, res_alpha, quadrature)
    beta = _beta_table(ls, res_beta, quadrature, normalization_per_l(lmax, normalization, "from_s2", lmax_in))
    beta = beta * qw[None, :, None] / res_alpha
    dim = beta.shape[0]
    if not fft:
        return _readonly(np.ascontiguousarray(sh_alpha(lmax, alpha)), np.ascontiguousarray(beta.reshape(dim, -1).T))
    # sum_a x_a A_m(alpha_a) = Re F_0 (m = 0), sqrt(2) Re F_m, -sqrt(2) Im F_|m| (m < 0)
    re, im = _fourier_split(beta, lmax)
    re, im = re * 2.0, im * 2.0  # undo the 1/sqrt(2) of _fourier_split, times sqrt(2)
    re[..., 0] = beta[..., lmax]
    return _readonly(np.ascontiguousarray(re.reshape(dim, -1).T), np.ascontiguousarray(im.reshape(dim, -1).T))


@functools.lru_cache(maxsize=64)
def m0_tables(lmax: int, res_beta: int, quadrature: str, normalization: str):
    """``(to, from)`` of shapes ``(lmax + 1, res_beta)`` and ``(res_beta, lmax + 1)``: m = 0 transforms.

    ``to[l, b] = n_l Pbar_l^0(y_b)`` (values = ``c @ to``); ``from[b, l]`` adds the
    quadrature weight and the inverse normalization (coefficients = ``x @ from``).

    Examples
    --------
    >>> to, frm = m0_tables(0, 2, "gausslegendre", "integral")
    >>> to, frm
    (array([[1., 1.]]), array([[0.5],
           [0.5]]))
    """
    y, qw = quadrature_weights(res_beta, quadrature)
    p0 = legendre_table(lmax, y, 1.0, True, np)[:, 0, :]
    to = normalization_per_l(lmax, normalization, "to_s2")[:, None] * p0
    frm = normalization_per_l(lmax, normalization, "from_s2", lmax)[:, None] * p0 * qw[None, :]
    return _readonly(np.ascontiguousarray(to), np.ascontiguousarray(frm.T))
