"""e3xp.flax against e3nn-jax 0.21's flax modules: same parameter trees, same numbers.

Params are initialised by e3nn-jax, loaded as they are into e3xp.flax and both
outputs compared in float64; init with the same key is compared too (it is meant
to match for Linear, MultiLayerPerceptron and BatchNorm: same names, order,
shapes, dtypes and initialisers). The tensor products are checked against
e3nn-jax's legacy functional product and e3xp's functional layers.
"""

import subprocess
import sys

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("flax")
ej = pytest.importorskip("e3nn_jax")
import jax.numpy as jnp  # noqa: E402

import e3xp  # noqa: E402
import e3xp.flax as ef  # noqa: E402
from e3xp.testing import assert_equivariant  # noqa: E402

pytestmark = pytest.mark.usefixtures("jax_x64")
tree = jax.tree_util


def _pair(irreps, lead, seed=1):
    x = ej.normal(irreps, jax.random.PRNGKey(seed), lead)
    return x, e3xp.IrrepsArray(str(x.irreps), x.array)


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    return float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-300)) if a.size else 0.0


def _same_tree(a, b, exact_values):
    assert tree.tree_structure(a) == tree.tree_structure(b)
    for u, v in zip(tree.tree_leaves(a), tree.tree_leaves(b)):
        assert u.shape == v.shape and u.dtype == v.dtype
        if exact_values:
            assert np.array_equal(u, v)


LINEAR_CASES = [
    (dict(irreps_out="1o + 3x0e + 1o"), "3x0e + 2x1o + 0e + 2e", (4,), None),
    (dict(irreps_out="1o + 3x0e + 1o + 3e", force_irreps_out=True), "3x0e + 2x1o", (4, 2), None),
    (dict(irreps_out="2x0e + 1o + 0e", biases=True), "3x0e + 2x1o", (), None),
    (dict(irreps_out="2x0e + 1o", channel_out=2, biases=True), "0e + 1o", (3, 2, 4), None),
    (dict(irreps_out="2x0e + 1o + 2x1o", gradient_normalization="element"), "3x0e + 2x1o", (4,), None),
    (dict(irreps_out="2x0e + 2x1o", path_normalization="path", gradient_normalization="element"),
     "3x0e + 2x1o + 4x1o", (2, 3), None),
    (dict(irreps_out="2x0e + 1o", path_normalization=0.3, gradient_normalization=0.6), "3x0e + 2x1o + 4x1o", (4,), None),
    (dict(irreps_out="2x0e + 1o", biases=True), "3x0e + 2x1o", (4,), "mixed"),
    (dict(irreps_out="2x0e + 1o", biases=True, num_indexed_weights=5), "3x0e + 2x1o", (4,), "indexed"),
    (dict(irreps_out="2x0e + 1o", weights_per_channel=True), "3x0e + 2x1o", (4, 6), "mixed"),
]


@pytest.mark.parametrize("kw, irreps, lead, extra", LINEAR_CASES, ids=[str(i) for i in range(len(LINEAR_CASES))])
def test_linear_matches_e3nn_jax(kw, irreps, lead, extra):
    xj, xx = _pair(irreps, lead)
    args = ()
    if extra == "mixed":
        args = (jax.random.normal(jax.random.PRNGKey(3), (lead[0], 3)),)
    elif extra == "indexed":
        args = (jnp.array([0, 3, 2, 4]),)
    lj, lx = ej.flax.Linear(**kw), ef.Linear(**kw)
    wj = lj.init(jax.random.PRNGKey(0), *args, xj)
    wx = lx.init(jax.random.PRNGKey(0), *args, xx)
    _same_tree(wj, wx, exact_values=True)  # the init matches e3nn-jax's numbers
    wj = tree.tree_map(lambda a: a + 0.01 * jnp.arange(a.size).reshape(a.shape), wj)  # biases non-zero
    yj, yx = lj.apply(wj, *args, xj), lx.apply(wj, *args, xx)
    assert isinstance(yx, e3xp.IrrepsArray) and str(yx.irreps) == str(yj.irreps)
    assert _rel(yj.array, yx.array) <= 1e-12


