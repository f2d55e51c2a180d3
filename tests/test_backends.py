"""Backends: every executor on every installed backend against the NumPy references.

The references are independent of the executors: ``execute_plan_reference`` /
``execute_linear_reference`` contract with ``np.einsum`` path by path in float64,
and ``evaluate_plan_numpy`` is the harmonics procedure written directly in
NumPy. Scatter sums are checked against a Python loop, gradients against finite
differences (torch gradcheck) and against each other (torch vs JAX).
"""

from __future__ import annotations

import collections
import importlib.util
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from e3xp.backends import (
    available_backends,
    backend_of,
    constant_cache,
    get_backend,
    get_default_backend,
    set_backend,
    to_backend,
    use_backend,
)
from e3xp.backends.base import ConstantCache
from e3xp.core import plans as P
from e3xp.core.spherical_harmonics import evaluate_plan_numpy, spherical_harmonics_plan

SRC = os.path.join(os.path.dirname(__file__), os.pardir, "src")
HAS = {name: importlib.util.find_spec(name) is not None for name in ("torch", "jax", "array_api_strict", "cupy")}
TOL = {"float64": 1e-12, "float32": 2e-5}


# JAX in float64 for this whole module (fixture in tests/conftest.py).
pytestmark = pytest.mark.usefixtures("jax_x64")


BACKENDS = [name for name in ("numpy", "array_api_strict", "torch", "jax") if name in available_backends()]


def _tp_plans():
    return {
        # small enough that JAX compiles them quickly, large enough for every mode,
        # multiplicities > 1 on both sides and several paths into one output
        "full": P.full_tensor_product_plan("2x0e+3x1o", "0e+2e"),
        "fully_connected": P.fully_connected_tensor_product_plan("2x0e+3x1o", "0e+2x1o", "3x0e+2x1o+2x1e"),
        "channelwise": P.channelwise_tensor_product_plan("4x0e+3x1o", "0e+1o+2e"),
        "elementwise": P.elementwise_tensor_product_plan("3x0e+2x1o", "2x1e+3x0e"),
        "square": P.tensor_square_plan("3x0e+3x1o+1x2e"),
    }


def _err(out, ref) -> float:
    return float(np.max(np.abs(out - ref), initial=0.0) / max(1.0, float(np.max(np.abs(ref), initial=0.0))))


# ---------------------------------------------------------------------------
# executors vs references
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", BACKENDS)
def test_tensor_products_match_reference(name, dtype):
    be = get_backend(name)
    rng = np.random.default_rng(1)
    errs = {}
    for key, plan in _tp_plans().items():
        # leading dims (5, 1), (4,) and per-sample weights' (4,) broadcast to (5, 4)
        cases = [("shared", (plan.weight_numel,))] if plan.weight_numel else [("none", None)]
        if plan.weight_numel:
            cases += [("per-sample", (4, plan.weight_numel))]
        for case, wshape in cases:
            x1 = rng.normal(size=(5, 1, plan.irreps_in1.dim))
            x2 = rng.normal(size=(4, plan.irreps_in2.dim))
            w = None if wshape is None else rng.normal(size=wshape)
            ref = P.execute_plan_reference(plan, x1, x2, w)
            out = be.tensor_product(
                plan, be.asarray(x1, dtype=dtype), be.asarray(x2, dtype=dtype),
                None if w is None else be.asarray(w, dtype=dtype),
            )
            assert tuple(out.shape) == ref.shape
            assert be._dtype_name(out.dtype) == dtype
            errs[key, case] = _err(be.to_numpy(out), ref)
    assert max(errs.values()) < TOL[dtype], errs


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", BACKENDS)
def test_linear_matches_reference(name, dtype):
    be = get_backend(name)
    rng = np.random.default_rng(2)
    plan = P.linear_plan("3x0e+2x1o+2x0e+1x2e", "4x0e+3x1o+2x2e+1x1e", biases=True)
    c = lambda a: None if a is None else be.asarray(a, dtype=dtype)  # noqa: E731
    errs = {}
    for wshape, bshape in [
        ((plan.weight_numel,), (plan.bias_numel,)),
        ((6, plan.weight_numel), None),
        ((plan.weight_numel,), (6, plan.bias_numel)),
        ((3, 1, plan.weight_numel), (plan.bias_numel,)),
    ]:
        x = rng.normal(size=(6, plan.irreps_in.dim))
        w = rng.normal(size=wshape)
        b = None if bshape is None else rng.normal(size=bshape)
        ref = P.execute_linear_reference(plan, x, w, b)
        out = be.linear(plan, c(x), c(w), c(b))
        assert tuple(out.shape) == ref.shape
        errs[wshape, bshape] = _err(be.to_numpy(out), ref)
    assert max(errs.values()) < TOL[dtype], errs


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", BACKENDS)
def test_spherical_harmonics_match_reference(name, dtype):
    be = get_backend(name)
    plan = spherical_harmonics_plan(6)
    v = np.random.default_rng(3).normal(size=(2, 4, 3))
    v[0, 0] = 0.0  # the zero vector
    errs = {}
    for ls in ([3, 0, 6, 1],):
        for normalization in ("component", "norm", "integral"):
            for normalize in (True, False):
                ref = evaluate_plan_numpy(plan, v, ls, normalize, normalization)
                out = be.spherical_harmonics(plan, be.asarray(v, dtype=dtype), ls, normalize, normalization)
                errs[str(ls), normalization, normalize] = _err(be.to_numpy(out), ref)
    assert max(errs.values()) < TOL[dtype], errs
    # e3nn's value at the zero vector: [1, 0, 0, ...] ("component")
    y0 = be.to_numpy(be.spherical_harmonics(plan, be.asarray(np.zeros(3), dtype=dtype), 2, True, "component"))
    assert np.array_equal(y0, np.eye(9)[0])


