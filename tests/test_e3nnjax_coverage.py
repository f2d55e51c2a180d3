"""Every public name of e3nn-jax (its Haiku, Equinox and Flax wrappers aside) exists in e3xp.

The methods of Irrep, Irreps and IrrepsArray are checked in test_e3nnjax_irreps.py and
conformance/test_e3nnjax_arrays.py; each name's behaviour in the test_e3nnjax_* files.
"""

import types

import pytest

import e3xp

WRAPPERS = {"haiku", "flax", "equinox", "legacy", "experimental", "utils"}


def test_every_public_e3nn_jax_name_exists():
    e3nn_jax = pytest.importorskip("e3nn_jax")
    names = [n for n in getattr(e3nn_jax, "__all__", dir(e3nn_jax)) if not n.startswith("_") and n not in WRAPPERS]
    # e3nn-jax exports `legendre` as a module; e3xp has the function it holds
    public = [n for n in names if n == "legendre" or not isinstance(getattr(e3nn_jax, n), types.ModuleType)]
    assert len(public) >= 100, public  # the list itself was read
    missing = [n for n in public if not hasattr(e3xp, n)]
    assert not missing, f"e3nn-jax names missing from e3xp: {missing}"
    assert hasattr(e3xp, "utils") and hasattr(e3xp.utils, "assert_equivariant")
