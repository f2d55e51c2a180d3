r"""Signals on the sphere: grids, spherical-harmonic transforms and :class:`SphericalSignal`.

The functions follow e3nn-jax 0.21 (names, arguments, defaults and numbers) and run on
every backend: the constant tables come from :mod:`e3xp.core.s2grid` (float64 NumPy,
cast to the input's dtype and device), the transforms are matrix products, and the
Fourier transform along ``alpha`` is the array-API ``xp.fft`` extension.

A signal ``f`` on the sphere with coefficients ``c`` is
``f(x) = sum_l n_l sum_m c_lm Y_lm(x)`` with the harmonics of
:func:`e3xp.spherical_harmonics` (``y`` is the polar axis) and ``n_l`` set by
``normalization``.  Its parities say how it transforms under the inversion:
``[I f](x) = p_val f(p_arg x)``; the coefficient of degree ``l`` then has parity
``p_val * p_arg**l`` (:func:`s2_irreps`).

Not provided (e3nn-jax has them): ``use_s2fft=True`` (the optional ``s2fft``
package is JAX-only), ``SphericalSignal.sample``, ``.find_peaks``, ``.pad_to_plot``
and ``.plotly_surface``. ``SO3Signal`` is in :mod:`e3xp.ops.so3grid`.
"""

from __future__ import annotations

import math
import numbers
import sys

import numpy as np

from ..backends import backend_of
from ..core import s2grid as _tables
from ..core.irreps import Irreps
from ..irreps_array import IrrepsArray
from .spherical_harmonics import spherical_harmonics

__all__ = [
    "s2_irreps",
    "get_s2fft_grid_resolution",
    "legendre",
    "to_s2grid",
    "from_s2grid",
    "to_s2point",
    "s2_dirac",
    "legendre_transform_to_s2grid",
    "legendre_transform_from_s2grid",
    "betas_to_spherical_signal",
    "m0_values_to_irrepsarray",
    "SphericalSignal",
]


# --- argument checks -------------------------------------------------------------


def _int(value, name: str, minimum: int = 0) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}={value!r} must be an int >= {minimum}")
    if value < minimum:
        raise ValueError(f"{name}={value!r} must be an int >= {minimum}")
    return int(value)


def _parity(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or value not in (1, -1):
        raise ValueError(f"{name}={value!r} must be +1 or -1")
    return int(value)


def _quadrature(value) -> str:
    if value not in _tables.QUADRATURES:
        raise ValueError(f"quadrature={value!r} must be one of {_tables.QUADRATURES}")
    return value


def _normalization(value) -> str:
    if value not in _tables.S2_NORMALIZATIONS:
        raise ValueError(f"normalization={value!r} must be one of {_tables.S2_NORMALIZATIONS}")
    return value


def _bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}={value!r} must be a bool")
    return bool(value)


def _no_s2fft(use_s2fft, fn: str) -> None:
    if _bool(use_s2fft, "use_s2fft"):
        raise NotImplementedError(
            f"{fn}: use_s2fft=True is not supported by e3xp (it needs the JAX-only s2fft "
            "package); use_s2fft=False gives the same numbers"
        )


def _coefficient_irreps(irreps: Irreps, fn: str, name: str) -> None:
    """Coefficients have one irrep per degree (multiplicities 1 after regrouping)."""
    if irreps.dim == 0:
        raise ValueError(f"{fn}: {name} has no irreps ({irreps}); expected e.g. s2_irreps(lmax)")
    if any(mul != 1 for mul, _ in irreps.regroup()):
        raise ValueError(f"{fn}: the multiplicities of {name} must be 1 for every degree, got {irreps}")


def _infer_parities(irreps: Irreps, p_val=None, p_arg=None):
    """``(p_val, p_arg)`` consistent with ``irreps`` (parity ``p_val p_arg^l`` at degree l).

    Given values are checked; missing ones are inferred where the irreps fix them,
    else returned as None.  Same rules as e3nn-jax.
    """
    even = {ir.p for _, ir in irreps if ir.l % 2 == 0}
    odd = {ir.p for _, ir in irreps if ir.l % 2 == 1}
    if len(even) > 1 or len(odd) > 1:
        raise ValueError(
            f"the irreps {irreps} are not those of a signal on the sphere: the parity of degree l "
            "must be p_val * p_arg**l, so all even l share one parity and all odd l another"
        )
    p_even = even.pop() if even else None
    p_odd = odd.pop() if odd else None
    if p_val is not None and p_arg is not None:
        if p_even not in (None, p_val) or p_odd not in (None, p_val * p_arg):
            raise ValueError(f"the irreps {irreps} do not match p_val={p_val} and p_arg={p_arg}")
        return p_val, p_arg
    if p_val is not None:
        if p_even not in (None, p_val):
            raise ValueError(f"the irreps {irreps} do not match p_val={p_val}")
        p_even = p_val
    if p_arg is not None:
        if p_even is not None and p_odd is not None and p_odd != p_even * p_arg:
            raise ValueError(f"the irreps {irreps} do not match p_arg={p_arg}")
        if p_odd is None and p_even is not None:
            p_odd = p_even * p_arg
        elif p_even is None and p_odd is not None:
            p_even = p_odd * p_arg
    if p_even is not None and p_odd is not None:
        return p_even, p_even * p_odd
    return p_even, None


def _array(x, what: str):
    """``(backend, x)`` for a floating array of any backend (Python numbers become numpy)."""
    if isinstance(x, IrrepsArray):
        raise TypeError(f"{what} must be a plain array, got an IrrepsArray ({x.irreps}); pass .array")
    if not hasattr(x, "shape"):
        try:
            x = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{what} must be a floating array, got {type(x).__name__}") from None
    backend = backend_of(x)
    backend.check_float(x, what)
    return backend, x


def _complex_dtype(xp, dtype):
    return xp.complex64 if dtype == xp.float32 else xp.complex128


def _lead(x, n: int) -> tuple:
    return tuple(x.shape[: len(x.shape) - n])


