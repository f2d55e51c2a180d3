"""e3nn-jax's module-level helpers on IrrepsArrays, on every backend.

``as_irreps_array``, ``from_chunks``, ``zeros_like``, ``ones_like``, ``sum``,
``mean``, ``dot``, ``cross``, ``where`` and the scalar functions ``soft_odd``,
``normalize_function``, ``soft_normalization``. Names, arguments and results
follow e3nn-jax 0.21; the few differences are stated in each docstring. They use
only IrrepsArray's public API and the array-API namespace of the inputs'
backend, so they run on NumPy, PyTorch, JAX, CuPy and ``array_api_strict``, and
under ``jax.jit`` / ``vmap`` / ``grad`` and torch autograd (no Python branch
reads an array value).
"""

from __future__ import annotations

import builtins
import itertools
import numbers

import numpy as np

from ..backends import backend_of, get_backend, get_default_backend
from ..core.irreps import Irreps
from ..irreps_array import IrrepsArray
from ._common import as_irreps_array as _require_irreps_array
from ._common import broadcast_pair
from .scatter import _device

__all__ = [
    "as_irreps_array",
    "from_chunks",
    "zeros_like",
    "ones_like",
    "sum",
    "mean",
    "dot",
    "cross",
    "where",
    "soft_odd",
    "normalize_function",
    "soft_normalization",
]


def _resolve_backend(backend, what: str):
    if backend is None:
        return get_default_backend()
    if isinstance(backend, str):
        return get_backend(backend)
    if hasattr(backend, "xp") and hasattr(backend, "name"):
        return backend
    raise TypeError(f"{what}: backend={backend!r} must be None, a backend name (e.g. 'torch') or a Backend")


def as_irreps_array(array, *, backend=None) -> IrrepsArray:
    """``array`` as an IrrepsArray: unchanged if it is one, else ``Nx0e`` with ``N = array.shape[-1]``.

    Parameters
    ----------
    array : IrrepsArray, array, or nested list of numbers
        A floating-point array of rank >= 1.
    backend : None, str or Backend
        Only for lists and numbers (arrays keep their framework): where to create the
        array; None is the configured default. e3nn-jax takes a module (``jnp``,
        ``np``) here; e3xp takes a backend name.

    Returns
    -------
    IrrepsArray

    Raises
    ------
    ValueError
        For a rank-0 array.
    TypeError
        For an integer or boolean array (e3xp's IrrepsArray holds floats only;
        e3nn-jax accepts integers).

    Examples
    --------
    >>> import numpy as np
    >>> as_irreps_array(np.array([[1.0, 2.0]]))
    2x0e [[1. 2.]]
    >>> as_irreps_array(np.array(1.0))
    Traceback (most recent call last):
    ...
    ValueError: as_irreps_array: array must have rank >= 1 (its last axis becomes the scalars Nx0e), got shape ()
    """
    if isinstance(array, IrrepsArray):
        return array
    if isinstance(array, (list, tuple, numbers.Number)):
        array = _resolve_backend(backend, "as_irreps_array").asarray(array)
    shape = getattr(array, "shape", None)
    if shape is None:
        raise TypeError(f"as_irreps_array: array must be an array or an IrrepsArray, got {type(array).__name__}")
    if len(shape) == 0:
        raise ValueError(
            "as_irreps_array: array must have rank >= 1 (its last axis becomes the scalars Nx0e), got shape ()"
        )
    return IrrepsArray(f"{shape[-1]}x0e", array)


def _leading(leading_shape, what: str) -> tuple:
    try:
        return tuple(int(s) for s in leading_shape)
    except TypeError:
        raise TypeError(f"{what}: leading_shape={leading_shape!r} must be a tuple of ints") from None


