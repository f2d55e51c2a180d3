"""Spherical harmonics of an IrrepsArray (or a plain array of vectors), any backend and degree."""

from __future__ import annotations

import numbers
import operator
from collections.abc import Set as AbstractSet

import numpy as np

from ..backends import backend_of
from ..e3nn_config import config
from ..core.irreps import Irrep, Irreps, MulIrrep
from ..core.spherical_harmonics import NORMALIZATIONS, spherical_harmonics_plan
from .._static import irreps_from_key, irreps_key, static_call, static_function
from ..irreps_array import IrrepsArray

__all__ = ["spherical_harmonics", "sh"]


_EXPECTED = (
    "expected an int degree (a numpy integer or 0-d integer array is one), a list of "
    "ints, a string like '0e + 1o' or Irreps"
)


def _degree(x):
    """``x`` as a Python int if it is an integer degree: an int, a numpy integer or a
    0-d integer array of any backend (``np.array(2)``, ``torch.tensor(2)``); else None.
    Bools are not degrees."""
    if isinstance(x, (bool, np.bool_)):
        return None
    if isinstance(x, numbers.Integral):
        return int(x)
    shape, dtype = getattr(x, "shape", None), getattr(x, "dtype", None)
    if shape is not None and tuple(shape) == () and dtype is not None and "bool" not in str(dtype):
        try:
            return operator.index(x)  # integer dtypes only; a traced value refuses too
        except TypeError:
            return None
    return None


def _request_key(irreps_out):
    """``irreps_out`` validated and normalised to plain data for :func:`static_call`.

    An int degree, a tuple of int degrees, an exact str, or ``("irreps", key)``.
    Normalising here, before the store lookup, keeps ``13.0``, ``True`` or
    ``np.array(2)`` from meeting the entry of an int they compare equal to (or
    failing on hashing): the answer must not depend on what ran before.
    """
    l = _degree(irreps_out)
    if l is not None:
        return l
    if isinstance(irreps_out, str):
        return str(irreps_out)
    if irreps_out is None or isinstance(irreps_out, (Irreps, Irrep, MulIrrep)):
        return ("irreps", irreps_key(Irreps(irreps_out)))
    if isinstance(irreps_out, AbstractSet):
        raise TypeError(
            f"spherical_harmonics: irreps_out={irreps_out!r} is a {type(irreps_out).__name__}, "
            "which has no order, and the order of the degrees is the output layout; pass a list"
        )
    if isinstance(irreps_out, (list, tuple, range)):
        ls = [_degree(x) for x in irreps_out]
        if ls and all(l is not None for l in ls):
            return tuple(ls)
        # Numbers (bools, floats) or arrays that are not int degrees: name the culprit.
        bad = [x for x, l in zip(irreps_out, ls) if l is None and (isinstance(x, numbers.Number) or hasattr(x, "shape"))]
        if bad:
            raise TypeError(f"spherical_harmonics: irreps_out={irreps_out!r} contains {bad[0]!r}, not an int degree; {_EXPECTED}")
        return ("irreps", irreps_key(Irreps(irreps_out)))  # a list of irreps: parsed (validated) now
    if hasattr(irreps_out, "shape"):
        raise TypeError(
            f"spherical_harmonics: irreps_out is an array of shape {tuple(irreps_out.shape)} and dtype "
            f"{irreps_out.dtype}; {_EXPECTED}"
        )
    raise TypeError(f"spherical_harmonics: irreps_out={irreps_out!r} of type {type(irreps_out).__name__}; {_EXPECTED}")


@static_function
def _setup(request, p: int):
    """``(irreps, ls, plan)`` for a request (see :func:`_request_key`) and input parity ``p``."""
    if isinstance(request, tuple) and request[:1] == ("irreps",):
        request = irreps_from_key(request[1])
    irreps = _output_irreps(request, p)
    ls = tuple(irreps.ls)
    return irreps, ls, (spherical_harmonics_plan(max(ls)) if ls else None)


def _output_irreps(irreps_out, p: int) -> Irreps:
    """The requested harmonics as Irreps, checked against the input parity ``p``.

    ``irreps_out`` is a normalised request: an int, a tuple of ints, a str or Irreps.
    """
    if isinstance(irreps_out, int):
        ls = [irreps_out]
    elif isinstance(irreps_out, tuple) and not isinstance(irreps_out, Irreps):
        ls = list(irreps_out)
    else:
        ls = None
    if ls is not None:
        if any(l < 0 for l in ls):
            raise ValueError(f"spherical_harmonics: degrees must be >= 0, got {irreps_out!r}")
        return Irreps([(1, (l, p**l)) for l in ls])
    out = Irreps(irreps_out)
    # Multiplicities are allowed (e3nn-jax repeats each harmonic mul times); only the
    # parity is constrained.
    bad = [str(mul_ir) for mul_ir in out if mul_ir.ir.p != p**mul_ir.ir.l]
    if bad:
        vec = "1o" if p == -1 else "1e"
        raise ValueError(
            f"spherical_harmonics: irreps_out={out} contains {', '.join(bad)}; the harmonics of a "
            f"{vec} vector have parity p^l: {Irreps.spherical_harmonics(max(m.ir.l for m in out), p)}"
            + (" (a plain array is taken as 1o)" if p == -1 else "")
        )
    return out


