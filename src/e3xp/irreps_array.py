"""IrrepsArray: an array of any backend whose last axis is laid out by an :class:`Irreps`.

Semantics follow e3nn-jax: the last axis holds the concatenation of the entries of
``irreps`` (each entry ``mul x ir`` laid out ``(mul, 2l + 1)`` row-major); every
other axis is a leading (batch) axis. Only equivariant arithmetic is allowed, so
the class refuses what would silently break equivariance (adding different irreps,
indexing the irreps axis, multiplying by a vector of per-component factors).

All checks look only at shapes, irreps and types, never at values, so an
IrrepsArray flows through ``jax.jit`` / ``jax.vmap`` and ``torch.compile`` without
concretization or graph breaks. With JAX it is a pytree whose only leaf is the
array (the irreps are static auxiliary data); the registration happens as soon as
JAX is imported, whichever of e3xp or jax is imported first.
"""

from __future__ import annotations

import numbers
import sys

import numpy as np

from .backends import backend_of, get_default_backend, to_backend
from ._jax_pytree import install_pytree_registration, register_jax_pytree
from ._static import irreps_from_key, irreps_key, selector_from_key, selector_key, static_call, static_function
from .core.irreps import Irrep, Irreps, MulIrrep

__all__ = ["IrrepsArray"]


@static_function
def _sort_inv(key: tuple) -> tuple:
    return tuple(irreps_from_key(key).sort().inv)


@static_function
def _simplify(key: tuple) -> Irreps:
    return irreps_from_key(key).simplify()


@static_function
def _filter_indices(key: tuple, keep, drop, lmax) -> tuple:
    irreps = irreps_from_key(key)
    keep, drop = selector_from_key(keep), selector_from_key(drop)
    return tuple(
        i for i, mul_ir in enumerate(irreps) if len(Irreps([mul_ir]).filter(keep, drop=drop, lmax=lmax))
    )


def _is_number(x) -> bool:
    return isinstance(x, numbers.Number) and not isinstance(x, (bool, np.bool_))


def _to_numpy(x, method: str, name: str) -> np.ndarray:
    """A rotation parameter as float64 numpy (whatever framework it comes from).

    The Wigner D matrices are computed by ``e3xp.core`` in float64 NumPy, so a
    parameter whose values are not known (a JAX tracer, a tensor inside
    ``torch.compile``) or whose gradient is wanted (``requires_grad``) cannot go
    through: refuse it by name instead of failing deep in the framework or
    silently returning a result with no gradient.
    """
    if isinstance(x, (np.ndarray, numbers.Number, list, tuple)):
        return np.asarray(x, dtype=np.float64)
    what = f"{method}: {name}"
    jax = sys.modules.get("jax")
    if jax is not None and isinstance(x, jax.core.Tracer):
        raise TypeError(
            f"{what} is a JAX tracer (inside jax.jit, jax.grad or jax.vmap): the Wigner D "
            "matrices are computed in NumPy and need concrete rotation parameters; pass them "
            "from outside the transformation (a NumPy array closed over, or a static "
            "argument), and no gradient with respect to them is available"
        )
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        if x.requires_grad and torch.is_grad_enabled():
            raise TypeError(
                f"{what} requires grad, but the Wigner D matrices are computed in NumPy, so its "
                f"gradient would be silently dropped; pass {name}.detach() if no "
                "gradient with respect to the rotation is wanted"
            )
        if torch.compiler.is_compiling():
            raise TypeError(
                f"{what} is a torch tensor inside torch.compile: the Wigner D matrices are "
                "computed in NumPy and need concrete rotation parameters; pass a NumPy array"
            )
    return np.asarray(backend_of(x).to_numpy(x), dtype=np.float64)


def _broadcast_shapes(a: tuple, b: tuple):
    """The broadcast of two shapes (NumPy rules), or None when they do not broadcast."""
    out = []
    for k in range(1, max(len(a), len(b)) + 1):
        m = a[-k] if k <= len(a) else 1
        n = b[-k] if k <= len(b) else 1
        if m != n and m != 1 and n != 1:
            return None
        out.append(n if m == 1 else m)
    return tuple(reversed(out))