def from_chunks(irreps, chunks, leading_shape, dtype=None, *, backend=None) -> IrrepsArray:
    """An IrrepsArray from one array per entry of ``irreps`` (``None`` for zeros).

    Parameters
    ----------
    irreps : str or Irreps
    chunks : list of (array or None)
        The ``i``-th has shape ``leading_shape + (mul_i, 2 l_i + 1)``; ``None`` is a block of zeros.
    leading_shape : tuple of int
    dtype : optional
        Needed only when every chunk is ``None``; otherwise the first array's dtype.
    backend : None, str or Backend
        Where to create the result when every chunk is ``None`` (None: the
        configured default); otherwise the chunks' framework.

    Returns
    -------
    IrrepsArray

    Raises
    ------
    ValueError
        Wrong number of chunks, a chunk of the wrong shape, or no dtype to use.

    Notes
    -----
    e3nn-jax also records which chunks are ``None`` (``zero_flags``) to skip work
    later; e3xp stores plain zeros (same values, no such bookkeeping).

    Examples
    --------
    >>> import numpy as np
    >>> from_chunks("2x0e + 1o", [np.array([[1.0], [2.0]]), None], ())
    2x0e+1x1o [1. 2. 0. 0. 0.]
    """
    irreps = Irreps(irreps)
    chunks = list(chunks)
    lead = _leading(leading_shape, "from_chunks")
    if len(chunks) != len(irreps):
        raise ValueError(
            f"from_chunks: got {len(chunks)} chunks for the {len(irreps)} entries of irreps {irreps}"
        )
    arrays = [c for c in chunks if c is not None]
    for c in arrays:
        if isinstance(c, IrrepsArray) or getattr(c, "shape", None) is None:
            raise TypeError(f"from_chunks: chunks must be arrays or None, got {type(c).__name__}")
    expected = [lead + (mul, ir.dim) for mul, ir in irreps]
    got = [None if c is None else tuple(c.shape) for c in chunks]
    if any(g is not None and g != e for g, e in zip(got, expected)):
        raise ValueError(
            f"from_chunks: chunk shapes {got} do not match leading_shape={lead} and irreps {irreps}; "
            f"expected {expected}"
        )
    if arrays:
        b = backend_of(*arrays)
        dtype = arrays[0].dtype
        device = b.device(arrays[0])
    else:
        if dtype is None:
            raise ValueError("from_chunks: pass dtype= when chunks is empty or holds only None")
        b = _resolve_backend(backend, "from_chunks")
        dtype = b.float_dtype(dtype) if isinstance(dtype, str) else dtype
        device = None
    xp = b.xp
    blocks = [
        xp.zeros(lead + (mul * ir.dim,), dtype=dtype, device=device)
        if c is None
        else xp.reshape(xp.astype(c, dtype), lead + (mul * ir.dim,))
        for c, (mul, ir) in zip(chunks, irreps)
    ]
    if not blocks:
        return IrrepsArray(irreps, xp.zeros(lead + (0,), dtype=dtype, device=device))
    return IrrepsArray(irreps, blocks[0] if len(blocks) == 1 else xp.concat(blocks, axis=-1))


def zeros_like(irreps_array) -> IrrepsArray:
    """Zeros with the irreps, shape, dtype, device and backend of ``irreps_array``.

    Examples
    --------
    >>> import numpy as np
    >>> zeros_like(IrrepsArray("1o", np.ones((2, 3)))).irreps
    1x1o
    """
    x = _require_irreps_array(irreps_array, "zeros_like: irreps_array")
    return IrrepsArray(x.irreps, x.backend.xp.zeros_like(x.array))


def ones_like(irreps_array) -> IrrepsArray:
    """Ones with the irreps, shape, dtype, device and backend of ``irreps_array``.

    Examples
    --------
    >>> import numpy as np
    >>> ones_like(IrrepsArray("0e + 0o", np.zeros(2)))
    1x0e+1x0o [1. 1.]
    """
    x = _require_irreps_array(irreps_array, "ones_like: irreps_array")
    return IrrepsArray(x.irreps, x.backend.xp.ones_like(x.array))


def _axes(axis, ndim: int, what: str) -> tuple:
    """``axis`` as a sorted tuple of non-negative axes (None: all of them)."""
    if axis is None:
        return tuple(range(ndim))
    items = (axis,) if isinstance(axis, numbers.Integral) else axis
    try:
        items = tuple(items)
    except TypeError:
        raise TypeError(f"{what}: axis={axis!r} must be None, an int or a tuple of ints") from None
    out = []
    for a in items:
        if isinstance(a, bool) or not isinstance(a, numbers.Integral):
            raise TypeError(f"{what}: axis={axis!r} must be None, an int or a tuple of ints")
        if not -ndim <= a < ndim:
            raise ValueError(f"{what}: axis={a} is out of range for an IrrepsArray of ndim {ndim}")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{what}: axis={axis!r} repeats an axis")
    return tuple(sorted(out))


