"""Root pytest configuration: doctest collection skips the packages whose framework is not
installed, and torch's default dtype is restored after every test.

Each backend package and front-end imports its framework at its top, so collecting its
doctests without the framework would be an import error rather than a skip.
"""

import importlib.util
import sys

import pytest

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


@pytest.fixture(autouse=True)
def _restore_torch_default_dtype():
    """Tests that compare with e3nn set torch's process-wide default dtype to float64;
    restore it after every test so no other test inherits it."""
    torch = sys.modules.get("torch")
    old = torch.get_default_dtype() if torch is not None else None
    yield
    torch = sys.modules.get("torch")
    if torch is not None:
        want = old if old is not None else torch.float32  # torch's own default
        if torch.get_default_dtype() != want:
            torch.set_default_dtype(want)


@pytest.fixture
def torch_float64():
    """torch's default dtype is float64 during the test (e3nn keeps its constants in it)."""
    import torch

    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)