def test_linear_explicit_instructions_and_plain_arrays():
    kw = dict(irreps_out="2x0e + 1o + 0e", instructions=[(0, 0), (1, 1)], simplify_irreps_internally=False)
    xj, xx = _pair("3x0e + 2x1o", (4,))
    lj = ej.flax.Linear(irreps_in=ej.Irreps("3x0e + 2x1o"), **kw)
    lx = ef.Linear(irreps_in=e3xp.Irreps("3x0e + 2x1o"), **kw)
    w = lj.init(jax.random.PRNGKey(0), xj)
    _same_tree(w, lx.init(jax.random.PRNGKey(0), xx), exact_values=True)
    assert _rel(lj.apply(w, xj).array, lx.apply(w, xx).array) <= 1e-12
    a = xj.array[:, :3]  # a plain array is scalars
    lj, lx = ej.flax.Linear("2x0e"), ef.Linear("2x0e")
    w = lj.init(jax.random.PRNGKey(0), a)
    assert _rel(lj.apply(w, a).array, lx.apply(w, a).array) <= 1e-12


def test_linear_irreps_in_checked():
    _, xx = _pair("3x0e + 2x1o", (4,))
    with pytest.raises(ValueError, match=r"input irreps \(3x0e\+2x1o\) do not match the expected irreps \(2x0e"):
        ef.Linear("0e", irreps_in="2x0e + 2x1o").init(jax.random.PRNGKey(0), xx)


MLP_CASES = [
    dict(list_neurons=[8, 3], act=jax.nn.gelu),
    dict(list_neurons=[8, 8, 3], act=jnp.tanh, with_bias=True, gradient_normalization="element"),
    dict(list_neurons=[4, 2], act=jax.nn.relu, output_activation=jnp.tanh, gradient_normalization="path"),
    dict(list_neurons=[5]),
]


@pytest.mark.parametrize("kw", MLP_CASES, ids=[str(i) for i in range(len(MLP_CASES))])
def test_mlp_matches_e3nn_jax(kw):
    x = jax.random.normal(jax.random.PRNGKey(2), (5, 3))
    mj, mx = ej.flax.MultiLayerPerceptron(**kw), ef.MultiLayerPerceptron(**kw)
    w = mj.init(jax.random.PRNGKey(0), x)
    _same_tree(w, mx.init(jax.random.PRNGKey(0), x), exact_values=True)
    w = tree.tree_map(lambda a: a + 0.01, w)
    yx = mx.apply(w, x)
    assert not isinstance(yx, e3xp.IrrepsArray)
    assert _rel(mj.apply(w, x), yx) <= 1e-12
    yi = mx.apply(w, e3xp.IrrepsArray("3x0e", x))
    assert isinstance(yi, e3xp.IrrepsArray) and yi.irreps == e3xp.Irreps(f"{kw['list_neurons'][-1]}x0e")
    assert _rel(mj.apply(w, ej.IrrepsArray("3x0e", x)).array, yi.array) <= 1e-12
    with pytest.raises(ValueError, match="scalars"):
        mx.apply(w, e3xp.IrrepsArray("1o", x))


def test_mlp_activation_constant_is_e3nn_jax_sampled_one():
    for phi in (jax.nn.gelu, jnp.tanh, jax.nn.silu):
        x = jnp.linspace(-3, 3, 7)
        assert np.array_equal(ej.normalize_function(phi)(x), ef.normalize_function_sampled(phi)(x))
    assert ef.normalize_function_sampled(lambda x: x) is not None


BN_CASES = [
    (dict(), False),
    (dict(instance=True), False),
    (dict(reduce="max", normalization="norm", momentum=0.3), True),
    (dict(affine=False, normalization="component"), True),
    (dict(eps=0.1, reduce="max", instance=True, normalization="norm"), True),
]


