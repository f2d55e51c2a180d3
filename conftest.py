"""Doctest collection skips the backend packages whose framework is not installed.

Each of them imports its framework at its top, so collecting its doctests without
the framework would be an import error rather than a skip.
"""

import importlib.util

collect_ignore = [
    f"src/e3xp/backends/{name}"
    for name in ("torch", "jax", "cupy")
    if importlib.util.find_spec(name) is None
]
if importlib.util.find_spec("flax") is None:  # e3xp.flax imports flax at its top
    collect_ignore.append("src/e3xp/flax")