# --- grid and irreps helpers -------------------------------------------------------


def s2_irreps(lmax: int, p_val: int = 1, p_arg: int = -1) -> Irreps:
    r"""Irreps of the coefficients of a signal on the sphere up to degree ``lmax``.

    Degree ``l`` has parity ``p_val * p_arg**l``, where the signal transforms under
    the inversion as ``[I f](x) = p_val f(p_arg x)``.

    Parameters
    ----------
    lmax : int
    p_val, p_arg : {1, -1}
        Parity of the values and of the argument.

    Examples
    --------
    >>> s2_irreps(3)
    1x0e+1x1o+1x2e+1x3o
    >>> s2_irreps(2, p_val=-1, p_arg=1)
    1x0o+1x1o+1x2o
    """
    lmax = _int(lmax, "lmax")
    p_val, p_arg = _parity(p_val, "p_val"), _parity(p_arg, "p_arg")
    return Irreps([(1, (l, p_val * p_arg**l)) for l in range(lmax + 1)])


def get_s2fft_grid_resolution(lmax: int) -> tuple:
    """``(res_beta, res_alpha) = (2 lmax + 2, 2 lmax + 1)``: the ``"soft"`` grid that resolves ``lmax``.

    Examples
    --------
    >>> get_s2fft_grid_resolution(4)
    (10, 9)
    """
    lmax = _int(lmax, "lmax")
    return (2 * lmax + 2, 2 * lmax + 1)


def legendre(lmax: int, x, phase: float, is_normalized: bool = False):
    r"""Associated Legendre functions ``P(l, m)(x)`` for ``0 <= m <= l <= lmax``.

    Equals ``phase**m`` times the functions without the Condon-Shortley phase (so
    ``phase=-1`` gives the textbook ones, e.g. ``scipy.special.lpmv``).  With
    ``is_normalized=True`` they carry ``sqrt((2l + 1) / (4 pi) (l - m)! / (l + m)!)``.

    Note: e3nn-jax 0.21 exports a module under the name ``e3nn_jax.legendre``; this is
    the function ``e3nn_jax._src.spherical_harmonics.legendre.legendre``.

    Parameters
    ----------
    lmax : int
    x : array
        Any shape, values in ``[-1, 1]``; any backend (Python numbers give numpy).
    phase : float
    is_normalized : bool

    Returns
    -------
    array
        Shape ``(lmax + 1, lmax + 1) + x.shape``, indexed ``[l, m]``; zero where ``m > l``.

    Examples
    --------
    >>> import numpy as np
    >>> p = legendre(2, np.array([0.0, 1.0]), -1.0)
    >>> p[2, 0], p[1, 1]  # P_2(x) = (3x^2 - 1) / 2 and -sqrt(1 - x^2)
    (array([-0.5,  1. ]), array([-1., -0.]))
    """
    lmax = _int(lmax, "lmax")
    if isinstance(phase, (bool, np.bool_)) or not isinstance(phase, numbers.Real):
        raise TypeError(f"legendre: phase={phase!r} must be a real number (usually 1.0 or -1.0)")
    is_normalized = _bool(is_normalized, "is_normalized")
    backend, x = _array(x, "legendre: x")
    return _tables.legendre_table(lmax, x, float(phase), is_normalized, backend.xp)


# --- transforms ----------------------------------------------------------------------


