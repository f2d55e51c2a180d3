"""e3nn-jax's functions (issue 15, slice "ops"): autodiff transforms, errors, jit/autograd.

The backend-parametrized checks are in conformance/test_e3nnjax_ops.py.
"""

import numpy as np
import pytest

import e3xp
from e3xp.irreps_array import IrrepsArray
from e3xp.testing import assert_equivariant

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
torch = pytest.importorskip("torch")


def _e3nn_jax():
    return pytest.importorskip("e3nn_jax")


def _model(x):
    # a nonlinear equivariant function: square, gate by an invariant, keep a few irreps
    y = e3xp.tensor_product(x, x, filter_ir_out="0e + 1o + 1e + 2e")
    return y * e3xp.sum(e3xp.norm(x, squared=True).regroup(), axis=-1).array


def _model_jax(e3nn, x):
    y = e3nn.tensor_product(x, x, filter_ir_out="0e + 1o + 1e + 2e")
    return y * e3nn.sum(e3nn.norm(x, squared=True).regroup(), axis=-1).array


IRREPS = "0e + 2x1o + 2e"


@pytest.mark.parametrize("regroup_output", [True, False])
def test_grad_against_e3nn_jax_on_jax_and_torch(regroup_output):
    e3nn = _e3nn_jax()
    a = np.random.default_rng(0).standard_normal((2, e3xp.Irreps(IRREPS).dim))
    ref = e3nn.grad(lambda v: _model_jax(e3nn, v), regroup_output=regroup_output)(
        e3nn.IrrepsArray(IRREPS, jnp.asarray(a))
    )
    for array in (jnp.asarray(a), torch.tensor(a)):
        out = e3xp.grad(_model, regroup_output=regroup_output)(IrrepsArray(IRREPS, array))
        assert str(out.irreps) == str(ref.irreps)
        got = out.backend.to_numpy(out.array.detach() if hasattr(out.array, "detach") else out.array)
        np.testing.assert_allclose(got, np.asarray(ref.array), rtol=1e-12, atol=1e-12)


def test_grad_is_equivariant_and_exact():
    x = IrrepsArray(IRREPS, jnp.asarray(np.random.default_rng(1).standard_normal(e3xp.Irreps(IRREPS).dim)))
    assert_equivariant(e3xp.grad(_model), x)
    # exact: the gradient of |x|^2 / 2 is x itself
    g = e3xp.grad(lambda v: 0.5 * e3xp.norm(v, squared=True, per_irrep=False))(x)
    np.testing.assert_allclose(np.asarray(g.array), np.asarray(x.regroup().array), rtol=1e-14)


def test_grad_has_aux_argnums_jit_and_torch_autograd():
    x = IrrepsArray("1o", jnp.array([1.0, 2.0, 3.0]))
    y = IrrepsArray("0e", jnp.array([2.0]))

    def f(s, v):
        return e3xp.norm(v, squared=True) * s.array, "aux"

    g, aux = e3xp.grad(f, argnums=1, has_aux=True)(y, x)
    assert aux == "aux" and str(g.irreps) == "1x1o"
    np.testing.assert_allclose(np.asarray(g.array), [4.0, 8.0, 12.0])
    jitted = jax.jit(e3xp.grad(lambda v: e3xp.norm(v, squared=True)))(x)
    np.testing.assert_allclose(np.asarray(jitted.array), [2.0, 4.0, 6.0])
    # torch: the result stays differentiable (second derivative of |v|^4 / 4 along v)
    v = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    gt = e3xp.grad(lambda u: 0.25 * e3xp.norm(u, squared=True) * e3xp.norm(u, squared=True).array)(
        IrrepsArray("1o", v)
    )
    gt.array.sum().backward()
    assert v.grad is not None and torch.isfinite(v.grad).all()


def test_grad_errors():
    with pytest.raises(TypeError, match="argnums"):
        e3xp.grad(lambda v: v, argnums="0")
    with pytest.raises(TypeError, match="argument 0 must be an IrrepsArray"):
        e3xp.grad(lambda v: v)(jnp.ones(3))
    with pytest.raises(TypeError, match="backend 'numpy'"):
        e3xp.grad(lambda v: v)(IrrepsArray("1o", np.ones(3)))
    with pytest.raises(TypeError, match="must return an IrrepsArray"):
        e3xp.grad(lambda v: v.array)(IrrepsArray("1o", jnp.ones(3)))


