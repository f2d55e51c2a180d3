"""e3xp.flax modules: O(3) equivariance and agreement with e3xp's functional layers (float64).

Skips cleanly without flax (or jax). The comparisons with e3nn-jax itself are in
tests/test_flax_modules.py.
"""

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("flax")
import jax.numpy as jnp  # noqa: E402

import e3xp  # noqa: E402
from e3xp.testing import assert_equivariant  # noqa: E402

ef = e3xp.flax  # the lazy attribute (imports flax here)


def _x(irreps, lead, seed):
    irreps = e3xp.Irreps(irreps)
    return e3xp.IrrepsArray(irreps, jax.random.normal(jax.random.PRNGKey(seed), lead + (irreps.dim,), jnp.float64))


def _close(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    assert np.abs(a - b).max() <= 1e-12 * max(1.0, np.abs(a).max())


def test_linear_equals_functional_linear():
    x = _x("3x0e + 2x1o + 1e", (5,), 0)
    lin = ef.Linear("2x0e + 3x1o + 1e", biases=True)
    v = lin.init(jax.random.PRNGKey(0), x)
    v = jax.tree_util.tree_map(lambda a: a + 0.1, v)
    fl = e3xp.FunctionalLinear(x.irreps, "2x0e + 3x1o + 1e", biases=True)
    p = v["params"]
    ws = [p["w[0,0] 3x0e,2x0e"], p["w[1,1] 2x1o,3x1o"], p["w[2,2] 1x1e,1x1e"], p["b[0] 2x0e"]]
    _close(fl(ws, x).array, lin.apply(v, x).array)
    assert_equivariant(lambda a: lin.apply(v, a), x)


def test_tensor_products_equal_functional_ones_and_are_equivariant():
    x, y = _x("2x0e + 2x1o + 1e", (4,), 1), _x("0e + 1o", (4,), 2)
    fc = ef.FullyConnectedTensorProduct("3x0e + 2x1o + 1e")
    v = fc.init(jax.random.PRNGKey(0), x, y)
    spec = ef.path_spec(e3xp.FullyConnectedTensorProduct("3x0e + 2x1o + 1e", x.irreps, y.irreps).plan, "fc")
    flat = jnp.concatenate([v["params"][p.name].reshape(-1) for p in sorted(spec.params, key=lambda p: p.offset)])
    _close(e3xp.FullyConnectedTensorProduct("3x0e + 2x1o + 1e").apply({"weight": flat}, x, y).array,
           fc.apply(v, x, y).array)
    assert_equivariant(lambda a, b: fc.apply(v, a, b), x, y)
    cw = ef.ChannelwiseTensorProduct(filter_ir_out="0e + 1o + 1e")
    ref = e3xp.ChannelwiseTensorProduct(x.irreps, y.irreps, "0e + 1o + 1e")
    w = jax.random.normal(jax.random.PRNGKey(3), (4, ref.weight_numel), jnp.float64)
    _close(ref.apply(w, x, y).array, cw.apply({}, x, y, w).array)
    assert_equivariant(lambda a, b: cw.apply({}, a, b, w), x, y)


def test_batchnorm_and_mlp_are_equivariant():
    x = _x("2x0e + 1o + 2e", (8,), 4)
    bn = ef.BatchNorm()
    v = bn.init(jax.random.PRNGKey(0), x)
    assert_equivariant(lambda a: bn.apply(v, a, mutable=["batch_stats"])[0], x)
    s = _x("3x0e", (8,), 5)
    mlp = ef.MultiLayerPerceptron([4, 2], jax.nn.gelu)
    w = mlp.init(jax.random.PRNGKey(0), s)
    assert_equivariant(lambda a: mlp.apply(w, a), s)
