"""Creating and combining IrrepsArrays: zeros, ones, normal, concatenate, stack."""

from __future__ import annotations

import math
import numbers

from ..backends import backend_of, get_backend, get_default_backend
from ..core.irreps import Irreps
from ..e3nn_config import config
from ..irreps_array import IrrepsArray

__all__ = ["zeros", "ones", "normal", "concatenate", "stack"]


def _leading_shape(leading_shape) -> tuple:
    if isinstance(leading_shape, numbers.Integral) and not isinstance(leading_shape, bool):
        leading_shape = (leading_shape,)
    try:
        shape = tuple(int(s) for s in leading_shape)
    except TypeError:
        raise TypeError(f"leading_shape={leading_shape!r} must be an int or a tuple of ints") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"leading_shape={leading_shape!r} has a negative size")
    return shape


def _resolve(backend, dtype):
    """``(Backend, dtype)``: the explicit backend or the configured default, and a float dtype.

    ``dtype=None`` means the framework's default floating dtype (numpy: float64,
    torch: ``torch.get_default_dtype()``, JAX: float64 with x64, else float32). An
    explicit ``"float64"`` where the backend cannot hold it is an error (never a
    silent downcast).
    """
    if backend is None:
        backend = get_default_backend()
    elif isinstance(backend, str):
        backend = get_backend(backend)
    if dtype is None:
        dtype = backend.default_float_dtype()
    elif isinstance(dtype, str):
        dtype = backend.float_dtype(dtype)
    return backend, dtype


def zeros(irreps, leading_shape=(), backend=None, dtype=None) -> IrrepsArray:
    """An IrrepsArray of zeros of shape ``leading_shape + (irreps.dim,)``.

    Parameters
    ----------
    irreps : str or Irreps
    leading_shape : int or tuple of int
    backend : None, str or Backend
        None: the configured default (``e3xp.set_backend``, ``use_backend``,
        ``E3XP_BACKEND``, else numpy).
    dtype : None, "float32", "float64" or a framework dtype
        None: the framework's default floating dtype (numpy float64, torch
        ``torch.get_default_dtype()``, JAX float64 only with x64).

    Examples
    --------
    >>> zeros("2x0e + 1o", (2,), backend="numpy").shape
    (2, 5)
    """
    irreps = Irreps(irreps)
    backend, dtype = _resolve(backend, dtype)
    return IrrepsArray(irreps, backend.xp.zeros(_leading_shape(leading_shape) + (irreps.dim,), dtype=dtype))


def ones(irreps, leading_shape=(), backend=None, dtype=None) -> IrrepsArray:
    """An IrrepsArray of ones (see :func:`zeros` for the arguments).

    Examples
    --------
    >>> ones("1o", backend="numpy")
    1x1o [1. 1. 1.]
    """
    irreps = Irreps(irreps)
    backend, dtype = _resolve(backend, dtype)
    return IrrepsArray(irreps, backend.xp.ones(_leading_shape(leading_shape) + (irreps.dim,), dtype=dtype))


def normal(
    irreps, seed=None, leading_shape=(), backend=None, dtype=None, *, key=None, normalize=False, normalization=None
) -> IrrepsArray:
    """Standard normal entries; the same numbers on every backend for the same int seed.

    Parameters
    ----------
    irreps : str or Irreps
    seed : int, numpy Generator, JAX key or torch Generator
        ``key`` is e3nn-jax's name for it (pass one of the two). With neither,
        a seed derived from the irreps is used, with a warning (as e3nn-jax).
    leading_shape, backend, dtype
        As in :func:`zeros`.
    normalize : bool
        Scale every irrep to unit norm (e3nn-jax).
    normalization : {None, "component", "norm"}
        Without ``normalize``: "component" gives unit variance per component,
        "norm" divides each irrep by ``sqrt(2l + 1)`` (unit expected squared norm).
        None: ``e3xp.config("irrep_normalization")``, as e3nn-jax.

    Notes
    -----
    For the same key the numbers differ from e3nn-jax's (e3xp draws the same
    numbers on every backend; e3nn-jax uses ``jax.random`` with split keys).

    Examples
    --------
    >>> import numpy as np
    >>> x = normal("0e + 1o", 0, (1000,), backend="numpy")
    >>> x.shape, bool(abs(float(np.mean(x.array ** 2)) - 1) < 0.1)
    ((1000, 4), True)
    """
    irreps = Irreps(irreps)
    if key is not None:
        if seed is not None:
            raise TypeError("normal: pass seed or key (e3nn-jax's name for it), not both")
        seed = key
    if seed is None:
        import warnings
        import zlib

        warnings.warn("normal: no seed (key) given; using one derived from the irreps", stacklevel=2)
        seed = zlib.crc32(str(irreps).encode())
    if normalization is None:
        normalization = config("irrep_normalization")
    if normalization not in ("component", "norm"):
        raise ValueError(f"normal: normalization={normalization!r} must be None, 'component' or 'norm'")
    if not isinstance(normalize, bool):
        raise TypeError(f"normal: normalize={normalize!r} must be a bool")
    backend, dtype = _resolve(backend, dtype)
    shape = _leading_shape(leading_shape) + (irreps.dim,)
    x = IrrepsArray(irreps, backend.normal(seed, shape, dtype=dtype))
    if normalize or normalization == "norm":
        xp = backend.xp
        if normalize:
            chunks = [c / xp.sqrt(xp.sum(c * c, axis=-1, keepdims=True)) for c in x.chunks]
        else:
            chunks = [c / math.sqrt(ir.dim) for c, (_, ir) in zip(x.chunks, irreps)]
        x = x._from_chunks(irreps, chunks)
    return x


