"""IrrepsArray: an array of any backend whose last axis is laid out by an :class:`Irreps`.

Semantics follow e3nn-jax: the last axis holds the concatenation of the entries of
``irreps`` (each entry ``mul x ir`` laid out ``(mul, 2l + 1)`` row-major); every
other axis is a leading (batch) axis. Only equivariant arithmetic is allowed, so
the class refuses what would silently break equivariance (adding different irreps,
indexing inside an irrep, multiplying by a vector of per-component factors).

All checks look only at shapes, irreps and types, never at values, so an
IrrepsArray flows through ``jax.jit`` / ``jax.vmap`` and ``torch.compile`` without
concretization or graph breaks. With JAX it is a pytree whose only leaf is the
array (the irreps are static auxiliary data); the registration happens as soon as
JAX is imported, whichever of e3xp or jax is imported first.
"""

from __future__ import annotations

import numbers
import sys
import warnings

import numpy as np

from .backends import backend_of, get_default_backend, to_backend
from ._jax_pytree import install_pytree_registration, register_jax_pytree
from ._static import irreps_from_key, irreps_key, selector_from_key, selector_key, static_call, static_function
from .core.irreps import Irrep, Irreps, MulIrrep, SliceHelper, SliceStepError

__all__ = ["IrrepsArray"]


@static_function
def _sort_inv(key: tuple, convention: str = "e3nn-jax") -> tuple:
    return tuple(irreps_from_key(key).sort(convention).inv)


def _entry_indices(indices, n: int, what: str) -> tuple:
    """``indices`` as a tuple of entry indices in ``[0, n)`` (negative ones count from the end)."""
    if isinstance(indices, (str, bytes)) or not hasattr(indices, "__iter__"):
        raise TypeError(f"{what}: expected a sequence of entry indices (ints), got {type(indices).__name__}")
    if hasattr(indices, "shape") and len(getattr(indices, "shape")) != 1:
        raise TypeError(f"{what}: expected a 1-d sequence of entry indices, got shape {tuple(indices.shape)}")
    out = []
    for i in indices:
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"{what}: entry indices must be ints, got {i!r} ({type(i).__name__})")
        i = int(i)
        if not -n <= i < n:
            raise IndexError(f"{what}: entry index {i} is out of range for {n} irreps entries")
        out.append(i % n)
    return tuple(out)


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


@static_function
def _unify(key: tuple) -> Irreps:
    return irreps_from_key(key).unify()


@static_function
def _rechunk_flags(old_key: tuple, flags: tuple, new_key: tuple):
    """The zero flags after relabelling ``old`` as ``new``, or None when they are not equivalent.

    A new entry is known to be zero when every component it covers was (an
    empty entry is, vacuously: e3nn-jax's rule).
    """
    old, new = irreps_from_key(old_key), irreps_from_key(new_key)
    if old.simplify() != new.simplify():
        return None
    per_component = [f for f, mul_ir in zip(flags, old) for _ in range(mul_ir.dim)]
    return tuple(all(per_component[s]) for s in new.slices())