def _reduce(name: str, array, axis, keepdims: bool) -> IrrepsArray:
    x = _require_irreps_array(array, f"{name}: array")
    axes = _axes(axis, x.ndim, name)
    xp = x.backend.xp
    op = getattr(xp, name)
    if not axes:
        return x
    irreps_axis = x.ndim - 1
    lead_axes = tuple(a for a in axes if a != irreps_axis)
    if lead_axes:
        x = IrrepsArray(x.irreps, op(x.array, axis=lead_axes, keepdims=keepdims))
    if axes[-1] != irreps_axis:
        return x
    # The irreps axis: reduce over the multiplicity of every entry (mul x ir -> 1 x ir).
    irreps = Irreps([(1, ir) for _, ir in x.irreps])
    return x._from_chunks(irreps, [op(c, axis=-2, keepdims=True) for c in x.chunks])


def sum(array, axis=None, keepdims: bool = False) -> IrrepsArray:  # noqa: A001 - e3nn-jax's name
    """Sum over ``axis``; over the irreps axis it sums the copies of each irrep (``mul x ir -> 1x ir``).

    Parameters
    ----------
    array : IrrepsArray
    axis : None, int or tuple of int
        None: every axis. The last (irreps) axis reduces each entry's multiplicity.
    keepdims : bool
        Keep the reduced leading axes with size 1.

    Returns
    -------
    IrrepsArray

    Examples
    --------
    >>> import numpy as np
    >>> x = IrrepsArray("3x0e + 2x0e", np.arange(10.0).reshape(2, 5))
    >>> sum(x, axis=0)
    3x0e+2x0e [ 5.  7.  9. 11. 13.]
    >>> sum(x, axis=1)
    1x0e+1x0e
    [[ 3.  7.]
     [18. 17.]]
    >>> sum(x)
    1x0e+1x0e [21. 24.]
    """
    return _reduce("sum", array, axis, keepdims)


def mean(array, axis=None, keepdims: bool = False) -> IrrepsArray:
    """Mean over ``axis``; over the irreps axis it averages the copies of each irrep.

    Arguments as in :func:`sum`.

    Examples
    --------
    >>> import numpy as np
    >>> x = IrrepsArray("3x0e + 2x0e", np.arange(10.0).reshape(2, 5))
    >>> mean(x, axis=0)
    3x0e+2x0e [2.5 3.5 4.5 5.5 6.5]
    >>> mean(x)
    1x0e+1x0e [3.5 6. ]
    """
    return _reduce("mean", array, axis, keepdims)


def dot(a, b, per_irrep: bool = False) -> IrrepsArray:
    """Invariant dot product ``sum_i a_i b_i`` of two IrrepsArrays with the same (simplified) irreps.

    Parameters
    ----------
    a, b : IrrepsArray
        Same backend; ``a.irreps.simplify() == b.irreps.simplify()``; leading axes broadcast.
    per_irrep : bool
        One dot product per copy of each irrep (``mul x 0e`` per entry) instead of one ``0e``.

    Returns
    -------
    IrrepsArray
        ``0e`` (or ``mul x 0e`` per entry of the simplified irreps).

    Notes
    -----
    e3nn-jax conjugates ``a`` (complex inputs); e3xp's IrrepsArrays are real, so
    there is nothing to conjugate.

    Examples
    --------
    >>> import numpy as np
    >>> x = IrrepsArray("0e + 1e", np.array([2.0, 1.0, 0.0, 0.0]))
    >>> y = IrrepsArray("0e + 1e", np.array([1.0, 2.0, 1.0, 1.0]))
    >>> dot(x, y)
    1x0e [4.]
    >>> dot(x, y, per_irrep=True)
    1x0e+1x0e [2. 2.]
    """
    a = _require_irreps_array(a, "dot: a").simplify()
    b = _require_irreps_array(b, "dot: b").simplify()
    if a.irreps != b.irreps:
        raise ValueError(f"dot: a and b must have the same simplified irreps, got {a.irreps} and {b.irreps}")
    backend, x, y = broadcast_pair(a, b, "dot")
    xp = backend.xp
    prod = IrrepsArray(a.irreps, x * y)
    if not per_irrep:
        return IrrepsArray("0e", xp.sum(prod.array, axis=-1, keepdims=True))
    irreps = Irreps([(mul, "0e") for mul, _ in a.irreps])
    return prod._from_chunks(irreps, [xp.sum(c, axis=-1, keepdims=True) for c in prod.chunks])


