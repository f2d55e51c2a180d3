"""Segment sums: sum messages on edges into nodes, on any backend.

Accumulation with repeated indices is not in the array-API standard, so each
backend uses its framework's native accumulating op (np.add.at, torch
index_add, jax.ops.segment_sum, cupyx.scatter_add); see ``Backend.scatter_sum``.
"""

from __future__ import annotations

import math
import numbers

from ..backends import backend_of
from ..irreps_array import IrrepsArray

__all__ = ["scatter_sum", "scatter_mean", "scatter_max", "index_add"]

_MODES = ("promise_in_bounds", "clip", "drop", "fill")


def scatter_sum(
    data,
    dst=None,
    num_segments=None,
    axis: int = 0,
    *,
    nel=None,
    output_size=None,
    map_back: bool = False,
    mode: str = "promise_in_bounds",
):
    """Sum the slices of ``data`` along ``axis`` into ``num_segments`` segments.

    ``out[s] = sum over i with dst[i] == s of data[i]``: repeated ids accumulate,
    segments that receive nothing are zero. ``data`` may be an array or an
    :class:`~e3xp.IrrepsArray` (then ``axis`` must be a leading axis and the
    result is an IrrepsArray with the same irreps).

    Parameters
    ----------
    data : array or IrrepsArray
    dst : integer array, same framework as data
        Shape ``(data.shape[axis],)``; with ``axis=0`` also ``data.shape[:k]`` (then
        the first ``k`` axes of ``data`` are summed, as in e3nn-jax).
    num_segments : int
        The number of segments (e3nn-jax calls it ``output_size``; pass either).
        Required, not inferred from ``dst``, so the output shape is static under
        ``jax.jit`` and ``torch.compile``.
    axis : int
    nel : integer array, optional
        e3nn-jax's alternative to ``dst``: ``nel[s]`` consecutive slices (along axis
        0) form segment ``s``, so ``num_segments = len(nel)``; ``sum(nel)`` must be
        the number of slices.
    output_size : int, optional
        e3nn-jax's name of ``num_segments``.
    map_back : bool
        Return each slice's segment result at the slice's position (shape of
        ``data``) instead of one row per segment; then no ``num_segments`` is needed.
    mode : str
        e3nn-jax's out-of-bounds mode (``"promise_in_bounds"``, ``"clip"``,
        ``"drop"``, ``"fill"``): accepted and checked, otherwise ignored; e3xp
        raises on out-of-range ids when they are concrete and, under ``jax.jit``,
        drops them (see Notes).

    Returns
    -------
    array or IrrepsArray
        Shape of ``data`` with ``num_segments`` along ``axis``; same framework,
        dtype and device.

    Raises
    ------
    ValueError
        If an id is outside ``[0, num_segments)``, when the ids are concrete.

    Notes
    -----
    The range check reads the ids, so it is skipped where they have no values:
    under ``jax.jit`` (and ``vmap`` / ``grad`` traces), under ``torch.compile``,
    and for torch meta tensors. **Under ``jax.jit``, slices with an out-of-range
    id are dropped silently** (``jax.ops.segment_sum`` semantics: they contribute
    to no segment, and no error is raised); validate ids outside the jitted
    function if they may be wrong. Under ``torch.compile`` an out-of-range id fails
    inside the compiled kernel instead (a RuntimeError on CPU, a device-side
    assert on CUDA), not with this message.

    On the generic array-API backend (``array_api_strict``, ``array_api:<module>``)
    the sum is a sort followed by a segmented scan: O(n log n) work, memory linear
    in ``n`` and ``num_segments`` (no segments x slices one-hot matrix), and a NaN
    or inf stays in its own segment.

    Examples
    --------
    >>> import numpy as np, e3xp
    >>> x = e3xp.IrrepsArray("1o", np.array([[1.0, 0, 0], [0, 2.0, 0], [0, 0, 3.0]]))
    >>> e3xp.scatter_sum(x, np.array([1, 1, 0]), 2).array
    array([[0., 0., 3.],
           [1., 2., 0.]])
    >>> e3xp.scatter_sum(np.array([1.0, 2.0, 4.0]), nel=np.array([2, 1]))  # e3nn-jax's nel
    array([3., 4.])
    >>> e3xp.scatter_sum(np.array([1.0, 2.0, 4.0]), dst=np.array([7, 3, 7]), map_back=True)
    array([5., 2., 5.])
    """
    return _scatter("scatter_sum", data, dst, num_segments, axis, nel, output_size, map_back, mode)


