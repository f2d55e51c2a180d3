"""The framework-free layer description (core/layer_spec.py) and its use by the functional layers."""

import numpy as np
import pytest

import e3xp
from e3xp.core.layer_spec import LayerSpec, ParamSpec
from e3xp.core.plans import channelwise_tensor_product_plan, fully_connected_tensor_product_plan, linear_plan


def test_linear_spec_matches_plan_sizes():
    plan = linear_plan("3x0e + 2x1o + 1e", "2x0e + 1o", biases=True)
    spec = LayerSpec.for_linear(plan)
    assert [(p.name, p.shape, p.init, p.target) for p in spec.params] == [
        ("weight", (3 * 2 + 2 * 1,), "normal", "weight"),
        ("bias", (2,), "zeros", "bias"),
    ]
    assert spec.irreps_in == (plan.irreps_in,) and spec.irreps_out == plan.irreps_out


def test_tensor_product_spec_internal_and_external():
    plan = fully_connected_tensor_product_plan("2x0e + 1o", "0e + 1o", "3x0e + 1e")
    assert LayerSpec.for_tensor_product(plan).params[0].shape == (plan.weight_numel,)
    assert LayerSpec.for_tensor_product(plan, internal_weights=False).params == ()


def test_init_numpy_is_the_seeded_normal_stream():
    spec = LayerSpec.for_linear(linear_plan("4x0e + 1o", "2x0e + 1o", biases=True))
    p = spec.init_numpy(7)
    w = np.random.default_rng(7).standard_normal(spec.param("weight").shape)
    np.testing.assert_array_equal(p["weight"], w)
    np.testing.assert_array_equal(p["bias"], np.zeros(2))


def test_check_names_key_and_both_shapes():
    spec = LayerSpec.for_linear(linear_plan("2x0e", "3x0e"))
    with pytest.raises(ValueError, match=r"'weight' has shape \(5,\), expected \(6,\)"):
        spec.check({"weight": np.zeros(5)})
    with pytest.raises(KeyError, match="'weight' is missing"):
        spec.check({})
    with pytest.raises(KeyError, match="unexpected parameter 'bias'"):
        spec.check({"weight": np.zeros(6), "bias": np.zeros(3)})


def test_flat_joins_pieces_by_offset():
    # e3nn-jax's layout: one array per instruction, concatenated in offset order
    spec = LayerSpec("Linear", ("2x0e + 1o",), "0e + 1o", None, (
        ParamSpec("w[1,1]", (1, 1), offset=2),
        ParamSpec("w[0,0]", (2, 1), offset=0),
    ))
    params = {"w[0,0]": np.array([[1.0], [2.0]]), "w[1,1]": np.array([[3.0]])}
    np.testing.assert_array_equal(spec.flat(params, np), [1.0, 2.0, 3.0])


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match="init='uniform'"):
        ParamSpec("w", (2,), init="uniform")
    with pytest.raises(ValueError, match="negative"):
        ParamSpec("w", (-1,))
    with pytest.raises(ValueError, match="repeat"):
        LayerSpec("X", (), "0e", None, (ParamSpec("w", (1,)), ParamSpec("w", (2,))))


@pytest.mark.parametrize("biases", [False, True])
def test_functional_linear_init_follows_its_spec(biases):
    lin = e3xp.Linear("2x0e + 1o", biases=biases)
    x = e3xp.IrrepsArray("3x0e + 1o", np.ones(6))
    params = lin.init(0, x)
    spec = lin.spec(x.irreps)
    spec.check(params)
    # an int seed draws the same numbers as the spec's own float64 NumPy init
    np.testing.assert_array_equal(params["weight"], spec.init_numpy(0)["weight"])


def test_functional_tensor_products_init_follow_their_spec():
    tp = e3xp.ChannelwiseTensorProduct("4x0e + 2x1o", "0e + 1o")
    x = e3xp.IrrepsArray(tp.irreps_in1, np.ones(10))
    y = e3xp.IrrepsArray(tp.irreps_in2, np.ones(4))
    tp.spec.check(tp.init(0, x, y))
    assert tp.spec.plan is channelwise_tensor_product_plan("4x0e + 2x1o", "0e + 1o")
    fc = e3xp.FullyConnectedTensorProduct("0e + 1o", "4x0e + 2x1o", "0e + 1o")
    fc.spec.check(fc.init(0, x, y))