@pytest.mark.skipif(not HAS["array_api_strict"], reason="array_api_strict is not installed")
@pytest.mark.parametrize("device_name, dtype", [("device1", "float64"), ("no_float64", "float32")])
def test_array_api_strict_devices(device_name, dtype):
    """A non-default device, and one without float64 (everything in float32)."""
    import array_api_strict as xps

    be = get_backend("array_api_strict")
    dev = xps.Device(device_name)
    rng = np.random.default_rng(4)
    plan = P.fully_connected_tensor_product_plan("2x0e+1o", "0e+1o", "0e+2x1o+1e")
    x1, x2 = rng.normal(size=(3, plan.irreps_in1.dim)), rng.normal(size=(3, plan.irreps_in2.dim))
    w = rng.normal(size=(plan.weight_numel,))
    put = lambda a: xps.asarray(a.astype(dtype), device=dev)  # noqa: E731
    out = be.tensor_product(plan, put(x1), put(x2), put(w))
    assert out.device == dev
    assert _err(be.to_numpy(out), P.execute_plan_reference(plan, x1, x2, w)) < TOL[dtype]

    lp = P.linear_plan("2x0e+1o", "3x0e+1o", biases=True)
    x, lw, lb = rng.normal(size=(3, 5)), rng.normal(size=lp.weight_numel), rng.normal(size=lp.bias_numel)
    out = be.linear(lp, put(x), put(lw), put(lb))
    assert out.device == dev
    assert _err(be.to_numpy(out), P.execute_linear_reference(lp, x, lw, lb)) < TOL[dtype]

    shp = spherical_harmonics_plan(3)
    v = rng.normal(size=(4, 3))
    out = be.spherical_harmonics(shp, put(v), 3, True, "norm")
    assert out.device == dev
    assert _err(be.to_numpy(out), evaluate_plan_numpy(shp, v, 3, True, "norm")) < TOL[dtype]

    data = put(rng.normal(size=(5, 2)))
    idx = xps.asarray([2, 0, 2, 2, 1], device=dev)
    s = be.scatter_sum(data, idx, 4)
    assert s.device == dev
    np.testing.assert_allclose(be.to_numpy(s)[2], be.to_numpy(data)[[0, 2, 3]].sum(0), rtol=TOL[dtype])

    if device_name == "no_float64":
        with pytest.raises(ValueError, match="float64"):
            xps.asarray(np.zeros(2), device=dev)  # the device really refuses float64


