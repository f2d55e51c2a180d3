"""The :class:`Backend` interface and its generic array-API implementation.

A backend wraps one array framework behind a small interface: creating arrays,
materialising core's float64 constants with an input's dtype and device (in a
bounded cache), random normals, scatter sums, and executing plans. Everything
that needs irreps semantics lives in ``e3xp.core``; the executors themselves
live in :mod:`e3xp.backends.array_api`.
"""

from __future__ import annotations

import collections
import math
import sys
import threading

import numpy as np

__all__ = ["Backend", "ConstantCache", "constant_cache"]

_FLOAT_NAMES = ("float16", "bfloat16", "float32", "float64")
_DTYPE_NAMES = _FLOAT_NAMES + (
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "bool", "complex64", "complex128",
)


class ConstantCache:
    """A bounded, thread-safe LRU map from a constant's key to its materialised array.

    Each entry keeps a reference to the numpy constant it came from, so a key
    built from ``id()`` cannot be reused by another object while the entry lives.
    """

    def __init__(self, maxsize: int = 512):
        self.maxsize = int(maxsize)
        self._data: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            self._data.move_to_end(key)
            return entry[1]

    def put(self, key, source, value) -> None:
        with self._lock:
            self._data[key] = (source, value)
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def values(self) -> list:
        with self._lock:
            return [entry[1] for entry in self._data.values()]

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)


constant_cache = ConstantCache(512)


def _source_key(obj):
    """Identity for read-only constants (core's are), content for writable ones."""
    if isinstance(obj, np.ndarray):
        if not obj.flags.writeable:
            return ("id", id(obj))
        return ("bytes", obj.dtype.str, obj.shape, obj.tobytes())
    return ("id", id(obj))  # tuples of read-only constants, held by the entry


