"""IrrepsArray as a JAX pytree (the array is the only leaf; the irreps are static aux data).

The zero flags are dropped on flatten (see ``_flatten``), exactly as e3nn-jax does.

The registration happens as soon as JAX is imported, whichever of e3xp or jax is
imported first: if jax is not imported yet, an import hook registers right after
``import jax`` finishes, without importing JAX itself.
"""

from __future__ import annotations

import sys
import threading

from ._import_hooks import after_import

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


def install_pytree_registration(cls) -> None:
    """Register ``cls`` (IrrepsArray) now if JAX is imported, else right after ``import jax``."""
    _JAX_STATE["cls"] = cls
    after_import("jax", register_jax_pytree)