def _check_list(arrays, what: str) -> list:
    arrays = list(arrays)
    if not arrays:
        raise ValueError(f"{what}: expected a non-empty list of IrrepsArray")
    for a in arrays:
        if not isinstance(a, IrrepsArray):
            raise TypeError(f"{what}: expected IrrepsArrays, got {type(a).__name__}")
    return arrays


def _same_irreps(arrays, what: str) -> Irreps:
    irreps = arrays[0].irreps
    for a in arrays[1:]:
        if a.irreps != irreps:
            raise ValueError(
                f"{what}: all inputs must have the same irreps along a leading axis, got "
                f"{irreps} and {a.irreps}"
            )
    return irreps


def concatenate(arrays, axis: int = -1) -> IrrepsArray:
    """Concatenate IrrepsArrays: along the irreps axis (irreps are concatenated) or a leading axis.

    Parameters
    ----------
    arrays : list of IrrepsArray
        Same backend; for ``axis=-1`` the same leading shape, otherwise the same irreps.
    axis : int
        ``-1`` (or ``ndim - 1``): the irreps axis; any other axis is a leading axis.

    Examples
    --------
    >>> import numpy as np
    >>> x = IrrepsArray("0e", np.array([1.0]))
    >>> y = IrrepsArray("1o", np.array([2.0, 3.0, 4.0]))
    >>> concatenate([x, y])
    1x0e+1x1o [1. 2. 3. 4.]
    >>> concatenate([y[None], y[None]], axis=0).shape
    (2, 3)
    """
    arrays = _check_list(arrays, "concatenate")
    backend = backend_of(*[a.array for a in arrays])
    ndim = arrays[0].ndim
    for a in arrays:
        if a.ndim != ndim:
            raise ValueError(f"concatenate: inputs have different ndim: shapes {[x.shape for x in arrays]}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"concatenate: axis={axis} is out of range for arrays of ndim {ndim}")
    axis = axis % ndim
    if axis == ndim - 1:
        irreps = sum((a.irreps for a in arrays), Irreps())
        lead = arrays[0].shape[:-1]
        for a in arrays:
            if a.shape[:-1] != lead:
                raise ValueError(
                    f"concatenate: along the irreps axis the leading shapes must agree, got "
                    f"{[x.shape[:-1] for x in arrays]}"
                )
    else:
        irreps = _same_irreps(arrays, "concatenate")
    return IrrepsArray(irreps, backend.xp.concat([a.array for a in arrays], axis=axis))


def stack(arrays, axis: int = 0) -> IrrepsArray:
    """Stack IrrepsArrays of equal irreps along a new leading axis.

    Examples
    --------
    >>> import numpy as np
    >>> y = IrrepsArray("1o", np.array([2.0, 3.0, 4.0]))
    >>> stack([y, y, y]).shape
    (3, 3)
    >>> stack([y, y], axis=-1)
    Traceback (most recent call last):
    ...
    ValueError: stack: axis=-1 would be the irreps axis of the result (ndim 2); use a leading axis in [-2, 0]
    """
    arrays = _check_list(arrays, "stack")
    backend = backend_of(*[a.array for a in arrays])
    irreps = _same_irreps(arrays, "stack")
    out_ndim = arrays[0].ndim + 1
    if not -out_ndim <= axis < out_ndim:
        raise ValueError(f"stack: axis={axis} is out of range for a result of ndim {out_ndim}")
    if axis % out_ndim == out_ndim - 1:
        raise ValueError(
            f"stack: axis={axis} would be the irreps axis of the result (ndim {out_ndim}); "
            f"use a leading axis in [{-out_ndim}, {out_ndim - 2}]"
        )
    return IrrepsArray(irreps, backend.xp.stack([a.array for a in arrays], axis=axis))