_ALGORITHM_KEYWORDS = ("legendre", "recursive", "dense", "sparse", "custom_jvp")


def spherical_harmonics(
    irreps_out, input, normalize: bool = True, normalization: str | None = None, *, algorithm=None
):
    r"""Real spherical harmonics in e3nn's basis (``y`` is the polar axis).

    Parameters
    ----------
    irreps_out : int, list of int, str or Irreps
        As in e3nn-jax: an int ``l`` gives the single degree ``l``; a list of ints
        gives those degrees in order; irreps (e.g. ``"0e + 1o + 2e"``, or
        ``Irreps.spherical_harmonics(lmax)``) must have parity ``p**l`` where ``p`` is
        the parity of the input vector. Any degree is supported, and multiplicities
        repeat a harmonic (``"3x1o + 2x4e"``), as in e3nn-jax.
    input : IrrepsArray or array
        Vectors of shape ``(..., 3)``: an IrrepsArray ``1x1o`` or ``1x1e`` (a
        pseudovector gives even harmonics ``0e + 1e + 2e + ...``), or a plain array of
        any backend, taken as ``1o``.
    normalize : bool
        Evaluate on ``x / |x|`` (True) or the homogeneous polynomials (False).
        ``x / |x|`` is formed from ``x`` scaled by its largest component, so huge
        and tiny vectors (``1e200``, ``1e-200``; ``1e20``, ``1e-23`` in float32)
        give the harmonics of their direction, with exact gradients. The zero
        vector gives ``Y_0`` only, with a finite gradient. Subnormal inputs work
        on every backend except JAX on CPU, where XLA flushes them to zero (the
        zero vector's harmonics).
    normalization : {"component", "norm", "integral"} or None
        ``"component"``: ``|Y_l|^2 = 2l + 1`` on the unit sphere. None (e3nn-jax's
        default): ``e3xp.config("spherical_harmonics_normalization")``.
    algorithm : None or tuple of str
        e3nn-jax's choice of JAX evaluation scheme (``"legendre"``, ``"recursive"``,
        ``"dense"``, ``"sparse"``, ``"custom_jvp"``). Accepted for compatibility and
        checked, but ignored: e3xp has one evaluation scheme per backend, with the
        same values.

    Returns
    -------
    IrrepsArray
        On the input's backend, with its dtype.

    Notes
    -----
    Cost of high degrees: the recursion keeps one matrix ``(3 (2l - 1), 2l + 1)``
    per degree up to ``lmax``, about ``32 lmax^3`` bytes in float64, computed
    once (exactly, from the Clebsch-Gordan coefficients) and kept for the
    process, plus one copy per other dtype and device it runs in. Measured on
    numpy: ``lmax = 100`` holds 42 MB (91 MB peak while building, 4 s), ``lmax =
    200`` 267 MB (655 MB peak, 25 s).

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
    if normalization is None:
        normalization = config("spherical_harmonics_normalization")
    if algorithm is not None and (
        isinstance(algorithm, str)
        or not isinstance(algorithm, (tuple, list))
        or any(k not in _ALGORITHM_KEYWORDS for k in algorithm)
    ):
        raise ValueError(
            f"spherical_harmonics: algorithm={algorithm!r} must be None or a tuple of {_ALGORITHM_KEYWORDS}"
        )
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


def sh(irreps_out, input, normalize: bool, normalization=None, *, algorithm=None):
    """:func:`spherical_harmonics` on a plain array, returning a plain array (e3nn-jax's ``sh``).

    As e3nn-jax's ``sh``, the vectors are read as ``1e``, so ``irreps_out`` given as
    irreps must have even parity (ints and lists of ints work either way), and
    ``normalize`` has no default.

    Examples
    --------
    >>> import numpy as np
    >>> sh([0, 1], np.array([0.0, 2.0, 0.0]), normalize=True)
    array([1.        , 0.        , 1.73205081, 0.        ])
    """
    vectors = IrrepsArray("1e", input)
    return spherical_harmonics(irreps_out, vectors, normalize, normalization, algorithm=algorithm).array