class Backend:
    """One array framework behind e3xp's interface.

    Parameters
    ----------
    name : str
        Registry name (``"numpy"``, ``"torch"``, ``"jax"``, ``"cupy"``,
        ``"array_api_strict"`` or ``"array_api:<module>"``).
    xp : module
        The framework's array-API namespace (``array_api_compat``-wrapped where
        the framework is not compliant by itself).
    ops : namespace, optional
        What the plan executors call (``matmul``, ``reshape``, ...); defaults to
        ``xp``. The torch backend passes thin wrappers of native functions here
        so ``torch.compile`` traces nothing but torch.

    Examples
    --------
    >>> from e3xp.backends import get_backend
    >>> be = get_backend("numpy")
    >>> x = be.asarray([1.0, 2.0], dtype="float32")
    >>> print(be.name, x.dtype, be.is_array(x))
    numpy float32 True
    """

    def __init__(self, name: str, xp, ops=None):
        self.name = name
        self.xp = xp
        self._ops = xp if ops is None else ops

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"

    # --- arrays ----------------------------------------------------------
    def is_array(self, x) -> bool:
        """True when ``x`` is an array of this backend.

        Examples
        --------
        >>> from e3xp.backends import get_backend
        >>> import numpy as np
        >>> get_backend("numpy").is_array(np.zeros(2)), get_backend("numpy").is_array(2.0)
        (True, False)
        """
        array_type = self.__dict__.get("_array_type")
        if array_type is None:
            array_type = self._array_type = type(self.xp.asarray(0.0))
        return isinstance(x, array_type)

    def _resolve_dtype(self, dtype):
        if dtype is None:
            return None
        if isinstance(dtype, str):
            if dtype in _FLOAT_NAMES:
                return self.float_dtype(dtype)
            if dtype in _DTYPE_NAMES and hasattr(self.xp, dtype):
                return getattr(self.xp, dtype)
            raise TypeError(f"unknown dtype name {dtype!r} for backend {self.name!r}")
        return dtype

    def asarray(self, x, *, dtype=None, device=None):
        """Make an array of this backend from numpy arrays or Python values.

        Parameters
        ----------
        x : array_like
        dtype : str or backend dtype, optional
            ``"float32"``, ``"float64"``, ... or the backend's own dtype object.
        device : optional
            The backend's device; default: the framework's default device.

        Examples
        --------
        >>> from e3xp.backends import get_backend
        >>> print(get_backend("numpy").asarray([1, 2], dtype="float64"))
        [1. 2.]
        """
        dtype = self._resolve_dtype(dtype)
        if device is None:
            return self.xp.asarray(x, dtype=dtype)
        return self.xp.asarray(x, dtype=dtype, device=device)

    def to_numpy(self, x) -> np.ndarray:
        """A numpy copy (or view) of ``x``.

        Examples
        --------
        >>> from e3xp.backends import get_backend
        >>> be = get_backend("numpy")
        >>> print(be.to_numpy(be.asarray([1.0, 2.0])))
        [1. 2.]
        """
        try:
            return np.asarray(np.from_dlpack(x))
        except (TypeError, BufferError, RuntimeError, ValueError, AttributeError):
            return np.asarray(x)

    def device(self, x):
        """The device ``x`` lives on.

        Examples
        --------
        >>> from e3xp.backends import get_backend
        >>> import numpy as np
        >>> print(get_backend("numpy").device(np.zeros(2)))
        cpu
        """
        import array_api_compat

        return array_api_compat.device(x)

    def _zeros(self, shape, like):
        return self._ops.zeros(tuple(shape), dtype=like.dtype, device=self.device(like))

    # --- dtypes ----------------------------------------------------------
    def float_dtype(self, name: str):
        """The backend's floating dtype called ``name`` (``"float32"`` or ``"float64"``).

        Examples
        --------
        >>> from e3xp.backends import get_backend
        >>> print(get_backend("numpy").float_dtype("float32"))
        float32
        """
        if name not in _FLOAT_NAMES or not hasattr(self.xp, name):
            raise TypeError(
                f"unknown floating dtype {name!r} for backend {self.name!r}: "
                "expected 'float32' or 'float64'"
            )
        return getattr(self.xp, name)

    def _dtype_name(self, dtype) -> str:
        for name in _DTYPE_NAMES:
            if hasattr(self.xp, name) and dtype == getattr(self.xp, name):
                return name
        return str(dtype)

    def _is_real_float(self, dtype) -> bool:
        return self._dtype_name(dtype) in _FLOAT_NAMES

    def default_float_dtype(self, device=None):
        """The framework's default real floating dtype (numpy: float64)."""
        try:
            info = self.xp.__array_namespace_info__()
            return info.default_dtypes(device=device)["real floating"]
        except (AttributeError, TypeError):
            return self.float_dtype("float64")

    def check_float(self, x, what: str = "input") -> None:
        """Raise TypeError, naming the dtype, unless ``x`` is a real floating array.

        Examples
        --------
        >>> from e3xp.backends import get_backend
        >>> import numpy as np
        >>> get_backend("numpy").check_float(np.zeros(2, dtype=np.int64), "x")
        Traceback (most recent call last):
        ...
        TypeError: x must be a real floating array, got dtype int64
        """
        dtype = getattr(x, "dtype", None)
        if dtype is None or not self._is_real_float(dtype):
            shown = type(x).__name__ if dtype is None else self._dtype_name(dtype)
            kind = "dtype" if dtype is not None else "an object of type"
            raise TypeError(f"{what} must be a real floating array, got {kind} {shown}")

    # --- constants -------------------------------------------------------
    def _materialize(self, np_array: np.ndarray, like):
        """``np_array`` (float64) as an array with ``like``'s dtype and device."""
        name = self._dtype_name(like.dtype)
        host = np.asarray(np_array, dtype=name if name != "bfloat16" else np.float32)
        out = self.xp.asarray(host, device=self.device(like))
        if name == "bfloat16":
            out = self.xp.astype(out, like.dtype)
        return out

    def _cacheable(self, value) -> bool:
        return True

    def _cache_key(self, source, like):
        return (_source_key(source), self.name, self.device(like), like.dtype)

    def constant(self, np_array, *, like):
        """``np_array`` (float64 numpy) materialised with ``like``'s dtype and device.

        Results are kept in a bounded, thread-safe LRU cache keyed by the
        constant (its identity when read-only, its bytes otherwise), the backend,
        the device and the dtype. Values produced while tracing (JAX tracers)
        are never cached.

        Examples
        --------
        >>> import numpy as np
        >>> from e3xp.backends import get_backend
        >>> be = get_backend("numpy")
        >>> c = be.constant(np.array([0.5, 1.5]), like=np.zeros(1, dtype=np.float32))
        >>> print(c, c.dtype)
        [0.5 1.5] float32
        """
        np_array = np.asarray(np_array)
        return self._cached(np_array, like, lambda: self._materialize(np_array, like))

    def _cached(self, source, like, make):
        key = self._cache_key(source, like)
        if key is not None:
            value = constant_cache.get(key)
            if value is not None:
                return value
        value = make()
        if key is not None and self._cacheable(value):
            constant_cache.put(key, source, value)
        return value

    def _constants(self, np_arrays: tuple, like) -> tuple:
        """A tuple of float64 numpy constants materialised (and cached) as one entry."""
        return self._cached(
            np_arrays, like, lambda: tuple(self._materialize(a, like) for a in np_arrays)
        )

    def _prepared(self, kind: str, key, like):
        """(schedule, materialised constants) for a plan; see :mod:`e3xp.core.schedule`."""
        from e3xp.core.schedule import prepare

        schedule, np_constants = prepare(kind, key)
        return schedule, self._constants(np_constants, like)

    # --- random ----------------------------------------------------------
    def stop_gradient(self, x):
        """``x`` as a constant for autodiff (torch ``detach``, JAX ``stop_gradient``).

        For scale factors a result does not depend on mathematically (the
        overflow-safe norms), whose derivative terms cancel only on paper.
        Backends without autodiff return ``x`` itself.

        Examples
        --------
        >>> import numpy as np
        >>> from e3xp.backends import get_backend
        >>> get_backend("numpy").stop_gradient(np.ones(2))
        array([1., 1.])
        """
        return x

    def normal(self, seed, shape, dtype=None, device=None):
        """Standard normal samples of ``shape``.

        Parameters
        ----------
        seed : int, numpy.random.Generator, JAX PRNG key or torch.Generator
            An int seed draws with ``numpy.random.default_rng(seed)`` in float64
            and converts, so the same int gives the same numbers on every
            backend (up to the target dtype's rounding).
        shape : int or tuple of int
        dtype : str or backend dtype, optional
            Default: the framework's default floating dtype.
        device : optional

        Examples
        --------
        >>> from e3xp.backends import get_backend
        >>> import numpy as np
        >>> a = get_backend("numpy").normal(0, (2, 3))
        >>> bool(np.array_equal(a, np.random.default_rng(0).standard_normal((2, 3))))
        True
        """
        shape = _check_shape(shape)
        dtype = self._resolve_dtype(dtype)
        if dtype is None:
            dtype = self.default_float_dtype(device)
        elif not self._is_real_float(dtype):
            raise TypeError(f"normal() needs a real floating dtype, got {self._dtype_name(dtype)}")
        host = _draw_float64(seed, shape)
        name = self._dtype_name(dtype)
        if name not in ("float16", "float32", "float64"):
            # bfloat16: numpy has no such dtype (and torch refuses ml_dtypes' one), so round
            # to float32, which every framework holds, and let the framework cast.
            return self.xp.astype(self.asarray(host.astype(np.float32), device=device), dtype)
        return self.asarray(host.astype(name), dtype=dtype, device=device)

    # --- scatter ---------------------------------------------------------
    def _check_scatter(self, data, index, num_segments, axis):
        self.check_float(data, "scatter_sum data")
        if isinstance(num_segments, bool) or not isinstance(num_segments, (int, np.integer)):
            raise TypeError(f"num_segments must be an int, got {num_segments!r}")
        if num_segments < 0:
            raise ValueError(f"num_segments must be >= 0, got {num_segments!r}")
        ndim = len(data.shape)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
            raise ValueError(f"axis {axis!r} is out of range for data of shape {tuple(data.shape)}")
        axis = int(axis) % ndim
        if not self.is_array(index):
            raise TypeError(
                f"index must be an integer array of backend {self.name!r}, got {type(index).__name__}"
            )
        name = self._dtype_name(index.dtype)
        if not (name.startswith("int") or name.startswith("uint")):
            raise TypeError(f"index must be an integer array, got dtype {name}")
        if len(index.shape) != 1 or index.shape[0] != data.shape[axis]:
            raise ValueError(
                f"index must be 1-D with one entry per slice of data along axis {axis} "
                f"({data.shape[axis]}), got shape {tuple(index.shape)}"
            )
        return int(num_segments), axis

    def _check_index_range(self, index, num_segments: int) -> None:
        """ValueError for ids outside [0, num_segments) when ``index`` is concrete."""
        if index.shape[0] == 0:
            return
        host = self._concrete_index(index)
        if host is None:
            return
        lo, hi = int(host.min()), int(host.max())
        if lo < 0 or hi >= num_segments:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"segment id {bad} is out of range: expected ids in [0, {num_segments})"
            )

    def _concrete_index(self, index):
        return self.to_numpy(index)

    def scatter_sum(self, data, index, num_segments: int, axis: int = 0):
        """Sum slices of ``data`` along ``axis`` into ``num_segments`` segments.

        ``out[..., s, ...] = sum of data[..., i, ...] over i with index[i] == s``;
        repeated ids accumulate, segments with no id are zero.

        Parameters
        ----------
        data : array
            Real floating array.
        index : array
            1-D integer array, one id per slice of ``data`` along ``axis``.
        num_segments : int
        axis : int

        Raises
        ------
        ValueError
            If an id is outside ``[0, num_segments)`` (checked when the ids are
            concrete, i.e. not under ``jax.jit`` / ``torch.compile`` nor torch
            meta tensors).

        Examples
        --------
        >>> import numpy as np
        >>> from e3xp.backends import get_backend
        >>> out = get_backend("numpy").scatter_sum(np.array([1.0, 2.0, 4.0]), np.array([1, 1, 0]), 3)
        >>> print(out)
        [4. 3. 0.]
        """
        num_segments, axis = self._check_scatter(data, index, num_segments, axis)
        if not getattr(index, "is_meta", False):
            # torch meta tensors have shapes but no values to check (like ids under
            # torch.compile); every backend's range check reads values.
            self._check_index_range(index, num_segments)
        return self._scatter_sum(data, index, num_segments, axis)

    def _scatter_sum(self, data, index, num_segments, axis):
        # No accumulating scatter in the standard. A one-hot matrix times the data
        # costs segments x slices memory and lets one NaN poison every segment
        # (0 * NaN = NaN); a cumulative sum over sorted rows would carry a NaN or an
        # inf into every later segment (inf - inf) and lose precision in the
        # differences. Instead: sort the slices by id, then a segmented inclusive
        # scan (Hillis-Steele, log2(n) passes) in which a row only ever receives
        # rows of its own segment, selected with `where` (so a NaN elsewhere is
        # never multiplied in), and read each segment's total at its last row.
        # O(n log n) work and O(n + segments) memory per row element; the
        # additions form a tree, so the rounding error is O(log n) ulp.
        xp = self.xp
        moved = xp.moveaxis(data, axis, 0) if axis != 0 else data
        rest = tuple(moved.shape[1:])
        n = moved.shape[0]
        flat = xp.reshape(moved, (n, math.prod(rest)))
        if n == 0 or num_segments == 0:
            out = xp.zeros((num_segments,) + rest, dtype=data.dtype, device=self.device(data))
            return xp.moveaxis(out, 0, axis) if axis != 0 else out
        ids = xp.arange(num_segments, dtype=index.dtype, device=self.device(index))
        order = xp.argsort(index, stable=True)
        sorted_ids = xp.take(index, order)
        acc = xp.take(flat, order, axis=0)
        zeros = xp.zeros_like(acc)
        k = 1
        while k < n:
            # row i += row i - k when both are in the same segment (ids are sorted,
            # so segments are contiguous and row i - k already holds the sum of its
            # segment's rows in (i - 2k, i - k]).
            same = xp.expand_dims(sorted_ids[k:] == sorted_ids[:-k], axis=1)
            received = xp.where(same, acc[:-k, ...], zeros[k:, ...])
            acc = xp.concat([acc[:k, ...], acc[k:, ...] + received], axis=0)
            k *= 2
        end = xp.searchsorted(sorted_ids, ids, side="right")  # one past each segment's last row
        start = xp.searchsorted(sorted_ids, ids, side="left")
        last = xp.where(end > 0, end - 1, xp.zeros_like(end))
        totals = xp.take(acc, last, axis=0)
        present = xp.expand_dims(end > start, axis=1)
        out = xp.where(present, totals, xp.zeros_like(totals))
        out = xp.reshape(out, (num_segments,) + rest)
        return xp.moveaxis(out, 0, axis) if axis != 0 else out

    # --- plan executors --------------------------------------------------
    def tensor_product(self, plan, x1, x2, weights=None):
        """Execute a :class:`~e3xp.core.plans.TensorProductPlan`.

        See :func:`e3xp.backends.array_api.tensor_product` for the contract.

        Examples
        --------
        >>> import numpy as np
        >>> from e3xp.backends import get_backend
        >>> from e3xp.core.plans import full_tensor_product_plan
        >>> plan = full_tensor_product_plan("1o", "1o", filter_ir_out="1e")
        >>> out = get_backend("numpy").tensor_product(plan, np.array([1.0, 0, 0]), np.array([0, 1.0, 0]))
        >>> print(np.round(out * np.sqrt(2), 10))  # (x cross y) / sqrt(2)
        [0. 0. 1.]
        """
        from . import array_api

        return array_api.tensor_product(self, plan, x1, x2, weights)

    def linear(self, plan, x, weights, bias=None):
        """Execute a :class:`~e3xp.core.plans.LinearPlan`.

        See :func:`e3xp.backends.array_api.linear` for the contract.

        Examples
        --------
        >>> import numpy as np
        >>> from e3xp.backends import get_backend
        >>> from e3xp.core.plans import linear_plan
        >>> plan = linear_plan("2x0e", "1x0e", biases=True)
        >>> y = get_backend("numpy").linear(plan, np.ones(2), np.ones(2), np.array([0.5]))
        >>> print(np.round(y, 6))  # (1 + 1) / sqrt(2) + 0.5
        [1.914214]
        """
        from . import array_api

        return array_api.linear(self, plan, x, weights, bias)

    def spherical_harmonics(self, sh_plan, vectors, ls, normalize=True, normalization="component"):
        """Evaluate a :class:`~e3xp.core.spherical_harmonics.SphericalHarmonicsPlan`.

        See :func:`e3xp.backends.array_api.spherical_harmonics` for the contract.

        Examples
        --------
        >>> import numpy as np
        >>> from e3xp.backends import get_backend
        >>> from e3xp.core.spherical_harmonics import spherical_harmonics_plan
        >>> y = get_backend("numpy").spherical_harmonics(spherical_harmonics_plan(2), np.zeros(3), 2)
        >>> print(y)  # the zero vector: only the constant survives
        [1. 0. 0. 0. 0. 0. 0. 0. 0.]
        """
        from . import array_api

        return array_api.spherical_harmonics(self, sh_plan, vectors, ls, normalize, normalization)

    # --- conversion ------------------------------------------------------
    def _from_foreign(self, x, dtype=None, device=None):
        """An array of this backend from an array of any framework."""
        try:
            y = self._from_dlpack(x)
        except Exception:  # noqa: BLE001 - DLPack support varies; numpy always works
            y = None
        if y is None:
            from . import backend_of

            y = self.asarray(backend_of(x).to_numpy(x))
        if dtype is not None:
            dtype = self._resolve_dtype(dtype)
            if y.dtype != dtype:
                y = self.xp.astype(y, dtype)
        if device is not None and self.device(y) != device:
            y = self._to_device(y, device)
        return y

    def _from_dlpack(self, x):
        return self.xp.from_dlpack(x)

    def _to_device(self, x, device):
        return self.xp.asarray(x, device=device) if not hasattr(x, "to_device") else x.to_device(device)