def test_vmap_jax_and_torch():
    a = np.random.default_rng(2).standard_normal((5, e3xp.Irreps(IRREPS).dim))
    ref = e3xp.tensor_product(IrrepsArray(IRREPS, a), IrrepsArray(IRREPS, a))
    out = e3xp.vmap(lambda v: e3xp.tensor_product(v, v))(IrrepsArray(IRREPS, jnp.asarray(a)))
    assert out.irreps == ref.irreps
    np.testing.assert_allclose(np.asarray(out.array), ref.array, rtol=1e-12, atol=1e-14)
    # nested inputs / outputs and in_axes=None
    s = IrrepsArray("0e", jnp.array([2.0]))
    pair = e3xp.vmap(lambda d, c: {"n": e3xp.norm(d["x"]) * c.array}, in_axes=({"x": 0}, None))(
        {"x": IrrepsArray(IRREPS, jnp.asarray(a))}, s
    )
    assert pair["n"].shape == (5, 4)
    # torch: elementwise functions work through torch.func.vmap
    t = e3xp.vmap(e3xp.norm)(IrrepsArray(IRREPS, torch.tensor(a)))
    np.testing.assert_allclose(t.array.numpy(), e3xp.norm(IrrepsArray(IRREPS, a)).array, rtol=1e-12)
    # ... e3xp's autograd.Function kernels do not (a clear error, not functorch's)
    with pytest.raises(NotImplementedError, match="torch.func.vmap"):
        e3xp.vmap(lambda v: e3xp.tensor_product(v, v))(IrrepsArray(IRREPS, torch.tensor(a)))
    with pytest.raises(ValueError, match="irreps axis"):
        e3xp.vmap(e3xp.norm, in_axes=-1)
    with pytest.raises(TypeError, match="backend 'numpy'"):
        e3xp.vmap(e3xp.norm)(IrrepsArray(IRREPS, a))


def test_normalize_function_against_e3nn_jax():
    e3nn = _e3nn_jax()
    t = np.linspace(-3, 3, 7)
    for phi in (jnp.tanh, jax.nn.gelu, lambda x: x**2):
        ours = np.asarray(e3xp.normalize_function(phi)(jnp.asarray(t)))
        # e3nn-jax averages phi^2 over 10^6 normal quantiles, which misses the tails:
        # its constant is up to ~1e-4 off (x**2: 1.73186 vs sqrt(3) = 1.73205)
        np.testing.assert_allclose(ours, np.asarray(e3nn.normalize_function(phi)(jnp.asarray(t))), rtol=2e-4)
    # exact: E[relu(z)^2] = 1/2, and a function of unit second moment is returned as is
    relu = e3xp.normalize_function(lambda x: np.maximum(x, 0.0))
    np.testing.assert_allclose(relu(np.array([1.0])), [np.sqrt(2.0)], rtol=1e-12)

    def identity(x):
        return x

    assert e3xp.normalize_function(identity) is identity
    # a torch-only function is normalized on its first call, on torch
    f = e3xp.normalize_function(torch.tanh)
    np.testing.assert_allclose(
        f(torch.tensor([1.0], dtype=torch.float64)).numpy(),
        np.asarray(e3xp.normalize_function(np.tanh)(np.array([1.0]))),
        rtol=1e-12,
    )
    with pytest.raises(TypeError, match="phi must be callable"):
        e3xp.normalize_function(3)