@pytest.mark.parametrize("kw, masked", BN_CASES, ids=[str(i) for i in range(len(BN_CASES))])
def test_batchnorm_matches_e3nn_jax(kw, masked):
    xj, _ = _pair("2x0e + 1o + 0e + 2x2e", (6, 3))
    xj = xj + ej.IrrepsArray(xj.irreps, 0.5 * jnp.ones(xj.shape))  # non-zero means
    xx = e3xp.IrrepsArray(str(xj.irreps), xj.array)
    mask = jnp.array([1, 0, 1, 1, 1, 0], bool) if masked else None
    bj, bx = ej.flax.BatchNorm(**kw), ef.BatchNorm(**kw)
    v = bj.init(jax.random.PRNGKey(0), xj)
    _same_tree(v, bx.init(jax.random.PRNGKey(0), xx), exact_values=True)
    v = tree.tree_map(lambda a: a + 0.1 * jnp.arange(a.size), v)
    yj, uj = bj.apply(v, xj, mask=mask, mutable=["batch_stats"])
    yx, ux = bx.apply(v, xx, mask=mask, mutable=["batch_stats"])
    assert _rel(yj.array, yx.array) <= 1e-12
    _same_tree(uj, ux, exact_values=False)
    for a, b in zip(tree.tree_leaves(uj), tree.tree_leaves(ux)):
        assert _rel(a, b) <= 1e-12
    if not kw.get("instance"):
        v2 = {**v, **uj}
        yj = bj.apply(v2, xj, use_running_average=True, mutable=["batch_stats"])[0]
        yx = bx.apply(v2, xx, use_running_average=True)  # evaluation needs no mutable in e3xp
        assert _rel(yj.array, yx.array) <= 1e-12


@pytest.mark.parametrize("out", ["3x1o + 0e + 2x2e + 1e", "5e"])
def test_fully_connected_tp_matches_e3nn_jax_legacy(out):
    from e3nn_jax.legacy import FunctionalFullyConnectedTensorProduct

    xj, xx = _pair("2x0e + 3x1o + 0e + 2e", (3,))
    yj, yx = _pair("0e + 1o", (3,), seed=2)
    tp = ef.FullyConnectedTensorProduct(out)
    w = tp.init(jax.random.PRNGKey(0), xx, yx)
    f = FunctionalFullyConnectedTensorProduct(xj.irreps.simplify(), yj.irreps.simplify(), ej.Irreps(out).simplify())
    names = [
        f"w[{i.i_in1},{i.i_in2},{i.i_out}] {f.irreps_in1[i.i_in1]},{f.irreps_in2[i.i_in2]},{f.irreps_out[i.i_out]}"
        for i in f.instructions
    ]
    assert sorted(names) == sorted(w.get("params", {}))  # e3nn-jax haiku FCTP's names
    for i, n in zip(f.instructions, names):
        assert w["params"][n].shape == i.path_shape and i.weight_std == 1.0
    ref = jax.vmap(lambda a, b: f.left_right([w["params"][n] for n in names], a, b))(xj.simplify(), yj.simplify())
    got = tp.apply(w, xx, yx)
    assert str(got.irreps) == str(ej.Irreps(out)) and str(ref.irreps) == str(ej.Irreps(out).simplify())
    assert _rel(ref.array, got.array) <= 1e-12 if out != "5e" else not np.asarray(got.array).any()