def test_any_array_api_module_via_prefix():
    """``array_api:<module>`` runs the generic executor on another namespace (numpy here)."""
    if not hasattr(np, "__array_namespace_info__"):
        pytest.skip("this NumPy is not array-API compliant by itself (NumPy < 2)")
    be = get_backend("array_api:numpy")
    assert be.name == "array_api:numpy"
    plan = P.channelwise_tensor_product_plan("2x0e+1o", "0e+1o")
    rng = np.random.default_rng(5)
    x1, x2 = rng.normal(size=(3, 5)), rng.normal(size=(3, 4))
    w = rng.normal(size=(3, plan.weight_numel))
    assert _err(be.tensor_product(plan, x1, x2, w), P.execute_plan_reference(plan, x1, x2, w)) < 1e-12


def test_contraction_order_does_not_change_numbers():
    """Both operand orders are used (x2 small / x1 small) and both match the reference."""
    from e3xp.core.schedule import prepare

    be = get_backend("numpy")
    rng = np.random.default_rng(6)
    firsts = set()
    for a, b in [("8x1o+8x2e", "1o"), ("1o", "8x1o+8x2e")]:
        plan = P.full_tensor_product_plan(a, b)
        schedule, _ = prepare("tp", plan)
        firsts |= {path.first for block in schedule.blocks for path in block.paths}
        x1, x2 = rng.normal(size=(2, plan.irreps_in1.dim)), rng.normal(size=(2, plan.irreps_in2.dim))
        assert _err(be.tensor_product(plan, x1, x2), P.execute_plan_reference(plan, x1, x2)) < 1e-12
    assert firsts == {1, 2}


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------


def test_executor_errors():
    be = get_backend("numpy")
    plan = P.fully_connected_tensor_product_plan("2x0e+1o", "0e+1o", "0e+1o")
    x1, x2 = np.ones((2, 5)), np.ones((2, 4))
    with pytest.raises(ValueError, match=rf"weight_numel|\({plan.weight_numel},\)") as e:
        be.tensor_product(plan, x1, x2, np.ones(plan.weight_numel + 1))
    assert f"({plan.weight_numel},)" in str(e.value) and "layout" in str(e.value) and "'uvw'" in str(e.value)
    with pytest.raises(ValueError, match="required"):
        be.tensor_product(plan, x1, x2)
    with pytest.raises(ValueError, match=r"last axis of size 4"):
        be.tensor_product(plan, x1, np.ones((2, 3)), np.ones(plan.weight_numel))
    with pytest.raises(ValueError, match="do not broadcast"):
        be.tensor_product(plan, np.ones((3, 5)), x2, np.ones(plan.weight_numel))
    with pytest.raises(ValueError, match="do not broadcast"):
        be.tensor_product(plan, x1, x2, np.ones((3, plan.weight_numel)))
    with pytest.raises(TypeError, match="dtype int64"):
        be.tensor_product(plan, np.ones((2, 5), dtype=np.int64), x2, np.ones(plan.weight_numel))
    with pytest.raises(TypeError, match="float32"):
        be.tensor_product(plan, x1.astype(np.float32), x2, np.ones(plan.weight_numel))
    with pytest.raises(ValueError, match="no weights"):
        be.tensor_product(P.full_tensor_product_plan("1o", "1o"), np.ones(3), np.ones(3), np.ones(1))
    lp = P.linear_plan("2x0e", "3x0e")
    with pytest.raises(ValueError, match=r"\(6,\)"):
        be.linear(lp, np.ones(2), np.ones(5))
    with pytest.raises(ValueError, match="no biases"):
        be.linear(lp, np.ones(2), np.ones(6), np.ones(3))
    shp = spherical_harmonics_plan(2)
    with pytest.raises(ValueError, match="above the plan's lmax"):
        be.spherical_harmonics(shp, np.ones(3), [3], True, "component")
    with pytest.raises(ValueError, match="'bad'"):
        be.spherical_harmonics(shp, np.ones(3), 2, True, "bad")
    with pytest.raises(ValueError, match=r"size 3"):
        be.spherical_harmonics(shp, np.ones(4), 2, True, "component")
    with pytest.raises(TypeError, match="backend 'numpy'"):
        be.spherical_harmonics(shp, [1.0, 0.0, 0.0], 2, True, "component")