def test_basic_errors_name_the_argument():
    x = IrrepsArray("0e + 1o", np.ones(4))
    with pytest.raises(ValueError, match="rank >= 1"):
        e3xp.as_irreps_array(np.array(1.0))
    with pytest.raises(ValueError, match="got 1 chunks for the 2 entries"):
        e3xp.from_chunks("0e + 1o", [None], ())
    with pytest.raises(ValueError, match="chunk shapes"):
        e3xp.from_chunks("0e + 1o", [np.ones((1, 1)), np.ones((3,))], ())
    with pytest.raises(ValueError, match="pass dtype="):
        e3xp.from_chunks("0e", [None], ())
    with pytest.raises(TypeError, match="zeros_like: irreps_array must be an IrrepsArray"):
        e3xp.zeros_like(np.ones(3))
    with pytest.raises(ValueError, match="sum: axis=2 is out of range"):
        e3xp.sum(x, axis=2)
    with pytest.raises(TypeError, match="mean: axis="):
        e3xp.mean(x, axis=1.0)
    with pytest.raises(ValueError, match="dot: a and b must have the same simplified irreps"):
        e3xp.dot(x, IrrepsArray("1o + 0e", np.ones(4)))
    with pytest.raises(ValueError, match="cross: a must hold only vectors"):
        e3xp.cross(x, x)
    with pytest.raises(ValueError, match="same number of vectors"):
        e3xp.cross(IrrepsArray("1o", np.ones(3)), IrrepsArray("2x1o", np.ones(6)))
    with pytest.raises(ValueError, match=r"where: mask must have shape \(..., 1\) or \(..., 2\)"):
        e3xp.where(np.ones(3, dtype=bool), x, x)
    with pytest.raises(TypeError, match="where: mask must be a boolean array"):
        e3xp.where(np.ones(1), x, x)
    with pytest.raises(ValueError, match="where: x and y must have the same irreps"):
        e3xp.where(np.ones(1, dtype=bool), x, IrrepsArray("1o + 0e", np.ones(4)))
    with pytest.raises(ValueError, match="max_component"):
        e3xp.soft_normalization(x, 0.0)


def test_basic_under_jit_and_torch_autograd():
    a = np.random.default_rng(3).standard_normal((3, 7))
    irreps = "0e + 2x1o"

    def f(v):
        m = e3xp.where(v.array[..., :1] > 0, v, -v)
        vectors = m.filter("1o")
        c = e3xp.cross(vectors, vectors[::-1])
        return e3xp.mean(e3xp.dot(c, c), axis=0)

    out = jax.jit(f)(IrrepsArray(irreps, jnp.asarray(a)))
    # a per-irrep mask that is a tracer
    per = jax.jit(lambda arr: e3xp.where(arr[..., :3] > 0, IrrepsArray(irreps, arr), -IrrepsArray(irreps, arr)))
    np.testing.assert_allclose(
        np.asarray(per(jnp.asarray(a)).array),
        e3xp.where(a[..., :3] > 0, IrrepsArray(irreps, a), -IrrepsArray(irreps, a)).array,
    )
    np.testing.assert_allclose(np.asarray(out.array), f(IrrepsArray(irreps, a)).array, rtol=1e-12)
    g = jax.grad(lambda arr: e3xp.mean(e3xp.soft_normalization(IrrepsArray(irreps, arr), 1.0)).array.sum())(
        jnp.asarray(a)
    )
    assert np.isfinite(np.asarray(g)).all()
    t = torch.tensor(a, requires_grad=True)
    e3xp.sum(e3xp.cross(IrrepsArray("2x1o", t[:, 1:]), IrrepsArray("1o + 1e", t[:, 1:].flip(-1)))).array.sum().backward()
    assert t.grad is not None and torch.isfinite(t.grad).all()


