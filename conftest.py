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

# e3xp.train: modules (or doctests) that need a framework or ASE
_missing = {name for name in ("torch", "jax", "flax", "optax", "ase") if importlib.util.find_spec(name) is None}
if "ase" in _missing:
    collect_ignore.append("src/e3xp/train")
else:
    if "torch" in _missing:
        collect_ignore += ["src/e3xp/train/torch_backend.py", "src/e3xp/train/calculator.py"]
    if _missing & {"jax", "flax", "optax"}:
        collect_ignore.append("src/e3xp/train/jax_backend.py")