class IrrepsArray:
    r"""An array (numpy, torch, jax, cupy, any array-API library) together with its irreps.

    Parameters
    ----------
    irreps : Irreps or str
        Layout of the last axis, e.g. ``"3x0e + 1o"``.
    array : array
        An array of any supported backend with ``array.shape[-1] == irreps.dim`` and
        a floating dtype. Python lists and numbers are converted with the default
        backend (see ``e3xp.set_backend``).

    Raises
    ------
    ValueError
        If the last axis does not have size ``irreps.dim`` (or the array is 0-d).
    TypeError
        If the dtype is not floating point, or ``array`` is not an array.

    Examples
    --------
    >>> import numpy as np
    >>> x = IrrepsArray("1o", np.array([1.0, 1.0, 2.0]))
    >>> y = IrrepsArray("1o", np.array([0.0, 0.0, 2.0]))
    >>> x + y
    1x1o [1. 1. 4.]
    >>> 3.0 * x - y
    1x1o [3. 3. 4.]
    >>> x + IrrepsArray("1e", np.array([0.0, 0.0, 2.0]))
    Traceback (most recent call last):
    ...
    ValueError: IrrepsArray(1x1o) + IrrepsArray(1x1e) is not equivariant.
    >>> IrrepsArray("1o", np.zeros(5))
    Traceback (most recent call last):
    ...
    ValueError: IrrepsArray: array of shape (..., 5) does not match irreps 1x1o of dim 3
    """

    # numpy must defer ``ndarray * IrrepsArray`` to our __rmul__ instead of
    # broadcasting into an object array.
    __array_ufunc__ = None

    def __init__(self, irreps, array):
        irreps = Irreps(irreps)
        if isinstance(array, IrrepsArray):
            raise TypeError(
                f"IrrepsArray({irreps}, ...) got an IrrepsArray ({array.irreps}) as its array; "
                "pass x.array to relabel, or use x directly"
            )
        if isinstance(array, (list, tuple)) or _is_number(array):
            array = get_default_backend().asarray(array)
        backend = backend_of(array)
        backend.check_float(array, "IrrepsArray")
        shape = tuple(array.shape)
        if len(shape) == 0:
            raise ValueError(
                f"IrrepsArray: array of shape () has no last axis; expected shape (..., {irreps.dim}) "
                f"for irreps {irreps}"
            )
        if shape[-1] != irreps.dim:
            raise ValueError(
                f"IrrepsArray: array of shape (..., {shape[-1]}) does not match irreps {irreps} "
                f"of dim {irreps.dim}"
            )
        self.irreps = irreps
        self.array = array
        if backend.name == "jax":
            register_jax_pytree()  # a no-op once registered

    @classmethod
    def _unchecked(cls, irreps: Irreps, array) -> "IrrepsArray":
        # For pytree unflattening: JAX may rebuild the object around leaves that
        # are not arrays (None, ShapeDtypeStruct, sentinel objects).
        out = object.__new__(cls)
        out.irreps = irreps
        out.array = array
        return out

    # --- properties ------------------------------------------------------------
    @property
    def backend(self):
        """The :class:`e3xp.backends.Backend` that holds ``.array``."""
        return backend_of(self.array)

    @property
    def shape(self) -> tuple:
        """``array.shape``; the last entry is ``irreps.dim``."""
        return tuple(self.array.shape)

    @property
    def dtype(self):
        """``array.dtype``."""
        return self.array.dtype

    @property
    def device(self):
        """The device of ``array`` (as its backend reports it)."""
        return self.backend.device(self.array)

    @property
    def ndim(self) -> int:
        """Number of axes, including the irreps axis."""
        return len(self.array.shape)

    @property
    def chunks(self) -> list:
        """One array per entry of ``irreps``, shaped ``(..., mul, 2l + 1)``.

        Examples
        --------
        >>> import numpy as np
        >>> x = IrrepsArray("2x0e + 1o", np.arange(5.0))
        >>> [c.shape for c in x.chunks]
        [(2, 1), (1, 3)]
        >>> x.chunks[1]
        array([[2., 3., 4.]])
        """
        xp = self.backend.xp
        lead = self.shape[:-1]
        if len(self.irreps) == 1:
            mul, ir = self.irreps[0]
            return [xp.reshape(self.array, lead + (mul, ir.dim))]
        return [
            xp.reshape(self.array[..., s], lead + (mul, ir.dim))
            for s, (mul, ir) in zip(self.irreps.slices(), self.irreps)
        ]

    # --- construction helpers --------------------------------------------------
    def _from_chunks(self, irreps, chunks, lead=None) -> "IrrepsArray":
        """Concatenate ``(*lead, mul, dim)`` chunks (by default ``lead`` is self's)."""
        irreps = Irreps(irreps)
        xp = self.backend.xp
        lead = self.shape[:-1] if lead is None else tuple(lead)
        if len(chunks) == 0:
            return IrrepsArray(irreps, xp.zeros(lead + (0,), dtype=self.dtype, device=self.device))
        flat = [xp.reshape(c, lead + (mul * ir.dim,)) for c, (mul, ir) in zip(chunks, irreps)]
        array = flat[0] if len(flat) == 1 else xp.concat(flat, axis=-1)
        return IrrepsArray(irreps, array)

    def _select(self, indices) -> "IrrepsArray":
        """The entries ``indices`` of ``irreps`` (in that order) as a new IrrepsArray."""
        indices = list(indices)
        if indices == list(range(len(self.irreps))):
            return self
        chunks = self.chunks
        return self._from_chunks([self.irreps[i] for i in indices], [chunks[i] for i in indices])

    # --- irreps manipulation ---------------------------------------------------
    def filter(self, keep=None, *, drop=None, lmax: int | None = None) -> "IrrepsArray":
        """Keep (or drop) the entries whose irrep is listed, like :meth:`Irreps.filter`.

        Examples
        --------
        >>> import numpy as np
        >>> x = IrrepsArray("0e + 1o + 2e", np.arange(9.0))
        >>> x.filter("1o")
        1x1o [1. 2. 3.]
        >>> x.filter(drop="1o").irreps
        1x0e+1x2e
        >>> x.filter(lmax=1).irreps
        1x0e+1x1o
        """
        if callable(keep) and not isinstance(keep, (str, Irrep, Irreps, MulIrrep)) or (
            callable(drop) and not isinstance(drop, (str, Irrep, Irreps, MulIrrep))
        ):
            indices = [
                i
                for i, mul_ir in enumerate(self.irreps)
                if len(Irreps([mul_ir]).filter(keep, drop=drop, lmax=lmax))
            ]
            return self._select(indices)
        key = irreps_key(self.irreps)
        keep, drop = selector_key(keep, "keep"), selector_key(drop, "drop")
        return self._select(static_call(_filter_indices, key, keep, drop, lmax))

    def sort(self) -> "IrrepsArray":
        """Stable sort of the entries by irrep (e3nn-jax order ``0e, 0o, 1o, 1e, ...``).

        Examples
        --------
        >>> import numpy as np
        >>> IrrepsArray("1o + 0e", np.array([1.0, 2.0, 3.0, 4.0])).sort()
        1x0e+1x1o [4. 1. 2. 3.]
        """
        return self._select(static_call(_sort_inv, irreps_key(self.irreps)))

    def simplify(self) -> "IrrepsArray":
        """Merge adjacent equal irreps (the array is unchanged).

        Examples
        --------
        >>> import numpy as np
        >>> IrrepsArray("0e + 0e + 1o", np.arange(5.0)).simplify().irreps
        2x0e+1x1o
        """
        return IrrepsArray(static_call(_simplify, irreps_key(self.irreps)), self.array)

    def regroup(self) -> "IrrepsArray":
        """Sort, then simplify: each irrep appears once.

        Examples
        --------
        >>> import numpy as np
        >>> IrrepsArray("1o + 0e + 1o", np.arange(7.0)).regroup()
        1x0e+2x1o [3. 0. 1. 2. 4. 5. 6.]
        """
        return self.sort().simplify()

    def astype(self, dtype) -> "IrrepsArray":
        """The same IrrepsArray with another floating dtype (a name or a framework dtype).

        Examples
        --------
        >>> import numpy as np
        >>> IrrepsArray("0e", np.ones(1)).astype("float32").dtype
        dtype('float32')
        """
        backend = self.backend
        if isinstance(dtype, str):
            dtype = backend.float_dtype(dtype)
        return IrrepsArray(self.irreps, backend.xp.astype(self.array, dtype))

    # --- arithmetic ------------------------------------------------------------
    def _not_equivariant(self, op: str, other) -> ValueError:
        if isinstance(other, IrrepsArray):
            what = f"IrrepsArray({other.irreps})"
        elif _is_number(other):
            what = f"scalar {other!r}"
        else:
            what = f"array of shape {tuple(getattr(other, 'shape', ()))}"
        return ValueError(f"IrrepsArray({self.irreps}) {op} {what} is not equivariant.")

    def _add(self, other, op: str, reverse: bool = False) -> "IrrepsArray":
        if isinstance(other, IrrepsArray):
            if self.irreps != other.irreps:
                if reverse:
                    raise other._not_equivariant(op, self)
                raise self._not_equivariant(op, other)
            backend_of(self.array, other.array)  # TypeError/ValueError when mixing
            a, b = (other.array, self.array) if reverse else (self.array, other.array)
            return IrrepsArray(self.irreps, a + b if op == "+" else a - b)
        if _is_number(other) and other == 0:
            # Adding zero is equivariant for any irreps (it makes sum() work).
            return self if op == "+" or not reverse else -self
        # Numbers and arrays are invariant only when every irrep is 0e.
        if not (self.irreps.is_scalar() and (_is_number(other) or hasattr(other, "shape"))):
            raise self._not_equivariant(op, other)
        if _is_number(other):
            if isinstance(other, complex):
                raise TypeError(f"cannot add the complex number {other!r} to a real IrrepsArray")
            other = float(other)
        else:
            backend_of(self.array, other)
        a, b = (other, self.array) if reverse else (self.array, other)
        return IrrepsArray(self.irreps, a + b if op == "+" else a - b)

    def __add__(self, other) -> "IrrepsArray":
        return self._add(other, "+")

    def __radd__(self, other) -> "IrrepsArray":
        return self._add(other, "+", reverse=True)

    def __sub__(self, other) -> "IrrepsArray":
        return self._add(other, "-")

    def __rsub__(self, other) -> "IrrepsArray":
        return self._add(other, "-", reverse=True)

    def __neg__(self) -> "IrrepsArray":
        return IrrepsArray(self.irreps, -self.array)

    def __pos__(self) -> "IrrepsArray":
        return self

    def _factor(self, other, op: str, reverse: bool = False):
        """``other`` as a factor of ``array``, and whether it holds one value per irrep.

        As in e3nn-jax, a factor is a Python number, a 0-d array, or an array whose
        last axis is 1 (one value per row: ``a[..., None]``) or ``num_irreps`` (one
        value per irrep), whose other axes broadcast with the leading shape. An
        array of the leading shape without the trailing axis is refused: it would
        broadcast against the irreps axis (per component, not equivariant), or
        silently when the row count equals ``irreps.dim``.
        """
        if _is_number(other):
            if isinstance(other, complex):
                raise TypeError(f"cannot scale a real IrrepsArray by the complex number {other!r}")
            # A Python float keeps the array's dtype on every backend (a NumPy
            # float64 scalar would promote float32 arrays under NEP 50).
            return float(other), False
        if not hasattr(other, "shape"):
            raise TypeError(
                f"IrrepsArray {op} {type(other).__name__}: expected a Python number, an array "
                "or an IrrepsArray"
            )
        backend_of(self.array, other)
        shape = tuple(other.shape)
        if len(shape) == 0:
            return other, False
        lead, n = self.shape[:-1], self.irreps.num_irreps
        pair = (
            f"array of shape {shape} {op} IrrepsArray({self.irreps})"
            if reverse
            else f"IrrepsArray({self.irreps}) {op} array of shape {shape}"
        )
        if shape[-1] not in (1, n):
            per_irrep = f" or (..., {n}) (one factor per irrep)" if n != 1 else ""
            hint = ""
            if len(shape) == len(lead):
                hint = f"; for one factor per row use a[..., None] (shape {shape + (1,)})"
            raise ValueError(
                f"{pair} is not equivariant: expected a Python number, a 0-d array, or an array "
                f"of shape (..., 1) (one factor per row){per_irrep}, got a last axis of "
                f"{shape[-1]}{hint}"
            )
        if _broadcast_shapes(shape[:-1], lead) is None:
            raise ValueError(
                f"{pair}: the leading axes {shape[:-1]} of the factor do not broadcast with the "
                f"leading shape {lead} of the IrrepsArray of shape {self.shape}"
            )
        return other, shape[-1] != 1

    def _per_irrep(self, factor, fn) -> "IrrepsArray":
        xp = self.backend.xp
        chunks, i = [], 0
        for (mul, _), c in zip(self.irreps, self.chunks):
            chunks.append(fn(c, xp.expand_dims(factor[..., i : i + mul], axis=-1)))
            i += mul
        # The factor's leading axes may broadcast the result to more leading axes.
        lead = tuple(chunks[0].shape[:-2]) if chunks else self.shape[:-1]
        return self._from_chunks(self.irreps, chunks, lead=lead)

    def __mul__(self, other) -> "IrrepsArray":
        if isinstance(other, IrrepsArray):
            return _multiply_irreps_arrays(self, other)
        factor, per_irrep = self._factor(other, "*")
        if per_irrep:
            return self._per_irrep(factor, lambda c, f: c * f)
        return IrrepsArray(self.irreps, self.array * factor)

    def __rmul__(self, other) -> "IrrepsArray":
        if isinstance(other, IrrepsArray):
            return _multiply_irreps_arrays(other, self)
        factor, per_irrep = self._factor(other, "*", reverse=True)
        if per_irrep:
            return self._per_irrep(factor, lambda c, f: f * c)
        return IrrepsArray(self.irreps, factor * self.array)

    def __truediv__(self, other) -> "IrrepsArray":
        if isinstance(other, IrrepsArray):
            if len(other.irreps) == 0 or other.irreps.lmax > 0:
                raise self._not_equivariant("/", other)
            return self * (1.0 / other)
        factor, per_irrep = self._factor(other, "/")
        if per_irrep:
            return self._per_irrep(factor, lambda c, f: c / f)
        return IrrepsArray(self.irreps, self.array / factor)

    def __rtruediv__(self, other) -> "IrrepsArray":
        # other / x is equivariant only for scalar irreps (1/x keeps the parity of x).
        if len(self.irreps) and self.irreps.lmax > 0:
            raise ValueError(f"{_describe(other)} / IrrepsArray({self.irreps}) is not equivariant.")
        if not (_is_number(other) or hasattr(other, "shape")):
            return NotImplemented
        factor, per_irrep = self._factor(other, "/", reverse=True)
        if per_irrep:
            return self._per_irrep(factor, lambda c, f: f / c)
        return IrrepsArray(self.irreps, factor / self.array)

    # --- leading axes ----------------------------------------------------------
    def __getitem__(self, index) -> "IrrepsArray":
        """Index the leading axes; the irreps axis is always kept whole.

        Integers, slices, ``None`` and index arrays address the leading axes, from
        the front, or from the back after an ``Ellipsis``. The irreps axis may
        only be addressed by a full slice ``:``, and no new axis may follow it.

        Examples
        --------
        >>> import numpy as np
        >>> x = IrrepsArray("1o", np.arange(24.0).reshape(2, 4, 3))
        >>> x[1].shape, x[0, 1:3].shape, x[..., 0, :].shape, x[None, ..., :].shape
        ((4, 3), (2, 3), (2, 3), (1, 2, 4, 3))
        >>> x[0, 1, 2]
        Traceback (most recent call last):
        ...
        ValueError: IrrepsArray index (0, 1, 2) reaches the irreps axis; index only the leading axes (2, 4), or use .filter() to select irreps
        """
        index = index if isinstance(index, tuple) else (index,)
        if any(isinstance(i, (str, Irrep, Irreps, MulIrrep)) for i in index):
            raise TypeError(
                f"IrrepsArray index {index!r}: select irreps with x.filter(...), not by indexing"
            )
        ellipses = [k for k, i in enumerate(index) if i is Ellipsis]
        if len(ellipses) > 1:
            raise IndexError(f"IrrepsArray index {index!r}: an index can only have a single ellipsis ('...')")
        tail = index[ellipses[0] + 1 :] if ellipses else ()
        used = sum(_axes_used(i) for i in index)
        if used > self.ndim:
            raise IndexError(
                f"IrrepsArray index {index!r} has {used} indexed axes, but the array has "
                f"{self.ndim} (shape {self.shape})"
            )
        # The irreps axis is addressed by the last axis-consuming item: of the items
        # after the Ellipsis when they consume any axis (they count from the back),
        # otherwise of the whole index when it consumes every axis. Nothing may add
        # an axis (None) after it.
        tail_used = any(_axes_used(i) for i in tail)
        if tail_used or used == self.ndim:
            seq = tail if tail_used else tuple(i for i in index if i is not Ellipsis)
            last = max(k for k, i in enumerate(seq) if _axes_used(i))
            bad = not _is_full_slice(seq[last]) or any(i is None for i in seq[last + 1 :])
        else:
            bad = any(i is None for i in tail)  # x[..., None]: a new axis after the irreps axis
        if bad:
            raise ValueError(
                f"IrrepsArray index {index!r} reaches the irreps axis; index only the leading "
                f"axes {self.shape[:-1]}, or use .filter() to select irreps"
            )
        if not ellipses and used < self.ndim:
            # The array API wants every axis indexed: the irreps axis is kept whole.
            index = index + (Ellipsis,)
        return IrrepsArray(self.irreps, self.array[index])

    def __len__(self) -> int:
        if self.ndim < 2:
            raise TypeError(f"len() of an IrrepsArray with no leading axis (shape {self.shape})")
        return self.shape[0]

    def __iter__(self):
        """Iterate over the first leading axis, like numpy arrays and torch tensors.

        Without it, Python would fall back to ``x[0], x[1], ...`` until an
        IndexError that JAX never raises (it clamps out-of-range indices).

        Examples
        --------
        >>> import numpy as np
        >>> [r.array.tolist() for r in IrrepsArray("1o", np.arange(6.0).reshape(2, 3))]
        [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
        """
        if self.ndim < 2:
            # Raised by iter() itself, as for a 0-d array.
            raise TypeError(f"iteration over an IrrepsArray with no leading axis (shape {self.shape})")
        return (self[i] for i in range(self.shape[0]))

    def reshape(self, *shape) -> "IrrepsArray":
        """Reshape the leading axes (e3nn-jax semantics: ``shape`` is the full shape).

        The last entry of ``shape`` must be ``-1`` or ``irreps.dim``.

        Examples
        --------
        >>> import numpy as np
        >>> x = IrrepsArray("1o", np.zeros((6, 3)))
        >>> x.reshape(2, 3, -1).shape
        (2, 3, 3)
        >>> x.reshape((3, 2, 3)).shape
        (3, 2, 3)
        """
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        shape = tuple(int(s) for s in shape)
        if len(shape) == 0 or shape[-1] not in (-1, self.irreps.dim):
            raise ValueError(
                f"IrrepsArray.reshape({shape}): the last entry must be -1 or irreps.dim = "
                f"{self.irreps.dim} ({self.irreps}); only the leading axes can be reshaped"
            )
        xp = self.backend.xp
        return IrrepsArray(self.irreps, xp.reshape(self.array, shape[:-1] + (self.irreps.dim,)))

    # --- group action ----------------------------------------------------------
    def _transform(self, D_of, batch: tuple, what: str) -> "IrrepsArray":
        """Apply ``D_of(ir)`` (numpy ``(*batch, d, d)``) to every entry: ``x -> D x``.

        ``batch`` is the rotations' batch shape; it broadcasts with the leading
        shape (the result has the broadcast leading shape).
        """
        torch = sys.modules.get("torch")
        if torch is not None and torch.compiler.is_compiling():
            # Dynamo would trace core's NumPy Wigner D code and stop at its internals.
            raise TypeError(
                f"{what} is not supported inside torch.compile: the Wigner D matrices are "
                "computed in NumPy; call it outside the compiled function (or build "
                "Irreps.D_from_matrix(R) there and multiply by it)"
            )
        lead = self.shape[:-1]
        out_lead = _broadcast_shapes(lead, tuple(batch))
        if out_lead is None:
            raise ValueError(
                f"{what}: the rotations' batch shape {tuple(batch)} does not broadcast with the "
                f"leading shape {lead} of the IrrepsArray of shape {self.shape}; it must match "
                "(or broadcast with) the leading axes"
            )
        backend = self.backend
        xp = backend.xp
        if self.irreps.dim == 0:
            if out_lead == lead:
                return self
            return IrrepsArray(self.irreps, xp.zeros(out_lead + (0,), dtype=self.dtype, device=self.device))
        cache = {}
        chunks = []
        for (mul, ir), c in zip(self.irreps, self.chunks):
            if ir not in cache:
                DT = np.ascontiguousarray(np.swapaxes(D_of(ir), -1, -2))
                # Not the constant cache: these depend on R and are used once. Made
                # like the array, so a traced x (jax.jit, torch.compile) works too.
                cache[ir] = backend._materialize(DT, like=self.array)
            # (*lead, mul, d) @ (*batch, d, d): the batch axes broadcast against lead
            chunks.append(xp.matmul(c, cache[ir]))
        return self._from_chunks(self.irreps, chunks, lead=out_lead)

    def transform_by_matrix(self, R) -> "IrrepsArray":
        """Act with an element of O(3): ``R`` of shape ``(..., 3, 3)``, ``det(R) = +-1``.

        An improper ``R = -Q`` applies parity: ``D(-Q) = p D(Q)``. The batch shape
        ``R.shape[:-2]`` must broadcast with the leading shape of ``x``.

        The Wigner D matrices are computed in float64 NumPy, so ``R`` must be
        concrete: a JAX tracer (``R`` built inside ``jax.jit``) or a torch tensor
        that requires grad raises TypeError rather than failing in the framework
        or silently dropping the gradient. ``x`` itself may be traced or require
        grad (``jax.jit``, ``jax.grad``, torch autograd). Inside
        ``torch.compile(fullgraph=True)`` it raises TypeError (Dynamo cannot trace
        the NumPy Wigner code); without ``fullgraph`` Dynamo runs it eagerly.

        Examples
        --------
        >>> import numpy as np
        >>> x = IrrepsArray("0e + 1o + 1e", np.arange(7.0))
        >>> x.transform_by_matrix(-np.eye(3))
        1x0e+1x1o+1x1e [ 0. -1. -2. -3.  4.  5.  6.]
        >>> IrrepsArray("1o", np.zeros((2, 3))).transform_by_matrix(np.stack([np.eye(3)] * 3))
        Traceback (most recent call last):
        ...
        ValueError: transform_by_matrix: the rotations' batch shape (3,) does not broadcast with the leading shape (2,) of the IrrepsArray of shape (2, 3); it must match (or broadcast with) the leading axes
        """
        R = _to_numpy(R, "transform_by_matrix", "R")
        if R.ndim < 2 or R.shape[-2:] != (3, 3):
            raise ValueError(f"transform_by_matrix: R must have shape (..., 3, 3), got {R.shape}")
        return self._transform(lambda ir: ir.D_from_matrix(R), R.shape[:-2], "transform_by_matrix")

    def transform_by_angles(self, alpha, beta, gamma, k=0) -> "IrrepsArray":
        """Act with the rotation ``Y(alpha) X(beta) Y(gamma)`` times parity to the power ``k``.

        The angles broadcast with each other and with the leading shape of ``x``;
        they must be concrete (see :meth:`transform_by_matrix`).

        Examples
        --------
        >>> import numpy as np
        >>> x = IrrepsArray("1o", np.array([1.0, 0.0, 0.0]))
        >>> np.round(x.transform_by_angles(np.pi / 2, 0.0, 0.0).array, 6) + 0.0
        array([ 0.,  0., -1.])
        """
        method = "transform_by_angles"
        a, b, c = (_to_numpy(v, method, n) for v, n in ((alpha, "alpha"), (beta, "beta"), (gamma, "gamma")))
        batch = _parameter_batch(method, alpha=a.shape, beta=b.shape, gamma=c.shape, k=np.shape(k))
        return self._transform(lambda ir: ir.D_from_angles(a, b, c, k), batch, method)

    def transform_by_quaternion(self, q, k=0) -> "IrrepsArray":
        """Act with the rotation of the unit quaternion ``q = (w, x, y, z)`` (times parity^k).

        ``q`` has shape ``(..., 4)``; its batch shape broadcasts with the leading
        shape of ``x``; it must be concrete (see :meth:`transform_by_matrix`).

        Examples
        --------
        >>> import numpy as np
        >>> x = IrrepsArray("1o", np.array([1.0, 0.0, 0.0]))
        >>> q = np.array([np.cos(np.pi / 4), 0.0, 0.0, np.sin(np.pi / 4)])  # quarter turn about z
        >>> np.round(x.transform_by_quaternion(q).array, 6) + 0.0
        array([0., 1., 0.])
        """
        method = "transform_by_quaternion"
        q = _to_numpy(q, method, "q")
        if q.ndim < 1 or q.shape[-1] != 4:
            raise ValueError(f"{method}: q must have shape (..., 4), got {q.shape}")
        batch = _parameter_batch(method, q=q.shape[:-1], k=np.shape(k))
        return self._transform(lambda ir: ir.D_from_quaternion(q, k), batch, method)

    def transform_by_axis_angle(self, axis, angle, k=0) -> "IrrepsArray":
        """Act with the rotation by ``angle`` about ``axis`` (times parity^k).

        ``axis`` has shape ``(..., 3)``; its batch shape and ``angle`` broadcast with
        the leading shape of ``x``; both must be concrete (see
        :meth:`transform_by_matrix`).

        Examples
        --------
        >>> import numpy as np
        >>> x = IrrepsArray("1o", np.array([1.0, 0.0, 0.0]))
        >>> np.round(x.transform_by_axis_angle(np.array([0.0, 0.0, 1.0]), np.pi / 2).array, 6) + 0.0
        array([0., 1., 0.])
        """
        method = "transform_by_axis_angle"
        axis, angle = _to_numpy(axis, method, "axis"), _to_numpy(angle, method, "angle")
        if axis.ndim < 1 or axis.shape[-1] != 3:
            raise ValueError(f"{method}: axis must have shape (..., 3), got {axis.shape}")
        batch = _parameter_batch(method, axis=axis.shape[:-1], angle=angle.shape, k=np.shape(k))
        return self._transform(lambda ir: ir.D_from_axis_angle(axis, angle, k), batch, method)

    def transform_by_log_coordinates(self, log_coordinates, k=0) -> "IrrepsArray":
        """Act with the rotation of log coordinates ``v`` (by ``|v|`` about ``v``), times parity^k.

        ``log_coordinates`` has shape ``(..., 3)``; its batch shape and ``k``
        broadcast with the leading shape of ``x``; it must be concrete (see
        :meth:`transform_by_matrix`). The result keeps the dtype and backend of
        ``x``.

        Examples
        --------
        >>> import numpy as np
        >>> x = IrrepsArray("1o", np.array([1.0, 0.0, 0.0]))
        >>> np.round(x.transform_by_log_coordinates(np.array([0.0, 0.0, np.pi / 2])).array, 6) + 0.0
        array([0., 1., 0.])
        """
        method = "transform_by_log_coordinates"
        v = _to_numpy(log_coordinates, method, "log_coordinates")
        if v.ndim < 1 or v.shape[-1] != 3:
            raise ValueError(f"{method}: log_coordinates must have shape (..., 3), got {v.shape}")
        batch = _parameter_batch(method, log_coordinates=v.shape[:-1], k=np.shape(k))
        return self._transform(lambda ir: ir.D_from_log_coordinates(v, k), batch, method)

    # --- backends ---------------------------------------------------------------
    def _to_backend(self, name, dtype=None, device=None) -> "IrrepsArray":
        """This IrrepsArray on backend ``name`` (see ``e3xp.to_backend``)."""
        return IrrepsArray(self.irreps, to_backend(self.array, name, dtype=dtype, device=device))

    def __repr__(self) -> str:
        r = str(self.array)
        if "\n" in r:
            return f"{self.irreps}\n{r}"
        return f"{self.irreps} {r}"


