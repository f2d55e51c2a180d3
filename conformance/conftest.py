"""The conformance suite's fixtures: ``xp`` runs a test on every backend variant.

``xp`` is a :class:`e3xp.conformance_checks.Target`: ``xp.asarray(values)`` makes an
array on that backend (with the variant's dtype and device), ``xp.backend`` is the
e3xp backend, ``xp.dtype`` the dtype name. Variants:

* ``numpy``; ``torch``; ``jax`` (x64 is enabled below, before JAX is used);
* ``array_api_strict`` with its strictest flags (no boolean indexing, no
  data-dependent shapes), ``array_api_strict-device1`` (every input on
  ``array_api_strict.Device("device1")``, a non-default device) and
  ``array_api_strict-float32`` (array_api_strict has no flag that removes float64,
  so this variant runs everything in float32, as a float64-less device would);
* ``torch-cuda``: torch on the first CUDA device, skipped without one;
* ``cupy``: skipped, with the reason, when CuPy or a CUDA device is missing.
"""

import importlib.util

import pytest

if importlib.util.find_spec("jax") is not None:
    import jax

    jax.config.update("jax_enable_x64", True)

from e3xp.conformance_checks import make_target, target_names  # noqa: E402

# One list of backend variants for validate and this suite.
XP_VARIANTS = target_names()
FLOAT32_VARIANTS = ["numpy-float32", "torch-float32", "jax-float32"]
AUTODIFF_VARIANTS = ["torch", "jax"]


def _require(name: str) -> None:
    base = name.partition("-")[0]
    if base == "cupy":
        if importlib.util.find_spec("cupy") is None:
            pytest.skip("cupy is not installed (pip install cupy-cuda12x on a CUDA machine)")
        import cupy

        try:
            n = cupy.cuda.runtime.getDeviceCount()
        except Exception as e:  # noqa: BLE001 - no driver, no runtime, ...
            pytest.skip(f"cupy is installed but no CUDA device is usable: {type(e).__name__}: {e}")
        if n < 1:
            pytest.skip("cupy is installed but no CUDA device was found")
        return
    if importlib.util.find_spec(base) is None:
        pytest.skip(f"{base} is not installed")
    if name == "torch-cuda":
        import torch

        if not torch.cuda.is_available():
            pytest.skip("torch has no usable CUDA device (CPU build or no GPU)")


def _target(name: str):
    _require(name)
    target = make_target(name)
    if target.backend_name == "array_api_strict":
        import array_api_strict

        array_api_strict.set_array_api_strict_flags(boolean_indexing=False, data_dependent_shapes=False)
        try:
            yield target
        finally:
            array_api_strict.reset_array_api_strict_flags()
    else:
        yield target


@pytest.fixture(params=XP_VARIANTS)
def xp(request):
    """Every backend variant (see the module docstring)."""
    yield from _target(request.param)


@pytest.fixture(params=FLOAT32_VARIANTS)
def xp32(request):
    """numpy, torch and jax in float32."""
    yield from _target(request.param)


@pytest.fixture(params=AUTODIFF_VARIANTS)
def xp_ad(request):
    """The backends with autodiff (torch, jax), float64."""
    yield from _target(request.param)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.fixture
def jax():
    return pytest.importorskip("jax")