def test_graph_and_scatter_under_jit_and_autograd():
    pos = np.random.default_rng(4).standard_normal((12, 3))
    eager = e3xp.radius_graph(jnp.asarray(pos), 1.2, size=40)
    jitted = jax.jit(lambda p: e3xp.radius_graph(p, 1.2, size=40, batch=jnp.zeros(12, dtype=jnp.int32)))(
        jnp.asarray(pos)
    )
    for a, b in zip(eager, jitted):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    data = jnp.asarray(np.random.default_rng(5).standard_normal((6, 4)))
    dst = jnp.asarray([0, 2, 2, 1, 0, 2])

    def f(d):
        x = IrrepsArray("4x0e", d)
        return (
            e3xp.scatter_mean(x, dst=dst, output_size=3).array.sum()
            + e3xp.scatter_max(x, dst, 3).array.sum()
            + e3xp.scatter_sum(x, dst=dst, map_back=True).array.sum()
        )

    np.testing.assert_allclose(float(jax.jit(f)(data)), float(f(data)), rtol=1e-12)
    g = jax.grad(f)(data)
    assert np.isfinite(np.asarray(g)).all()
    t = torch.tensor(np.asarray(data), requires_grad=True)
    out = e3xp.scatter_max(t, torch.tensor([0, 2, 2, 1, 0, 2]), 3).sum() + e3xp.scatter_mean(
        t, nel=torch.tensor([2, 4])
    ).sum()
    out.backward()
    # gradients agree with JAX's (max picks the same elements; the mean spreads 1/n)
    def h(d):
        return e3xp.scatter_max(d, dst, 3).sum() + e3xp.scatter_mean(d, nel=jnp.asarray([2, 4])).sum()

    np.testing.assert_allclose(t.grad.numpy(), np.asarray(jax.grad(h)(data)), rtol=1e-12)


def test_scatter_and_graph_errors():
    d = np.ones((3, 2))
    with pytest.raises(ValueError, match="exactly one of dst"):
        e3xp.scatter_sum(d, output_size=2)
    with pytest.raises(ValueError, match="exactly one of dst"):
        e3xp.scatter_sum(d, np.array([0, 1, 0]), nel=np.array([3]))
    with pytest.raises(ValueError, match="disagree"):
        e3xp.scatter_sum(d, np.array([0, 1, 0]), 2, output_size=3)
    with pytest.raises(ValueError, match="do not pass num_segments"):
        e3xp.scatter_sum(d, np.array([0, 1, 0]), 2, map_back=True)
    with pytest.raises(ValueError, match="pass num_segments"):
        e3xp.scatter_mean(d, np.array([0, 1, 0]))
    with pytest.raises(ValueError, match="mode="):
        e3xp.scatter_sum(d, np.array([0, 1, 0]), 2, mode="wrap")
    with pytest.raises(TypeError, match="dst must be an integer array"):
        e3xp.scatter_sum(d, np.array([0.0, 1.0, 0.0]), 2)
    with pytest.raises(ValueError, match="one id per slice"):
        e3xp.scatter_sum(d, np.array([0, 1]), 2)
    with pytest.raises(ValueError, match="only scalars"):
        e3xp.scatter_max(IrrepsArray("1o", np.ones((2, 3))), np.array([0, 1]), 2)
    with pytest.raises(TypeError, match="initial="):
        e3xp.scatter_max(d, np.array([0, 1, 0]), 2, initial="low")
    with pytest.raises(ValueError, match="segment id 5 is out of range"):
        e3xp.scatter_max(d, np.array([0, 5, 0]), 2)
    with pytest.raises(TypeError, match="index_add: input"):
        e3xp.index_add(np.array([0]))
    with pytest.raises(ValueError, match=r"pos must have shape \(n, 3\)"):
        e3xp.radius_graph(np.ones((3, 2)), 1.0)
    with pytest.raises(ValueError, match="size="):
        e3xp.radius_graph(np.ones((3, 3)), 1.0, size=-1)
    with pytest.raises(ValueError, match=r"batch must have shape \(3,\)"):
        e3xp.radius_graph(np.ones((3, 3)), 1.0, batch=np.zeros(2, dtype=np.int64))


