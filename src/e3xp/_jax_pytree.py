"""IrrepsArray as a JAX pytree (the array is the only leaf; the irreps are static aux data).

The zero flags are dropped on flatten (see ``_flatten``), exactly as e3nn-jax does.

The registration happens as soon as JAX is imported, whichever of e3xp or jax is
imported first: if jax is not imported yet, an import hook registers right after
``import jax`` finishes, without importing JAX itself.
"""

from __future__ import annotations

import importlib.abc
import sys
import threading

__all__ = ["install_pytree_registration", "register_jax_pytree"]


_JAX_STATE = {"registered": False, "lock": threading.Lock(), "cls": None}


def _flatten(x):
    # The zero flags are deliberately not aux data (as in e3nn-jax): the leaf that
    # comes back may be anything a transformation made of the array (a gradient,
    # tree_map's f(array), an optimizer update), so a flag promising zeros would
    # be a lie there. Unflattened IrrepsArrays have no flags, which is always true.
    return (x.array,), x.irreps


def _unflatten(irreps, children):
    return _JAX_STATE["cls"]._unchecked(irreps, children[0])


def register_jax_pytree() -> None:
    """Register IrrepsArray as a pytree if JAX is (fully) imported; idempotent."""
    if _JAX_STATE["registered"]:
        return
    jax = sys.modules.get("jax")
    tree_util = getattr(jax, "tree_util", None) if jax is not None else None
    if tree_util is None:
        return
    with _JAX_STATE["lock"]:
        if _JAX_STATE["registered"]:
            return
        try:
            tree_util.register_pytree_node(_JAX_STATE["cls"], _flatten, _unflatten)
        except ValueError:
            pass  # already registered (e.g. this module was reloaded)
        _JAX_STATE["registered"] = True


class _JaxImportHook(importlib.abc.MetaPathFinder):
    """Registers the pytree right after ``import jax`` finishes, if e3xp came first.

    It finds jax's real spec through the other finders and wraps only that
    loader's ``exec_module``; it removes itself once jax has been executed.
    """

    def __init__(self):
        self._busy = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "jax" or self._busy:
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
        # Stay installed until jax is actually executed: importlib.util.find_spec
        # (e.g. from available_backends) asks finders without importing.
        loader = getattr(spec, "loader", None)
        exec_module = getattr(loader, "exec_module", None)
        if exec_module is None:
            return spec

        def exec_then_register(module):
            exec_module(module)
            register_jax_pytree()
            _remove_jax_hook()

        try:
            loader.exec_module = exec_then_register
        except (AttributeError, TypeError):
            pass  # an unusual loader: the constructor hook still registers on first use
        return spec


def _remove_jax_hook() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _JaxImportHook)]


def install_pytree_registration(cls) -> None:
    """Register ``cls`` (IrrepsArray) now if JAX is imported, else right after ``import jax``."""
    _JAX_STATE["cls"] = cls
    if "jax" in sys.modules:
        register_jax_pytree()
    else:
        _remove_jax_hook()
        sys.meta_path.insert(0, _JaxImportHook())