def index_add(indices=None, input=None, out_dim=None, *, n_elements=None, map_back: bool = False):  # noqa: A002
    """``out[indices[i]] += input[i]`` along the first axis (e3nn-jax's deprecated name of scatter_sum).

    Parameters
    ----------
    indices : integer array, optional
        One id per row of ``input`` (or pass ``n_elements``).
    input : array or IrrepsArray
    out_dim : int, optional
        Number of rows of the result (not with ``n_elements`` or ``map_back``).
    n_elements : integer array, optional
        e3nn-jax's ``nel`` of :func:`scatter_sum`.
    map_back : bool
        As in :func:`scatter_sum`.

    Notes
    -----
    e3nn-jax warns that ``index_add`` is deprecated; e3xp keeps it without a warning.

    Examples
    --------
    >>> import numpy as np, e3xp
    >>> e3xp.index_add(np.array([0, 0, 2]), np.array([1.0, 2.0, 5.0]), 3)
    array([3., 0., 5.])
    >>> e3xp.index_add(input=np.array([1.0, 2.0, 5.0]), n_elements=np.array([1, 2]))
    array([1., 7.])
    """
    if input is None:
        raise TypeError("index_add: input (the array to sum) is required")
    return _scatter("index_add", input, indices, out_dim, 0, n_elements, None, map_back, "promise_in_bounds")


def scatter_mean(data, dst=None, num_segments=None, axis: int = 0, *, nel=None, output_size=None,
                 map_back: bool = False, mode: str = "promise_in_bounds"):
    """Mean of the slices of ``data`` in each segment (0 for an empty segment), as e3nn-jax.

    Arguments as in :func:`scatter_sum`.

    Examples
    --------
    >>> import numpy as np, e3xp
    >>> e3xp.scatter_mean(np.array([1.0, 2.0, 4.0]), np.array([1, 1, 0]), 3)
    array([4. , 1.5, 0. ])
    >>> e3xp.scatter_mean(np.array([1.0, 2.0, 4.0]), nel=np.array([2, 1]), map_back=True)
    array([1.5, 1.5, 4. ])
    """
    return _scatter("scatter_mean", data, dst, num_segments, axis, nel, output_size, map_back, mode)


def scatter_max(data, dst=None, num_segments=None, axis: int = 0, *, nel=None, initial=-math.inf,
                output_size=None, map_back: bool = False, mode: str = "promise_in_bounds"):
    """Largest slice of ``data`` in each segment, compared with ``initial`` (e3nn-jax's ``scatter_max``).

    ``out[s] = max(initial, max over i with dst[i] == s of data[i])``; an empty segment is ``initial``.

    Parameters
    ----------
    data : array or IrrepsArray
        An IrrepsArray must hold only scalars (a max of vector components is not equivariant).
    initial : float
    dst, num_segments, axis, nel, output_size, map_back, mode
        As in :func:`scatter_sum`.

    Raises
    ------
    ValueError
        Non-scalar irreps.
    TypeError
        A backend without a native scatter-max: only NumPy (``np.maximum.at``),
        PyTorch (``scatter_reduce(..., "amax")``), JAX (``jax.ops.segment_max``) and
        CuPy (``cupyx.scatter_max``) have one.

    Examples
    --------
    >>> import numpy as np, e3xp
    >>> e3xp.scatter_max(np.array([1.0, 5.0, 4.0]), np.array([1, 1, 0]), 3)
    array([  4.,   5., -inf])
    """
    if isinstance(data, IrrepsArray) and not data.irreps.is_scalar():
        raise ValueError(f"scatter_max: data must hold only scalars (a max is not equivariant), got {data.irreps}")
    if isinstance(initial, bool) or not isinstance(initial, numbers.Real):
        raise TypeError(f"scatter_max: initial={initial!r} must be a number")
    return _scatter("scatter_max", data, dst, num_segments, axis, nel, output_size, map_back, mode, float(initial))


