"""Fixtures shared by the unit tests."""

import importlib.util

import pytest


@pytest.fixture(scope="module")
def jax_x64():
    """JAX runs in float64 for the requesting module only (the flag is process-wide)."""
    if importlib.util.find_spec("jax") is None:
        yield
        return
    import jax

    old = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)