# ---------------------------------------------------------------------------
# scatter sums
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", BACKENDS)
def test_scatter_sum_accumulates_repeated_indices(name):
    be = get_backend(name)
    rng = np.random.default_rng(7)
    data = rng.normal(size=(6, 3, 2))
    ids = np.array([3, 0, 3, 3, 1, 0])
    for axis, n in [(0, 5), (1, 4), (-1, 4)]:
        a = axis % 3
        idx = ids[: data.shape[a]] % n
        expected = np.zeros(data.shape[:a] + (n,) + data.shape[a + 1 :])
        for i, s in enumerate(idx):  # the definition, one slice at a time
            sl = (slice(None),) * a + (s,)
            expected[sl] += np.take(data, i, axis=a)
        out = be.scatter_sum(be.asarray(data), be.asarray(idx), n, axis=axis)
        np.testing.assert_allclose(be.to_numpy(out), expected, rtol=1e-13, atol=1e-13)
    with pytest.raises(ValueError, match="segment id 5 is out of range"):
        be.scatter_sum(be.asarray(data), be.asarray(np.array([0, 1, 5, 0, 0, 0])), 5)
    with pytest.raises(ValueError, match="segment id -1"):
        be.scatter_sum(be.asarray(data), be.asarray(np.array([0, 1, -1, 0, 0, 0])), 5)
    with pytest.raises(TypeError, match="integer"):
        be.scatter_sum(be.asarray(data), be.asarray(np.zeros(6)), 5)
    with pytest.raises(ValueError, match="one entry per slice"):
        be.scatter_sum(be.asarray(data), be.asarray(np.zeros(5, dtype=np.int64)), 5)


# ---------------------------------------------------------------------------
# inference, mixing, registry
# ---------------------------------------------------------------------------


@pytest.mark.skipif(not (HAS["torch"] and HAS["jax"]), reason="needs torch and jax")
def test_backend_of_mixing_frameworks():
    import jax.numpy as jnp
    import torch

    assert backend_of(torch.zeros(2), None, 3.0).name == "torch"
    assert backend_of(jnp.zeros(2), 1).name == "jax"
    with pytest.raises(TypeError, match=r"cannot mix torch and jax arrays in one call \(got torch.Tensor and jax.Array\)"):
        backend_of(torch.zeros(2), jnp.zeros(2))
    with pytest.raises(TypeError, match=r"cannot mix numpy and torch arrays.*numpy.ndarray and torch.Tensor"):
        backend_of(np.zeros(2), torch.zeros(2))
    with pytest.raises(TypeError, match="expected arrays"):
        backend_of(np.zeros(2), "abc")


@pytest.mark.skipif(not HAS["array_api_strict"], reason="array_api_strict is not installed")
def test_backend_of_mixing_devices():
    import array_api_strict as xps

    a = xps.asarray([1.0])
    b = xps.asarray([1.0], device=xps.Device("device1"))
    assert backend_of(a, a).name == "array_api_strict"
    with pytest.raises(ValueError, match=r"CPU_DEVICE.*device1"):
        backend_of(a, b)


def test_backend_of_without_arrays_is_the_default():
    with use_backend("numpy"):
        assert backend_of(None, 2.0) is get_backend("numpy")


def test_registry():
    assert available_backends()[0] == "numpy"
    assert get_backend("numpy") is get_backend("numpy")
    with pytest.raises(ValueError, match=r"unknown backend 'nope'.*'numpy'"):
        get_backend("nope")
    with pytest.raises(ValueError, match="cannot be imported"):
        get_backend("array_api:no_such_module_e3xp")


def test_import_e3xp_imports_no_framework():
    """Frameworks load with their backend package, on first use, never with e3xp itself."""
    code = (
        "import sys, e3xp, e3xp.backends, e3xp.backends.array_api, e3xp.backends.validation;"
        "import e3xp.backends.harmonics, e3xp.backends.generic, e3xp.core.schedule;"
        "e3xp.backends.get_backend('numpy'); e3xp.backends.available_backends();"
        "bad = [m for m in ('torch', 'jax', 'cupy', 'array_api_strict', 'scipy') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": SRC}, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