def test_channelwise_tp_agrees_with_functional():
    _, xx = _pair("4x0e + 4x1o + 2x2e", (10,))
    _, yx = _pair("0e + 1o + 2e", (10,), seed=2)
    tp = ef.ChannelwiseTensorProduct(filter_ir_out="0e + 1o + 2e")
    ref = e3xp.ChannelwiseTensorProduct(xx.irreps, yx.irreps, "0e + 1o + 2e")
    w = jax.random.normal(jax.random.PRNGKey(4), (10, ref.weight_numel))
    assert tp.init(jax.random.PRNGKey(0), xx, yx, w) == {}
    assert _rel(ref.apply(w, xx, yx).array, tp.apply({}, xx, yx, w).array) <= 1e-12
    v = tp.init(jax.random.PRNGKey(0), xx, yx)
    spec = ef.path_spec(ref.plan, "uvu")
    assert sorted(p.name for p in spec.params) == sorted(v["params"])
    flat = jnp.concatenate([v["params"][p.name].reshape(-1) for p in spec.params])
    assert flat.shape == (ref.weight_numel,)
    assert _rel(ref.apply({"weight": flat}, xx, yx).array, tp.apply(v, xx, yx).array) <= 1e-12


def _modules():
    x = e3xp.IrrepsArray("2x0e + 2x1o + 1e + 2e", jax.random.normal(jax.random.PRNGKey(5), (6, 16)))
    y = e3xp.IrrepsArray("0e + 1o", jax.random.normal(jax.random.PRNGKey(6), (6, 4)))
    xc = e3xp.IrrepsArray("0e + 1o", jax.random.normal(jax.random.PRNGKey(7), (6, 3, 4)))
    s = e3xp.IrrepsArray("4x0e", jax.random.normal(jax.random.PRNGKey(8), (6, 4)))
    return [
        ("Linear", ef.Linear("3x0e + 2x1o + 1e + 2o", biases=True), (x,)),
        ("Linear-channel_out", ef.Linear("2x0e + 1o", channel_out=2), (xc,)),
        ("MLP", ef.MultiLayerPerceptron([5, 3], jax.nn.gelu), (s,)),
        ("BatchNorm", ef.BatchNorm(), (x,)),
        ("FCTP", ef.FullyConnectedTensorProduct("2x0e + 2x1o + 1e + 2e"), (x, y)),
        ("Channelwise", ef.ChannelwiseTensorProduct(), (x, y)),
    ]


@pytest.mark.parametrize("i", range(6), ids=[m[0] for m in _modules()])
def test_equivariance(i):
    _, module, inputs = _modules()[i]
    v = module.init(jax.random.PRNGKey(0), *inputs)
    v = tree.tree_map(lambda a: a + 0.1 * jnp.arange(a.size).reshape(a.shape), v)
    if isinstance(module, ef.BatchNorm):
        err = assert_equivariant(lambda *a: module.apply(v, *a, mutable=["batch_stats"])[0], *inputs, n=2)
    else:
        err = assert_equivariant(lambda *a: module.apply(v, *a), *inputs, n=2)  # one proper, one improper
    assert err < 1e-10


@pytest.mark.parametrize("i", [0, 2, 4], ids=["Linear", "MLP", "FCTP"])
def test_jit_grad_vmap(i):
    _, module, inputs = _modules()[i]
    v = module.init(jax.random.PRNGKey(0), *inputs)
    eager = module.apply(v, *inputs)
    jitted = jax.jit(module.apply)(v, *inputs)
    assert _rel(eager.array, jitted.array) <= 1e-12
    vmapped = jax.vmap(module.apply, in_axes=(None,) + (0,) * len(inputs))(v, *inputs)
    assert _rel(eager.array, vmapped.array) <= 1e-12

    def loss(v):
        return jnp.sum(module.apply(v, *inputs).array ** 2)

    g = jax.grad(loss)(v)
    _same_tree(g, v, exact_values=False)
    leaf, path = tree.tree_leaves(v)[0], tree.tree_flatten_with_path(v)[0][0][0]
    e = jnp.zeros_like(leaf).reshape(-1).at[0].set(1e-6).reshape(leaf.shape)

    def bumped(sign):
        return loss(tree.tree_map_with_path(lambda p, a: a + sign * e if p == path else a, v))

    fd = (bumped(1) - bumped(-1)) / 2e-6
    assert abs(float(tree.tree_leaves(g)[0].reshape(-1)[0]) - float(fd)) <= 1e-6 * max(1.0, abs(float(fd)))


