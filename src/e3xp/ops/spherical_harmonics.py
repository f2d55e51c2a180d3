"""Spherical harmonics of an IrrepsArray (or a plain array of vectors), any backend and degree."""

from __future__ import annotations

import numbers

from ..backends import backend_of
from ..core.irreps import Irreps
from ..core.spherical_harmonics import NORMALIZATIONS, spherical_harmonics_plan
from .._static import irreps_key, selector_from_key, static_call, static_function
from ..irreps_array import IrrepsArray

__all__ = ["spherical_harmonics"]


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _request_key(irreps_out):
    """``irreps_out`` as plain data for :func:`static_call`."""
    if isinstance(irreps_out, range):
        return tuple(irreps_out)
    if isinstance(irreps_out, Irreps):
        return ("irreps", irreps_key(irreps_out))
    if isinstance(irreps_out, list):
        return tuple(irreps_out)
    return irreps_out


@static_function
def _setup(request, p: int):
    """``(irreps, ls, plan)`` for a request (see :func:`_request_key`) and input parity ``p``."""
    if isinstance(request, tuple) and request and request[0] == "irreps":
        request = selector_from_key(request)
    irreps = _output_irreps(request, p)
    ls = tuple(irreps.ls)
    return irreps, ls, (spherical_harmonics_plan(max(ls)) if ls else None)


def _output_irreps(irreps_out, p: int) -> Irreps:
    """The requested harmonics as Irreps, checked against the input parity ``p``."""
    if _is_int(irreps_out):
        ls = [int(irreps_out)]
    elif isinstance(irreps_out, (list, tuple)) and irreps_out and all(_is_int(l) for l in irreps_out):
        ls = [int(l) for l in irreps_out]
    else:
        ls = None
    if ls is not None:
        if any(l < 0 for l in ls):
            raise ValueError(f"spherical_harmonics: degrees must be >= 0, got {irreps_out!r}")
        return Irreps([(1, (l, p**l)) for l in ls])
    out = Irreps(irreps_out)
    bad = [str(mul_ir) for mul_ir in out if mul_ir.mul != 1 or mul_ir.ir.p != p**mul_ir.ir.l]
    if bad:
        vec = "1o" if p == -1 else "1e"
        raise ValueError(
            f"spherical_harmonics: irreps_out={out} contains {', '.join(bad)}; the harmonics of a "
            f"{vec} vector are 1x(l, p^l) = {Irreps.spherical_harmonics(max(out.ls), p)}"
            + (" (a plain array is taken as 1o)" if p == -1 else "")
        )
    return out


def spherical_harmonics(irreps_out, input, normalize: bool = True, normalization: str = "component"):
    r"""Real spherical harmonics in e3nn's basis (``y`` is the polar axis).

    Parameters
    ----------
    irreps_out : int, list of int, str or Irreps
        As in e3nn-jax: an int ``l`` gives the single degree ``l``; a list of ints
        gives those degrees in order; irreps (e.g. ``"0e + 1o + 2e"``, or
        ``Irreps.spherical_harmonics(lmax)``) must have parity ``p**l`` where ``p`` is
        the parity of the input vector. Any degree is supported.
    input : IrrepsArray or array
        Vectors of shape ``(..., 3)``: an IrrepsArray ``1x1o`` or ``1x1e`` (a
        pseudovector gives even harmonics ``0e + 1e + 2e + ...``), or a plain array of
        any backend, taken as ``1o``.
    normalize : bool
        Evaluate on ``x / |x|`` (True) or the homogeneous polynomials (False).
    normalization : {"component", "norm", "integral"}
        ``"component"``: ``|Y_l|^2 = 2l + 1`` on the unit sphere.

    Returns
    -------
    IrrepsArray
        On the input's backend, with its dtype.

    Raises
    ------
    ValueError
        Inconsistent parity, an input that is not a single vector, an unknown
        normalization.

    Examples
    --------
    >>> import numpy as np
    >>> spherical_harmonics(2, np.array([0.0, 1.0, 0.0]))
    1x2e [0.         0.         2.23606798 0.         0.        ]
    >>> y = spherical_harmonics("0e + 1o", IrrepsArray("1o", np.array([1.0, 0.0, 0.0])))
    >>> y.irreps, np.round(y.array, 4)
    (1x0e+1x1o, array([1.    , 1.7321, 0.    , 0.    ]))
    >>> spherical_harmonics([0, 1, 2], IrrepsArray("1e", np.ones(3))).irreps
    1x0e+1x1e+1x2e
    """
    if isinstance(input, IrrepsArray):
        if irreps_key(input.irreps) not in (((1, 1, -1),), ((1, 1, 1),)):
            raise ValueError(
                f"spherical_harmonics: the input must be a single vector 1x1o or 1x1e, got {input.irreps}"
            )
        p = input.irreps[0].ir.p
        vectors = input.array
    else:
        p = -1
        vectors = input
    backend = backend_of(vectors)
    backend.check_float(vectors, "spherical_harmonics input")
    if len(vectors.shape) == 0 or vectors.shape[-1] != 3:
        raise ValueError(
            f"spherical_harmonics: input of shape {tuple(vectors.shape)}; expected (..., 3)"
        )
    if not isinstance(normalize, bool):
        raise TypeError(f"spherical_harmonics: normalize={normalize!r} must be a bool")
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"spherical_harmonics: normalization={normalization!r} is not one of {NORMALIZATIONS}"
        )
    irreps, ls, plan = static_call(_setup, _request_key(irreps_out), p)
    if not ls:
        xp = backend.xp
        lead = tuple(vectors.shape[:-1])
        return IrrepsArray(irreps, xp.zeros(lead + (0,), dtype=vectors.dtype, device=backend.device(vectors)))
    return IrrepsArray(irreps, backend.spherical_harmonics(plan, vectors, list(ls), normalize, normalization))
