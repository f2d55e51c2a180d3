"""Irreducible representations of O(3) and their direct sums.

The semantics follow e3nn-jax: sort order ``0e, 0o, 1o, 1e, 2e, 2o, ...``,
``Irreps * n`` multiplies multiplicities, ``simplify`` merges adjacent equal
irreps and drops zero multiplicities, ``regroup`` is sort then simplify.

Everything here is immutable and hashable, so irreps can key caches of plans.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from typing import NamedTuple, Union

import numpy as np

__all__ = ["Irrep", "MulIrrep", "Irreps", "IntoIrrep", "IntoIrreps", "SORT_CONVENTIONS", "sort_key"]

# re.ASCII: in a str pattern "\d" matches every Unicode digit ("٣e" would be 3e,
# and str() would not give the input back).
_IRREP_RE = re.compile(r"^\s*(\d+)\s*([eoy])\s*$", re.ASCII)
_MUL_IRREP_RE = re.compile(r"^\s*(?:(\d+)\s*x\s*)?(\d+)\s*([eoy])\s*$", re.ASCII)


def _parity_from_char(l: int, c: str) -> int:
    if c == "e":
        return 1
    if c == "o":
        return -1
    return (-1) ** l  # "y": the parity of the spherical harmonic of degree l


class Irrep:
    """An irreducible representation of O(3): degree ``l`` and parity ``p``.

    Parameters
    ----------
    l : int or str or Irrep or tuple
        ``Irrep(1, -1)``, ``Irrep("1o")``, ``Irrep((1, -1))`` and ``Irrep("1y")``
        (parity ``(-1)**l``, the parity of spherical harmonics) are all accepted.
    p : {1, -1}, optional
        The parity, when ``l`` is an int.

    Examples
    --------
    >>> Irrep("1o"), Irrep(2, 1), Irrep("3y")
    (1o, 2e, 3o)
    >>> Irrep("1o").dim
    3
    >>> list(Irrep("1o") * Irrep("1o"))
    [0e, 1e, 2e]
    >>> sorted([Irrep("1e"), Irrep("0o"), Irrep("1o"), Irrep("0e")])
    [0e, 0o, 1o, 1e]
    """

    __slots__ = ("_l", "_p")

    def __init__(self, l, p=None):
        if p is None:
            if isinstance(l, Irrep):
                l, p = l.l, l.p
            elif isinstance(l, MulIrrep):
                l, p = l.ir.l, l.ir.p
            elif isinstance(l, str):
                m = _IRREP_RE.match(l)
                if m is None:
                    raise ValueError(
                        f"cannot parse irrep {l!r}: expected a degree and a parity "
                        "such as '0e', '1o' or '2y'"
                    )
                l_int = int(m.group(1))
                l, p = l_int, _parity_from_char(l_int, m.group(2))
            elif _is_foreign_irrep(l):
                l, p = l.l, l.p
            elif isinstance(l, tuple) and tuple.__len__(l) == 2:
                # tuple's own methods: e3nn's Irrep is an (l, p) tuple whose __len__ raises
                l, p = tuple.__getitem__(l, 0), tuple.__getitem__(l, 1)
            else:
                raise TypeError(
                    f"cannot make an Irrep from {l!r} of type {type(l).__name__}: "
                    "expected a string like '1o', an (l, p) tuple or an Irrep"
                )
        if isinstance(l, (bool, np.bool_)) or not isinstance(l, (int, np.integer)):
            raise TypeError(f"Irrep degree l={l!r} must be an int")
        if l < 0:
            raise ValueError(f"Irrep degree l={l!r} must be >= 0")
        if isinstance(p, (bool, np.bool_)) or p not in (1, -1):
            raise ValueError(f"Irrep parity p={p!r} must be 1 (even) or -1 (odd)")
        object.__setattr__(self, "_l", int(l))
        object.__setattr__(self, "_p", int(p))

    def __setattr__(self, name, value):
        raise AttributeError("Irrep is immutable")

    def __reduce__(self):
        # The default slot-state restore goes through __setattr__, which refuses;
        # rebuild through the constructor instead (pickle, copy, deepcopy).
        return (Irrep, (self._l, self._p))

    @property
    def l(self) -> int:  # noqa: E743 - the physicists' name
        """The degree, ``dim = 2 l + 1``."""
        return self._l

    @property
    def p(self) -> int:
        """The parity, 1 (even, ``e``) or -1 (odd, ``o``)."""
        return self._p

    @property
    def dim(self) -> int:
        """The dimension ``2 l + 1``."""
        return 2 * self._l + 1

    def is_scalar(self) -> bool:
        """True for ``0e``, the only irrep invariant under all of O(3)."""
        return self._l == 0 and self._p == 1

    def _sort_key(self):
        # e3nn-jax order: for each l, the parity (-1)^l (that of the harmonics) first.
        return (self._l, -self._p * (-1) ** self._l)

    def __repr__(self) -> str:
        return f"{self._l}{'e' if self._p == 1 else 'o'}"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            try:
                other = Irrep(other)
            except ValueError:
                return False
        if not isinstance(other, Irrep):
            return NotImplemented
        return self._l == other._l and self._p == other._p

    def __hash__(self) -> int:
        return hash((self._l, self._p))

    def __lt__(self, other) -> bool:
        return self._sort_key() < Irrep(other)._sort_key()

    def __le__(self, other) -> bool:
        return self._sort_key() <= Irrep(other)._sort_key()

    def __gt__(self, other) -> bool:
        return self._sort_key() > Irrep(other)._sort_key()

    def __ge__(self, other) -> bool:
        return self._sort_key() >= Irrep(other)._sort_key()

    def __iter__(self):
        # Allows ``l, p = Irrep("1o")``.
        yield self._l
        yield self._p

    def __mul__(self, other) -> Iterator["Irrep"]:
        """The irreps in the product of two irreps (selection rule), by increasing l."""
        other = Irrep(other)
        p = self._p * other._p
        for l in range(abs(self._l - other._l), self._l + other._l + 1):
            yield Irrep(l, p)

    def __rmul__(self, mul: int) -> "Irreps":
        if not isinstance(mul, (int, np.integer)) or isinstance(mul, bool):
            return NotImplemented
        return Irreps([(int(mul), self)])

    def __add__(self, other) -> "Irreps":
        return Irreps(self) + Irreps(other)

    def __radd__(self, other) -> "Irreps":
        return Irreps(other) + Irreps(self)

    @staticmethod
    def iterator(lmax: int | None = None) -> Iterator["Irrep"]:
        """All irreps in sort order, up to degree ``lmax`` (forever if None).

        >>> list(Irrep.iterator(1))
        [0e, 0o, 1o, 1e]
        """
        l = 0
        while lmax is None or l <= lmax:
            yield Irrep(l, (-1) ** l)
            yield Irrep(l, -((-1) ** l))
            l += 1

    # --- representation matrices -------------------------------------------
    def D_from_angles(self, alpha, beta, gamma, k=0) -> np.ndarray:
        """The representation matrix of the rotation Y(alpha) X(beta) Y(gamma)
        composed with ``k`` inversions: ``D = p**k * wigner_D(l, alpha, beta, gamma)``.

        >>> bool(np.allclose(Irrep("1o").D_from_angles(0.1, 0.2, 0.3, k=1),
        ...                  -Irrep("1e").D_from_angles(0.1, 0.2, 0.3)))
        True
        """
        from .wigner import wigner_D

        d = wigner_D(self._l, alpha, beta, gamma)
        # The inversion acts as p on this irrep, so k inversions act as p**k.
        odd = np.asarray(k) % 2 == 1
        sign = np.where(odd & (self._p == -1), -1.0, 1.0)
        return d * sign[..., None, None]

    def D_from_matrix(self, R) -> np.ndarray:
        """The representation matrix of an O(3) element given as a 3x3 matrix.

        ``R`` may have determinant -1 (a rotation times the inversion).

        >>> from e3xp.core.rotations import rand_matrix
        >>> R = rand_matrix(0)
        >>> bool(np.allclose(Irrep("1o").D_from_matrix(R), R))
        True
        >>> bool(np.allclose(Irrep("1o").D_from_matrix(-R), -R))
        True
        """
        from .rotations import _angles_of_rotation, check_rotation

        R = check_rotation(R, allow_parity=True)
        d = np.sign(np.linalg.det(R))
        k = np.rint((1 - d) / 2).astype(np.int64)
        # d R is a checked rotation: no second check.
        return self.D_from_angles(*_angles_of_rotation(R * d[..., None, None]), k)

    def D_from_quaternion(self, q, k=0) -> np.ndarray:
        """The representation matrix of the rotation given by quaternion (w, x, y, z)."""
        from .rotations import quaternion_to_angles

        return self.D_from_angles(*quaternion_to_angles(q), k)

    def D_from_axis_angle(self, axis, angle, k=0) -> np.ndarray:
        """The representation matrix of the rotation by ``angle`` about ``axis``."""
        from .rotations import axis_angle_to_angles

        return self.D_from_angles(*axis_angle_to_angles(axis, angle), k)

    def D_from_log_coordinates(self, log_coordinates, k=0) -> np.ndarray:
        """The representation matrix ``p**k expm(sum_i v[i] generators()[i])`` of log coordinates ``v``.

        ``log_coordinates`` has shape ``(..., 3)`` (the rotation by ``|v|`` about
        ``v``); ``k`` (inversions) broadcasts with its batch shape. The result,
        ``(..., 2l+1, 2l+1)`` float64 NumPy, equals e3nn-jax's, which calls
        ``expm``; here it goes through the Euler angles (the same matrix, to
        rounding, for every ``v``).

        >>> v = np.array([0.3, -0.2, 0.5])
        >>> from .rotations import log_coordinates_to_matrix
        >>> bool(np.allclose(Irrep("1o").D_from_log_coordinates(v), log_coordinates_to_matrix(v)))
        True
        >>> Irrep("2e").D_from_log_coordinates(np.zeros((4, 3)), k=1).shape
        (4, 5, 5)
        """
        from .rotations import log_coordinates_to_angles

        return self.D_from_angles(*log_coordinates_to_angles(log_coordinates), k)

    def generators(self) -> np.ndarray:
        """The so(3) generators ``(3, dim, dim)`` in this irrep (parity plays no role).

        The cached, read-only array of :func:`e3xp.core.wigner.generators`.

        >>> G = Irrep("1e").generators()
        >>> bool(np.allclose(G[0] @ G[1] - G[1] @ G[0], G[2]))
        True
        """
        from .wigner import so3_generators

        return so3_generators(self._l)


IntoIrrep = Union[Irrep, str, tuple]


class MulIrrep:
    """An irrep with a multiplicity: ``mul`` copies of ``ir``.

    >>> MulIrrep(3, "1o")
    3x1o
    >>> mul, ir = MulIrrep(3, "1o"); mul, ir.dim
    (3, 3)
    """

    __slots__ = ("_mul", "_ir")

    def __init__(self, mul, ir=None):
        if ir is None:
            if isinstance(mul, MulIrrep):
                mul, ir = mul.mul, mul.ir
            else:
                raise TypeError(f"MulIrrep needs a multiplicity and an irrep, got {mul!r}")
        if isinstance(mul, (bool, np.bool_)) or not isinstance(mul, (int, np.integer)):
            raise TypeError(f"multiplicity {mul!r} must be an int")
        if mul < 0:
            raise ValueError(f"multiplicity {mul!r} must be >= 0")
        object.__setattr__(self, "_mul", int(mul))
        object.__setattr__(self, "_ir", Irrep(ir))

    def __setattr__(self, name, value):
        raise AttributeError("MulIrrep is immutable")

    def __reduce__(self):
        # As Irrep.__reduce__: rebuild through the constructor, not __setattr__.
        return (MulIrrep, (self._mul, self._ir))

    @property
    def mul(self) -> int:
        """The multiplicity."""
        return self._mul

    @property
    def ir(self) -> Irrep:
        """The irrep."""
        return self._ir

    @property
    def dim(self) -> int:
        """``mul * ir.dim``."""
        return self._mul * self._ir.dim

    def __iter__(self):
        yield self._mul
        yield self._ir

    def __repr__(self) -> str:
        return f"{self._mul}x{self._ir}"

    def __eq__(self, other) -> bool:
        if isinstance(other, tuple) and len(other) == 2:
            try:
                other = MulIrrep(*other)
            except (TypeError, ValueError):
                return False
        if not isinstance(other, MulIrrep):
            return NotImplemented
        return self._mul == other._mul and self._ir == other._ir

    def __hash__(self) -> int:
        return hash((self._mul, self._ir))

    def __lt__(self, other) -> bool:
        other = MulIrrep(other) if not isinstance(other, MulIrrep) else other
        return (self._ir, self._mul) < (other._ir, other._mul)


SORT_CONVENTIONS = ("e3nn-jax", "e3nn")


def sort_key(convention: str = "e3nn-jax"):
    """The key function of an irrep order: ``"e3nn-jax"`` or ``"e3nn"`` (see :meth:`Irreps.sort`).

    >>> key = sort_key("e3nn")
    >>> sorted([Irrep("1e"), Irrep("0e"), Irrep("1o"), Irrep("0o")], key=key)
    [0o, 0e, 1o, 1e]
    >>> sorted([Irrep("1e"), Irrep("0e"), Irrep("1o"), Irrep("0o")], key=sort_key())
    [0e, 0o, 1o, 1e]
    >>> sort_key("torch")
    Traceback (most recent call last):
    ...
    ValueError: sort convention 'torch' is not supported: expected 'e3nn-jax' (0e, 0o, 1o, 1e, 2e, 2o, ...) or 'e3nn' (0o, 0e, 1o, 1e, 2o, 2e, ...)
    """
    if convention == "e3nn-jax":
        return Irrep._sort_key
    if convention == "e3nn":
        return lambda ir: (ir.l, ir.p)
    raise ValueError(
        f"sort convention {convention!r} is not supported: expected 'e3nn-jax' (0e, 0o, 1o, 1e, 2e, 2o, ...) "
        "or 'e3nn' (0o, 0e, 1o, 1e, 2o, 2e, ...)"
    )


class SortResult(NamedTuple):
    """Result of :meth:`Irreps.sort`.

    ``irreps`` is sorted; ``p[i]`` is the new position of entry ``i``;
    ``inv[j]`` is the old position of the new entry ``j``.
    """

    irreps: "Irreps"
    p: tuple
    inv: tuple


class SliceIndexError(TypeError, IndexError):
    """A slice helper indexed by something else than a slice.

    A TypeError (e3xp's rule for bad input) that is also the IndexError e3nn-jax raises.
    """


class SliceStepError(ValueError, NotImplementedError):
    """A slice helper given a step other than 1.

    A ValueError (e3xp's rule for bad input) that is also the NotImplementedError e3nn-jax raises.
    """


class SliceHelper:
    """``obj.slice_by_*[start:stop]``: checks the slice, resolves it against ``size``, calls ``fn``.

    ``fn(start, stop)`` gets the bounds resolved by ``slice.indices(size)``;
    with ``step_ok``, ``fn(index)`` gets the slice itself (any step).

    Shared by the ``slice_by_mul``, ``slice_by_dim`` and ``slice_by_chunk``
    properties of :class:`Irreps` and of ``IrrepsArray``.
    """

    __slots__ = ("_what", "_size", "_fn", "_step_ok")

    def __init__(self, what: str, size: int, fn, step_ok: bool = False):
        self._what, self._size, self._fn, self._step_ok = what, size, fn, step_ok

    def __getitem__(self, index):
        if not isinstance(index, slice):
            raise SliceIndexError(
                f"{self._what}[{index!r}]: expected a slice like {self._what}[2:4], got {type(index).__name__}"
            )
        if self._step_ok:
            return self._fn(index)  # the slice itself: any step, Python's rules
        start, stop, step = index.indices(self._size)
        if step != 1:
            raise SliceStepError(
                f"{self._what}[{index.start}:{index.stop}:{index.step}]: a step other than 1 is not supported"
            )
        return self._fn(start, stop)  # start > stop as e3nn-jax reads it: nothing, or a ValueError


def _parse_irreps_string(s: str) -> list[MulIrrep]:
    if s.strip() == "":
        return []
    out = []
    for term in s.split("+"):
        m = _MUL_IRREP_RE.match(term)
        if m is None:
            raise ValueError(
                f"cannot parse irreps {s!r}: the term {term.strip()!r} is not of the form "
                "'[mul x] l p' with integers mul, l >= 0 and parity p in e/o/y "
                "(examples: '3x0e + 1o', '16x1e+32x2o')"
            )
        mul = int(m.group(1)) if m.group(1) is not None else 1
        l = int(m.group(2))
        out.append(MulIrrep(mul, Irrep(l, _parity_from_char(l, m.group(3)))))
    return out


def _is_foreign_irrep(x) -> bool:
    """An Irrep of e3nn or e3nn-jax (duck-typed: int ``l`` and ``p``, no ``mul``)."""
    return (
        not isinstance(x, (Irrep, MulIrrep, str))
        and isinstance(getattr(x, "l", None), (int, np.integer))
        and getattr(x, "p", None) in (1, -1)
        and not hasattr(x, "mul")
    )


def _as_mul_irrep(x) -> MulIrrep:
    if isinstance(x, MulIrrep):
        return x
    if isinstance(x, Irrep):
        return MulIrrep(1, x)
    if _is_foreign_irrep(x):
        return MulIrrep(1, Irrep(x.l, x.p))
    if not isinstance(x, (str, tuple)) and isinstance(getattr(x, "mul", None), (int, np.integer)) and _is_foreign_irrep(getattr(x, "ir", None)):
        # e3nn-jax's MulIrrep (e3nn's entries are (mul, ir) tuples, handled below)
        return MulIrrep(x.mul, Irrep(x.ir.l, x.ir.p))
    if isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)):
        # e3nn-jax reads a bare int as the irrep (l, +1): Irreps([1, 2]) is 1x1e+1x2e
        # (not the harmonics' parity); a bool is no degree.
        return MulIrrep(1, Irrep(int(x), 1))
    if isinstance(x, str):
        items = _parse_irreps_string(x)
        if len(items) != 1:
            raise ValueError(f"expected a single irrep or mul x irrep, got {x!r}")
        return items[0]
    if isinstance(x, tuple) and tuple.__len__(x) == 2:
        # tuple's own methods: e3nn's (mul, ir) entries and Irrep are tuple subclasses
        mul, ir = tuple.__getitem__(x, 0), tuple.__getitem__(x, 1)
        if _is_foreign_irrep(ir):
            return MulIrrep(mul, Irrep(ir.l, ir.p))
        if isinstance(ir, (Irrep, str, tuple)):
            return MulIrrep(mul, ir)
        # (l, p) given as a plain tuple
        return MulIrrep(1, Irrep(x))
    if isinstance(x, (bytes, bytearray)):
        raise TypeError(f"cannot make an irreps entry from {x!r}: expected a str, got {type(x).__name__}")
    raise TypeError(
        f"cannot make an irreps entry from {x!r} of type {type(x).__name__}: expected "
        "'2x1o', an int degree l (read as the irrep (l, +1), as e3nn-jax does), an Irrep, "
        "a MulIrrep or a (mul, irrep) tuple"
    )


class Irreps(tuple):
    """A direct sum of irreps with multiplicities, e.g. ``"3x0e + 1o"``.

    Immutable and hashable; compares equal to an equivalent string.

    Examples
    --------
    >>> irreps = Irreps("3x0e + 1o")
    >>> irreps
    3x0e+1x1o
    >>> irreps.dim, irreps.num_irreps, irreps.ls, irreps.lmax
    (6, 4, [0, 0, 0, 1], 1)
    >>> irreps == "3x0e+1x1o"
    True
    >>> Irreps("1e + 0e") * 2
    2x1e+2x0e
    >>> Irreps("1e + 0e").repeat(2)
    1x1e+1x0e+1x1e+1x0e
    >>> Irreps("1o + 0e + 1o").regroup()
    1x0e+2x1o
    >>> Irreps("1e + 2e + 0e").filter(keep="2e + 2x1e")
    1x1e+1x2e
    """

    def __new__(cls, irreps=None):
        if irreps is None:
            items = []
        elif isinstance(irreps, Irreps):
            return irreps
        elif isinstance(irreps, str):
            items = _parse_irreps_string(irreps)
        elif isinstance(irreps, Irrep):
            items = [MulIrrep(1, irreps)]
        elif isinstance(irreps, MulIrrep):
            items = [irreps]
        elif _is_foreign_irrep(irreps):
            # e3nn's / e3nn-jax's Irrep: one irrep (e3nn's iterates as its (l, p) ints)
            items = [MulIrrep(1, Irrep(irreps.l, irreps.p))]
        elif isinstance(irreps, (bytes, bytearray, memoryview)):
            # Iterating bytes gives ints ("cannot make an irreps entry from 49"); say what is wrong.
            raise TypeError(f"cannot make Irreps from {irreps!r}: expected a str, got {type(irreps).__name__}")
        elif isinstance(irreps, Mapping):
            # e3nn and e3nn-jax iterate the keys and silently drop the values
            # ({"1o": 3} -> 1x1o); honouring them would silently give other shapes
            # than e3nn-jax for the same code, so refuse and say how to write it.
            raise TypeError(
                f"cannot make Irreps from the {type(irreps).__name__} {irreps!r}: a mapping is "
                "ambiguous (e3nn-jax reads only its keys, with multiplicity 1); pass a string "
                "like '3x1o + 2x0e' or a list of (mul, irrep) pairs"
            )
        elif isinstance(irreps, AbstractSet):
            # A set has no order (its iteration order changes with PYTHONHASHSEED),
            # and the order of the entries is the layout of the data.
            raise TypeError(
                f"cannot make Irreps from the {type(irreps).__name__} {irreps!r}: a set has no "
                "order and the order of the entries is the data layout; pass a string or a list"
            )
        elif isinstance(irreps, Iterable):
            items = [_as_mul_irrep(x) for x in irreps]
        else:
            raise TypeError(
                f"cannot make Irreps from {irreps!r} of type {type(irreps).__name__}: "
                "expected a string like '3x0e + 1o', an Irrep, a MulIrrep or a list of them"
            )
        return super().__new__(cls, items)

    def __reduce__(self):
        # A plain tuple of entries: the constructor re-validates them, and no
        # (empty) instance __dict__ is carried along.
        return (Irreps, (tuple(self),))

    # --- sizes ---------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Total dimension: ``sum(mul * (2 l + 1))``."""
        return sum(mul_ir.dim for mul_ir in self)

    @property
    def num_irreps(self) -> int:
        """Total number of irreps: ``sum(mul)``."""
        return sum(mul_ir.mul for mul_ir in self)

    @property
    def ls(self) -> list[int]:
        """The degree of every irrep, each repeated ``mul`` times."""
        return [mul_ir.ir.l for mul_ir in self for _ in range(mul_ir.mul)]

    @property
    def lmax(self) -> int:
        """The largest degree among the entries of nonzero multiplicity.

        As in e3nn-jax (``max(self.ls)``), entries ``0x...`` do not count, and
        irreps with no irrep at all (empty, or only zero multiplicities) raise a
        ValueError.

        >>> Irreps("0e + 0x3o").lmax
        0
        """
        ls = [mul_ir.ir.l for mul_ir in self if mul_ir.mul > 0]
        if not ls:
            raise ValueError(f"lmax of Irreps {self!r} is undefined: it has no irrep of nonzero multiplicity")
        return max(ls)

    @property
    def mul_gcd(self) -> int:
        """The greatest common divisor of the multiplicities (0 for empty irreps).

        >>> Irreps("4x0e + 6x1o").mul_gcd, Irreps("").mul_gcd
        (2, 0)
        """
        return math.gcd(*self.muls)

    @property
    def muls(self) -> tuple:
        """The multiplicities of the entries."""
        return tuple(mul_ir.mul for mul_ir in self)

    def slices(self) -> list[slice]:
        """The slice of each entry in a flat array of size ``dim``.

        >>> Irreps("2x0e + 1o").slices()
        [slice(0, 2, None), slice(2, 5, None)]
        """
        out, i = [], 0
        for mul_ir in self:
            out.append(slice(i, i + mul_ir.dim))
            i += mul_ir.dim
        return out

    def is_scalar(self) -> bool:
        """True when the irreps listed are exactly ``0e`` (e3nn-jax semantics).

        Entries of zero multiplicity count (``"0e + 0x1o"`` is not scalar) and
        empty irreps are not scalar, as in e3nn-jax.

        >>> Irreps("2x0e + 0e").is_scalar(), Irreps("0e + 0x1o").is_scalar(), Irreps("").is_scalar()
        (True, False, False)
        """
        # Plain comparisons, not a set of Irreps: torch.compile evaluates the
        # latter wrongly while tracing (it returned False for "2x0e").
        return len(self) > 0 and all(mul_ir.ir.l == 0 and mul_ir.ir.p == 1 for mul_ir in self)

    def count(self, ir) -> int:
        """The total multiplicity of ``ir``.

        >>> Irreps("2x1o + 0e + 1o").count("1o")
        3
        """
        ir = Irrep(ir)
        return sum(mul for mul, ir2 in self if ir2 == ir)

    def __contains__(self, ir) -> bool:
        try:
            ir = Irrep(ir)
        except (TypeError, ValueError):
            return False
        return any(ir2 == ir for _, ir2 in self)

    # --- algebra -------------------------------------------------------------
    def __add__(self, other) -> "Irreps":
        return Irreps(tuple(self) + tuple(Irreps(other)))

    def __radd__(self, other) -> "Irreps":
        return Irreps(tuple(Irreps(other)) + tuple(self))

    def __mul__(self, other) -> "Irreps":
        if isinstance(other, (bool, np.bool_)) or not isinstance(other, (int, np.integer)):
            if isinstance(other, (Irreps, Irrep, str)):
                raise TypeError(
                    "Irreps * Irreps is ambiguous; use e3xp.tensor_product or "
                    "Irrep * Irrep for the selection rule"
                )
            return NotImplemented
        if other < 0:
            raise ValueError(f"cannot multiply multiplicities by {other!r} < 0")
        return Irreps([(mul * int(other), ir) for mul, ir in self])

    __rmul__ = __mul__

    def __floordiv__(self, other) -> "Irreps":
        """Divide every multiplicity by ``other`` (floor division), as e3nn-jax.

        >>> Irreps("12x0e + 14x1e") // 2
        6x0e+7x1e
        """
        if isinstance(other, (bool, np.bool_)) or not isinstance(other, (int, np.integer)):
            return NotImplemented
        if other <= 0:
            raise ValueError(f"Irreps // {other!r}: the divisor must be an int > 0")
        return Irreps([(mul // int(other), ir) for mul, ir in self])

    def set_mul(self, mul: int) -> "Irreps":
        """Every entry with multiplicity ``mul``.

        >>> Irreps("2x0e + 1x1e").set_mul(3)
        3x0e+3x1e
        """
        if isinstance(mul, (bool, np.bool_)) or not isinstance(mul, (int, np.integer)):
            raise TypeError(f"set_mul(mul={mul!r}): expected an int, got {type(mul).__name__}")
        if mul < 0:
            raise ValueError(f"set_mul(mul={mul!r}): expected an int >= 0")
        return Irreps([(int(mul), ir) for _, ir in self])

    def unify(self) -> "Irreps":
        """Merge adjacent equal irreps, keeping zero multiplicities (unlike :meth:`simplify`).

        >>> Irreps("0e + 1e + 1e").unify()
        1x0e+2x1e
        >>> Irreps("0e + 0x1e + 0e").unify()
        1x0e+0x1e+1x0e
        """
        out: list[list] = []
        for mul, ir in self:
            if out and out[-1][1] == ir:
                out[-1][0] += mul
            else:
                out.append([mul, ir])
        return Irreps([(mul, ir) for mul, ir in out])

    @property
    def slice_by_mul(self) -> "SliceHelper":
        """Slice by multiplicity: ``irreps.slice_by_mul[start:stop]`` counts single irreps.

        An entry cut by the slice keeps the part inside it.

        >>> Irreps("2x1e + 2e").slice_by_mul[1:]
        1x1e+1x2e
        >>> Irreps("1e + 2e + 3x0e").slice_by_mul[1:3]
        1x2e+1x0e
        """
        return SliceHelper("Irreps.slice_by_mul", self.num_irreps, self._by_mul)

    @property
    def slice_by_dim(self) -> "SliceHelper":
        """Slice by dimension: ``irreps.slice_by_dim[start:stop]`` counts components.

        A ValueError when the part of an entry inside the slice is not a whole
        number of irreps (e3nn-jax's rule: only its length is checked).

        >>> Irreps("1e + 2e + 3x0e").slice_by_dim[3:8]
        1x2e
        >>> Irreps("2x1e").slice_by_dim[1:]
        Traceback (most recent call last):
        ...
        ValueError: Irreps.slice_by_dim[1:6] of 2x1e cuts the entry 2x1e inside an irrep (of dim 3); ...
        """
        return SliceHelper("Irreps.slice_by_dim", self.dim, self._by_dim)

    @property
    def slice_by_chunk(self) -> "SliceHelper":
        """Slice by entry: ``irreps.slice_by_chunk[start:stop]`` is ``irreps[start:stop]``.

        >>> Irreps("2x1e + 2e + 3x0e").slice_by_chunk[1:]
        1x2e+3x0e
        """
        return SliceHelper("Irreps.slice_by_chunk", len(self), self.__getitem__, step_ok=True)

    def _by_mul(self, start: int, stop: int) -> "Irreps":
        return Irreps([(b - a, ir) for (a, b), (_, ir) in zip(self._mul_cuts(start, stop), self) if a is not None])

    def _mul_cuts(self, start: int, stop: int) -> list:
        """For each entry, the range ``(a, b)`` of its copies inside ``[start, stop)``, or ``(None, None)``.

        The same rule as e3nn-jax: an entry wholly inside is kept (a zero
        multiplicity entry at the border too), one that overlaps is cut.
        """
        out, i = [], 0
        for mul, _ in self:
            if start <= i and i + mul <= stop:
                out.append((0, mul))
            elif start < i + mul and i < stop:
                out.append((max(start, i) - i, min(stop, i + mul) - i))
            else:
                out.append((None, None))
            i += mul
        return out

    def _by_dim(self, start: int, stop: int) -> "Irreps":
        cuts, i = [], 0
        for mul, ir in self:
            d = mul * ir.dim
            a, b = max(start, i) - i, min(stop, i + d) - i
            if (start <= i and i + d <= stop) or (start < i + d and i < stop):
                # e3nn-jax checks only that the part kept is whole irreps long (b - a),
                # not where it starts: Irreps carry no data, so only the count matters.
                if (b - a) % ir.dim:
                    raise ValueError(
                        f"Irreps.slice_by_dim[{start}:{stop}] of {self} cuts the entry {mul}x{ir} inside an "
                        f"irrep (of dim {ir.dim}); slice at multiples of its dimension"
                    )
                cuts.append((mul, ir) if (a, b) == (0, d) else ((b - a) // ir.dim, ir))
            i += d
        return Irreps(cuts)

    def repeat(self, n: int) -> "Irreps":
        """The entries repeated ``n`` times (what ``e3nn.o3.Irreps * n`` does)."""
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"repeat count {n!r} must be an int >= 0")
        return Irreps(tuple(self) * int(n))

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Irreps(super().__getitem__(i))
        return super().__getitem__(i)

    def __eq__(self, other) -> bool:
        if isinstance(other, Irreps):
            return tuple.__eq__(self, other)
        if isinstance(other, (str, Irrep, MulIrrep, list, tuple)):
            try:
                return tuple.__eq__(self, Irreps(other))
            except (TypeError, ValueError):
                return False
        return NotImplemented

    def __ne__(self, other) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = tuple.__hash__

    def __repr__(self) -> str:
        return "+".join(repr(mul_ir) for mul_ir in self)

    __str__ = __repr__

    def simplify(self) -> "Irreps":
        """Merge adjacent equal irreps and drop zero multiplicities.

        >>> Irreps("1e + 1e + 0x0e + 0e + 1e").simplify()
        2x1e+1x0e+1x1e
        """
        out: list[list] = []
        for mul, ir in self:
            if mul == 0:
                continue
            if out and out[-1][1] == ir:
                out[-1][0] += mul
            else:
                out.append([mul, ir])
        return Irreps([(mul, ir) for mul, ir in out])

    def remove_zero_multiplicities(self) -> "Irreps":
        """Drop the entries with multiplicity 0, keeping the order."""
        return Irreps([(mul, ir) for mul, ir in self if mul > 0])

    def sort(self, convention: str = "e3nn-jax") -> SortResult:
        """Stable sort by irrep.

        Returns ``(irreps, p, inv)``: ``p[i]`` is the new index of entry ``i``,
        ``inv[j]`` the old index of new entry ``j``. Equal irreps keep their order.

        ``convention`` picks the order of the two parities at each degree:
        ``"e3nn-jax"`` (default, e3nn-jax's ``Irreps.sort``) puts the parity
        ``(-1)^l`` first, ``0e, 0o, 1o, 1e, 2e, 2o, ...``; ``"e3nn"`` (e3nn's
        ``o3.Irreps.sort``, which compares ``(l, p)``) puts odd first,
        ``0o, 0e, 1o, 1e, 2o, 2e, ...``. Other values raise ValueError.

        >>> Irreps("2e + 1o + 0e").sort()
        SortResult(irreps=1x0e+1x1o+1x2e, p=(2, 1, 0), inv=(2, 1, 0))
        >>> Irreps("0e + 0o + 2e + 2o").sort().irreps
        1x0e+1x0o+1x2e+1x2o
        >>> Irreps("0e + 0o + 2e + 2o").sort(convention="e3nn")
        SortResult(irreps=1x0o+1x0e+1x2o+1x2e, p=(1, 0, 3, 2), inv=(1, 0, 3, 2))
        """
        key = sort_key(convention)
        keyed = sorted(range(len(self)), key=lambda i: (key(self[i].ir), i))
        inv = tuple(keyed)
        p = [0] * len(inv)
        for new, old in enumerate(inv):
            p[old] = new
        return SortResult(Irreps([self[i] for i in inv]), tuple(p), inv)

    def regroup(self, convention: str = "e3nn-jax") -> "Irreps":
        """Sort (in ``convention``'s order, see :meth:`sort`), then simplify: each irrep appears once.

        >>> Irreps("0o + 0e + 0o").regroup(), Irreps("0o + 0e + 0o").regroup(convention="e3nn")
        (1x0e+2x0o, 2x0o+1x0e)
        """
        return self.sort(convention).irreps.simplify()

    def filter(self, keep=None, *, drop=None, lmax: int | None = None) -> "Irreps":
        """Keep (or drop) the entries whose irrep is listed; optionally cap the degree.

        ``keep`` and ``drop`` accept a string, Irreps, an ``(l, p)`` pair, a list
        or set of irreps (see :func:`selected_irreps`) or a callable taking a
        :class:`MulIrrep`. Multiplicities in ``keep``/``drop`` are ignored.

        >>> Irreps("0e + 1o + 2e").filter(drop="1o")
        1x0e+1x2e
        >>> Irreps("0e + 1o + 2e").filter(lmax=1)
        1x0e+1x1o
        >>> Irreps("0e + 3x1o").filter(lambda mul_ir: mul_ir.mul > 1)
        3x1o
        """
        if keep is not None and drop is not None:
            raise ValueError("filter takes keep= or drop=, not both")
        if lmax is not None and (isinstance(lmax, (bool, np.bool_)) or not isinstance(lmax, numbers.Integral)):
            # A float would compare fine (l <= 1.5), but it is no degree; say so.
            raise TypeError(f"filter(lmax={lmax!r}): expected an int or None, got {type(lmax).__name__}")
        out = self
        if keep is not None:
            out = Irreps([m for m in out if _irrep_selector(keep, "keep")(m)])
        if drop is not None:
            out = Irreps([m for m in out if not _irrep_selector(drop, "drop")(m)])
        if lmax is not None:
            out = Irreps([m for m in out if m.ir.l <= lmax])
        return out

    # --- constructors ----------------------------------------------------------
    @staticmethod
    def spherical_harmonics(lmax: int, p: int = -1) -> "Irreps":
        """The irreps of spherical harmonics up to ``lmax``: parity ``p**l``.

        >>> Irreps.spherical_harmonics(3)
        1x0e+1x1o+1x2e+1x3o
        >>> Irreps.spherical_harmonics(2, p=1)
        1x0e+1x1e+1x2e
        """
        if p not in (1, -1):
            raise ValueError(f"parity p={p!r} must be 1 or -1")
        if not isinstance(lmax, (int, np.integer)) or lmax < 0:
            raise ValueError(f"lmax={lmax!r} must be an int >= 0")
        return Irreps([(1, (l, p**l)) for l in range(lmax + 1)])

    # --- representation matrices ---------------------------------------------
    def _block_diag(self, blocks: list[np.ndarray]) -> np.ndarray:
        batch = np.broadcast_shapes(*[b.shape[:-2] for b in blocks]) if blocks else ()
        out = np.zeros(batch + (self.dim, self.dim))
        i = 0
        for (mul, _), b in zip(self, blocks):
            d = b.shape[-1]
            for _ in range(mul):
                out[..., i : i + d, i : i + d] = b
                i += d
        return out

    def D_from_angles(self, alpha, beta, gamma, k=0) -> np.ndarray:
        """Block-diagonal representation matrix, see :meth:`Irrep.D_from_angles`."""
        return self._block_diag([ir.D_from_angles(alpha, beta, gamma, k) for _, ir in self])

    def D_from_matrix(self, R) -> np.ndarray:
        """Block-diagonal representation matrix of an O(3) element (3x3 matrix).

        >>> from e3xp.core.rotations import rand_matrix
        >>> R = rand_matrix(1)
        >>> D = Irreps("2x0e + 1o").D_from_matrix(R)
        >>> D.shape, bool(np.allclose(D[2:, 2:], R)), bool(np.allclose(D[:2, :2], np.eye(2)))
        ((5, 5), True, True)
        """
        return self._block_diag([ir.D_from_matrix(R) for _, ir in self])

    def D_from_quaternion(self, q, k=0) -> np.ndarray:
        """Block-diagonal representation matrix of a quaternion (w, x, y, z)."""
        return self._block_diag([ir.D_from_quaternion(q, k) for _, ir in self])

    def D_from_axis_angle(self, axis, angle, k=0) -> np.ndarray:
        """Block-diagonal representation matrix of an axis-angle rotation."""
        return self._block_diag([ir.D_from_axis_angle(axis, angle, k) for _, ir in self])

    def D_from_log_coordinates(self, log_coordinates, k=0) -> np.ndarray:
        """Block-diagonal representation matrix of log coordinates, see
        :meth:`Irrep.D_from_log_coordinates`.

        Batched log coordinates give a batch of matrices (e3nn-jax's version
        accepts only a single rotation here).

        >>> D = Irreps("0e + 2x1o").D_from_log_coordinates(np.zeros((2, 3)), k=1)
        >>> D.shape, np.diagonal(D, axis1=-2, axis2=-1)[0].tolist()
        ((2, 7, 7), [1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0])
        """
        return self._block_diag([ir.D_from_log_coordinates(log_coordinates, k) for _, ir in self])

    def generators(self) -> np.ndarray:
        """The so(3) generators ``(3, dim, dim)``: block diagonal, one block per copy.

        >>> G = Irreps("0e + 2x1o").generators()
        >>> G.shape, bool(np.allclose(G[0] @ G[1] - G[1] @ G[0], G[2]))
        ((3, 7, 7), True)
        """
        return self._block_diag([ir.generators() for _, ir in self]) if self else np.zeros((3, 0, 0))


def _irrep_selector(sel, what: str) -> Callable[[MulIrrep], bool]:
    if callable(sel) and not isinstance(sel, (Irreps, Irrep, MulIrrep, str)):
        return sel
    irs = selected_irreps(sel, what)
    return lambda mul_ir: mul_ir.ir in irs


def is_lp_pair(x) -> bool:
    """True for a list or tuple of two integers, which selectors read as ``(l, p)``.

    Bools count as integers here so that ``(1, True)`` is refused as a parity
    instead of being read some other way.
    """
    return isinstance(x, (list, tuple)) and len(x) == 2 and all(isinstance(v, numbers.Integral) for v in x)


def selected_irreps(sel, what: str = "keep") -> frozenset:
    """The irreps listed by a selector (multiplicities ignored), as a frozenset.

    A selector is a string, an Irrep, a MulIrrep, Irreps, an ``(l, p)`` pair, or a
    list, tuple or set of them; it is a membership test, so order and repetitions do not matter.
    ``what`` names the argument in error messages.

    >>> sorted(selected_irreps({"1o", "2x0e + 1o", Irrep("2e")}))
    [0e, 1o, 2e]
    >>> selected_irreps(3.0, "filter_ir_out")
    Traceback (most recent call last):
    ...
    TypeError: filter_ir_out=3.0 of type float: expected a string like '0e + 1o', an Irrep, Irreps, or a list or set of them
    """
    if isinstance(sel, (str, Irreps, MulIrrep)):
        return frozenset(mul_ir.ir for mul_ir in Irreps(sel))
    if isinstance(sel, Irrep):
        return frozenset((sel,))
    if is_lp_pair(sel):
        return frozenset((Irrep(sel[0], sel[1]),))
    if isinstance(sel, Iterable) and not isinstance(sel, (bytes, bytearray, Mapping)):
        irs = set()
        for x in sel:
            if isinstance(x, (Irrep, tuple)) or is_lp_pair(x):
                irs.add(Irrep(tuple(x) if isinstance(x, list) else x))
            elif isinstance(x, AbstractSet):
                irs |= selected_irreps(x, what)
            else:
                irs |= {m.ir for m in Irreps(x)}
        return frozenset(irs)
    raise TypeError(
        f"{what}={sel!r} of type {type(sel).__name__}: expected a string like '0e + 1o', "
        "an Irrep, Irreps, or a list or set of them"
    )


IntoIrreps = Union[Irreps, str, Irrep, MulIrrep, list, tuple]