# ---------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------


@pytest.fixture
def clean_config(monkeypatch):
    monkeypatch.delenv("E3XP_BACKEND", raising=False)
    set_backend(None)
    yield monkeypatch
    set_backend(None)


@pytest.mark.skipif(not (HAS["torch"] and HAS["array_api_strict"]), reason="needs torch and array_api_strict")
def test_config_precedence(clean_config):
    assert get_default_backend().name == "numpy"
    clean_config.setenv("E3XP_BACKEND", "array_api_strict")
    assert get_default_backend().name == "array_api_strict"  # env > numpy
    set_backend("torch")
    assert get_default_backend().name == "torch"  # set_backend > env
    with use_backend("numpy"):
        assert get_default_backend().name == "numpy"  # context > set_backend
        with use_backend("array_api_strict"):
            assert get_default_backend().name == "array_api_strict"
        assert get_default_backend().name == "numpy"
        seen = []
        t = threading.Thread(target=lambda: seen.append(get_default_backend().name))
        t.start()
        t.join()
        assert seen == ["torch"]  # the block is local to this thread
    assert get_default_backend().name == "torch"
    set_backend(None)
    assert get_default_backend().name == "array_api_strict"
    clean_config.setenv("E3XP_BACKEND", "nope")
    with pytest.raises(ValueError, match="E3XP_BACKEND='nope'"):
        get_default_backend()
    with pytest.raises(ValueError, match="unknown backend"):
        set_backend("nope")


# ---------------------------------------------------------------------------
# conversion
# ---------------------------------------------------------------------------


class _Hooked:
    def __init__(self, array):
        self.array = array

    def _to_backend(self, name, dtype=None, device=None):
        return _Hooked(to_backend(self.array, name, dtype=dtype, device=device))


def test_to_backend_round_trips():
    Pair = collections.namedtuple("Pair", "a b")
    rng = np.random.default_rng(8)
    tree = {
        "w": rng.normal(size=(2, 3)),
        "ids": np.array([0, 2, 1]),
        "more": [rng.normal(size=4), (None, 2.5, "text")],
        "pair": Pair(rng.normal(size=1), _Hooked(rng.normal(size=2))),
    }
    cur = tree
    for name in [n for n in ("torch", "jax", "array_api_strict") if n in BACKENDS] + ["numpy"]:
        cur = to_backend(cur, name)
        be = get_backend(name)
        assert be.is_array(cur["w"]) and be.is_array(cur["more"][0]) and be.is_array(cur["pair"].b.array)
        assert isinstance(cur["pair"], Pair) and cur["more"][1] == (None, 2.5, "text")
    np.testing.assert_array_equal(cur["w"], tree["w"])
    np.testing.assert_array_equal(cur["ids"], tree["ids"])
    np.testing.assert_array_equal(cur["pair"].b.array, tree["pair"].b.array)
    f32 = to_backend(tree, "numpy", dtype="float32")
    assert f32["w"].dtype == np.float32 and f32["ids"].dtype == tree["ids"].dtype
    assert f32["pair"].b.array.dtype == np.float32


# ---------------------------------------------------------------------------
# constants and random numbers
# ---------------------------------------------------------------------------


def test_constant_cache_is_bounded_lru():
    cache = ConstantCache(maxsize=3)
    for k in range(5):
        cache.put(k, None, k * 10)
    assert len(cache) == 3 and cache.get(0) is None and cache.get(4) == 40
    cache.get(2)  # refresh 2: 3 is now the oldest
    cache.put(5, None, 50)
    assert cache.get(3) is None and cache.get(2) == 20
    be = get_backend("numpy")
    c = np.arange(3.0)
    c.setflags(write=False)
    like = np.zeros(1, dtype=np.float32)
    first = be.constant(c, like=like)
    assert be.constant(c, like=like) is first and first.dtype == np.float32
    assert len(constant_cache) <= constant_cache.maxsize == 512


