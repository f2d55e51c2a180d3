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
# The framework front-ends import their framework at the top too.
collect_ignore += [
    f"src/e3xp/{package}"
    for package, needs in (("torch", ("torch",)), ("flax", ("flax", "jax")))
    if any(importlib.util.find_spec(name) is None for name in needs)
]