def test_seed_talk_lines_with_e3xp_as_e3nn():
    import e3xp as e3nn

    x = e3nn.normal("3x0e + 2x1o", jax.random.PRNGKey(1), (4,))  # NumPy arrays by default: fine
    linear = e3nn.flax.Linear("1o + 3x0e + 1o")
    w = linear.init(jax.random.PRNGKey(0), x)
    y = linear.apply(w, x)
    assert y.irreps == e3nn.Irreps("1o + 3x0e + 1o") and y.shape == (4, 9)
    lj = ej.flax.Linear("1o + 3x0e + 1o")
    assert _rel(lj.apply(w, ej.IrrepsArray("3x0e + 2x1o", x.array)).array, y.array) <= 1e-12


def test_mismatched_params_name_the_key_and_shapes():
    _, x3 = _pair("3x0e + 1o", (2,))
    _, x4 = _pair("4x0e + 1o", (2,))
    lin = ef.Linear("2x0e + 1o")
    w3 = lin.init(jax.random.PRNGKey(0), x3)
    with pytest.raises(ValueError, match=r"parameter 'w\[0,0\] 4x0e,2x0e' is missing \(expected shape \(4, 2\)\).*"
                                         r"the params hold 'w\[0,0\] 3x0e,2x0e' \(3, 2\)"):
        lin.apply(w3, x4)
    idx = ef.Linear("2x0e + 1o", num_indexed_weights=5)
    w = idx.init(jax.random.PRNGKey(0), jnp.array([1, 2]), x3)
    with pytest.raises(ValueError, match=r"parameter 'w\[0,0\] 3x0e,2x0e' has shape \(5, 3, 2\), expected \(6, 3, 2\)"):
        ef.Linear("2x0e + 1o", num_indexed_weights=6).apply(w, jnp.array([1, 2]), x3)
    mlp = ef.MultiLayerPerceptron([4])
    w = mlp.init(jax.random.PRNGKey(0), jnp.ones((2, 3)))
    with pytest.raises(ValueError, match=r"Dense_0, params\): parameter 'kernel' has shape \(3, 4\), expected \(5, 4\)"):
        mlp.apply(w, jnp.ones((2, 5)))
    bn = ef.BatchNorm()
    v = bn.init(jax.random.PRNGKey(0), x3)
    with pytest.raises(ValueError, match=r"BatchNorm \(module <root>, batch_stats\): parameter 'mean' has shape \(3,\), expected \(4,\)"):
        bn.apply(v, x4, mutable=["batch_stats"])


def test_bad_arguments():
    _, x = _pair("3x0e + 1o", (2,))
    with pytest.raises(ValueError, match="gradient_normalization='sideways'"):
        ef.Linear("0e", gradient_normalization="sideways").init(jax.random.PRNGKey(0), x)
    with pytest.raises(ValueError, match="channel_out=3 needs inputs"):
        ef.Linear("0e", channel_out=3).init(jax.random.PRNGKey(0), x[0])
    with pytest.raises(ValueError, match="use_running_average must be False"):
        ef.BatchNorm(instance=True, use_running_average=True).init(jax.random.PRNGKey(0), x)
    with pytest.raises(ValueError, match="batch axis"):
        ef.BatchNorm().init(jax.random.PRNGKey(0), x[0])


def test_import_e3xp_imports_no_flax_and_missing_flax_is_clear():
    code = (
        "import sys; import e3xp; assert 'flax' not in sys.modules and 'jax' not in sys.modules\n"
        "sys.modules['flax'] = None\n"
        "try:\n    e3xp.flax\nexcept ModuleNotFoundError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "e3xp.flax needs flax, which is not installed: pip install 'e3xp[flax]'" in out