@pytest.mark.skipif(not HAS["jax"], reason="jax is not installed")
def test_jax_jit_caches_no_tracer():
    import jax
    import jax.numpy as jnp

    be = get_backend("jax")
    plan = P.channelwise_tensor_product_plan("3x0e+2x1o", "0e+1o")
    shp = spherical_harmonics_plan(2)
    constant_cache.clear()

    @jax.jit
    def f(x1, x2, w, v):
        c = be.constant(np.array([1.0, 2.0]), like=x1)
        return be.tensor_product(plan, x1, x2, w).sum() + be.spherical_harmonics(shp, v, 2).sum() + c.sum()

    rng = np.random.default_rng(9)
    for n in (3, 5):  # two shapes: two traces
        args = [jnp.asarray(rng.normal(size=s)) for s in ((n, 9), (n, 4), (n, plan.weight_numel), (n, 3))]
        eager = be.tensor_product(plan, *args[:3]).sum() + be.spherical_harmonics(shp, args[3], 2).sum() + 3.0
        assert abs(float(f(*args)) - float(eager)) < 1e-12
    c = np.array([3.0, 4.0])
    assert be.constant(c, like=args[0]) is be.constant(c, like=args[0])  # concrete: cached
    values = constant_cache.values()
    assert values
    flat = [v for val in values for v in (val if isinstance(val, tuple) else (val,))]
    assert not any(isinstance(v, jax.core.Tracer) for v in flat)


def test_normal_same_numbers_on_every_backend():
    ref = np.random.default_rng(11).standard_normal((3, 2))
    for name in BACKENDS:
        be = get_backend(name)
        out = be.to_numpy(be.normal(11, (3, 2), dtype="float64"))
        np.testing.assert_array_equal(out, ref)
    gen = np.random.default_rng(11)
    np.testing.assert_array_equal(get_backend("numpy").normal(gen, (3, 2)), ref)
    with pytest.raises(TypeError, match="seed must be"):
        get_backend("numpy").normal("seed", (2,))
    if HAS["jax"]:
        import jax

        k = jax.random.key(0)
        a = get_backend("jax").normal(k, (4,), dtype="float64")
        np.testing.assert_array_equal(np.asarray(a), np.asarray(jax.random.normal(k, (4,), dtype="float64")))
        np.testing.assert_array_equal(get_backend("numpy").normal(k, (4,)), np.asarray(a))
    if HAS["torch"]:
        import torch

        g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
        t = get_backend("torch").normal(g1, (4,), dtype="float32")
        assert t.dtype == torch.float32
        np.testing.assert_array_equal(t.numpy(), torch.randn(4, generator=g2, dtype=torch.float64).float().numpy())


def test_float_dtype_and_check_float():
    for name in BACKENDS:
        be = get_backend(name)
        x = be.asarray([1.0], dtype="float32")
        assert x.dtype == be.float_dtype("float32")
        be.check_float(x, "x")
        with pytest.raises(TypeError, match="x must be a real floating array, got dtype int"):
            be.check_float(be.asarray([1]), "x")
        with pytest.raises(TypeError, match="'float8'"):
            be.float_dtype("float8")