def test_utils_equivariance_helpers_match_e3nn_jax_behaviour():
    e3nn = _e3nn_jax()
    good = lambda v: e3xp.tensor_product(v, v)  # noqa: E731
    bad = lambda v: IrrepsArray(v.irreps, v.array**2)  # noqa: E731
    for backend_array in (np.ones, jnp.ones, lambda s: torch.ones(s, dtype=torch.float64)):
        x = IrrepsArray("0e + 1o", backend_array(4) * 0.5)
        e3xp.utils.assert_equivariant(good, 0, x)
        e3xp.utils.assert_equivariant(good, np.random.default_rng(1), "0e + 2x1o + 2e")
        with pytest.raises(AssertionError):
            e3xp.utils.assert_equivariant(bad, 0, x)
    # the same verdicts as e3nn-jax's, for its own arguments (a JAX key, irreps strings)
    key = jax.random.PRNGKey(0)
    e3nn.utils.assert_equivariant(lambda v: e3nn.tensor_product(v, v), key, "0e + 2x1o + 2e")
    e3xp.utils.assert_equivariant(good, key, "0e + 2x1o + 2e")
    out1, out2 = e3xp.utils.equivariance_test(e3xp.norm, key, IrrepsArray("1e", np.array([0.0, 4.0, 3.0])))
    ref1, ref2 = e3nn.utils.equivariance_test(e3nn.norm, key, e3nn.IrrepsArray("1e", jnp.array([0.0, 4.0, 3.0])))
    np.testing.assert_allclose(out1.array, np.asarray(ref1.array))
    np.testing.assert_allclose(out2.array, np.asarray(ref2.array))
    # nested outputs
    e3xp.utils.assert_equivariant(lambda v: {"a": [v, e3xp.norm(v)]}, 3, "1o + 2e")
    assert e3xp.utils.vmap is e3xp.vmap


def test_utils_output_dtype():
    x = IrrepsArray("0e + 1o", np.ones(4))
    e3xp.utils.assert_output_dtype_matches_input_dtype(lambda v: e3xp.tensor_product(v, v), x)
    e3xp.utils.assert_output_dtype_matches_input_dtype(e3xp.norm, IrrepsArray("1o", jnp.ones(3)))
    e3xp.utils.assert_output_dtype_matches_input_dtype(e3xp.norm, array=IrrepsArray("1o", torch.ones(3)))
    with pytest.raises(AssertionError, match="Expected float32 -> float32"):
        e3xp.utils.assert_output_dtype_matches_input_dtype(lambda v: IrrepsArray(v.irreps, v.array.astype(np.float64)), x)


def test_functional_linear_errors():
    with pytest.raises(NotImplementedError, match="instructions"):
        e3xp.FunctionalLinear("0e", "0e", instructions=[(0, 0)])
    with pytest.raises(ValueError, match="path_normalization"):
        e3xp.FunctionalLinear("0e", "0e", path_normalization="bogus")
    with pytest.raises(ValueError, match="gradient_normalization"):
        e3xp.FunctionalLinear("0e", "0e", gradient_normalization="bogus")
    lin = e3xp.FunctionalLinear("0e + 1o", "1o")
    with pytest.raises(ValueError, match=r"ws must have shape \(1,\)"):
        lin(np.ones(2), IrrepsArray("0e + 1o", np.ones(4)))
    with pytest.raises(ValueError, match="expected 1x0e\\+1x1o"):
        lin(np.ones(1), IrrepsArray("1o + 0e", np.ones(4)))
    # a list of blocks works as the flat vector (e3nn-jax accepts both)
    x = IrrepsArray("0e + 1o", np.arange(4.0))
    np.testing.assert_array_equal(lin([np.array([[2.0]])], x).array, lin(np.array([2.0]), x).array)
    g = jax.grad(lambda w: lin(w, IrrepsArray("0e + 1o", jnp.arange(4.0))).array.sum())(jnp.ones(1))
    np.testing.assert_allclose(np.asarray(g), [6.0])


def test_new_functions_under_torch_compile_fullgraph():
    a = torch.tensor(np.random.default_rng(6).standard_normal((5, 7)))
    dst = torch.tensor([0, 1, 1, 2, 0])

    def f(arr):
        v = IrrepsArray("0e + 2x1o", arr)
        vec = v.filter("1o")
        lin = e3xp.FunctionalLinear("0e + 2x1o", "1o", gradient_normalization="element")
        parts = [
            e3xp.tensor_square(v, normalized_input=True),
            e3xp.scatter_mean(v, dst=dst, output_size=3),
            e3xp.scatter_max(e3xp.norm(v), dst, 3),
            e3xp.dot(v, v),
            e3xp.cross(vec, IrrepsArray("2x1o", arr[:, 1:].flip(-1))),
            e3xp.where(arr[..., :3] > 0, v, -v),
            lin(torch.ones(2, dtype=torch.float64), v),
            e3xp.mean(v, axis=-1),
            e3xp.tensor_product_with_spherical_harmonics(v, IrrepsArray("1o", arr[:, 1:4]), 2),
        ]
        return sum(p.array.sum() for p in parts)

    eager = float(f(a))  # first: the torch backend is created outside the trace
    compiled = torch.compile(f, fullgraph=True)
    np.testing.assert_allclose(float(compiled(a)), eager, rtol=1e-12)


