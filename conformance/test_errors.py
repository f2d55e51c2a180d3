"""Bad input (design section 7) raises the documented error on every backend."""

import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from e3xp.backends import available_backends
from e3xp.conformance_checks import make_target
from e3xp.irreps_array import IrrepsArray
from e3xp.ops import (
    Linear,
    concatenate,
    elementwise_tensor_product,
    norm,
    scalar_activation,
    spherical_harmonics,
    stack,
    tensor_product,
    tensor_square,
)


def test_wrong_last_axis(xp):
    msg = "IrrepsArray: array of shape (..., 5) does not match irreps 1x1o of dim 3"
    with pytest.raises(ValueError, match=re.escape(msg)):
        IrrepsArray("1o", xp.asarray(np.zeros((2, 5))))
    with pytest.raises(ValueError, match=r"shape \(\) has no last axis"):
        IrrepsArray("0e", xp.asarray(np.float64(1.0)))
    with pytest.raises(ValueError, match=r"expected \(\.\.\., 3\)"):
        spherical_harmonics(2, xp.asarray(np.zeros((2, 4))))


@pytest.mark.parametrize("bad", ["1x", "2q", "-1e"])
def test_unparseable_irreps(xp, bad):
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        IrrepsArray(bad, xp.asarray(np.zeros(3)))


def test_adding_different_irreps(xp):
    x = IrrepsArray("1o", xp.asarray([1.0, 1.0, 2.0]))
    y = IrrepsArray("1e", xp.asarray([0.0, 0.0, 2.0]))
    with pytest.raises(ValueError, match=re.escape("IrrepsArray(1x1o) + IrrepsArray(1x1e) is not equivariant.")):
        x + y
    with pytest.raises(ValueError, match=re.escape("IrrepsArray(1x1o) - IrrepsArray(1x1e) is not equivariant.")):
        x - y
    with pytest.raises(ValueError, match=re.escape("IrrepsArray(1x1o) + scalar 1.0 is not equivariant.")):
        x + 1.0
    with pytest.raises(ValueError, match="not equivariant"):
        x * xp.asarray(np.ones(3))  # per-component factors
    with pytest.raises(ValueError, match="not equivariant"):
        1.0 / x
    with pytest.raises(ValueError, match="same irreps"):
        stack([x, y])
    with pytest.raises(ValueError, match="reaches the irreps axis"):
        x[0]


def _other_backend(xp):
    for name in ("numpy", "torch", "jax", "array_api_strict"):
        if name != xp.backend_name and name in available_backends():
            return make_target(name)
    pytest.skip("a second framework is needed")


def test_mixing_frameworks(xp):
    other = _other_backend(xp)
    x = IrrepsArray("0e + 1o", xp.asarray(np.ones(4)))
    y = IrrepsArray("0e + 1o", other.asarray(np.ones(4)))
    a, b = xp.backend_name, other.backend_name
    calls = [
        lambda: x + y,
        lambda: tensor_product(x, y),
        lambda: elementwise_tensor_product(x, y),
        lambda: concatenate([x, y]),
        lambda: x * y.array[..., :1],
    ]
    for call in calls:
        with pytest.raises(TypeError) as info:
            call()
        assert a in str(info.value) and b in str(info.value), str(info.value)
    lin = Linear("0e + 1o")
    params = lin.init(0, y)
    with pytest.raises(TypeError) as info:
        lin.apply(params, x)
    assert a in str(info.value) and b in str(info.value)


def test_mixing_devices():
    pytest.importorskip("array_api_strict")
    import array_api_strict

    x = IrrepsArray("1o", array_api_strict.asarray(np.ones(3), device=array_api_strict.Device("device1")))
    y = IrrepsArray("1o", array_api_strict.asarray(np.ones(3)))
    with pytest.raises(ValueError, match="device1") as info:
        tensor_product(x, y)
    assert "CPU_DEVICE" in str(info.value)
    with pytest.raises(ValueError, match="device"):
        x + y


def test_integer_arrays(xp):
    ints = xp.asarray(np.array([1, 2, 3]), dtype="int64")
    with pytest.raises(TypeError, match="int64"):
        IrrepsArray("1o", ints)
    with pytest.raises(TypeError, match="int64"):
        spherical_harmonics(2, ints)


def test_no_allowed_path(xp):
    x = IrrepsArray("1o", xp.asarray([1.0, 2.0, 3.0]))
    # a filter that leaves nothing gives empty irreps, and an unreachable Linear
    # output is zero, as in e3nn-jax (design.md section 3): not errors
    assert tensor_product(x, x, filter_ir_out="2o").shape == (0,)
    assert elementwise_tensor_product(x, x, filter_ir_out=["0o", "3e"]).irreps == ""
    assert tensor_square(x, filter_ir_out="1e").shape == (0,)  # x (x) x has no antisymmetric part
    lin = Linear("2e")
    assert float(xp.to_numpy(lin.apply(lin.init(0, x), x)).max()) == 0.0
    with pytest.raises(ValueError, match=r"1x1e"):
        spherical_harmonics("0e + 1e", x)  # a polar vector has odd l = 1
    with pytest.raises(ValueError, match="non-scalar"):
        scalar_activation(x, [xp.xp.tanh])
    with pytest.raises(ValueError, match="number of irreps|same number"):
        elementwise_tensor_product(x, IrrepsArray("2x0e", xp.asarray([1.0, 2.0])))


def test_linear_rejects_other_irreps_than_init(xp):
    lin = Linear("2x0e + 1o")
    x = IrrepsArray("0e + 1o", xp.asarray(np.ones(4)))
    params = lin.init(0, x)
    with pytest.raises(ValueError, match=r"1x1o\+1x1e"):
        lin.apply(params, IrrepsArray("1o + 1e", xp.asarray(np.ones(6))))


def test_norm_needs_irreps_array(xp):
    with pytest.raises(TypeError, match="IrrepsArray"):
        norm(xp.asarray(np.ones(3)))


def test_float64_on_jax_without_x64():
    """No silent downcast: float64 requests on JAX without x64 are TypeErrors (own process)."""
    pytest.importorskip("jax")
    code = textwrap.dedent(
        """
        import numpy as np
        import jax
        assert not jax.config.read("jax_enable_x64")
        from e3xp.ops import normal, zeros
        from e3xp.backends import get_backend
        for make in (lambda: zeros("1o", backend="jax", dtype="float64"),
                     lambda: normal("1o", 0, backend="jax", dtype="float64"),
                     lambda: get_backend("jax").asarray(np.zeros(3), dtype="float64")):
            try:
                make()
            except TypeError as e:
                assert "float64" in str(e), e
            else:
                raise SystemExit("float64 was accepted without x64")
        x = zeros("1o", backend="jax")
        assert str(x.dtype) == "float32", x.dtype
        print("ok")
        """
    )
    env_code = ["import os", "os.environ.pop('JAX_ENABLE_X64', None)"]
    out = subprocess.run(
        [sys.executable, "-c", "\n".join(env_code) + "\n" + code],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stdout + out.stderr