@pytest.mark.skipif(not HAS["jax"], reason="jax is not installed")
def test_jax_float64_without_x64_is_an_error():
    code = (
        "from e3xp.backends import get_backend\n"
        "import numpy as np\n"
        "be = get_backend('jax')\n"
        "assert be.asarray([1.0]).dtype == be.float_dtype('float32')\n"
        "for f in (lambda: be.float_dtype('float64'), lambda: be.asarray(np.zeros(2)),\n"
        "          lambda: be.normal(0, (2,), dtype='float64')):\n"
        "    try:\n"
        "        f()\n"
        "    except TypeError as e:\n"
        "        assert \"jax.config.update('jax_enable_x64', True)\" in str(e), e\n"
        "    else:\n"
        "        raise SystemExit('no error')\n"
    )
    env = {**os.environ, "PYTHONPATH": SRC, "JAX_ENABLE_X64": "0", "JAX_PLATFORMS": "cpu"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


# ---------------------------------------------------------------------------
# autodiff and compilation
# ---------------------------------------------------------------------------


@pytest.mark.skipif(not HAS["jax"], reason="jax is not installed")
def test_jax_jit_vmap_grad():
    import jax
    import jax.numpy as jnp

    be = get_backend("jax")
    plan = P.fully_connected_tensor_product_plan("2x0e+1o", "0e+1o", "0e+1o")
    shp = spherical_harmonics_plan(3)
    rng = np.random.default_rng(12)
    x1, x2 = jnp.asarray(rng.normal(size=(4, 5))), jnp.asarray(rng.normal(size=(4, 4)))
    w = jnp.asarray(rng.normal(size=plan.weight_numel))
    v = jnp.asarray(rng.normal(size=(4, 3))).at[0].set(0.0)

    def f(x1, x2, w, v):
        return (be.tensor_product(plan, x1, x2, w) ** 2).sum() + (be.spherical_harmonics(shp, v, 3, True) ** 2).sum()

    assert abs(float(jax.jit(f)(x1, x2, w, v)) - float(f(x1, x2, w, v))) < 1e-12
    vm = jax.vmap(lambda a, b: be.tensor_product(plan, a, b, w))(x1, x2)
    assert float(jnp.max(jnp.abs(vm - be.tensor_product(plan, x1, x2, w)))) < 1e-14
    g = jax.grad(f, argnums=(0, 1, 2, 3))
    gj = jax.jit(g)(x1, x2, w, v)
    # grad of grad, through the harmonics' zero-vector branch too
    g2 = jax.grad(lambda v: (jax.grad(lambda v: (be.spherical_harmonics(shp, v, 3) ** 3).sum())(v) ** 2).sum())
    assert bool(jnp.isfinite(jax.jit(g2)(v)).all())
    g2 = jax.grad(lambda w: (jax.grad(lambda a: (be.tensor_product(plan, a, x2, w) ** 2).sum())(x1) ** 2).sum())
    assert bool(jnp.isfinite(jax.jit(g2)(w)).all())
    # a finite-difference check of the TP gradient along one direction
    d = jnp.asarray(rng.normal(size=x1.shape))
    eps = 1e-6
    fd = (f(x1 + eps * d, x2, w, v) - f(x1 - eps * d, x2, w, v)) / (2 * eps)
    assert abs(float(fd) - float((gj[0] * d).sum())) < 1e-6
    # at the zero vector Y_1 = sqrt(3) v with v = x: gradient sqrt(3) per component of sum(Y_1)
    g0 = jax.grad(lambda v: be.spherical_harmonics(shp, v, [1], True).sum())(jnp.zeros(3))
    np.testing.assert_allclose(np.asarray(g0), np.sqrt(3.0) * np.ones(3), rtol=1e-14)
    s = jax.jit(lambda d, i: be.scatter_sum(d, i, 3))(x2, jnp.asarray([0, 2, 2, 0]))
    np.testing.assert_allclose(np.asarray(s[2]), np.asarray(x2[1] + x2[2]), rtol=1e-14)


@pytest.mark.skipif(not HAS["torch"], reason="torch is not installed")
def test_torch_autograd_double_backward():
    import torch

    be = get_backend("torch")
    plan = P.channelwise_tensor_product_plan("2x0e+1o", "0e+1o")
    shp = spherical_harmonics_plan(2)
    gen = torch.Generator().manual_seed(0)
    x1 = torch.randn(3, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    x2 = torch.randn(3, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    w = torch.randn(3, plan.weight_numel, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, c: be.tensor_product(plan, a, b, c), (x1, x2, w))
    assert torch.autograd.gradgradcheck(lambda a, b, c: be.tensor_product(plan, a, b, c), (x1, x2, w))
    v = torch.zeros(2, 3, dtype=torch.float64)
    v[1] = torch.tensor([0.3, -1.2, 0.5])
    v.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: be.spherical_harmonics(shp, v, 2, False, "norm"), (v,))
    (g,) = torch.autograd.grad(be.spherical_harmonics(shp, v, [1], True).sum(), v, create_graph=True)
    assert torch.isfinite(g).all() and torch.allclose(g[0], torch.full((3,), 3.0**0.5, dtype=torch.float64))
    (gg,) = torch.autograd.grad((g**2).sum(), v)
    assert torch.isfinite(gg).all()
    lp = P.linear_plan("2x0e+1o", "0e+2x1o", biases=True)
    x = torch.randn(4, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    lw = torch.randn(lp.weight_numel, dtype=torch.float64, generator=gen, requires_grad=True)
    lb = torch.randn(lp.bias_numel, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, c: be.linear(lp, a, b, c), (x, lw, lb))
    d = torch.randn(4, 2, dtype=torch.float64, generator=gen, requires_grad=True)
    idx = torch.tensor([1, 0, 1, 1])
    assert torch.autograd.gradgradcheck(lambda d: be.scatter_sum(d, idx, 3) ** 2, (d,))
    with torch.inference_mode():  # constants made here must stay usable by autograd later
        be.tensor_product(P.full_tensor_product_plan("3x1e", "2e"), torch.ones(9), torch.ones(5))
    a = torch.ones(9, requires_grad=True)
    be.tensor_product(P.full_tensor_product_plan("3x1e", "2e"), a, torch.ones(5)).sum().backward()


@pytest.mark.skipif(not HAS["torch"], reason="torch is not installed")
def test_torch_compile_fullgraph():
    """Dynamo traces tensor product, linear, harmonics and scatter without graph breaks.

    The ``eager`` compiler runs Dynamo alone (where graphs break) in a second or
    two; set E3XP_TEST_INDUCTOR=1 to also run AOTAutograd and inductor (tens of
    seconds on a small CPU).
    """
    import torch

    be = get_backend("torch")
    plan = P.fully_connected_tensor_product_plan("2x0e+1o", "0e+1o", "0e+1o")
    lp = P.linear_plan("0e+1o", "2x0e+1o")
    shp = spherical_harmonics_plan(2)
    idx = torch.tensor([0, 1, 1])

    def f(x1, x2, w, lw, v):
        y = be.tensor_product(plan, x1, x2, w)
        y = be.linear(lp, y, lw)
        s = be.spherical_harmonics(shp, v, [0, 2, 1], True, "component")
        return be.scatter_sum(y, idx, 2), s

    gen = torch.Generator().manual_seed(1)
    args = [
        torch.randn(*s, dtype=torch.float64, generator=gen, requires_grad=True)
        for s in ((3, 5), (3, 4), (plan.weight_numel,), (lp.weight_numel,), (3, 3))
    ]
    backends = ["eager"] + (["aot_eager", "inductor"] if os.environ.get("E3XP_TEST_INDUCTOR") == "1" else [])
    for compiler in backends:
        torch._dynamo.reset()
        cf = torch.compile(f, fullgraph=True, backend=compiler)
        for out_c, out_e in zip(cf(*args), f(*args)):
            assert torch.allclose(out_c, out_e, rtol=1e-12, atol=1e-12)
        gc = torch.autograd.grad(sum(o.sum() for o in cf(*args)), args)
        ge = torch.autograd.grad(sum(o.sum() for o in f(*args)), args)
        for a, b in zip(gc, ge):
            assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# CuPy
# ---------------------------------------------------------------------------


def _cupy_skip_reason():
    if not HAS["cupy"]:
        return "cupy is not installed"
    try:
        get_backend("cupy")
    except ValueError as e:
        return f"cupy has no usable CUDA device: {e}"
    return None


def test_cupy_backend():
    reason = _cupy_skip_reason()
    if reason:
        pytest.skip(reason)
    be = get_backend("cupy")
    rng = np.random.default_rng(13)
    for key, plan in _tp_plans().items():
        x1, x2 = rng.normal(size=(3, plan.irreps_in1.dim)), rng.normal(size=(3, plan.irreps_in2.dim))
        w = rng.normal(size=(3, plan.weight_numel)) if plan.weight_numel else None
        out = be.tensor_product(plan, be.asarray(x1), be.asarray(x2), None if w is None else be.asarray(w))
        assert _err(be.to_numpy(out), P.execute_plan_reference(plan, x1, x2, w)) < 1e-12, key
    idx = np.array([1, 1, 0])
    s = be.scatter_sum(be.asarray(rng.normal(size=(3, 2))), be.asarray(idx), 2)
    assert s.shape == (2, 2)