# --------------------------------------------------------------------------- implementation


def _int_array(backend, x, name: str, what: str):
    if not backend.is_array(x):
        raise TypeError(f"{what}: {name} must be an integer array of backend {backend.name!r}, got {type(x).__name__}")
    dtype = backend._dtype_name(x.dtype) if hasattr(backend, "_dtype_name") else str(x.dtype)
    if "int" not in dtype:
        raise TypeError(f"{what}: {name} must be an integer array, got dtype {dtype}")
    return x


def _device(backend, x):
    """``x``'s device, or None for a JAX tracer (which has none; jnp places new arrays itself)."""
    try:
        return backend.device(x)
    except AttributeError:
        return None


def _group_ids(backend, ids):
    """``ids`` relabelled 0, 1, 2, ... by sorted distinct value (static shapes: jit-safe)."""
    xp = backend.xp
    n = ids.shape[0]
    order = xp.argsort(ids, stable=True)
    sorted_ids = xp.take(ids, order)
    new = xp.astype(sorted_ids[1:] != sorted_ids[:-1], ids.dtype)
    rank = xp.cumulative_sum(xp.concat([xp.zeros((1,), dtype=ids.dtype, device=_device(backend, ids)), new]))
    inverse = xp.argsort(order, stable=True)
    return xp.take(rank, inverse) if n else ids


