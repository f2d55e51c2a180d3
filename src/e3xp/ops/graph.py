"""Neighbour graphs of point clouds (e3nn-jax's ``radius_graph``), on NumPy, PyTorch and JAX."""

from __future__ import annotations

import numbers

from ..backends import backend_of
from ..irreps_array import IrrepsArray
from .scatter import _device

__all__ = ["radius_graph"]


def _pad(xp, backend, idx, size: int, fill: int):
    """``idx`` truncated or padded with ``fill`` to length ``size``."""
    n = idx.shape[0]
    if n >= size:
        return idx[:size]
    pad = xp.full((size - n,), fill, dtype=idx.dtype, device=_device(backend, idx))
    return xp.concat([idx, pad])


def radius_graph(pos, r_max, *, batch=None, size=None, loop: bool = False, fill_src: int = -1, fill_dst: int = -1):
    r"""All pairs ``(src, dst)`` of points closer than ``r_max`` (e3nn-jax's ``radius_graph``).

    A dense ``n x n`` distance matrix: fine for small systems (use a neighbour
    list, e.g. matscipy's, for large ones, as e3nn-jax advises).

    Parameters
    ----------
    pos : array or IrrepsArray
        Shape ``(n, 3)``.
    r_max : float
        Pairs with ``|pos[src] - pos[dst]| < r_max``.
    batch : integer array, optional
        Shape ``(n,)``: only pairs within the same graph.
    size : int, optional
        Pad (with ``fill_src`` / ``fill_dst``) or truncate the result to ``size`` edges.
    loop : bool
        Include the self-loops ``(i, i)``. Without them, pairs at distance 0 are
        excluded (as in e3nn-jax, which also drops distinct coincident points).
    fill_src, fill_dst : int
        Padding values when ``size`` exceeds the number of edges.

    Returns
    -------
    (src, dst)
        Integer arrays of the input's framework, ordered by ``src`` then ``dst``.

    Notes
    -----
    **jit caveat**: the number of edges depends on the values of ``pos``. Under
    ``jax.jit`` pass ``size`` (as in e3nn-jax, whose ``jnp.where`` needs it); without
    it, or on a backend without a size-bounded nonzero, the function needs concrete
    arrays (it cannot run under ``jax.jit`` or ``torch.compile(fullgraph=True)``).
    With ``batch``, e3xp puts the same-graph condition into the pair mask before
    padding, so ``size`` counts only kept edges and it works under ``jit``; e3nn-jax
    filters after padding (with ``size`` its result can be shorter than ``size``;
    without ``size`` the two agree).

    Examples
    --------
    >>> import numpy as np
    >>> pos = np.array([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [3.0, 0.0, 0.0]])
    >>> radius_graph(pos, 1.0)
    (array([0, 1]), array([1, 0]))
    >>> radius_graph(pos, 1.0, size=4)
    (array([ 0,  1, -1, -1]), array([ 1,  0, -1, -1]))
    """
    if isinstance(pos, IrrepsArray):
        pos = pos.array
    if getattr(pos, "shape", None) is None or len(pos.shape) != 2 or pos.shape[-1] != 3:
        raise ValueError(f"radius_graph: pos must have shape (n, 3), got {getattr(pos, 'shape', type(pos).__name__)}")
    if isinstance(r_max, bool) or not isinstance(r_max, numbers.Real):
        raise TypeError(f"radius_graph: r_max={r_max!r} must be a number")
    if size is not None and (isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 0):
        raise ValueError(f"radius_graph: size={size!r} must be None or an int >= 0")
    if not isinstance(loop, bool):
        raise TypeError(f"radius_graph: loop={loop!r} must be a bool")
    backend = backend_of(pos) if batch is None else backend_of(pos, batch)
    backend.check_float(pos, "radius_graph pos")
    xp = backend.xp
    diff = xp.expand_dims(pos, axis=1) - xp.expand_dims(pos, axis=0)
    r2 = xp.sum(diff * diff, axis=-1)
    mask = r2 < r_max * r_max if r_max > 0 else xp.zeros_like(r2, dtype=xp.bool)
    if not loop:
        mask = mask & (r2 > 0)
    if batch is not None:
        if len(batch.shape) != 1 or batch.shape[0] != pos.shape[0]:
            raise ValueError(f"radius_graph: batch must have shape ({pos.shape[0]},), got {tuple(batch.shape)}")
        mask = mask & (xp.expand_dims(batch, axis=1) == xp.expand_dims(batch, axis=0))
    if backend.name == "jax" and size is not None:
        import jax.numpy as jnp

        src, dst = jnp.nonzero(mask, size=size, fill_value=-1)
        if fill_src != -1:
            src = jnp.where(src == -1, fill_src, src)
        if fill_dst != -1:
            dst = jnp.where(dst == -1, fill_dst, dst)
        return src, dst
    src, dst = xp.nonzero(mask)
    if size is not None:
        src, dst = _pad(xp, backend, src, size, fill_src), _pad(xp, backend, dst, size, fill_dst)
    return src, dst