def to_s2grid(
    coeffs: IrrepsArray,
    res_beta: int,
    res_alpha: int,
    *,
    quadrature: str,
    normalization: str = "integral",
    fft: bool = True,
    p_val: int | None = None,
    p_arg: int | None = None,
    use_s2fft: bool = False,
) -> "SphericalSignal":
    r"""Values on a grid of the signal with spherical-harmonic coefficients ``coeffs``.

    The inverse of :func:`from_s2grid` for band-limited signals on a fine enough grid.

    Parameters
    ----------
    coeffs : IrrepsArray
        Shape ``(..., irreps.dim)``, one irrep per degree (e.g. :func:`s2_irreps`);
        regrouped first, so the order of the irreps does not matter.
    res_beta, res_alpha : int
        Grid points along ``beta`` (``y = cos(beta)``) and ``alpha``.
    quadrature : {"soft", "gausslegendre"}
        ``"soft"``: uniform in ``beta`` (``res_beta`` even); ``"gausslegendre"``:
        Gauss-Legendre nodes in ``y``, exact for band limits up to ``2 res_beta - 1``.
    normalization : {"integral", "component", "norm"}
        See :func:`e3xp.core.s2grid.normalization_per_l`.
    fft : bool
        Fourier transform along ``alpha`` (``res_alpha`` must be odd) or a matrix product.
    p_val, p_arg : {1, -1}, optional
        Both or neither; needed when the irreps do not fix them (e.g. only ``0e``).
    use_s2fft : bool
        Only False (see the module notes).

    Returns
    -------
    SphericalSignal
        ``grid_values`` of shape ``(..., res_beta, res_alpha)``, on ``coeffs``' backend.

    Examples
    --------
    >>> import numpy as np
    >>> c = IrrepsArray("0e + 1o", np.array([1.0, 0.0, 0.5, 0.0]))
    >>> s = to_s2grid(c, 6, 5, quadrature="gausslegendre")
    >>> s.shape, s.p_val, s.p_arg
    ((6, 5), 1, -1)
    >>> np.allclose(from_s2grid(s, "0e + 1o").array, c.array)
    True
    """
    fn = "to_s2grid"
    _no_s2fft(use_s2fft, fn)
    if not isinstance(coeffs, IrrepsArray):
        raise TypeError(f"{fn}: coeffs must be an IrrepsArray, got {type(coeffs).__name__}")
    res_beta, res_alpha = _int(res_beta, "res_beta", 1), _int(res_alpha, "res_alpha", 1)
    quadrature, normalization = _quadrature(quadrature), _normalization(normalization)
    fft = _bool(fft, "fft")
    if (p_val is None) != (p_arg is None):
        raise ValueError(f"{fn}: give both p_val and p_arg or neither, got p_val={p_val}, p_arg={p_arg}")
    if p_val is not None:
        p_val, p_arg = _parity(p_val, "p_val"), _parity(p_arg, "p_arg")
    _coefficient_irreps(coeffs.irreps, fn, "coeffs.irreps")
    coeffs = coeffs.regroup()
    p_val, p_arg = _infer_parities(coeffs.irreps, p_val, p_arg)
    if p_val is None or p_arg is None:
        raise ValueError(f"{fn}: the irreps {coeffs.irreps} do not determine p_val and p_arg; pass both")
    if fft and res_alpha % 2 == 0:
        raise ValueError(f"{fn}: res_alpha={res_alpha} must be odd with fft=True (or pass fft=False)")
    backend, x = coeffs.backend, coeffs.array
    backend.check_float(x, f"{fn}: coeffs")
    xp, lead = backend.xp, _lead(x, 1)
    ls = tuple(coeffs.irreps.ls)
    lmax = ls[-1]
    t1, t2 = _tables.to_grid_tables(ls, res_beta, res_alpha, quadrature, normalization, fft)
    t1, t2 = backend.constant(t1, like=x), backend.constant(t2, like=x)
    if fft:
        shape = lead + (res_beta, min(lmax, res_alpha // 2) + 1)
        cdt = _complex_dtype(xp, x.dtype)
        re = xp.astype(xp.reshape(xp.matmul(x, t1), shape), cdt)
        im = xp.astype(xp.reshape(xp.matmul(x, t2), shape), cdt)
        values = xp.fft.irfft(re + im * 1j, n=res_alpha, axis=-1)
    else:
        values = xp.matmul(xp.reshape(xp.matmul(x, t1), lead + (res_beta, 2 * lmax + 1)), t2)
    return SphericalSignal(values, quadrature, p_val=p_val, p_arg=p_arg)


def from_s2grid(
    x: "SphericalSignal",
    irreps,
    *,
    normalization: str = "integral",
    lmax_in: int | None = None,
    fft: bool = True,
    use_s2fft: bool = False,
) -> IrrepsArray:
    r"""Spherical-harmonic coefficients of a signal on a grid (quadrature of ``f Y_lm``).

    The inverse of :func:`to_s2grid`: exact for signals of band limit ``L`` with
    ``"gausslegendre"`` and ``res_beta >= L + 1``, ``res_alpha >= 2 L + 1`` (for the
    ``"soft"`` grid, see :func:`get_s2fft_grid_resolution`).

    Parameters
    ----------
    x : SphericalSignal
        Values of shape ``(..., res_beta, res_alpha)``.
    irreps : str or Irreps
        Degrees to compute, one irrep each, in the order wanted; their parities must
        be ``x.p_val * x.p_arg**l``.
    normalization : {"integral", "component", "norm"}
    lmax_in : int, optional
        Band limit of the signal, only used by ``"norm"``; default ``irreps.lmax``.
    fft : bool
        FFT along ``alpha`` (needs ``res_alpha >= 2 lmax``) or a matrix product.
    use_s2fft : bool
        Only False.

    Returns
    -------
    IrrepsArray
        Shape ``(..., irreps.dim)``, irreps as given.

    Examples
    --------
    >>> import numpy as np
    >>> s = SphericalSignal(np.full((4, 5), 2.0), "soft")
    >>> c = from_s2grid(s, "0e + 1o")  # the l=0 coefficient of the integral basis is the mean
    >>> c.irreps, np.round(c.array, 12) + 0.0
    (1x0e+1x1o, array([2., 0., 0., 0.]))
    """
    fn = "from_s2grid"
    _no_s2fft(use_s2fft, fn)
    if not isinstance(x, SphericalSignal):
        raise TypeError(f"{fn}: x must be a SphericalSignal, got {type(x).__name__}")
    irreps = Irreps(irreps)
    normalization, fft = _normalization(normalization), _bool(fft, "fft")
    _coefficient_irreps(irreps, fn, "irreps")
    _infer_parities(irreps, x.p_val, x.p_arg)
    ls = tuple(irreps.ls)
    lmax = max(ls)
    lmax_in = lmax if lmax_in is None else _int(lmax_in, "lmax_in")
    res_beta, res_alpha = x.grid_resolution
    if fft and res_alpha // 2 < lmax:
        raise ValueError(
            f"{fn}: res_alpha={res_alpha} resolves frequencies up to {res_alpha // 2} < lmax={lmax} "
            "with fft=True; use a finer grid or fft=False"
        )
    backend, values = x.backend, x.grid_values
    xp, lead = backend.xp, _lead(values, 2)
    t1, t2 = _tables.from_grid_tables(ls, res_beta, res_alpha, x.quadrature, normalization, lmax_in, fft)
    t1, t2 = backend.constant(t1, like=values), backend.constant(t2, like=values)
    if fft:
        spectrum = xp.fft.rfft(values, axis=-1)[..., : lmax + 1]
        shape = lead + (res_beta * (lmax + 1),)
        out = xp.matmul(xp.reshape(xp.real(spectrum), shape), t1) + xp.matmul(xp.reshape(xp.imag(spectrum), shape), t2)
    else:
        out = xp.matmul(xp.reshape(xp.matmul(values, t1), lead + (res_beta * (2 * lmax + 1),)), t2)
    return IrrepsArray(irreps, out)


def _sh_scale(ls: tuple, normalization: str) -> np.ndarray:
    """``n_l`` repeated over the ``2l + 1`` components of each degree (``"to_s2"`` direction)."""
    n = _tables.normalization_per_l(max(ls), normalization, "to_s2")
    return np.concatenate([np.full(2 * l + 1, n[l]) for l in ls])


def to_s2point(coeffs: IrrepsArray, point: IrrepsArray, *, normalization: str = "integral") -> IrrepsArray:
    r"""Value of the signal with coefficients ``coeffs`` at points of the sphere.

    The same function as :func:`to_s2grid`, evaluated at arbitrary points.

    Parameters
    ----------
    coeffs : IrrepsArray
        Shape ``shape1 + (irreps.dim,)``, one irrep per degree.
    point : IrrepsArray
        ``1o`` or ``1e`` vectors of shape ``shape2 + (3,)`` (normalized here); its
        parity is the signal's ``p_arg``.
    normalization : {"integral", "component", "norm"}

    Returns
    -------
    IrrepsArray
        ``0e`` (or ``0o`` for ``p_val = -1``) of shape ``shape1 + shape2 + (1,)``.

    Examples
    --------
    >>> import numpy as np
    >>> c = IrrepsArray("0e + 1o", np.array([1.0, 0.0, 2.0, 0.0]))
    >>> p = IrrepsArray("1o", np.array([[0.0, 1.0, 0.0], [0.0, -1.0, 0.0]]))
    >>> np.round(to_s2point(c, p).array[..., 0], 4)  # 1 + 2 sqrt(3) y
    array([ 4.4641, -2.4641])
    """
    fn = "to_s2point"
    if not isinstance(coeffs, IrrepsArray):
        raise TypeError(f"{fn}: coeffs must be an IrrepsArray, got {type(coeffs).__name__}")
    if not isinstance(point, IrrepsArray):
        raise TypeError(f"{fn}: point must be an IrrepsArray 1o or 1e, got {type(point).__name__}")
    if point.irreps not in (Irreps("1o"), Irreps("1e")):
        raise ValueError(f"{fn}: point must have irreps 1o or 1e, got {point.irreps}")
    normalization = _normalization(normalization)
    _coefficient_irreps(coeffs.irreps, fn, "coeffs.irreps")
    coeffs = coeffs.regroup()
    p_arg = point.irreps[0].ir.p
    p_val, _ = _infer_parities(coeffs.irreps, None, p_arg)
    backend = backend_of(coeffs.array, point.array)
    backend.check_float(coeffs.array, f"{fn}: coeffs")
    xp = backend.xp
    ls = tuple(coeffs.irreps.ls)
    sh = spherical_harmonics(list(ls), point, normalize=True, normalization="integral").array
    sh = sh * backend.constant(_sh_scale(ls, normalization), like=sh)
    shape1, shape2, dim = _lead(coeffs.array, 1), _lead(sh, 1), coeffs.irreps.dim
    a = xp.reshape(coeffs.array, (-1, dim))
    b = xp.permute_dims(xp.reshape(sh, (-1, dim)), (1, 0))
    out = xp.reshape(xp.matmul(a, b), shape1 + shape2 + (1,))
    return IrrepsArray("0e" if p_val in (1, None) else "0o", out)


def s2_dirac(position, lmax: int, *, p_val: int = 1, p_arg: int = -1) -> IrrepsArray:
    r"""Coefficients of the Dirac delta at ``position``, truncated at ``lmax`` (integral 1).

    Parameters
    ----------
    position : array or IrrepsArray
        Shape ``(..., 3)``, normalized here. A plain array is taken as a vector of
        parity ``p_arg``; an IrrepsArray must be ``1o`` (``p_arg=-1``) or ``1e``
        (``p_arg=1``).
    lmax : int
    p_val, p_arg : {1, -1}
        ``p_val`` must be 1: a delta is a scalar density (e3nn-jax fails on -1 too).

    Returns
    -------
    IrrepsArray
        ``s2_irreps(lmax, p_val, p_arg)``, shape ``(..., (lmax + 1)**2)``; with the
        default ``"integral"`` normalization of :func:`to_s2grid`, the signal
        integrates to 1.

    Examples
    --------
    >>> import numpy as np
    >>> d = s2_dirac(np.array([0.0, 0.0, 2.0]), 1)
    >>> d.irreps, np.round(d.array * 4 * np.pi, 4)
    (1x0e+1x1o, array([1.   , 0.   , 0.   , 1.7321]))
    """
    fn = "s2_dirac"
    lmax = _int(lmax, "lmax")
    p_val, p_arg = _parity(p_val, "p_val"), _parity(p_arg, "p_arg")
    if p_val != 1:
        raise ValueError(f"{fn}: p_val={p_val}; a Dirac delta is a scalar signal, p_val must be 1")
    vector = Irreps("1o" if p_arg == -1 else "1e")
    if isinstance(position, IrrepsArray):
        if position.irreps != vector:
            raise ValueError(f"{fn}: position has irreps {position.irreps}; with p_arg={p_arg} expected {vector}")
    else:
        _, array = _array(position, f"{fn}: position")
        if len(array.shape) == 0 or array.shape[-1] != 3:
            raise ValueError(f"{fn}: position of shape {tuple(array.shape)}; expected (..., 3)")
        position = IrrepsArray(vector, array)
    coeffs = spherical_harmonics(s2_irreps(lmax, p_val, p_arg), position, normalize=True, normalization="integral")
    return coeffs / math.sqrt(4 * math.pi)


def legendre_transform_to_s2grid(coeffs, res_beta: int, *, quadrature: str, normalization: str = "integral"):
    r"""Values along ``beta`` of the signal whose only coefficients are the ``m = 0`` ones.

    The inverse of :func:`legendre_transform_from_s2grid`.

    Parameters
    ----------
    coeffs : array
        Shape ``(..., lmax + 1)``: the ``m = 0`` coefficient of each degree.
    res_beta : int
    quadrature : {"soft", "gausslegendre"}
    normalization : {"integral", "component", "norm"}

    Returns
    -------
    array
        Shape ``(..., res_beta)``, the same at every ``alpha``.

    Examples
    --------
    >>> import numpy as np
    >>> legendre_transform_to_s2grid(np.array([1.0, 0.0]), 2, quadrature="gausslegendre")
    array([1., 1.])
    """
    res_beta = _int(res_beta, "res_beta", 1)
    quadrature, normalization = _quadrature(quadrature), _normalization(normalization)
    backend, coeffs = _array(coeffs, "legendre_transform_to_s2grid: coeffs")
    if len(coeffs.shape) == 0 or coeffs.shape[-1] < 1:
        raise ValueError(f"coeffs of shape {tuple(coeffs.shape)}; expected (..., lmax + 1)")
    to, _ = _tables.m0_tables(coeffs.shape[-1] - 1, res_beta, quadrature, normalization)
    return backend.xp.matmul(coeffs, backend.constant(to, like=coeffs))


def legendre_transform_from_s2grid(
    x_beta, lmax: int, res_beta: int, *, quadrature: str, normalization: str = "integral"
):
    r"""The ``m = 0`` coefficients of a signal given along ``beta`` (constant in ``alpha``).

    Parameters
    ----------
    x_beta : array
        Shape ``(..., res_beta)``.
    lmax : int
    res_beta : int
        Must equal ``x_beta.shape[-1]``.
    quadrature : {"soft", "gausslegendre"}
    normalization : {"integral", "component", "norm"}

    Returns
    -------
    array
        Shape ``(..., lmax + 1)``.

    Examples
    --------
    >>> import numpy as np
    >>> np.round(legendre_transform_from_s2grid(np.ones(4), 1, 4, quadrature="gausslegendre"), 12)
    array([1., 0.])
    """
    lmax, res_beta = _int(lmax, "lmax"), _int(res_beta, "res_beta", 1)
    quadrature, normalization = _quadrature(quadrature), _normalization(normalization)
    backend, x_beta = _array(x_beta, "legendre_transform_from_s2grid: x_beta")
    if len(x_beta.shape) == 0 or x_beta.shape[-1] != res_beta:
        raise ValueError(f"x_beta of shape {tuple(x_beta.shape)}; expected (..., res_beta={res_beta})")
    _, frm = _tables.m0_tables(lmax, res_beta, quadrature, normalization)
    return backend.xp.matmul(x_beta, backend.constant(frm, like=x_beta))


def betas_to_spherical_signal(x_beta, res_alpha: int, *, quadrature: str) -> "SphericalSignal":
    r"""A :class:`SphericalSignal` that takes the values ``x_beta`` at every ``alpha``.

    Parameters
    ----------
    x_beta : array
        Shape ``(..., res_beta)``.
    res_alpha : int
    quadrature : {"soft", "gausslegendre"}

    Returns
    -------
    SphericalSignal
        Shape ``(..., res_beta, res_alpha)``, ``p_val=1``, ``p_arg=-1``.

    Examples
    --------
    >>> import numpy as np
    >>> betas_to_spherical_signal(np.array([1.0, 2.0]), 3, quadrature="soft").grid_values
    array([[1., 1., 1.],
           [2., 2., 2.]])
    """
    res_alpha, quadrature = _int(res_alpha, "res_alpha", 1), _quadrature(quadrature)
    backend, x_beta = _array(x_beta, "betas_to_spherical_signal: x_beta")
    if len(x_beta.shape) == 0:
        raise ValueError("x_beta must have a beta axis, got a 0-d array")
    ones = backend.constant(np.ones((1, res_alpha)), like=x_beta)
    return SphericalSignal(x_beta[..., None] * ones, quadrature)


def _m0_selection(lmax: int) -> np.ndarray:
    sel = np.zeros((lmax + 1, (lmax + 1) ** 2))
    sel[np.arange(lmax + 1), [l * l + l for l in range(lmax + 1)]] = 1.0
    sel.setflags(write=False)
    return sel


_M0_SELECTIONS: dict = {}


def m0_values_to_irrepsarray(m0_values, lmax: int, p_val: int, p_arg: int) -> IrrepsArray:
    r"""An IrrepsArray of :func:`s2_irreps` with the given ``m = 0`` coefficients, zeros elsewhere.

    Parameters
    ----------
    m0_values : array
        Shape ``(..., lmax + 1)`` (e3nn-jax accepts only 2-d arrays and returns its
        default float dtype; here any leading shape, and the input's dtype).
    lmax : int
    p_val, p_arg : {1, -1}

    Returns
    -------
    IrrepsArray
        Shape ``(..., (lmax + 1)**2)``.

    Examples
    --------
    >>> import numpy as np
    >>> m0_values_to_irrepsarray(np.array([[1.0, 2.0]]), 1, 1, -1)
    1x0e+1x1o [[1. 0. 2. 0.]]
    """
    lmax = _int(lmax, "lmax")
    irreps = s2_irreps(lmax, p_val, p_arg)
    backend, m0_values = _array(m0_values, "m0_values_to_irrepsarray: m0_values")
    if len(m0_values.shape) == 0 or m0_values.shape[-1] != lmax + 1:
        raise ValueError(f"m0_values of shape {tuple(m0_values.shape)}; expected (..., lmax + 1 = {lmax + 1})")
    sel = _M0_SELECTIONS.get(lmax)
    if sel is None:
        sel = _M0_SELECTIONS.setdefault(lmax, _m0_selection(lmax))
    return IrrepsArray(irreps, backend.xp.matmul(m0_values, backend.constant(sel, like=m0_values)))


def _map_points(func, points, n_axes: int, backend):
    """``func`` applied to each ``points[i_1, ..., i_n]`` (``n = n_axes``), results stacked in front.

    ``func`` takes one point (e.g. a vector or a matrix) and returns a scalar or an
    array; the result has shape ``points.shape[:n_axes] + func's shape``. JAX and
    torch vectorize with their ``vmap``; other backends call ``func`` point by point.
    """
    if backend.name == "jax":
        import jax

        vmap = jax.vmap
    elif backend.name == "torch":
        import torch

        vmap = torch.func.vmap
    else:
        vmap = None
    if vmap is not None:
        for _ in range(n_axes):
            func = vmap(func)
        return func(points)
    xp = backend.xp
    grid = tuple(points.shape[:n_axes])
    flat = xp.reshape(points, (math.prod(grid),) + tuple(points.shape[n_axes:]))
    values = xp.stack([xp.asarray(func(flat[i, ...])) for i in range(flat.shape[0])], axis=0)
    return xp.reshape(values, grid + tuple(values.shape[1:]))


# --- SphericalSignal -------------------------------------------------------------------

_PYTREE = {"registered": False}


def _register_pytree() -> None:
    """Make SphericalSignal a JAX pytree (values are the leaf) once JAX is imported."""
    if _PYTREE["registered"]:
        return
    jax = sys.modules.get("jax")
    tree_util = getattr(jax, "tree_util", None) if jax is not None else None
    if tree_util is None:
        return
    _PYTREE["registered"] = True
    try:
        tree_util.register_pytree_node(
            SphericalSignal,
            lambda s: ((s.grid_values,), (s.quadrature, s.p_val, s.p_arg)),
            lambda aux, leaves: SphericalSignal._unchecked(leaves[0], *aux),
        )
    except ValueError:
        pass  # already registered (module reloaded)


class SphericalSignal:
    r"""Values of a signal on a grid of the sphere, with its quadrature and parities.

    Parameters
    ----------
    grid_values : array
        Shape ``(..., res_beta, res_alpha)``, any backend.
    quadrature : {"soft", "gausslegendre"}
    p_val, p_arg : {1, -1}
        Under the inversion the signal becomes ``p_val f(p_arg x)``; default a
        scalar function of a vector (``1``, ``-1``).

    Notes
    -----
    Provided as in e3nn-jax: construction, :meth:`zeros`, :meth:`from_function`,
    the grid properties, ``+ - * /`` and negation, :meth:`integrate`,
    :meth:`resample`, the ``transform_by_*`` rotations, :meth:`apply`,
    :meth:`replace_values` and indexing of the leading axes. Not provided:
    ``sample``, ``find_peaks``, ``pad_to_plot``, ``plotly_surface``. It is a JAX
    pytree (the values are the leaf).

    Examples
    --------
    >>> import numpy as np
    >>> s = to_s2grid(IrrepsArray("0e + 1o", np.array([1.0, 0.0, 2.0, 0.0])), 10, 11,
    ...               quadrature="gausslegendre")
    >>> print(repr(s).splitlines()[0])
    SphericalSignal(shape=(10, 11), res_beta=10, res_alpha=11, quadrature=gausslegendre, p_val=1, p_arg=-1)
    >>> round(float(s.integrate().array[0]), 6) == round(4 * np.pi, 6)
    True
    """

    def __init__(self, grid_values, quadrature: str, *, p_val: int = 1, p_arg: int = -1) -> None:
        if not hasattr(grid_values, "shape"):
            raise TypeError(f"SphericalSignal: grid_values must be an array, got {type(grid_values).__name__}")
        if len(grid_values.shape) < 2:
            raise ValueError(
                f"SphericalSignal: grid_values of shape {tuple(grid_values.shape)}; expected (..., res_beta, res_alpha)"
            )
        backend_of(grid_values).check_float(grid_values, "SphericalSignal: grid_values")
        self._set(grid_values, _quadrature(quadrature), _parity(p_val, "p_val"), _parity(p_arg, "p_arg"))

    def _set(self, grid_values, quadrature, p_val, p_arg) -> None:
        self.grid_values = grid_values
        self.quadrature = quadrature
        self.p_val = p_val
        self.p_arg = p_arg
        _register_pytree()

    @classmethod
    def _unchecked(cls, grid_values, quadrature, p_val, p_arg) -> "SphericalSignal":
        # JAX rebuilds pytrees with placeholder leaves (object(), tracers): no checks
        out = cls.__new__(cls)
        out._set(grid_values, quadrature, p_val, p_arg)
        return out

    def _like(self, grid_values, p_val=None) -> "SphericalSignal":
        p_val = self.p_val if p_val is None else p_val
        return SphericalSignal._unchecked(grid_values, self.quadrature, p_val, self.p_arg)

    # --- construction ---
    @staticmethod
    def zeros(res_beta: int, res_alpha: int, quadrature: str, *, p_val: int = 1, p_arg: int = -1,
              dtype="float32", backend=None) -> "SphericalSignal":
        """A signal of zeros of shape ``(res_beta, res_alpha)``.

        ``backend`` (an e3xp extension) defaults to the configured backend; ``dtype``
        defaults to float32 as in e3nn-jax.

        Examples
        --------
        >>> SphericalSignal.zeros(4, 5, "soft", backend="numpy").grid_values.dtype
        dtype('float32')
        """
        from .creation import _resolve

        backend, dtype = _resolve(backend, dtype)
        shape = (_int(res_beta, "res_beta", 1), _int(res_alpha, "res_alpha", 1))
        return SphericalSignal(backend.xp.zeros(shape, dtype=dtype), quadrature, p_val=p_val, p_arg=p_arg)

    @staticmethod
    def from_function(func, res_beta: int, res_alpha: int, quadrature: str, *, p_val: int = 1, p_arg: int = -1,
                      dtype="float32", backend=None) -> "SphericalSignal":
        """Sample ``func`` (a function of one point ``(x, y, z)``, shape ``(3,)``) on the grid.

        As in e3nn-jax, ``func`` sees one point at a time: it is vectorized with
        ``jax.vmap`` / ``torch.func.vmap`` on those backends and called point by point
        on the others.

        Examples
        --------
        >>> s = SphericalSignal.from_function(lambda r: r[1] ** 2, 4, 5, "gausslegendre", backend="numpy")
        >>> round(float(s.integrate().array[0]), 5) == round(4 * 3.14159265 / 3, 5)
        True
        """
        from .creation import _resolve

        backend, dtype = _resolve(backend, dtype)
        quadrature = _quadrature(quadrature)
        res_beta, res_alpha = _int(res_beta, "res_beta", 1), _int(res_alpha, "res_alpha", 1)
        points = backend.asarray(_tables.grid_vectors(res_beta, res_alpha, quadrature), dtype=dtype)
        values = backend.xp.astype(_map_points(func, points, 2, backend), dtype)
        return SphericalSignal(values, quadrature, p_val=p_val, p_arg=p_arg)

    # --- description ---
    def __repr__(self) -> str:
        # As e3nn-jax: a header line, then the values (placeholder leaves print alone).
        if not hasattr(self.grid_values, "shape"):
            return f"SphericalSignal({self.grid_values})"
        return (
            f"SphericalSignal(shape={self.shape}, res_beta={self.res_beta}, res_alpha={self.res_alpha}, "
            f"quadrature={self.quadrature}, p_val={self.p_val}, p_arg={self.p_arg})\n{self.grid_values}"
        )

    @property
    def backend(self):
        """The e3xp backend of ``grid_values`` (an e3xp extension)."""
        return backend_of(self.grid_values)

    @property
    def shape(self) -> tuple:
        """``grid_values.shape``."""
        return tuple(self.grid_values.shape)

    @property
    def dtype(self):
        """``grid_values.dtype``."""
        return self.grid_values.dtype

    @property
    def ndim(self) -> int:
        """Number of axes of ``grid_values`` (at least 2)."""
        return len(self.grid_values.shape)

    @property
    def res_beta(self) -> int:
        """Grid points along ``beta``."""
        return int(self.grid_values.shape[-2])

    @property
    def res_alpha(self) -> int:
        """Grid points along ``alpha``."""
        return int(self.grid_values.shape[-1])

    @property
    def grid_resolution(self) -> tuple:
        """``(res_beta, res_alpha)``."""
        return (self.res_beta, self.res_alpha)

    def _grid(self, np_array):
        return self.backend.constant(np_array, like=self.grid_values)

    @property
    def grid_y(self):
        """``y = cos(beta)`` of the grid rows, shape ``(res_beta,)``, from -1 to 1."""
        return self._grid(_tables.quadrature_weights(self.res_beta, self.quadrature)[0])

    @property
    def grid_alpha(self):
        """``alpha`` of the grid columns, shape ``(res_alpha,)``."""
        return self._grid(_tables.s2grid(self.res_beta, self.res_alpha, self.quadrature)[1])

    @property
    def grid_vectors(self):
        """Unit vectors of the grid points, shape ``(res_beta, res_alpha, 3)``."""
        return self._grid(_tables.grid_vectors(self.res_beta, self.res_alpha, self.quadrature))

    @property
    def quadrature_weights(self):
        """Weights of the grid rows, shape ``(res_beta,)``, summing to 1."""
        return self._grid(_tables.quadrature_weights(self.res_beta, self.quadrature)[1])

    # --- arithmetic ---
    def _check_same_grid(self, other: "SphericalSignal", op: str) -> None:
        if self.grid_resolution != other.grid_resolution:
            raise ValueError(
                f"SphericalSignal {op}: grid resolutions {self.grid_resolution} and {other.grid_resolution} "
                "differ; use .resample() first"
            )
        if self.quadrature != other.quadrature:
            raise ValueError(f"SphericalSignal {op}: quadratures {self.quadrature!r} and {other.quadrature!r} differ")

    def __add__(self, other: "SphericalSignal") -> "SphericalSignal":
        if not isinstance(other, SphericalSignal):
            raise TypeError(f"SphericalSignal + {type(other).__name__}: only two SphericalSignals add (equivariance)")
        self._check_same_grid(other, "+")
        if (self.p_val, self.p_arg) != (other.p_val, other.p_arg):
            raise ValueError(
                f"SphericalSignal +: parities (p_val, p_arg) = {(self.p_val, self.p_arg)} and "
                f"{(other.p_val, other.p_arg)} differ"
            )
        return self._like(self.grid_values + other.grid_values)

    def __sub__(self, other: "SphericalSignal") -> "SphericalSignal":
        if not isinstance(other, SphericalSignal):
            raise TypeError(f"SphericalSignal - {type(other).__name__}: only two SphericalSignals subtract")
        return self + (-other)

    def __neg__(self) -> "SphericalSignal":
        return self._like(-self.grid_values)

    def __mul__(self, other) -> "SphericalSignal":
        """Pointwise product with a signal, or product with scalars (one per leading index).

        A scalar is a number, an array of the leading shape, or a ``0e`` IrrepsArray.
        """
        if isinstance(other, SphericalSignal):
            self._check_same_grid(other, "*")
            if self.p_arg != other.p_arg:
                raise ValueError(f"SphericalSignal *: p_arg {self.p_arg} and {other.p_arg} differ (not equivariant)")
            return self._like(self.grid_values * other.grid_values, p_val=self.p_val * other.p_val)
        if isinstance(other, IrrepsArray):
            if other.irreps != Irreps("0e"):
                raise ValueError(f"SphericalSignal *: an IrrepsArray factor must be 0e, got {other.irreps}")
            other = other.array[..., 0]
        if isinstance(other, numbers.Real) and not isinstance(other, (bool, np.bool_)):
            return self._like(self.grid_values * other)
        if not hasattr(other, "shape"):
            raise TypeError(f"SphericalSignal *: cannot multiply by {type(other).__name__}")
        return self._like(self.grid_values * other[..., None, None])

    def __rmul__(self, other) -> "SphericalSignal":
        return self * other

    def __truediv__(self, other) -> "SphericalSignal":
        if isinstance(other, SphericalSignal):
            raise TypeError("SphericalSignal /: dividing by a SphericalSignal is not supported (as in e3nn-jax)")
        if isinstance(other, numbers.Real) and not isinstance(other, (bool, np.bool_)):
            return self * (1.0 / other)
        if isinstance(other, IrrepsArray):
            if other.irreps != Irreps("0e"):
                raise ValueError(f"SphericalSignal /: an IrrepsArray divisor must be 0e, got {other.irreps}")
            other = other.array[..., 0]
        return self * (1.0 / other)

    def __getitem__(self, index) -> "SphericalSignal":
        # The index addresses the leading axes; the array API (array_api_strict) wants
        # the untouched trailing axes spelled out with an ellipsis.
        key = index if isinstance(index, tuple) else (index,)
        if not any(k is Ellipsis for k in key):
            key = key + (Ellipsis,)
        values = self.grid_values[key]
        if len(values.shape) < 2:
            raise ValueError(
                f"SphericalSignal[{index!r}] leaves shape {tuple(values.shape)}, not a signal on the grid; "
                "index the leading axes only (or use .grid_values)"
            )
        return self._like(values)

    # --- operations ---
    def integrate(self) -> IrrepsArray:
        """Integral over the sphere (``4 pi`` for the constant 1): ``0e``, or ``0o`` if ``p_val = -1``.

        Returns
        -------
        IrrepsArray
            Shape ``(..., 1)``.

        Examples
        --------
        >>> import numpy as np
        >>> s = SphericalSignal(np.ones((6, 7)), "soft")
        >>> np.allclose(s.integrate().array, 4 * np.pi)
        True
        """
        xp = self.backend.xp
        per_row = xp.sum(self.grid_values, axis=-1) / self.res_alpha  # mean over alpha
        total = xp.sum(per_row * self.quadrature_weights, axis=-1, keepdims=True)
        return IrrepsArray("0e" if self.p_val == 1 else "0o", total * (4 * math.pi))

    def resample(self, res_beta: int, res_alpha: int, lmax: int, quadrature: str | None = None) -> "SphericalSignal":
        """The signal on another grid, through its coefficients up to ``lmax``.

        Examples
        --------
        >>> import numpy as np
        >>> s = to_s2grid(IrrepsArray("0e + 1o", np.array([1.0, 0.0, 2.0, 0.0])), 6, 5, quadrature="soft")
        >>> s.resample(10, 11, lmax=1, quadrature="gausslegendre").grid_resolution
        (10, 11)
        """
        quadrature = self.quadrature if quadrature is None else quadrature
        coeffs = from_s2grid(self, s2_irreps(lmax, self.p_val, self.p_arg))
        return to_s2grid(coeffs, res_beta, res_alpha, quadrature=quadrature, p_val=self.p_val, p_arg=self.p_arg)

    def _rotated(self, lmax: int, rotate) -> "SphericalSignal":
        coeffs = rotate(from_s2grid(self, s2_irreps(lmax, self.p_val, self.p_arg)))
        return to_s2grid(coeffs, *self.grid_resolution, quadrature=self.quadrature, p_val=self.p_val, p_arg=self.p_arg)

    def transform_by_angles(self, alpha, beta, gamma, lmax: int) -> "SphericalSignal":
        """The signal rotated by the Euler angles ``Y(alpha) X(beta) Y(gamma)`` (band-limited at ``lmax``).

        Examples
        --------
        >>> import numpy as np
        >>> s = SphericalSignal(np.ones((6, 7)), "soft")
        >>> np.allclose(s.transform_by_angles(0.1, 0.2, 0.3, lmax=2).grid_values, 1.0)
        True
        """
        return self._rotated(lmax, lambda c: c.transform_by_angles(alpha, beta, gamma))

    def transform_by_matrix(self, R, lmax: int) -> "SphericalSignal":
        """The signal rotated by the matrix ``R``: ``f'(x) = f(R^T x)``.

        Examples
        --------
        >>> import numpy as np
        >>> s = SphericalSignal(np.ones((6, 7)), "soft")
        >>> s.transform_by_matrix(np.eye(3), lmax=2).shape
        (6, 7)
        """
        return self._rotated(lmax, lambda c: c.transform_by_matrix(R))

    def transform_by_axis_angle(self, axis, angle, lmax: int) -> "SphericalSignal":
        """The signal rotated by ``angle`` about ``axis``.

        Examples
        --------
        >>> import numpy as np
        >>> s = SphericalSignal(np.ones((6, 7)), "soft")
        >>> s.transform_by_axis_angle(np.array([0.0, 1.0, 0.0]), 0.5, lmax=2).shape
        (6, 7)
        """
        return self._rotated(lmax, lambda c: c.transform_by_axis_angle(axis, angle))

    def transform_by_quaternion(self, q, lmax: int) -> "SphericalSignal":
        """The signal rotated by the quaternion ``q = (w, x, y, z)``.

        Examples
        --------
        >>> import numpy as np
        >>> s = SphericalSignal(np.ones((6, 7)), "soft")
        >>> s.transform_by_quaternion(np.array([1.0, 0.0, 0.0, 0.0]), lmax=2).shape
        (6, 7)
        """
        return self._rotated(lmax, lambda c: c.transform_by_quaternion(q))

    def apply(self, func) -> "SphericalSignal":
        """``func`` applied to every value (an array function of the backend).

        For an odd signal (``p_val = -1``), ``func`` must be even or odd; the result is
        odd for an odd ``func`` and even for an even one. (e3nn-jax 0.21 checks this but
        keeps ``p_val = -1`` in both cases; here the parity follows the function.)

        Examples
        --------
        >>> import numpy as np
        >>> SphericalSignal(np.zeros((2, 3)), "soft").apply(np.exp).grid_values.tolist()
        [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
        """
        p_val = self.p_val
        if p_val == -1:
            from .activations import _act_properties

            parity = _act_properties(func, self.backend.name)[1]
            if parity == 0:
                raise ValueError(
                    f"SphericalSignal.apply: the signal is odd (p_val=-1) and {func!r} is neither even nor "
                    "odd, so the result has no parity"
                )
            p_val = parity
        return self._like(func(self.grid_values), p_val=p_val)

    def replace_values(self, grid_values) -> "SphericalSignal":
        """The same grid and parities with new values.

        Examples
        --------
        >>> import numpy as np
        >>> SphericalSignal(np.zeros((2, 3)), "soft").replace_values(np.ones((5, 2, 3))).shape
        (5, 2, 3)
        """
        return SphericalSignal(grid_values, self.quadrature, p_val=self.p_val, p_arg=self.p_arg)
