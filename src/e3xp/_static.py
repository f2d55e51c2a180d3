"""Compile-safe constants: irreps bookkeeping computed once, outside traced code.

Everything an operation derives from irreps alone (sorting, simplifying, plans)
goes through :func:`static_call`, keyed on plain data (:func:`irreps_key`,
:func:`selector_key`), so that ``jax.jit`` sees Python constants and
``torch.compile`` bakes the results in instead of tracing the bookkeeping.
"""

from __future__ import annotations

import threading

from .core.irreps import Irrep, Irreps, MulIrrep

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


@_mark_constant
def _static_slot(name: str, *args) -> str:
    # ``args`` as separate arguments, not one tuple: Dynamo hands a frozen dataclass
    # (a plan) to a constant function as an argument, but cannot rebuild one inside a tuple
    key = (name, args)
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


def selector_key(sel):
    """An irreps selector (str, Irrep, Irreps, list of them) as plain data; callables pass through.

    >>> selector_key(["0e", Irrep("1o")])
    ('list', ('0e', ('irrep', 1, -1)))
    >>> selector_from_key(selector_key(["0e", Irrep("1o")]))
    ['0e', 1o]
    """
    if sel is None or isinstance(sel, str):
        return sel
    if isinstance(sel, Irreps):
        return ("irreps", irreps_key(sel))
    if isinstance(sel, Irrep):
        return ("irrep", sel.l, sel.p)
    if isinstance(sel, MulIrrep):
        return ("irrep", sel.ir.l, sel.ir.p)
    if isinstance(sel, (list, tuple)):
        if len(sel) == 2 and all(isinstance(v, int) for v in sel):
            return ("irrep", sel[0], sel[1])  # an (l, p) pair
        return ("list", tuple(selector_key(v) for v in sel))
    return sel


def selector_from_key(key):
    """Inverse of :func:`selector_key`: something ``Irreps.filter`` and the plans accept."""
    if key is None or isinstance(key, str) or not isinstance(key, tuple):
        return key
    kind = key[0]
    if kind == "irreps":
        return irreps_from_key(key[1])
    if kind == "irrep":
        return Irrep(key[1], key[2])
    return [selector_from_key(v) for v in key[1]]
