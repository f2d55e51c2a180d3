"""Run a callback right after a framework finishes importing, without importing it.

e3xp never imports a framework itself, yet some set-up must happen as soon as one
is there: IrrepsArray becomes a JAX pytree, and the torch backend must exist
before ``torch.compile`` traces the first e3xp call (Dynamo cannot trace the
import of a backend package). :func:`after_import` runs the callback at once when
the framework is already imported, else right after its ``import`` finishes.
"""

from __future__ import annotations

import importlib.abc
import sys
import threading

__all__ = ["after_import"]

_CALLBACKS: dict = {}  # module name -> callbacks still to run
_LOCK = threading.Lock()


def after_import(name: str, callback) -> None:
    """Call ``callback()`` once ``name`` is imported: now if it is, else right after its import.

    Examples
    --------
    >>> calls = []
    >>> after_import("json", lambda: calls.append("json"))  # already imported: runs now
    >>> calls
    ['json']
    """
    if name in sys.modules:
        callback()
        return
    with _LOCK:
        _CALLBACKS.setdefault(name, []).append(callback)
        if not any(isinstance(f, _AfterImport) for f in sys.meta_path):
            sys.meta_path.insert(0, _AfterImport())


def _run(name: str) -> None:
    with _LOCK:
        callbacks = _CALLBACKS.pop(name, [])
        if not _CALLBACKS:
            sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _AfterImport)]
    for callback in callbacks:
        callback()


class _AfterImport(importlib.abc.MetaPathFinder):
    """Wraps the real loader's ``exec_module`` of a watched module to run its callbacks after it.

    It finds the module's spec through the other finders and stays installed
    until the module is executed: ``importlib.util.find_spec`` (e.g. from
    ``available_backends``) asks finders without importing.
    """

    def __init__(self):
        self._busy = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _CALLBACKS or self._busy:
            return None
        self._busy = True
        try:
            spec = None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._busy = False
        loader = getattr(spec, "loader", None)
        exec_module = getattr(loader, "exec_module", None)
        if exec_module is None:
            return spec

        def exec_then_run(module):
            exec_module(module)
            _run(fullname)

        try:
            loader.exec_module = exec_then_run
        except (AttributeError, TypeError):
            pass  # an unusual loader: the callers' own fallbacks run on first use
        return spec