def _check_shape(shape) -> tuple:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"shape must be an int or a tuple of ints, got {shape!r}") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"shape must have non-negative sizes, got {shape!r}")
    return shape


def _is_jax_key(seed) -> bool:
    jax = sys.modules.get("jax")
    if jax is None or not isinstance(seed, jax.Array):
        return False
    if jax.numpy.issubdtype(seed.dtype, jax.dtypes.prng_key):
        return True
    return seed.dtype == jax.numpy.uint32 and seed.shape == (2,)  # legacy PRNGKey


def _is_torch_generator(seed) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(seed, torch.Generator)


def _draw_float64(seed, shape) -> np.ndarray:
    """Standard normals in float64 on the host from any accepted seed."""
    if isinstance(seed, np.random.Generator):
        return seed.standard_normal(shape)
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"an int seed must be >= 0, got {seed!r}")
        return np.random.default_rng(int(seed)).standard_normal(shape)
    if _is_jax_key(seed):
        import jax

        dtype = jax.numpy.float64 if jax.config.read("jax_enable_x64") else jax.numpy.float32
        return np.asarray(jax.random.normal(seed, shape, dtype=dtype), dtype=np.float64)
    if _is_torch_generator(seed):
        import torch

        return torch.randn(shape, generator=seed, dtype=torch.float64, device=seed.device).cpu().numpy()
    raise TypeError(
        f"seed must be an int, a numpy Generator, a JAX PRNG key or a torch Generator, "
        f"got {seed!r} of type {type(seed).__name__}"
    )
