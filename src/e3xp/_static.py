"""Compile-safe constants: irreps bookkeeping computed once, outside traced code.

Everything an operation derives from irreps alone (sorting, simplifying, plans)
goes through :func:`static_call`, keyed on plain data (:func:`irreps_key`,
:func:`selector_key`), so that ``jax.jit`` sees Python constants and
``torch.compile`` bakes the results in instead of tracing the bookkeeping.
"""

from __future__ import annotations

import threading
from collections.abc import Set as AbstractSet

from .core.irreps import Irrep, Irreps, MulIrrep, is_lp_pair, selected_irreps

__all__ = ["static_function", "static_call", "irreps_key", "irreps_from_key", "selector_key", "selector_from_key"]


def _mark_constant(fn):
    # What torch.compiler.assume_constant_result sets, without importing torch:
    # Dynamo calls ``fn`` once while tracing and bakes its (constant) result in.
    fn._dynamo_marked_constant = True
    return fn


class _StaticStore:
    """Holds the results of :func:`static_call` as attributes ``v0, v1, ...``."""


_STATIC = _StaticStore()
_STATIC_NAMES: dict = {}
_STATIC_FUNCTIONS: dict = {}
_STATIC_LOCK = threading.Lock()


def static_function(fn):
    """Register ``fn`` (pure, plain hashable arguments) for :func:`static_call`."""
    _STATIC_FUNCTIONS[f"{fn.__module__}.{fn.__qualname__}"] = fn
    fn._static_name = f"{fn.__module__}.{fn.__qualname__}"
    return fn


# Leaves kept as they are in a store key; every other leaf is keyed with its type.
_PLAIN_LEAVES = frozenset({int, str, type(None)})


def _typed_key(x):
    """``x`` with every leaf that is not an exact int, str or None replaced by ``(type, leaf)``.

    Python says ``13.0 == 13``, ``True == 1`` and ``np.int64(2) == 2`` (equal hashes
    too), so a plain-tuple key would hand the result computed for one to the other:
    validation would depend on which came first. A wrapped leaf is a tuple that
    starts with a type object, which a raw leaf never is (it would be wrapped
    itself), so distinct arguments keep distinct keys.

    >>> _typed_key((13, "1o", None, (1, True), 13.0)) == (13, "1o", None, (1, (bool, True)), (float, 13.0))
    True
    """
    t = type(x)
    if t is tuple:
        # Fast path for the (mul, l, p) triples of irreps keys: nothing to wrap.
        if _PLAIN_LEAVES.issuperset(map(type, x)):
            return x
        return tuple([_typed_key(v) for v in x])
    if t in _PLAIN_LEAVES:
        return x
    return (t, x)


@_mark_constant
def _static_slot(name: str, *args) -> str:
    # ``args`` as separate arguments, not one tuple: Dynamo hands a frozen dataclass
    # (a plan) to a constant function as an argument, but cannot rebuild one inside a tuple
    key = (name, _typed_key(args))
    slot = _STATIC_NAMES.get(key)
    if slot is None:
        value = _STATIC_FUNCTIONS[name](*args)
        with _STATIC_LOCK:
            slot = _STATIC_NAMES.get(key)
            if slot is None:
                slot = f"v{len(_STATIC_NAMES)}"
                setattr(_STATIC, slot, value)
                _STATIC_NAMES[key] = slot
    return slot


def static_call(fn, *args):
    """``fn(*args)`` computed once per distinct ``args`` (plain ints, strings, tuples).

    This is where all irreps bookkeeping (sorting, simplifying, plan building)
    happens, so that it stays out of compiled code: under ``torch.compile`` the
    slot lookup runs at trace time (it is marked constant) and the value is read
    back as an attribute of a module-level object, which Dynamo treats as a real,
    guarded Python object. ``fn`` must be decorated with :func:`static_function`;
    its arguments must not be Irreps (pass :func:`irreps_key` instead), since
    Dynamo cannot hand objects it built while tracing to a constant function.
    """
    return getattr(_STATIC, _static_slot(fn._static_name, *args))


