"""Segment sums: sum messages on edges into nodes, on any backend.

Accumulation with repeated indices is not in the array-API standard, so each
backend uses its framework's native accumulating op (np.add.at, torch
index_add, jax.ops.segment_sum, cupyx.scatter_add); see ``Backend.scatter_sum``.
"""

from __future__ import annotations

from ..backends import backend_of
from ..irreps_array import IrrepsArray

__all__ = ["scatter_sum", "index_add"]


def scatter_sum(data, dst, num_segments: int, axis: int = 0):
    """Sum the slices of ``data`` along ``axis`` into ``num_segments`` segments.

    ``out[s] = sum over i with dst[i] == s of data[i]``: repeated ids accumulate,
    segments that receive nothing are zero. ``data`` may be an array or an
    :class:`~e3xp.IrrepsArray` (then ``axis`` must be a leading axis and the
    result is an IrrepsArray with the same irreps).

    Parameters
    ----------
    data : array or IrrepsArray
    dst : integer array of shape ``(data.shape[axis],)``, same framework as data
    num_segments : int
        Required (not inferred from ``dst``) so the output shape is static under
        ``jax.jit`` and ``torch.compile``.
    axis : int

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
    """
    if isinstance(data, IrrepsArray):
        if axis < 0:
            axis += data.ndim
        if not 0 <= axis < data.ndim - 1:
            raise ValueError(
                f"scatter_sum over axis={axis} of an IrrepsArray of shape {tuple(data.shape)}: "
                "the axis must be a leading axis, not the irreps axis"
            )
        out = scatter_sum(data.array, dst, num_segments, axis)
        return IrrepsArray(data.irreps, out)
    return backend_of(data, dst).scatter_sum(data, dst, num_segments, axis=axis)


def index_add(indices, input, out_dim: int):
    """``out[indices[i]] += input[i]`` along the first axis (e3nn-jax's name).

    >>> import numpy as np, e3xp
    >>> e3xp.index_add(np.array([0, 0, 2]), np.array([1.0, 2.0, 5.0]), 3)
    array([3., 0., 5.])
    """
    return scatter_sum(input, indices, out_dim, axis=0)