@static_function
def _scale_muls(key: tuple, num: int, den: int) -> Irreps:
    return Irreps([(mul * num // den, ir) for mul, ir in irreps_from_key(key)])


@static_function
def _repeat_simplify(key: tuple, n: int) -> Irreps:
    return irreps_from_key(key).repeat(n).simplify()


@static_function
def _extend_plan(old_key: tuple, new_key: tuple):
    """For each new entry, the old entry it takes (greedy, in order) or None; None if impossible."""
    old, new = irreps_from_key(old_key), irreps_from_key(new_key)
    plan, i = [], 0
    for mul_ir in new:
        if i < len(old) and old[i] == mul_ir:
            plan.append(i)
            i += 1
        else:
            plan.append(None)
    return tuple(plan) if i == len(old) else None


@static_function
def _mul_slice_plan(key: tuple, start: int, stop: int) -> tuple:
    """``(irreps, first, last, parents)``: the result of ``slice_by_mul[start:stop]``.

    The copies kept are contiguous in the flat layout: components ``first:last``.
    """
    irreps = irreps_from_key(key)
    out, parents, first, last = [], [], None, 0
    for k, ((a, b), (mul, ir), s) in enumerate(zip(irreps._mul_cuts(start, stop), irreps, irreps.slices())):
        if a is None:
            continue
        out.append((b - a, ir))
        parents.append(k)
        first = s.start + a * ir.dim if first is None else first
        last = s.start + b * ir.dim
    return Irreps(out), (first or 0), last, tuple(parents)


@static_function
def _dim_slice_plan(key: tuple, start, stop):
    """``(irreps, parents)`` of ``x.slice_by_dim[start:stop]`` (e3nn-jax's ``x[..., start:stop]``).

    ``start`` and ``stop`` are resolved ints (``0 <= start <= stop <= dim``), or
    both None for ``[:]`` (everything). At an entry border the range starts after
    the last border at ``start`` and ends at the first border at ``stop``, so zero
    multiplicity entries at either end are left out, as in e3nn-jax. A border
    inside an entry splits it between two irreps; inside an irrep it is an error
    (returned as a str).
    """
    irreps = irreps_from_key(key)
    if start is None:
        return irreps, tuple(range(len(irreps)))
    bounds = [0]
    for mul_ir in irreps:
        bounds.append(bounds[-1] + mul_ir.dim)
    ends = []
    for is_stop, at in enumerate((start, stop)):
        if at in bounds:
            same = [i for i, b in enumerate(bounds) if b == at]
            ends.append(same[0] if is_stop else same[-1])
            continue
        k = max(i for i, b in enumerate(bounds) if b < at)  # the entry that contains ``at``
        mul, ir = irreps[k]
        if (at - bounds[k]) % ir.dim:
            return (
                f"slice_by_dim[{start}:{stop}] cuts the entry {mul}x{ir} of {irreps} inside an irrep "
                f"(of dim {ir.dim})"
            )
        ends.append(k + 1 if is_stop else k)
    out, parents = [], []
    for k in range(ends[0], ends[1]):
        mul, ir = irreps[k]
        a, b = max(start, bounds[k]) - bounds[k], min(stop, bounds[k + 1]) - bounds[k]
        out.append(((b - a) // ir.dim, ir))
        parents.append(k)
    return Irreps(out), tuple(parents)


def _check_zero_flags(zero_flags, irreps: Irreps):
    """``zero_flags`` as a tuple of bools (None when no chunk is flagged), or a TypeError/ValueError."""
    if zero_flags is None:
        return None
    if isinstance(zero_flags, (str, bytes)) or not hasattr(zero_flags, "__iter__"):
        raise TypeError(f"IrrepsArray: zero_flags={zero_flags!r} must be a tuple of bools, one per entry of {irreps}")
    flags = tuple(zero_flags)
    if not all(isinstance(f, (bool, np.bool_)) for f in flags):
        raise TypeError(f"IrrepsArray: zero_flags={flags!r} must hold Python bools, one per entry of {irreps}")
    if len(flags) != len(irreps):
        raise ValueError(
            f"IrrepsArray: zero_flags={flags!r} has {len(flags)} entries, expected one per entry of "
            f"{irreps} ({len(irreps)})"
        )
    return tuple(bool(f) for f in flags) if any(flags) else None


def _assemble(irreps: Irreps, chunks, lead: tuple, xp, dtype, device, zero_flags=None) -> "IrrepsArray":
    """The IrrepsArray made of ``(*lead, mul, dim)`` chunks; None chunks are zeros and flagged."""
    flags = tuple(c is None or bool(zero_flags is not None and zero_flags[k]) for k, c in enumerate(chunks))
    if irreps.dim == 0:
        return IrrepsArray(irreps, xp.zeros(lead + (0,), dtype=dtype, device=device), zero_flags=flags)
    flat = [
        xp.zeros(lead + (mul * ir.dim,), dtype=dtype, device=device)
        if c is None
        else xp.reshape(c, lead + (mul * ir.dim,))
        for c, (mul, ir) in zip(chunks, irreps)
    ]
    array = flat[0] if len(flat) == 1 else xp.concat(flat, axis=-1)
    return IrrepsArray(irreps, array, zero_flags=flags)


def _deprecated(old: str, new: str) -> None:
    # e3nn-jax 0.21 keeps these names with a DeprecationWarning; so does e3xp.
    warnings.warn(f"{old} is deprecated, use {new} instead.", DeprecationWarning, stacklevel=3)


def _axis(axis, ndim: int, method: str, what: str) -> int:
    """``axis`` as an index in ``[0, ndim)``, or a TypeError/ValueError naming it."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{method}: axis={axis!r} must be an int")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{method}: axis={axis} is out of range for {what} of ndim {ndim}")
    return int(axis) % ndim


def _is_number(x) -> bool:
    return isinstance(x, numbers.Number) and not isinstance(x, (bool, np.bool_))


def _vectors(x, size: int, method: str, name: str) -> np.ndarray:
    """A rotation parameter of shape ``(..., size)`` as float64 numpy (see :func:`_to_numpy`)."""
    v = _to_numpy(x, method, name)
    if v.ndim < 1 or v.shape[-1] != size:
        raise ValueError(f"{method}: {name} must have shape (..., {size}), got {v.shape}")
    return v


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
    zero_flags : tuple of bool, optional (keyword only)
        One flag per entry of ``irreps``: True promises that the chunk is zero
        (``chunks`` then gives None for it), as in e3nn-jax. Flags are bookkeeping
        known before any value is computed; the caller guarantees them. Default:
        no chunk is known to be zero.

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

    # None means "no chunk is known to be zero" (also for objects rebuilt by
    # _unchecked, e.g. by JAX's unflatten, and for pickles made before the flags).
    _zero_flags = None

    def __init__(self, irreps, array, *, zero_flags=None):
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
        self._zero_flags = _check_zero_flags(zero_flags, irreps)
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
    def zero_flags(self) -> tuple:
        """One bool per entry of ``irreps``: True when the chunk is known to be zero.

        As in e3nn-jax, the flags come from how the array was made
        (:meth:`zeros`, :meth:`from_list` with None, :meth:`extend_with_zeros`)
        and follow the operations that keep them exact; the others reset them.
        They are not part of the JAX pytree (see ``e3xp._jax_pytree``), so an
        IrrepsArray coming out of ``jax.jit`` / ``vmap`` / ``grad`` / ``tree_map``
        has none, exactly as in e3nn-jax.

        Examples
        --------
        >>> x = IrrepsArray.zeros("0e + 1o", (2,), backend="numpy")
        >>> x.zero_flags
        (True, True)
        >>> (x + IrrepsArray("0e + 1o", np.ones((2, 4)))).zero_flags
        (False, False)
        """
        return self._zero_flags if self._zero_flags is not None else (False,) * len(self.irreps)

    @property
    def chunks(self) -> list:
        """One array per entry of ``irreps``, shaped ``(..., mul, 2l + 1)``; None where known to be zero.

        An entry whose :attr:`zero_flags` is True gives None (e3nn-jax
        semantics): the data there is zero.

        Examples
        --------
        >>> import numpy as np
        >>> x = IrrepsArray("2x0e + 1o", np.arange(5.0))
        >>> [c.shape for c in x.chunks]
        [(2, 1), (1, 3)]
        >>> x.chunks[1]
        array([[2., 3., 4.]])
        >>> x.extend_with_zeros("2x0e + 1e + 1o").chunks[1] is None
        True
        """
        dense = self._dense_chunks()
        if self._zero_flags is None:
            return dense
        return [None if z else c for c, z in zip(dense, self._zero_flags)]

    @property
    def list(self) -> list:
        """Deprecated alias of :attr:`chunks` (as in e3nn-jax, with a DeprecationWarning)."""
        _deprecated("IrrepsArray.list", "IrrepsArray.chunks")
        return self.chunks

    def _dense_chunks(self) -> list:
        """Like :attr:`chunks`, but an array for every entry (zeros included)."""
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
    def _from_chunks(self, irreps, chunks, lead=None, zero_flags=None) -> "IrrepsArray":
        """Concatenate ``(*lead, mul, dim)`` chunks (by default ``lead`` is self's).

        A None chunk is zeros (flagged); ``zero_flags`` flags more chunks.
        """
        lead = self.shape[:-1] if lead is None else tuple(lead)
        return _assemble(Irreps(irreps), chunks, lead, self.backend.xp, self.dtype, self._new_device(), zero_flags)

    def _new_device(self):
        """Where to create new arrays next to this one; None inside ``jax.jit``.

        A JAX tracer has no device (jit places what the function creates).
        """
        if self.backend.name == "jax":
            return getattr(self.array, "device", None)
        return self.device

    def _select(self, indices) -> "IrrepsArray":
        """The entries ``indices`` of ``irreps`` (in that order) as a new IrrepsArray."""
        indices = list(indices)
        if indices == list(range(len(self.irreps))):
            return self
        chunks, flags = self._dense_chunks(), self.zero_flags
        return self._from_chunks(
            [self.irreps[i] for i in indices], [chunks[i] for i in indices], zero_flags=[flags[i] for i in indices]
        )

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

    def sort(self, convention: str = "e3nn-jax") -> "IrrepsArray":
        """Stable sort of the entries by irrep, each with its data.

        ``convention``: ``"e3nn-jax"`` (default, as e3nn-jax's ``IrrepsArray.sort``:
        ``0e, 0o, 1o, 1e, 2e, 2o, ...``) or ``"e3nn"`` (e3nn's ``Irreps.sort``:
        ``0o, 0e, 1o, 1e, 2o, 2e, ...``). The permutation is that of
        ``x.irreps.sort(convention)``: ``x.sort(c) == x.select(x.irreps.sort(c).inv)
        == x.permute(x.irreps.sort(c).p)``.

        Examples
        --------
        >>> import numpy as np
        >>> IrrepsArray("1o + 0e", np.array([1.0, 2.0, 3.0, 4.0])).sort()
        1x0e+1x1o [4. 1. 2. 3.]
        >>> x = IrrepsArray("0e + 0o", np.array([1.0, 2.0]))
        >>> x.sort(), x.sort(convention="e3nn")
        (1x0e+1x0o [1. 2.], 1x0o+1x0e [2. 1.])
        >>> x.irreps.sort(convention="e3nn").p
        (1, 0)
        """
        from .core.irreps import sort_key

        sort_key(convention)  # a clear error for an unknown convention
        return self._select(static_call(_sort_inv, irreps_key(self.irreps), convention))

    def select(self, indices) -> "IrrepsArray":
        """The irreps entries ``indices``, in that order, each with its data.

        Entry ``j`` of the result is entry ``indices[j]`` of ``self`` (as
        ``[x.irreps[i] for i in indices]``). Negative indices count from the end;
        an index may repeat (its data is repeated); an empty list gives empty
        irreps. Out-of-range indices raise IndexError, non-integers TypeError.
        The leading axes are untouched; works under ``jax.jit`` (indices are
        Python ints, static).

        Examples
        --------
        >>> import numpy as np
        >>> x = IrrepsArray("0e + 1o + 2x0e", np.arange(6.0))
        >>> x.select([1, 0])
        1x1o+1x0e [1. 2. 3. 0.]
        >>> x.select([-1, -1])
        2x0e+2x0e [4. 5. 4. 5.]
        >>> x.select([3])
        Traceback (most recent call last):
        ...
        IndexError: IrrepsArray.select: entry index 3 is out of range for 3 irreps entries
        """
        return self._select(_entry_indices(indices, len(self.irreps), "IrrepsArray.select"))

    def permute(self, p) -> "IrrepsArray":
        """Move entry ``i`` to position ``p[i]``, with its data (``p`` as in ``Irreps.sort().p``).

        ``p`` must be a permutation of ``range(len(irreps))``: each position once,
        no negative index (a ValueError names the problem). The inverse is
        ``permute(q)`` with ``q[p[i]] = i``; ``x.permute(p) == x.select(q)``.

        Examples
        --------
        >>> import numpy as np
        >>> x = IrrepsArray("2e + 1o + 0e", np.arange(9.0))
        >>> _, p, inv = x.irreps.sort()
        >>> x.permute(p)
        1x0e+1x1o+1x2e [8. 5. 6. 7. 0. 1. 2. 3. 4.]
        >>> x.permute(p).permute(inv).irreps  # the sort's inverse
        1x2e+1x1o+1x0e
        >>> x.permute([0, 0, 1])
        Traceback (most recent call last):
        ...
        ValueError: IrrepsArray.permute: [0, 0, 1] is not a permutation of range(3) (position 0 appears twice, 2 never)
        """
        what = "IrrepsArray.permute"
        n = len(self.irreps)
        if isinstance(p, (str, bytes)) or not hasattr(p, "__iter__"):
            raise TypeError(f"{what}: expected a sequence of positions (ints), got {type(p).__name__}")
        p = list(p)
        for i in p:
            if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
                raise TypeError(f"{what}: positions must be ints, got {i!r} ({type(i).__name__})")
        p = [int(i) for i in p]
        if sorted(p) != list(range(n)):
            if len(p) != n:
                why = f"{len(p)} positions for {n} entries"
            elif any(not 0 <= i < n for i in p):
                why = f"position {next(i for i in p if not 0 <= i < n)} is outside [0, {n})"
            else:
                dup = next(i for i in p if p.count(i) > 1)
                missing = next(i for i in range(n) if i not in p)
                why = f"position {dup} appears twice, {missing} never"
            raise ValueError(f"{what}: {p} is not a permutation of range({n}) ({why})")
        inv = [0] * n
        for old, new in enumerate(p):
            inv[new] = old
        return self._select(inv)

    def simplify(self) -> "IrrepsArray":
        """Merge adjacent equal irreps (the array is unchanged).

        Examples
        --------
        >>> import numpy as np
        >>> IrrepsArray("0e + 0e + 1o", np.arange(5.0)).simplify().irreps
        2x0e+1x1o
        """
        return self.rechunk(static_call(_simplify, irreps_key(self.irreps)))

    def regroup(self, convention: str = "e3nn-jax") -> "IrrepsArray":
        """Sort (in ``convention``'s order, see :meth:`sort`), then simplify: each irrep appears once.

        Examples
        --------
        >>> import numpy as np
        >>> IrrepsArray("1o + 0e + 1o", np.arange(7.0)).regroup()
        1x0e+2x1o [3. 0. 1. 2. 4. 5. 6.]
        >>> IrrepsArray("0e + 0o + 0e", np.arange(3.0)).regroup(convention="e3nn")
        1x0o+2x0e [1. 0. 2.]
        """
        return self.sort(convention).simplify()

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
        return IrrepsArray(self.irreps, backend.xp.astype(self.array, dtype), zero_flags=self._zero_flags)

    # --- e3nn-jax's irreps bookkeeping (issue 15) -------------------------------
    @staticmethod
    def zeros(irreps, leading_shape, dtype=None, *, backend=None) -> "IrrepsArray":
        """Zeros of shape ``leading_shape + (irreps.dim,)``, every chunk flagged zero.

        e3nn-jax's (deprecated) ``IrrepsArray.zeros``, without its warning.
        ``backend`` (keyword, e3xp only) chooses the framework, as in
        :func:`e3xp.zeros`; by default the configured one.

        Examples
        --------
        >>> x = IrrepsArray.zeros("0e + 1o", (2,), backend="numpy")
        >>> x.shape, x.zero_flags, x.chunks
        ((2, 4), (True, True), [None, None])
        """
        from .ops.creation import zeros

        x = zeros(irreps, leading_shape, backend=backend, dtype=dtype)
        return IrrepsArray(x.irreps, x.array, zero_flags=(True,) * len(x.irreps))

    @staticmethod
    def zeros_like(irreps_array: "IrrepsArray") -> "IrrepsArray":
        """Zeros with the irreps, shape, dtype, backend and device of ``irreps_array``; all flagged.

        Examples
        --------
        >>> IrrepsArray.zeros_like(IrrepsArray("1o", np.ones((2, 3)))).zero_flags
        (True,)
        """
        if not isinstance(irreps_array, IrrepsArray):
            raise TypeError(f"zeros_like(irreps_array=...): expected an IrrepsArray, got {type(irreps_array).__name__}")
        xp = irreps_array.backend.xp
        flags = (True,) * len(irreps_array.irreps)
        return IrrepsArray(irreps_array.irreps, xp.zeros_like(irreps_array.array), zero_flags=flags)

    @staticmethod
    def from_list(irreps, chunks, leading_shape, dtype=None, *, backend=None) -> "IrrepsArray":
        """An IrrepsArray from one chunk ``(*leading_shape, mul, 2l + 1)`` per entry; None means zeros.

        e3nn-jax's ``IrrepsArray.from_list`` (a deprecated alias of
        ``e3nn.from_chunks``; this one warns too). The None chunks are flagged in
        :attr:`zero_flags`. The dtype is that of the first array chunk; ``dtype``
        is needed only when every chunk is None. The framework is that of the
        chunks; when all are None, ``backend`` (a name or Backend, e3xp only) or
        the configured default.

        Examples
        --------
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore", DeprecationWarning)
        ...     x = IrrepsArray.from_list("0e + 1o", [None, np.ones((1, 3))], ())
        >>> x, x.zero_flags
        (1x0e+1x1o [0. 1. 1. 1.], (True, False))
        """
        _deprecated("IrrepsArray.from_list", "from_chunks (e3nn-jax's e3nn.from_chunks)")
        irreps = Irreps(irreps)
        if isinstance(chunks, IrrepsArray) or not isinstance(chunks, (list, tuple)):
            raise TypeError(f"from_list: chunks must be a list with one array or None per entry of {irreps}")
        chunks = list(chunks)
        if len(chunks) != len(irreps):
            raise ValueError(f"from_list: got {len(chunks)} chunks for the {len(irreps)} entries of {irreps}")
        from .ops.creation import _leading_shape, _resolve

        lead = _leading_shape(leading_shape)
        arrays = [c for c in chunks if c is not None]
        for c in arrays:
            if not hasattr(c, "shape") or isinstance(c, IrrepsArray):
                raise TypeError(f"from_list: chunks must be arrays or None, got {type(c).__name__}")
        expected = [lead + (mul, ir.dim) for mul, ir in irreps]
        if any(c is not None and tuple(c.shape) != e for c, e in zip(chunks, expected)):
            raise ValueError(
                f"from_list: chunk shapes {[None if c is None else tuple(c.shape) for c in chunks]} do not "
                f"match leading_shape={lead} and irreps {irreps}; expected {expected}"
            )
        if arrays:
            be = backend_of(*arrays)
            return _assemble(irreps, chunks, lead, be.xp, arrays[0].dtype, be.device(arrays[0]))
        if dtype is None:
            raise ValueError("from_list: dtype is needed when every chunk is None (or there are none)")
        be, dtype = _resolve(backend, dtype)
        return _assemble(irreps, chunks, lead, be.xp, dtype, None)

    @staticmethod
    def as_irreps_array(array, *, backend=None) -> "IrrepsArray":
        """``array`` itself if it is an IrrepsArray, else the array as scalars ``(n)x0e`` (``n = shape[-1]``).

        e3nn-jax's (deprecated) ``IrrepsArray.as_irreps_array``; this one warns too.
        Python lists and numbers go to ``backend`` (a name or Backend; default:
        the configured one).

        Examples
        --------
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore", DeprecationWarning)
        ...     IrrepsArray.as_irreps_array(np.ones((2, 3))).irreps
        3x0e
        """
        _deprecated("IrrepsArray.as_irreps_array", "as_irreps_array (e3nn-jax's e3nn.as_irreps_array)")
        if isinstance(array, IrrepsArray):
            return array
        if not hasattr(array, "shape"):
            from .ops.creation import _resolve

            array = _resolve(backend, None)[0].asarray(array)
        if len(array.shape) == 0:
            raise ValueError("as_irreps_array: array has rank 0; expected an array of shape (..., n) for n scalars")
        return IrrepsArray(f"{array.shape[-1]}x0e", array)

    def rechunk(self, irreps) -> "IrrepsArray":
        """The same array under other irreps that simplify alike (entries split or merged).

        Zero flags follow: a new entry is flagged when all it covers was.

        Examples
        --------
        >>> x = IrrepsArray("6x0e + 4x0e", np.arange(10.0))
        >>> x.rechunk("5x0e + 5x0e").irreps
        5x0e+5x0e
        >>> x.rechunk("1o")
        Traceback (most recent call last):
        ...
        ValueError: rechunk: irreps=1x1o is not a relabelling of 6x0e+4x0e (they simplify to 1x1o and 10x0e)
        """
        irreps = Irreps(irreps)
        if irreps == self.irreps:
            return self
        flags = static_call(_rechunk_flags, irreps_key(self.irreps), self.zero_flags, irreps_key(irreps))
        if flags is None:
            raise ValueError(
                f"rechunk: irreps={irreps} is not a relabelling of {self.irreps} (they simplify to "
                f"{irreps.simplify()} and {self.irreps.simplify()})"
            )
        return IrrepsArray(irreps, self.array, zero_flags=flags)

    def unify(self) -> "IrrepsArray":
        """Merge adjacent equal irreps, keeping zero multiplicities (see :meth:`Irreps.unify`).

        Examples
        --------
        >>> IrrepsArray("0e + 0x1e + 0e", np.ones(2)).unify()
        1x0e+0x1e+1x0e [1. 1.]
        >>> IrrepsArray("0e + 0e", np.ones(2)).unify()
        2x0e [1. 1.]
        """
        return self.rechunk(static_call(_unify, irreps_key(self.irreps)))

    def sorted(self) -> "IrrepsArray":
        """Deprecated alias of :meth:`sort` (a DeprecationWarning, as in e3nn-jax)."""
        _deprecated("IrrepsArray.sorted", "IrrepsArray.sort")
        return self.sort()

    def filtered(self, *args, **kwargs) -> "IrrepsArray":
        """Deprecated alias of :meth:`filter` (a DeprecationWarning, as in e3nn-jax)."""
        _deprecated("IrrepsArray.filtered", "IrrepsArray.filter")
        return self.filter(*args, **kwargs)

    def remove_zero_chunks(self) -> "IrrepsArray":
        """Drop the entries flagged zero in :attr:`zero_flags`.

        Examples
        --------
        >>> x = IrrepsArray("0e + 1o", np.arange(4.0)).extend_with_zeros("0e + 2e + 1o")
        >>> x.irreps, x.remove_zero_chunks().irreps
        (1x0e+1x2e+1x1o, 1x0e+1x1o)
        """
        keep = [k for k, z in enumerate(self.zero_flags) if not z]
        if len(keep) == len(self.irreps):
            return self
        chunks = self._dense_chunks()
        return self._from_chunks([self.irreps[k] for k in keep], [chunks[k] for k in keep])

    def remove_nones(self) -> "IrrepsArray":
        """Deprecated alias of :meth:`remove_zero_chunks` (a DeprecationWarning, as in e3nn-jax)."""
        _deprecated("IrrepsArray.remove_nones", "IrrepsArray.remove_zero_chunks")
        return self.remove_zero_chunks()

    def extend_with_zeros(self, new_irreps) -> "IrrepsArray":
        """Insert zero entries so that the irreps become ``new_irreps``.

        The entries of ``irreps`` must appear in ``new_irreps`` in the same order
        (matched greedily, as e3nn-jax does); the others are zeros, flagged in
        :attr:`zero_flags`.

        Examples
        --------
        >>> IrrepsArray("0e + 1o", np.array([1.0, 3.0, 3.0, 3.0])).extend_with_zeros("0e + 0e + 1o + 2x0e")
        1x0e+1x0e+1x1o+2x0e [1. 0. 3. 3. 3. 0. 0.]
        """
        new_irreps = Irreps(new_irreps)
        plan = static_call(_extend_plan, irreps_key(self.irreps), irreps_key(new_irreps))
        if plan is None:
            raise ValueError(
                f"extend_with_zeros: new_irreps={new_irreps} does not contain the entries of {self.irreps} "
                "in order"
            )
        chunks, flags = self._dense_chunks(), self.zero_flags
        return self._from_chunks(
            new_irreps,
            [None if k is None else chunks[k] for k in plan],
            zero_flags=[k is not None and flags[k] for k in plan],
        )

    @property
    def slice_by_mul(self) -> SliceHelper:
        """``x.slice_by_mul[start:stop]``: the irreps ``start`` to ``stop`` counted one by one.

        See :meth:`Irreps.slice_by_mul`; an entry cut by the slice keeps the
        copies inside it (and its zero flag).

        Examples
        --------
        >>> x = IrrepsArray("2x0e + 1o", np.arange(5.0))
        >>> x.slice_by_mul[1:]
        1x0e+1x1o [1. 2. 3. 4.]
        """
        return SliceHelper("IrrepsArray.slice_by_mul", self.irreps.num_irreps, self._by_mul)

    def _by_mul(self, start: int, stop: int) -> "IrrepsArray":
        irreps, first, last, parents = static_call(_mul_slice_plan, irreps_key(self.irreps), start, stop)
        flags = [self.zero_flags[k] for k in parents]
        if len(parents) == len(self.irreps) and (first, last) == (0, self.irreps.dim):
            return self if irreps == self.irreps else IrrepsArray(irreps, self.array, zero_flags=flags)
        return IrrepsArray(irreps, self.array[..., first:last], zero_flags=flags)

    @property
    def slice_by_dim(self) -> SliceHelper:
        """``x.slice_by_dim[start:stop]``: components ``start`` to ``stop`` of the irreps axis.

        What e3nn-jax's ``x[..., start:stop]`` does (e3xp's ``x[...]`` indexes only
        the leading axes). The slice may split an entry between two irreps, but
        not cut an irrep (ValueError).

        Examples
        --------
        >>> x = IrrepsArray("0e + 2x1o", np.arange(7.0))
        >>> x.slice_by_dim[1:4]
        1x1o [1. 2. 3.]
        >>> x.slice_by_dim[2:4]
        Traceback (most recent call last):
        ...
        ValueError: IrrepsArray.slice_by_dim[2:4] cuts the entry 2x1o of 1x0e+2x1o inside an irrep (of dim 3)
        """
        return SliceHelper("IrrepsArray.slice_by_dim", self.irreps.dim, self._by_dim, step_ok=True)

    def _by_dim(self, index: slice) -> "IrrepsArray":
        if index.step not in (None, 1):
            raise SliceStepError(f"IrrepsArray.slice_by_dim[{index}]: a step other than 1 is not supported")
        bounds = (None, None)
        if index.start is not None or index.stop is not None:
            start, stop, _ = index.indices(self.irreps.dim)
            bounds = (start, max(start, stop))
        plan = static_call(_dim_slice_plan, irreps_key(self.irreps), *bounds)
        if isinstance(plan, str):
            raise ValueError(f"IrrepsArray.{plan}")
        irreps, parents = plan
        flags = [self.zero_flags[k] for k in parents]
        if bounds == (None, None) or (bounds == (0, self.irreps.dim) and irreps == self.irreps):
            return self
        return IrrepsArray(irreps, self.array[..., bounds[0] : bounds[1]], zero_flags=flags)

    @property
    def slice_by_chunk(self) -> SliceHelper:
        """``x.slice_by_chunk[start:stop:step]``: the entries of ``irreps`` selected by the slice.

        Examples
        --------
        >>> x = IrrepsArray("2x0e + 1o + 0e", np.arange(6.0))
        >>> x.slice_by_chunk[1:]
        1x1o+1x0e [2. 3. 4. 5.]
        >>> x.slice_by_chunk[::-1].irreps
        1x0e+1x1o+2x0e
        """
        return SliceHelper(
            "IrrepsArray.slice_by_chunk", len(self.irreps), lambda i: self._select(range(len(self.irreps))[i]),
            step_ok=True,
        )

    # --- moving multiplicities to and from leading axes --------------------------
    def mul_to_axis(self, factor=None, axis: int = -2) -> "IrrepsArray":
        """Split every multiplicity ``mul`` into ``factor x (mul // factor)`` and move ``factor`` to a new axis.

        Parameters
        ----------
        factor : int, optional
            Must divide every multiplicity; default their greatest common divisor.
        axis : int
            Where the new axis goes, counted in the result (default ``-2``, just
            before the irreps axis). e3nn-jax 0.21 gets the shape wrong for any
            other axis; e3xp places it there.

        Examples
        --------
        >>> x = IrrepsArray("6x0e + 3x1e", np.arange(15.0))
        >>> y = x.mul_to_axis()
        >>> y.irreps, y.shape
        (2x0e+1x1e, (3, 5))
        >>> y.array[1]
        array([ 2.,  3.,  9., 10., 11.])
        >>> x.mul_to_axis(2)
        Traceback (most recent call last):
        ...
        ValueError: mul_to_axis: factor=2 does not divide every multiplicity of 6x0e+3x1e
        """
        axis = _axis(axis, self.ndim + 1, "mul_to_axis", "the result")
        if axis == self.ndim:
            raise ValueError("mul_to_axis: axis cannot be the last axis (the irreps axis of the result)")
        if factor is None:
            factor = self.irreps.mul_gcd
            if factor == 0:
                raise ValueError(f"mul_to_axis: {self.irreps} has no nonzero multiplicity to factor")
        if isinstance(factor, (bool, np.bool_)) or not isinstance(factor, numbers.Integral):
            raise TypeError(f"mul_to_axis: factor={factor!r} must be an int")
        if factor < 1 or any(mul % factor for mul in self.irreps.muls):
            raise ValueError(f"mul_to_axis: factor={factor} does not divide every multiplicity of {self.irreps}")
        factor = int(factor)
        irreps = static_call(_scale_muls, irreps_key(self.irreps), 1, factor)
        xp, lead = self.backend.xp, self.shape[:-1]
        chunks = [
            xp.moveaxis(xp.reshape(c, lead + (factor, mul, ir.dim)), -3, axis)
            for c, (mul, ir) in zip(self._dense_chunks(), irreps)
        ]
        out_lead = lead[:axis] + (factor,) + lead[axis:]
        return self._from_chunks(irreps, chunks, lead=out_lead, zero_flags=self.zero_flags)

    def factor_mul_to_last_axis(self, axis: int = -2) -> "IrrepsArray":
        """Deprecated alias of :meth:`mul_to_axis` (a DeprecationWarning, as in e3nn-jax)."""
        _deprecated("IrrepsArray.factor_mul_to_last_axis", "IrrepsArray.mul_to_axis")
        return self.mul_to_axis(axis=axis)

    def axis_to_mul(self, axis: int = -2) -> "IrrepsArray":
        """Merge the leading axis ``axis`` (of size ``n``) into the multiplicities: ``mul -> n * mul``.

        The inverse of :meth:`mul_to_axis`. e3nn-jax 0.21 reads the size from
        ``shape[-2]`` whatever ``axis`` is; e3xp uses ``shape[axis]``.

        Examples
        --------
        >>> x = IrrepsArray("0e + 1e", np.arange(8.0).reshape(2, 4))
        >>> x.axis_to_mul()
        2x0e+2x1e [0. 4. 1. 2. 3. 5. 6. 7.]
        """
        if self.ndim < 2:
            raise ValueError(f"axis_to_mul: needs a leading axis, got shape {self.shape}")
        axis = _axis(axis, self.ndim, "axis_to_mul", "an IrrepsArray")
        if axis == self.ndim - 1:
            raise ValueError("axis_to_mul: axis cannot be the last axis (the irreps axis)")
        n = self.shape[axis]
        irreps = static_call(_scale_muls, irreps_key(self.irreps), n, 1)
        xp = self.backend.xp
        out_lead = self.shape[:axis] + self.shape[axis + 1 : -1]
        chunks = [
            xp.reshape(xp.moveaxis(c, axis, -3), out_lead + (mul, ir.dim))
            for c, (mul, ir) in zip(self._dense_chunks(), irreps)
        ]
        return self._from_chunks(irreps, chunks, lead=out_lead, zero_flags=self.zero_flags)

    def repeat_mul_by_last_axis(self, axis: int = -2) -> "IrrepsArray":
        """Deprecated alias of :meth:`axis_to_mul` (a DeprecationWarning, as in e3nn-jax)."""
        _deprecated("IrrepsArray.repeat_mul_by_last_axis", "IrrepsArray.axis_to_mul")
        return self.axis_to_mul(axis=axis)

    def axis_to_irreps(self, axis: int = -2) -> "IrrepsArray":
        """Concatenate the rows along the leading axis ``axis`` into the irreps axis.

        The irreps become ``irreps.repeat(n).simplify()``; the zero flags are
        reset (as in e3nn-jax). e3nn-jax 0.21 gives a wrong shape when ``axis`` is
        not ``-2``; e3xp moves that axis.

        Examples
        --------
        >>> x = IrrepsArray("0e + 1e", np.arange(8.0).reshape(2, 4))
        >>> x.axis_to_irreps()
        1x0e+1x1e+1x0e+1x1e [0. 1. 2. 3. 4. 5. 6. 7.]
        """
        if self.ndim < 2:
            raise ValueError(f"axis_to_irreps: needs a leading axis, got shape {self.shape}")
        axis = _axis(axis, self.ndim, "axis_to_irreps", "an IrrepsArray")
        if axis == self.ndim - 1:
            raise ValueError("axis_to_irreps: axis cannot be the last axis (the irreps axis)")
        irreps = static_call(_repeat_simplify, irreps_key(self.irreps), self.shape[axis])
        xp = self.backend.xp
        array = xp.moveaxis(self.array, axis, -2)
        return IrrepsArray(irreps, xp.reshape(array, tuple(array.shape[:-2]) + (irreps.dim,)))

    repeat_irreps_by_last_axis = axis_to_irreps

    def irreps_to_axis(self) -> "IrrepsArray":
        """Not implemented, as in e3nn-jax 0.21 (which raises NotImplementedError too).

        The inverse of :meth:`axis_to_irreps` would need the number of repeats;
        use :meth:`mul_to_axis` to move multiplicities to an axis.
        """
        raise NotImplementedError(
            "IrrepsArray.irreps_to_axis is not implemented (nor in e3nn-jax 0.21); use mul_to_axis"
        )

    def broadcast_to(self, shape) -> "IrrepsArray":
        """Broadcast the leading axes to ``shape`` (the full shape; its last entry ``-1`` or ``irreps.dim``).

        Examples
        --------
        >>> IrrepsArray("1o", np.ones(3)).broadcast_to((2, -1)).shape
        (2, 3)
        """
        if not isinstance(shape, (tuple, list)) or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, (bool, np.bool_)) for s in shape
        ):
            raise TypeError(f"broadcast_to: shape={shape!r} must be a tuple of ints")
        shape = tuple(int(s) for s in shape)
        if len(shape) == 0 or shape[-1] not in (-1, self.irreps.dim):
            raise ValueError(
                f"broadcast_to: shape={shape} must end with -1 or irreps.dim = {self.irreps.dim} ({self.irreps})"
            )
        shape = shape[:-1] + (self.irreps.dim,)
        if _broadcast_shapes(self.shape, shape) != shape:
            raise ValueError(f"broadcast_to: an IrrepsArray of shape {self.shape} does not broadcast to shape={shape}")
        return IrrepsArray(self.irreps, self.backend.xp.broadcast_to(self.array, shape), zero_flags=self._zero_flags)

    @property
    def at(self) -> "_IndexUpdateHelper":
        """Functional updates of the leading axes: ``x.at[index].set(y)`` and ``.add(y)``.

        ``index`` addresses only the leading axes (as ``x[index]``). ``y`` is an
        IrrepsArray whose irreps simplify like ``x``'s (it is rechunked), or, for
        ``set``, the number 0. A new IrrepsArray is returned on every backend
        (JAX ``.at``, a torch clone, a NumPy copy, array-API item assignment on a
        copy); ``x`` is not modified, and torch autograd flows through.

        Repeated integer indices accumulate in ``add`` on JAX and NumPy (and on
        torch when the index is made only of integer tensors); elsewhere the last
        one wins, as in plain item assignment.

        Examples
        --------
        >>> x = IrrepsArray("1o", np.zeros((3, 3)))
        >>> x.at[1].set(IrrepsArray("1o", np.ones(3))).array[:, 0]
        array([0., 1., 0.])
        >>> x.at[np.array([0, 0])].add(IrrepsArray("1o", np.ones(3))).array[:, 0]
        array([2., 0., 0.])
        """
        return _IndexUpdateHelper(self)

    def _update(self, index, values, op: str) -> "IrrepsArray":
        what = f"x.at[...].{op}(values)"
        index = self._leading_index(index)
        if op == "set" and _is_number(values) and values == 0:
            return IrrepsArray(self.irreps, _functional_update(self, index, 0.0, op), zero_flags=self._zero_flags)
        if not isinstance(values, IrrepsArray):
            zero = " or the number 0" if op == "set" else ""
            raise TypeError(
                f"{what}: expected an IrrepsArray with irreps like {self.irreps}{zero}, got {type(values).__name__}"
            )
        try:
            values = values.rechunk(self.irreps)
        except ValueError:
            raise ValueError(f"{what}: the values' irreps {values.irreps} are not those of x, {self.irreps}") from None
        backend_of(self.array, values.array)  # mixing frameworks: a TypeError naming both
        flags = tuple(f and g for f, g in zip(self.zero_flags, values.zero_flags))
        return IrrepsArray(self.irreps, _functional_update(self, index, values.array, op), zero_flags=flags)

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
            # A chunk is known to be zero in the result when it is in both (e3nn-jax).
            flags = tuple(f and g for f, g in zip(self.zero_flags, other.zero_flags))
            return IrrepsArray(self.irreps, a + b if op == "+" else a - b, zero_flags=flags)
        if _is_number(other) and other == 0:
            # Adding zero is equivariant for any irreps (it makes sum() work).
            return self if op == "+" or not reverse else -self
        # Numbers and arrays are invariant only when every irrep is 0e (True for empty
        # irreps, unlike Irreps.is_scalar(): e3nn-jax's rule for +).
        if not (all(ir.is_scalar() for _, ir in self.irreps) and (_is_number(other) or hasattr(other, "shape"))):
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
        return IrrepsArray(self.irreps, -self.array, zero_flags=self._zero_flags)

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
        for (mul, _), c in zip(self.irreps, self._dense_chunks()):
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
        return IrrepsArray(self.irreps, self.array * factor, zero_flags=self._zero_flags)

    def __rmul__(self, other) -> "IrrepsArray":
        if isinstance(other, IrrepsArray):
            return _multiply_irreps_arrays(other, self)
        factor, per_irrep = self._factor(other, "*", reverse=True)
        if per_irrep:
            return self._per_irrep(factor, lambda c, f: f * c)
        return IrrepsArray(self.irreps, factor * self.array, zero_flags=self._zero_flags)

    def __truediv__(self, other) -> "IrrepsArray":
        if isinstance(other, IrrepsArray):
            if _lmax_or_none(other.irreps) != 0:
                raise self._not_equivariant("/", other)
            return self * (1.0 / other)
        factor, per_irrep = self._factor(other, "/")
        if per_irrep:
            return self._per_irrep(factor, lambda c, f: c / f)
        return IrrepsArray(self.irreps, self.array / factor, zero_flags=self._zero_flags)

    def __rtruediv__(self, other) -> "IrrepsArray":
        # other / x is equivariant only for scalar irreps (1/x keeps the parity of x).
        if (_lmax_or_none(self.irreps) or 0) > 0:
            raise ValueError(f"{_describe(other)} / IrrepsArray({self.irreps}) is not equivariant.")
        if not (_is_number(other) or hasattr(other, "shape")):
            return NotImplemented
        factor, per_irrep = self._factor(other, "/", reverse=True)
        if per_irrep:
            return self._per_irrep(factor, lambda c, f: f / c)
        return IrrepsArray(self.irreps, factor / self.array)

    # --- leading axes ----------------------------------------------------------
    def __getitem__(self, index) -> "IrrepsArray":
        """Index the leading axes; the irreps axis is kept whole or cut between irreps.

        Integers, slices, ``None`` and index arrays address the leading axes, from
        the front, or from the back after an ``Ellipsis``. No new axis may follow
        the irreps axis. As in e3nn-jax, the irreps axis (the last item, after an
        ``Ellipsis`` or when every axis is indexed) may be:

        * a full slice ``:``;
        * irreps (a string, Irrep, MulIrrep or Irreps) that appear exactly once as
          consecutive entries, e.g. ``x[..., "2x1o"]``;
        * a slice ``start:stop`` of components (no step), as :attr:`slice_by_dim`.

        An integer there is refused (it would take one component of an irrep).

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
        >>> y = IrrepsArray("0e + 2x1o", np.arange(14.0).reshape(2, 7))
        >>> y[1, "2x1o"]
        2x1o [ 8.  9. 10. 11. 12. 13.]
        >>> y[..., 1:4]
        1x1o
        [[ 1.  2.  3.]
         [ 8.  9. 10.]]
        """
        items = index if isinstance(index, tuple) else (index,)
        if items and (len(items) == self.ndim or any(i is Ellipsis for i in items[:-1])):
            last, rest = items[-1], items[:-1] + (slice(None),)
            if isinstance(last, (str, Irrep, MulIrrep, Irreps)):
                return self._by_irreps(Irreps(last), items)[rest]
            if isinstance(last, slice) and last != slice(None) and _is_dim_slice(last):
                try:
                    return self.slice_by_dim[last][rest]
                except ValueError as e:
                    raise ValueError(f"IrrepsArray index {items!r} cuts the irreps axis inside an irrep: {e}") from None
        return IrrepsArray(self.irreps, self.array[self._leading_index(index)], zero_flags=self._zero_flags)

    def _by_irreps(self, irreps: Irreps, index: tuple) -> "IrrepsArray":
        """The consecutive entries equal to ``irreps`` (they must appear exactly once)."""
        n = len(irreps)
        found = [i for i in range(len(self.irreps)) if self.irreps[i : i + n] == irreps]
        if len(found) != 1:
            raise ValueError(
                f"IrrepsArray index {index!r}: the irreps {irreps} must appear exactly once as consecutive "
                f"entries of {self.irreps}, found {len(found)} times; see also x.filter(...)"
            )
        return self._select(range(found[0], found[0] + n))

    def _leading_index(self, index) -> tuple:
        """``index`` checked to address only the leading axes, as a tuple the array API takes.

        Shared by ``x[index]`` and ``x.at[index]``.
        """
        index = index if isinstance(index, tuple) else (index,)
        if any(isinstance(i, (str, Irrep, Irreps, MulIrrep)) for i in index):
            raise TypeError(
                f"IrrepsArray index {index!r}: irreps can only be the last index, after an Ellipsis "
                "(x[..., '1o']); or select them with x.filter(...)"
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
        return index

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
        return IrrepsArray(
            self.irreps, xp.reshape(self.array, shape[:-1] + (self.irreps.dim,)), zero_flags=self._zero_flags
        )

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
        for (mul, ir), c in zip(self.irreps, self._dense_chunks()):
            if ir not in cache:
                DT = np.ascontiguousarray(np.swapaxes(D_of(ir), -1, -2))
                # Not the constant cache: these depend on R and are used once. Made
                # like the array, so a traced x (jax.jit, torch.compile) works too.
                cache[ir] = backend._materialize(DT, like=self.array)
            # (*lead, mul, d) @ (*batch, d, d): the batch axes broadcast against lead
            chunks.append(xp.matmul(c, cache[ir]))
        return self._from_chunks(self.irreps, chunks, lead=out_lead, zero_flags=self.zero_flags)  # D 0 = 0

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
        q = _vectors(q, 4, method, "q")
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
        axis, angle = _vectors(axis, 3, method, "axis"), _to_numpy(angle, method, "angle")
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
        v = _vectors(log_coordinates, 3, method, "log_coordinates")
        batch = _parameter_batch(method, log_coordinates=v.shape[:-1], k=np.shape(k))
        return self._transform(lambda ir: ir.D_from_log_coordinates(v, k), batch, method)

    # --- backends ---------------------------------------------------------------
    def _to_backend(self, name, dtype=None, device=None) -> "IrrepsArray":
        """This IrrepsArray on backend ``name`` (see ``e3xp.to_backend``)."""
        array = to_backend(self.array, name, dtype=dtype, device=device)
        return IrrepsArray(self.irreps, array, zero_flags=self._zero_flags)

    def __repr__(self) -> str:
        r = str(self.array)
        if "\n" in r:
            return f"{self.irreps}\n{r}"
        return f"{self.irreps} {r}"


def _is_dim_slice(i: slice) -> bool:
    """A slice e3nn-jax reads as components of the irreps axis: int (or None) bounds, no step."""
    ints = all(
        v is None or (isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)))
        for v in (i.start, i.stop)
    )
    return ints and i.step is None


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


def _lmax_or_none(irreps: Irreps):
    """``irreps.lmax``, or None when no entry has a nonzero multiplicity (lmax would raise)."""
    ls = [ir.l for mul, ir in irreps if mul > 0]
    return max(ls) if ls else None


def _describe(x) -> str:
    if _is_number(x):
        return f"scalar {x!r}"
    return f"array of shape {tuple(getattr(x, 'shape', ()))}"


def _multiply_irreps_arrays(x: IrrepsArray, y: IrrepsArray) -> IrrepsArray:
    # e3nn-jax: x * y is the elementwise tensor product when one side is scalars
    # (one per irrep of the other side); anything else needs an explicit product.
    if x.irreps.num_irreps != y.irreps.num_irreps or not (
        _lmax_or_none(x.irreps) in (None, 0) or _lmax_or_none(y.irreps) in (None, 0)
    ):
        raise ValueError(
            f"IrrepsArray({x.irreps}) * IrrepsArray({y.irreps}) is only defined when one side "
            "has one scalar (l = 0) per irrep of the other; use e3xp.tensor_product or "
            "e3xp.elementwise_tensor_product"
        )
    from .ops.tensor_products import elementwise_tensor_product

    return elementwise_tensor_product(x, y)


class _IndexUpdateHelper:
    """``x.at``: ``x.at[index]`` gives the reference whose ``set`` / ``add`` build the update."""

    __slots__ = ("_x",)

    def __init__(self, x: IrrepsArray):
        self._x = x

    def __getitem__(self, index) -> "_IndexUpdateRef":
        return _IndexUpdateRef(self._x, index)


class _IndexUpdateRef:
    """``x.at[index]``: ``.set(values)`` and ``.add(values)`` return new IrrepsArrays."""

    __slots__ = ("_x", "_index")

    def __init__(self, x: IrrepsArray, index):
        self._x, self._index = x, index

    def set(self, values) -> IrrepsArray:
        """A copy of ``x`` with ``x[index]`` replaced by ``values`` (an IrrepsArray, or 0)."""
        return self._x._update(self._index, values, "set")

    def add(self, values) -> IrrepsArray:
        """A copy of ``x`` with ``values`` (an IrrepsArray) added to ``x[index]``."""
        return self._x._update(self._index, values, "add")


def _is_int_tensor(i) -> bool:
    dtype = getattr(i, "dtype", None)
    return dtype is not None and getattr(dtype, "is_floating_point", True) is False and "bool" not in str(dtype)


def _functional_update(x: IrrepsArray, index: tuple, values, op: str):
    """``x.array`` with ``[index]`` set to / increased by ``values``, as a new array (``x.array`` untouched)."""
    backend, a = x.backend, x.array
    if backend.name == "jax":
        ref = a.at[index]
        return ref.set(values) if op == "set" else ref.add(values)
    if backend.name == "torch":
        items = index[:-1] if index and index[-1] is Ellipsis else index
        if op == "add" and items and all(_is_int_tensor(i) for i in items):
            # index_put accumulates repeated indices, as JAX's .at[].add does.
            v = values if hasattr(values, "shape") else a.new_tensor(values)
            return a.index_put(tuple(items), v, accumulate=True)
        out = a.clone()  # item assignment on a clone keeps autograd and torch.compile working
    elif backend.name == "numpy":
        out = np.array(a, copy=True)
        if op == "add":
            np.add.at(out, index, values)  # accumulates repeated indices, as JAX does
            return out
    else:
        # Any array-API namespace (array_api_strict, cupy): item assignment on a copy.
        out = backend.xp.asarray(a, copy=True)
    out[index] = values if op == "set" else a[index] + values
    return out


install_pytree_registration(IrrepsArray)