def _vector_parities(irreps: Irreps, name: str) -> list:
    if builtins.any(ir.l != 1 for _, ir in irreps):
        raise ValueError(f"cross: {name} must hold only vectors (l = 1), got {irreps}")
    return [ir.p for mul, ir in irreps for _ in range(mul)]


def cross(a, b) -> IrrepsArray:
    """Cross product of the ``n``-th vector of ``a`` with the ``n``-th vector of ``b``.

    Parameters
    ----------
    a, b : IrrepsArray
        Only ``l = 1`` irreps, the same number of vectors; leading axes broadcast.

    Returns
    -------
    IrrepsArray
        Parity ``p_a p_b`` per vector; the entries are those of ``a`` and ``b``
        split at each other's boundaries (e3nn-jax's layout, not simplified).

    Examples
    --------
    >>> import numpy as np
    >>> x = IrrepsArray("1o", np.array([1.0, 0.0, 0.0]))
    >>> y = IrrepsArray("1e", np.array([0.0, 1.0, 0.0]))
    >>> cross(x, y)
    1x1o [0. 0. 1.]
    """
    a = _require_irreps_array(a, "cross: a")
    b = _require_irreps_array(b, "cross: b")
    pa, pb = _vector_parities(a.irreps, "a"), _vector_parities(b.irreps, "b")
    if len(pa) != len(pb):
        raise ValueError(f"cross: a and b must hold the same number of vectors, got {a.irreps} and {b.irreps}")
    # Entries of the result: split at the boundaries of both inputs.
    # (plain Python: numpy here would be traced by torch.compile)
    cuts = sorted(set(itertools.accumulate([0] + [m for m, _ in a.irreps])) | set(itertools.accumulate([0] + [m for m, _ in b.irreps])))
    irreps = Irreps([(hi - lo, (1, pa[lo] * pb[lo])) for lo, hi in zip(cuts[:-1], cuts[1:]) if hi > lo])
    backend, x, y = broadcast_pair(a, b, "cross")
    xp = backend.xp
    lead = tuple(x.shape[:-1])
    u = xp.reshape(x, lead + (len(pa), 3))
    v = xp.reshape(y, lead + (len(pa), 3))
    u0, u1, u2 = u[..., 0], u[..., 1], u[..., 2]
    v0, v1, v2 = v[..., 0], v[..., 1], v[..., 2]
    w = xp.stack([u1 * v2 - u2 * v1, u2 * v0 - u0 * v2, u0 * v1 - u1 * v0], axis=-1)
    return IrrepsArray(irreps, xp.reshape(w, lead + (3 * len(pa),)))


def where(mask, x, y) -> IrrepsArray:
    """``x`` where ``mask`` is true, else ``y`` (same irreps).

    Parameters
    ----------
    mask : boolean array
        Shape ``(..., 1)`` (one flag for the whole row) or ``(..., num_irreps)``
        (one flag per irrep; e3nn-jax 0.21 raises NotImplementedError there, e3xp
        implements it). Broadcasts against the leading axes of ``x`` and ``y``.
    x, y : IrrepsArray or array
        Plain arrays are read as scalars (:func:`as_irreps_array`).

    Returns
    -------
    IrrepsArray

    Examples
    --------
    >>> import numpy as np
    >>> x = IrrepsArray("0e + 1o", np.ones((2, 4)))
    >>> where(np.array([[True], [False]]), x, -x)
    1x0e+1x1o
    [[ 1.  1.  1.  1.]
     [-1. -1. -1. -1.]]
    >>> where(np.array([True, False]), x[0], -x[0])
    1x0e+1x1o [ 1. -1. -1. -1.]
    """
    x, y = as_irreps_array(x), as_irreps_array(y)
    if x.irreps != y.irreps:
        raise ValueError(f"where: x and y must have the same irreps, got {x.irreps} and {y.irreps}")
    backend = backend_of(mask, x.array, y.array)
    xp = backend.xp
    if getattr(mask, "shape", None) is None:
        raise TypeError(f"where: mask must be a boolean array, got {type(mask).__name__}")
    if mask.dtype != xp.bool:
        raise TypeError(f"where: mask must be a boolean array, got dtype {mask.dtype}")
    n = x.irreps.num_irreps
    if mask.ndim == 0 or mask.shape[-1] not in (1, n):
        raise ValueError(
            f"where: mask must have shape (..., 1) or (..., {n}) (num_irreps of {x.irreps}), got {tuple(mask.shape)}"
        )
    if mask.shape[-1] != 1 or n == 1:
        # one flag per irrep -> one flag per component
        index = np.repeat(np.arange(n), [ir.dim for mul, ir in x.irreps for _ in range(mul)])
        mask = xp.take(mask, xp.asarray(index, device=_device(backend, mask)), axis=mask.ndim - 1)
    _, a, b = broadcast_pair(x, y, "where")
    return IrrepsArray(x.irreps, xp.where(mask, a, b))