def test_config_like_e3nn_jax():
    e3nn = _e3nn_jax()
    a = np.random.default_rng(7).standard_normal((3, 7))
    v = np.random.default_rng(8).standard_normal((3, 3))
    x, xj = IrrepsArray("0e + 2x1o", a), e3nn.IrrepsArray("0e + 2x1o", jnp.asarray(a))
    try:
        for name, value in [
            ("irrep_normalization", "norm"),
            ("spherical_harmonics_normalization", "integral"),
            ("path_normalization", "path"),
            ("gradient_normalization", "element"),
        ]:
            e3xp.config(name, value)
            e3nn.config(name, value)
            assert e3xp.config(name) == value
        pairs = [
            (e3xp.tensor_product(x, x), e3nn.tensor_product(xj, xj)),
            (e3xp.tensor_square(x), e3nn.tensor_square(xj)),
            (e3xp.elementwise_tensor_product(x, x), e3nn.elementwise_tensor_product(xj, xj)),
            (
                e3xp.spherical_harmonics(3, IrrepsArray("1o", v), True),
                e3nn.spherical_harmonics(3, e3nn.IrrepsArray("1o", jnp.asarray(v)), True),
            ),
        ]
        lin = e3xp.FunctionalLinear("2x0e + 3x0e", "0e")
        jlin = e3nn.FunctionalLinear("2x0e + 3x0e", "0e")
        ws = jnp.arange(5.0)
        pairs.append((lin(np.arange(5.0), IrrepsArray("2x0e + 3x0e", a[0, :5])), jlin(ws, e3nn.IrrepsArray("2x0e + 3x0e", jnp.asarray(a[0, :5])))))
        for ours, ref in pairs:
            assert str(ours.irreps) == str(ref.irreps)
            np.testing.assert_allclose(ours.array, np.asarray(ref.array), rtol=1e-12, atol=1e-12)
        # explicit arguments win over the configuration
        np.testing.assert_allclose(
            e3xp.tensor_product(x, x, irrep_normalization="component").array,
            np.asarray(e3nn.tensor_product(xj, xj, irrep_normalization="component").array),
            rtol=1e-12,
            atol=1e-12,
        )
    finally:
        e3xp.config.reset()
        for name in ("irrep_normalization", "spherical_harmonics_normalization"):
            e3nn.config(name, "component")
        e3nn.config("path_normalization", "element")
        e3nn.config("gradient_normalization", "path")
    assert e3xp.config("irrep_normalization") == "component"
    assert e3xp.config.set_backend is e3xp.set_backend
    with pytest.raises(ValueError, match="irrep_normalization='bogus' must be one of"):
        e3xp.config("irrep_normalization", "bogus")
    with pytest.raises(ValueError, match="unknown option 'nope'"):
        e3xp.config("nope")
    with pytest.raises(ValueError, match="gradient_normalization"):
        e3xp.config("gradient_normalization", "bogus")
    with pytest.raises(ValueError, match="fused"):
        e3xp.config("fused", "yes")


def test_new_objects_pickle_and_copy():
    import copy
    import pickle

    assert pickle.loads(pickle.dumps(e3xp.config)) is e3xp.config
    assert copy.deepcopy(e3xp.config) is e3xp.config
    lin = e3xp.FunctionalLinear("2x0e + 1o", "0e + 1o", biases=True, gradient_normalization="element")
    x = IrrepsArray("2x0e + 1o", np.arange(5.0))
    for other in (pickle.loads(pickle.dumps(lin)), copy.deepcopy(lin)):
        np.testing.assert_array_equal(other(np.arange(4.0), x).array, lin(np.arange(4.0), x).array)