def _is_full_slice(i) -> bool:
    return isinstance(i, slice) and i.start is None and i.stop is None and i.step in (None, 1)


def _axes_used(i) -> int:
    """How many axes of the array an index item addresses."""
    if i is None or i is Ellipsis or isinstance(i, (bool, np.bool_)):
        return 0  # None and a bare bool add an axis
    dtype = getattr(i, "dtype", None)
    if dtype is not None and "bool" in str(dtype):
        return len(getattr(i, "shape", ()))  # a boolean mask covers its own axes
    return 1


def _parameter_batch(method: str, **shapes) -> tuple:
    """The broadcast batch shape of rotation parameters, or a ValueError naming them."""
    out = ()
    for shape in shapes.values():
        out = _broadcast_shapes(out, tuple(shape))
        if out is None:
            listed = ", ".join(f"{n} {tuple(s)}" for n, s in shapes.items())
            raise ValueError(f"{method}: the batch shapes of the parameters do not broadcast: {listed}")
    return out


def _describe(x) -> str:
    if _is_number(x):
        return f"scalar {x!r}"
    return f"array of shape {tuple(getattr(x, 'shape', ()))}"


def _multiply_irreps_arrays(x: IrrepsArray, y: IrrepsArray) -> IrrepsArray:
    # e3nn-jax: x * y is the elementwise tensor product when one side is scalars
    # (one per irrep of the other side); anything else needs an explicit product.
    if x.irreps.num_irreps != y.irreps.num_irreps or not (
        (len(x.irreps) == 0 or x.irreps.lmax == 0) or (len(y.irreps) == 0 or y.irreps.lmax == 0)
    ):
        raise ValueError(
            f"IrrepsArray({x.irreps}) * IrrepsArray({y.irreps}) is only defined when one side "
            "has one scalar (l = 0) per irrep of the other; use e3xp.tensor_product or "
            "e3xp.elementwise_tensor_product"
        )
    from .ops.tensor_products import elementwise_tensor_product

    return elementwise_tensor_product(x, y)


install_pytree_registration(IrrepsArray)