@static_function
def _example_static(n: int) -> tuple:
    """Used by the doctest of :func:`static_call` only.

    >>> static_call(_example_static, 3) is static_call(_example_static, 3)
    True
    """
    return tuple(range(n))


def irreps_key(irreps: Irreps) -> tuple:
    """Irreps as plain data ``((mul, l, p), ...)``, for :func:`static_call`.

    >>> irreps_key(Irreps("2x0e + 1o"))
    ((2, 0, 1), (1, 1, -1))
    >>> irreps_from_key(((2, 0, 1), (1, 1, -1)))
    2x0e+1x1o
    """
    return tuple((mul_ir.mul, mul_ir.ir.l, mul_ir.ir.p) for mul_ir in irreps)


def irreps_from_key(key: tuple) -> Irreps:
    return Irreps([(mul, (l, p)) for mul, l, p in key])


def _naming(what: str, sel, fn, *args):
    """``fn(*args)``, with ``what=sel`` put in front of the message of its error."""
    try:
        return fn(*args)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{what}={sel!r}: {e}") from None


def selector_key(sel, what: str = "selector"):
    """An irreps selector (str, Irrep, Irreps, list or set of them) as plain data; callables pass through.

    Validated here, before any store lookup, where that cannot wait for the plan:
    an ``(l, p)`` pair is checked (so ``(1, True)`` is refused whatever ran
    before), a set becomes its sorted irreps (a membership test: order does not
    matter, and a set is not hashable), and an unhashable value is refused with
    a message naming ``what``.

    >>> selector_key(["0e", Irrep("1o")])
    ('list', ('0e', ('irrep', 1, -1)))
    >>> selector_from_key(selector_key(["0e", Irrep("1o")]))
    ['0e', 1o]
    >>> selector_key({"2e", "0e + 1o"})
    ('set', ((0, 1), (1, -1), (2, 1)))
    >>> selector_key((1, True), "filter_ir_out")
    Traceback (most recent call last):
    ...
    ValueError: filter_ir_out=(1, True): Irrep parity p=True must be 1 (even) or -1 (odd)
    """
    if sel is None:
        return None
    if isinstance(sel, str):
        return str(sel)  # a str subclass (numpy.str_) keys as the str it equals
    if isinstance(sel, Irreps):
        return ("irreps", irreps_key(sel))
    if isinstance(sel, MulIrrep):
        sel = sel.ir
    if isinstance(sel, Irrep):
        return ("irrep", sel.l, sel.p)
    if is_lp_pair(sel):
        ir = _naming(what, sel, Irrep, sel[0], sel[1])  # raises for bools, bad parities
        return ("irrep", ir.l, ir.p)
    if isinstance(sel, (list, tuple)):
        # The container type is kept: inside a selector a tuple is an irrep and a
        # list is irreps, so the plan must see what the caller passed.
        return ("tuple" if isinstance(sel, tuple) else "list", tuple(selector_key(v, what) for v in sel))
    if isinstance(sel, AbstractSet):
        # Sorted as (l, p) pairs: any fixed order does, and Dynamo can sort ints, not Irreps.
        return ("set", tuple(sorted((ir.l, ir.p) for ir in _naming(what, sel, selected_irreps, sel, what))))
    if callable(sel):
        return sel
    try:
        hash(sel)
    except TypeError:
        raise TypeError(
            f"{what}={sel!r} of type {type(sel).__name__}: expected None, a string like "
            "'0e + 1o', an Irrep, Irreps, a list or set of them, or a callable"
        ) from None
    return sel  # hashable but not understood: the plan's own check names it


def selector_from_key(key):
    """Inverse of :func:`selector_key`: something ``Irreps.filter`` and the plans accept."""
    if key is None or isinstance(key, str) or not isinstance(key, tuple):
        return key
    kind = key[0]
    if kind == "irreps":
        return irreps_from_key(key[1])
    if kind == "irrep":
        return Irrep(key[1], key[2])
    if kind == "set":
        return [Irrep(l, p) for l, p in key[1]]
    if kind == "tuple":
        return tuple(selector_from_key(v) for v in key[1])
    return [selector_from_key(v) for v in key[1]]