def _scatter(what, data, dst, num_segments, axis, nel, output_size, map_back, mode, initial=None):
    irreps = data.irreps if isinstance(data, IrrepsArray) else None
    array = data.array if irreps is not None else data
    if getattr(array, "shape", None) is None:
        raise TypeError(f"{what}: data must be an array or an IrrepsArray, got {type(data).__name__}")
    if mode not in _MODES:
        raise ValueError(f"{what}: mode={mode!r} must be one of {_MODES}")
    if not isinstance(map_back, bool):
        raise TypeError(f"{what}: map_back={map_back!r} must be a bool")
    if output_size is not None:
        if num_segments is not None and num_segments != output_size:
            raise ValueError(f"{what}: num_segments={num_segments!r} and output_size={output_size!r} disagree")
        num_segments = output_size
    if (dst is None) == (nel is None):
        raise ValueError(f"{what}: pass exactly one of dst (a segment id per slice) and nel (segment sizes)")
    ndim = len(array.shape)
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or not -ndim <= axis < ndim:
        raise ValueError(f"{what}: axis={axis!r} is out of range for data of shape {tuple(array.shape)}")
    axis = int(axis) % ndim
    if irreps is not None and axis == ndim - 1:
        raise ValueError(
            f"{what} over axis={axis} of an IrrepsArray of shape {tuple(array.shape)}: "
            "the axis must be a leading axis, not the irreps axis"
        )
    backend = backend_of(array, dst if dst is not None else nel)
    xp = backend.xp
    if nel is not None:
        _int_array(backend, nel, "nel", what)
        if len(nel.shape) != 1:
            raise ValueError(f"{what}: nel must be 1-D (one size per segment), got shape {tuple(nel.shape)}")
        if axis != 0:
            raise ValueError(f"{what}: nel counts slices along axis 0; got axis={axis}")
        if num_segments is not None:
            raise ValueError(f"{what}: with nel, the number of segments is len(nel); do not pass num_segments / output_size")
        num_segments = nel.shape[0]
        n = array.shape[0]
        # slice i belongs to the segment whose cumulative end is the first one > i
        dst = xp.searchsorted(xp.cumulative_sum(nel), xp.arange(n, dtype=nel.dtype, device=_device(backend, nel)), side="right")
        lead = (n,)
    else:
        _int_array(backend, dst, "dst", what)
        k = len(dst.shape)
        if k > 1 or axis != 0:
            if axis != 0 or tuple(dst.shape) != tuple(array.shape[:k]):
                raise ValueError(
                    f"{what}: dst of shape {tuple(dst.shape)} must have one id per slice of data along axis "
                    f"{axis} (data shape {tuple(array.shape)}); a multi-axis dst needs axis=0 and "
                    "dst.shape == data.shape[:dst.ndim]"
                )
        elif k == 0 or dst.shape[0] != array.shape[axis]:
            raise ValueError(
                f"{what}: dst of shape {tuple(dst.shape)} must have one id per slice of data along axis "
                f"{axis} ({array.shape[axis]})"
            )
        lead = tuple(dst.shape)
        if k > 1:
            array = xp.reshape(array, (math.prod(lead),) + tuple(array.shape[k:]))
            dst = xp.reshape(dst, (-1,))
        if map_back:
            if num_segments is not None:
                raise ValueError(f"{what}: with map_back=True the result has data's shape; do not pass num_segments / output_size")
            num_segments = dst.shape[0]
            dst = _group_ids(backend, dst)
    if num_segments is None:
        raise ValueError(f"{what}: pass num_segments (e3nn-jax: output_size), or nel, or map_back=True")
    if isinstance(num_segments, bool) or not isinstance(num_segments, numbers.Integral):
        raise TypeError(f"{what}: num_segments={num_segments!r} must be an int")
    num_segments = int(num_segments)
    if what == "scatter_max":
        out = _segment_max(backend, array, dst, num_segments, axis, initial)
    else:
        out = backend.scatter_sum(array, dst, num_segments, axis=axis)
        if what == "scatter_mean":
            ones = xp.ones_like(dst, dtype=array.dtype)
            count = backend.scatter_sum(ones, dst, num_segments)
            count = xp.where(count > 0, count, xp.ones_like(count))
            shape = [1] * len(out.shape)
            shape[axis] = num_segments
            out = out / xp.reshape(count, tuple(shape))
    if map_back:
        out = xp.take(out, dst, axis=axis)
        if len(lead) > 1:
            out = xp.reshape(out, lead + tuple(out.shape[1:]))
    return IrrepsArray(irreps, out) if irreps is not None else out


def _segment_max(backend, data, dst, num_segments: int, axis: int, initial: float):
    """Native scatter-max of each framework (the array-API standard has none)."""
    backend.check_float(data, "scatter_max data")
    if not getattr(dst, "is_meta", False):  # as scatter_sum: checked where the ids have values
        backend._check_index_range(dst, num_segments)
    xp = backend.xp
    moved = xp.moveaxis(data, axis, 0) if axis != 0 else data
    shape = (num_segments,) + tuple(moved.shape[1:])
    name = backend.name
    if name == "numpy":
        import numpy as np

        out = np.full(shape, initial, dtype=moved.dtype)
        np.maximum.at(out, dst, moved)
    elif name == "torch":
        import torch

        out = torch.full(shape, initial, dtype=moved.dtype, device=moved.device)
        index = dst.reshape((-1,) + (1,) * (moved.ndim - 1)).expand(moved.shape)
        out = out.scatter_reduce(0, index, moved, reduce="amax", include_self=True)
    elif name == "jax":
        import jax

        out = jax.ops.segment_max(moved, dst, num_segments=num_segments)
        out = jax.numpy.maximum(out, jax.numpy.asarray(initial, dtype=moved.dtype))
    elif name == "cupy":
        import cupy
        import cupyx

        out = cupy.full(shape, initial, dtype=moved.dtype)
        cupyx.scatter_max(out, dst, moved)
    else:
        raise TypeError(
            f"scatter_max: backend {name!r} has no native scatter-max (the array-API standard has none); "
            "use NumPy, PyTorch, JAX or CuPy arrays (e3xp.to_backend(x, 'numpy'))"
        )
    return xp.moveaxis(out, 0, axis) if axis != 0 else out