# --------------------------------------------------------------------------- scalar functions


def soft_odd(x):
    r"""Smooth odd function :math:`x (1 - e^{-x^2})` (for odd scalars), any backend.

    Examples
    --------
    >>> import numpy as np
    >>> print(np.round(soft_odd(np.array([-1.0, 0.0, 2.0])), 4))
    [-0.6321  0.      1.9634]
    """
    xp = backend_of(x).xp
    return (1 - xp.exp(-(x * x))) * x


def normalize_function(phi):
    r"""``phi / c`` with ``c = sqrt(E[phi(z)^2])``, ``z ~ N(0, 1)``: unit second moment.

    Returns ``phi`` itself when ``c`` is 1 (within 1e-5), as e3nn-jax.

    Parameters
    ----------
    phi : callable
        On arrays of one backend. When it cannot be evaluated on NumPy arrays
        (e.g. ``torch.tanh``), ``c`` is computed on the first call, on the backend
        of its argument.

    Returns
    -------
    callable

    Notes
    -----
    e3xp computes ``c`` by Gauss-Legendre quadrature in float64 (the exact value to
    ~1e-15); e3nn-jax averages ``phi`` over 10^6 normal quantiles, which differs in
    the 6th-7th digit.

    Examples
    --------
    >>> import numpy as np
    >>> f = normalize_function(lambda x: np.maximum(x, 0.0))  # E[relu(z)^2] = 1/2
    >>> print(np.round(f(np.array([1.0])), 6))
    [1.414214]
    """
    from .activations import _act_properties

    if not callable(phi):
        raise TypeError(f"normalize_function: phi must be callable, got {type(phi).__name__}")

    def scaled(c):
        if abs(c - 1.0) <= 1e-5:
            return phi

        def rho(x):
            return phi(x) / c

        return rho

    try:
        c = _act_properties(phi, None)[0]
    except TypeError:  # phi only takes its own framework's arrays: defer to the first call
        def rho(x):
            return scaled(_act_properties(phi, backend_of(x).name)[0])(x)

        return rho
    return scaled(c)


def soft_normalization(input, max_component: float) -> IrrepsArray:  # noqa: A002 - e3nn-jax's name
    r"""Shrink each irrep so that its component norm stays below about ``max_component``.

    Every irrep ``v`` becomes ``v / (1 + t sus(t))`` with ``t = |v| / (sqrt(2l+1) max_component)``
    (``norm_activation`` with "component" normalization, as e3nn-jax).

    Examples
    --------
    >>> import numpy as np
    >>> x = IrrepsArray("1o", np.array([300.0, 0.0, 0.0]))
    >>> y = soft_normalization(x, 1.0)
    >>> bool(float(y.array[0]) < 2.0)
    True
    """
    from .gate import norm_activation
    from .radial import sus

    x = _require_irreps_array(input, "soft_normalization: input")
    if isinstance(max_component, bool) or not isinstance(max_component, numbers.Real) or not max_component > 0:
        raise ValueError(f"soft_normalization: max_component={max_component!r} must be a positive number")

    def phi(n):
        t = n / max_component
        return 1.0 / (1.0 + t * sus(t))

    return norm_activation(x, [phi] * len(x.irreps))
