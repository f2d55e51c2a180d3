"""The functional layers as values (issues 12 and 13): Linear, FullyConnectedTensorProduct
and ChannelwiseTensorProduct are immutable, compare and hash by configuration,
pickle / copy / deepcopy to an equal layer with identical outputs, keep no state
from init or apply, and share one parameter convention ``{"weight": ..., "bias": ...}``
with clear errors for the old forms."""

import copy
import importlib.util
import pickle

import numpy as np
import pytest

import e3xp
from e3xp.irreps_array import IrrepsArray
from e3xp.ops.linear import Linear
from e3xp.ops.weighted import ChannelwiseTensorProduct, FullyConnectedTensorProduct

# Input irreps of each kind of layer (x, and y for the tensor products).
_INPUTS = {
    Linear: ["3x0e + 2x1o"],
    FullyConnectedTensorProduct: ["3x0e + 1o", "0e + 1o"],
    ChannelwiseTensorProduct: ["4x0e + 2x1o", "0e + 1o"],
}

_LAYERS = {
    "linear-lazy": lambda: Linear("1o + 3x0e + 1o"),
    "linear-declared-biases": lambda: Linear("2x0e + 1o", "3x0e + 2x1o", biases=True),
    "fctp-declared": lambda: FullyConnectedTensorProduct("2x0e + 1o", "3x0e + 1o", "0e + 1o"),
    "fctp-lazy": lambda: FullyConnectedTensorProduct("2x0e + 1o + 1e", path_normalization="path"),
    "channelwise": lambda: ChannelwiseTensorProduct("4x0e + 2x1o", "0e + 1o", filter_ir_out="0e + 1o"),
}


def _inputs(layer, backend="numpy", leading=(3,)):
    return [
        e3xp.normal(irreps, 10 + k, leading, backend=backend, dtype="float64")
        for k, irreps in enumerate(_INPUTS[type(layer)])
    ]


def _run(layer, params, inputs) -> np.ndarray:
    out = layer.apply(params, *inputs)
    return np.asarray(out.backend.to_numpy(out.array))


def _pickle(protocol):
    return lambda obj: pickle.loads(pickle.dumps(obj, protocol=protocol))


_ROUND_TRIPS = {
    **{f"pickle{p}": _pickle(p) for p in range(pickle.HIGHEST_PROTOCOL + 1)},
    "copy": copy.copy,
    "deepcopy": copy.deepcopy,
}


# --------------------------------------------------------------------------- pickle / copy


@pytest.mark.parametrize("how", sorted(_ROUND_TRIPS))
@pytest.mark.parametrize("name", sorted(_LAYERS))
def test_round_trip_gives_an_equal_layer_with_identical_outputs(name, how):
    layer = _LAYERS[name]()
    inputs = _inputs(layer)
    params = layer.init(0, *inputs)
    clone = _ROUND_TRIPS[how](layer)
    assert type(clone) is type(layer)
    assert clone == layer and hash(clone) == hash(layer) and repr(clone) == repr(layer)
    assert vars(clone) == vars(layer)
    np.testing.assert_array_equal(_run(clone, params, inputs), _run(layer, params, inputs))
    again = clone.init(0, *inputs)
    assert sorted(again) == sorted(params)
    for key in params:
        np.testing.assert_array_equal(again[key], params[key])


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("name", sorted(_LAYERS))
def test_round_trip_on_other_frameworks(name, backend, jax_x64):
    pytest.importorskip(backend)
    layer = _LAYERS[name]()
    inputs = _inputs(layer, backend)
    params = layer.init(0, *inputs)
    expected = _run(layer, params, inputs)
    for how in ("pickle5", "deepcopy"):
        clone = _ROUND_TRIPS[how](layer)
        np.testing.assert_array_equal(_run(clone, params, inputs), expected)
    # the parameters themselves (torch tensors, jax arrays) pickle alongside the layer
    layer2, params2 = pickle.loads(pickle.dumps((layer, params)))
    np.testing.assert_array_equal(_run(layer2, params2, inputs), expected)


def test_torch_save_and_load_a_layer_with_its_params(tmp_path):
    torch = pytest.importorskip("torch")
    layer = Linear("2x0e + 1o", biases=True)
    x = e3xp.normal("3x0e + 2x1o", 1, (4,), backend="torch", dtype="float64")
    params = layer.init(0, x)
    torch.save({"layer": layer, "params": params}, tmp_path / "ckpt.pt")
    loaded = torch.load(tmp_path / "ckpt.pt", weights_only=False)
    assert loaded["layer"] == layer
    torch.testing.assert_close(loaded["layer"].apply(loaded["params"], x).array, layer.apply(params, x).array)


# --------------------------------------------------------------------------- immutability


@pytest.mark.parametrize("name", sorted(_LAYERS))
def test_attributes_are_read_only(name):
    layer = _LAYERS[name]()
    before = dict(vars(layer))
    assert before, "the configuration lives in the instance dict"
    for attr in list(before) + ["irreps_out", "new_attribute"]:
        with pytest.raises(AttributeError, match="immutable"):
            setattr(layer, attr, None)
    with pytest.raises(AttributeError, match="immutable"):
        del layer.irreps_out
    assert vars(layer) == before


@pytest.mark.parametrize("name", sorted(_LAYERS))
def test_init_and_apply_change_nothing_observable(name):
    layer = _LAYERS[name]()
    state, text = dict(vars(layer)), repr(layer)
    inputs = _inputs(layer)
    params = layer.init(0, *inputs)
    layer.apply(params, *inputs)
    assert vars(layer) == state and repr(layer) == text


def test_lazy_layers_follow_their_inputs_without_remembering_them():
    # e3nn-jax semantics: a layer without declared input irreps works for any input
    # it can map, each call deriving its plan from that call's inputs.
    lin = Linear("2x1o")
    a, b = e3xp.normal("1o", 0), e3xp.normal("3x1o + 0e", 1)
    pa, pb = lin.init(0, a), lin.init(0, b)
    assert pa["weight"].shape == (2,) and pb["weight"].shape == (6,)
    assert lin.apply(pa, a).irreps == lin.apply(pb, b).irreps == "2x1o"
    with pytest.raises(ValueError, match="not known yet"):
        lin.weight_numel
    tp = FullyConnectedTensorProduct("0e + 1o")
    x, y = e3xp.normal("2x0e", 0), e3xp.normal("1o", 1)
    assert tp.init(0, x, y)["weight"].shape == (2,)
    with pytest.raises(ValueError, match="not known yet"):
        tp.weight_numel  # init did not fix the input irreps
    with pytest.raises(ValueError, match="not known yet"):
        tp.plan


def test_equality_and_hash_follow_the_configuration():
    assert Linear("1o + 1o") == Linear("2x1o")  # irreps_out is simplified
    assert Linear("1o", "1o + 0e + 1o") == Linear("1o", "0e + 2x1o")  # irreps_in is regrouped
    assert Linear("1o") != Linear("1o", biases=True) and Linear("1o") != Linear("1o", "1o")
    assert len({Linear("1o + 1o"), Linear("2x1o"), Linear("1e")}) == 2
    fc = FullyConnectedTensorProduct("0e", "1o", "1o")
    assert fc == FullyConnectedTensorProduct("0e", "1o", "1o", irrep_normalization=None)
    assert fc != FullyConnectedTensorProduct("0e", "1o", "1o", irrep_normalization="norm")
    assert fc != FullyConnectedTensorProduct("0e")
    cw = ChannelwiseTensorProduct("2x0e + 1o", "0e + 1o", filter_ir_out="1o + 0e")
    assert cw == ChannelwiseTensorProduct("2x0e + 1o", "0e + 1o", filter_ir_out=["0e", e3xp.Irrep("1o")])
    assert hash(cw) == hash(ChannelwiseTensorProduct("2x0e + 1o", "0e + 1o", filter_ir_out="0e + 1o"))
    assert cw != ChannelwiseTensorProduct("2x0e + 1o", "0e + 1o")
    assert fc != Linear("0e") and Linear("0e") != "Linear(0e)"


# --------------------------------------------------------------------------- parameter convention


def test_params_are_dicts_named_as_in_e3nn():
    x = e3xp.normal("3x0e + 2x1o", 0)
    assert sorted(Linear("1o").init(0, x)) == ["weight"]
    p = Linear("2x0e + 1o", biases=True).init(0, x)
    assert sorted(p) == ["bias", "weight"] and p["weight"].shape == (8,) and p["bias"].shape == (2,)
    fc = FullyConnectedTensorProduct("2x0e + 1o", "3x0e + 1o", "0e + 1o")
    x, y = e3xp.normal("3x0e + 1o", 0), e3xp.normal("0e + 1o", 1)
    p = fc.init(0, x, y)
    assert sorted(p) == ["weight"] and p["weight"].shape == (fc.weight_numel,)
    np.testing.assert_array_equal(p["weight"], np.random.default_rng(0).standard_normal(fc.weight_numel))
    cw = ChannelwiseTensorProduct("3x0e + 1o", "0e + 1o")
    p = cw.init(0, x, y)
    assert sorted(p) == ["weight"] and p["weight"].shape == (cw.weight_numel,)
    # the channelwise product takes per-sample weights as an array (a radial MLP's
    # output), or the dict from its init; both give the same result
    np.testing.assert_array_equal(cw.apply(p, x, y).array, cw.apply(p["weight"], x, y).array)
    per_edge = np.random.default_rng(2).standard_normal((5, cw.weight_numel))
    assert cw.apply({"weight": per_edge}, x, y).shape == (5, cw.irreps_out.dim)
    # so does the fully connected one, inside the dict
    assert fc.apply({"weight": np.ones((5, fc.weight_numel))}, x, y).shape == (5, 5)


def test_old_parameter_forms_say_what_to_pass():
    x = e3xp.normal("3x0e + 2x1o", 0)
    lin = Linear("2x0e + 1o", biases=True)
    p = lin.init(0, x)
    with pytest.raises(TypeError, match=r"'w', 'b'.*\{'weight': \.\.\., 'bias': \.\.\.\}"):
        lin.apply({"w": p["weight"], "b": p["bias"]}, x)
    with pytest.raises(TypeError, match=r"got a bare ndarray.*\{'weight': \.\.\., 'bias': \.\.\.\}"):
        lin.apply(p["weight"], x)
    with pytest.raises(TypeError, match=r"params\['bias'\] is missing"):
        lin.apply({"weight": p["weight"]}, x)
    with pytest.raises(TypeError, match=r"unexpected key 'bias'.*biases=False"):
        Linear("2x0e + 1o").apply(p, x)
    with pytest.raises(TypeError, match=r"params\['weight'\] must be an array, got list"):
        lin.apply({"weight": p["weight"].tolist(), "bias": p["bias"]}, x)
    fc = FullyConnectedTensorProduct("2x0e + 1o")
    a, b = e3xp.normal("3x0e + 1o", 0), e3xp.normal("0e + 1o", 1)
    w = fc.init(0, a, b)["weight"]
    with pytest.raises(TypeError, match=r"got a bare ndarray; pass \{'weight': weights\}"):
        fc.apply(w, a, b)
    with pytest.raises(TypeError, match=r"params\['weight'\] must be an array, got list"):
        fc.apply({"weight": list(w)}, a, b)
    with pytest.raises(TypeError, match="got an IrrepsArray"):
        fc.apply({"weight": IrrepsArray(f"{w.shape[0]}x0e", w)}, a, b)
    cw = ChannelwiseTensorProduct("3x0e + 1o", "0e + 1o")
    with pytest.raises(TypeError, match=r"'w'.*\{'weight': \.\.\.\}"):
        cw.apply({"w": np.ones(cw.weight_numel)}, a, b)
    with pytest.raises(TypeError, match="must be an array, got list"):
        cw.apply([1.0] * cw.weight_numel, a, b)


def test_params_that_do_not_fit_the_inputs_name_both():
    lin = Linear("2x0e + 1o")
    p = lin.init(0, e3xp.normal("0e + 1o", 0))
    with pytest.raises(ValueError, match=r"params\['weight'\] has shape \(3,\).*3x0e\+1x1o.*\(7,\)"):
        lin.apply(p, e3xp.normal("3x0e + 1o", 1))
    fc = FullyConnectedTensorProduct("0e + 1o")
    a, b = e3xp.normal("2x0e + 1o", 0), e3xp.normal("0e + 1o", 1)
    p = fc.init(0, a, b)
    with pytest.raises(ValueError, match=r"shape \(6,\) do not match weight_numel=8 of inputs 3x0e\+1x1o x 1x0e\+1x1o"):
        fc.apply(p, e3xp.normal("3x0e + 1o", 2), b)


def test_declared_input_irreps_are_checked_at_construction():
    # unreachable outputs are zeros, not errors (design.md section 3)
    assert Linear("1e", "1o").plan("1o").weight_numel == 0
    assert FullyConnectedTensorProduct("1e", "0e", "0e").weight_numel == 0
    with pytest.raises(ValueError, match="irrep_normalization='bogus'"):
        FullyConnectedTensorProduct("0e", irrep_normalization="bogus")
    with pytest.raises(TypeError, match="biases"):
        Linear("0e", biases=1)


# --------------------------------------------------------------------------- bfloat16 on torch


def test_bfloat16_parameters_on_torch():
    torch = pytest.importorskip("torch")
    w = e3xp.normal("2x1o", 0, (4,), backend="torch", dtype="bfloat16")
    assert w.dtype == torch.bfloat16
    expected = torch.tensor(np.random.default_rng(0).standard_normal((4, 6)), dtype=torch.float32)
    torch.testing.assert_close(w.array, expected.to(torch.bfloat16), rtol=0, atol=0)
    if importlib.util.find_spec("jax") is not None:  # the same numbers on JAX
        j = e3xp.normal("2x1o", 0, (4,), backend="jax", dtype="bfloat16").array
        np.testing.assert_array_equal(np.asarray(j, dtype=np.float32), w.array.float().numpy())
    x = IrrepsArray("3x0e + 2x1o", torch.ones(9, dtype=torch.bfloat16))
    lin = Linear("2x0e + 1o", biases=True)
    p = lin.init(0, x)
    assert p["weight"].dtype == p["bias"].dtype == torch.bfloat16 and p["weight"].shape == (8,)
    assert lin.apply(p, x).dtype == torch.bfloat16
    y = IrrepsArray("0e + 1o", torch.ones(4, dtype=torch.bfloat16))
    fc = FullyConnectedTensorProduct("0e + 1o", "3x0e + 2x1o", "0e + 1o")
    p = fc.init(0, x, y)
    assert p["weight"].dtype == torch.bfloat16 and p["weight"].shape == (fc.weight_numel,)
    assert fc.apply(p, x, y).dtype == torch.bfloat16
    cw = ChannelwiseTensorProduct("3x0e + 2x1o", "0e + 1o")
    assert cw.init(0, x, y)["weight"].dtype == torch.bfloat16
    # a torch Generator seed takes the framework's own path, also in bfloat16
    g = torch.Generator().manual_seed(0)
    assert lin.init(g, x)["weight"].dtype == torch.bfloat16


# --------------------------------------------------------------------------- compiled code


def _forward(lin, fc, p_lin, p_fc, a, b):
    x, y = IrrepsArray("3x0e + 1o", a), IrrepsArray("0e + 1o", b)
    return lin.apply(p_lin, x).array.sum() + fc.apply(p_fc, x, y).array.sum()


def test_lazy_layers_under_jax_jit(jax_x64):
    jax = pytest.importorskip("jax")
    # layers hash and compare by configuration, so they can be static arguments
    lin, fc = Linear("2x0e + 1o", biases=True), FullyConnectedTensorProduct("0e + 1o")
    x, y = e3xp.normal("3x0e + 1o", 0, (4,), backend="jax"), e3xp.normal("0e + 1o", 1, (4,), backend="jax")
    p_lin, p_fc = lin.init(0, x), fc.init(0, x, y)
    traces = []

    def counted(*args):
        traces.append(1)
        return _forward(*args)

    f = jax.jit(counted, static_argnums=(0, 1))
    eager = _forward(lin, fc, p_lin, p_fc, x.array, y.array)
    np.testing.assert_allclose(float(f(lin, fc, p_lin, p_fc, x.array, y.array)), float(eager), rtol=1e-13)
    # an equal (rebuilt) layer hits the same compiled function: no second trace
    f(pickle.loads(pickle.dumps(lin)), copy.deepcopy(fc), p_lin, p_fc, x.array, y.array)
    assert len(traces) == 1


def test_lazy_layers_under_torch_compile_fullgraph():
    torch = pytest.importorskip("torch")
    lin, fc = Linear("2x0e + 1o", biases=True), FullyConnectedTensorProduct("0e + 1o")
    x = e3xp.normal("3x0e + 1o", 0, (4,), backend="torch", dtype="float64")
    y = e3xp.normal("0e + 1o", 1, (4,), backend="torch", dtype="float64")
    p_lin, p_fc = lin.init(0, x), fc.init(0, x, y)
    compiled = torch.compile(lambda *args: _forward(lin, fc, *args), fullgraph=True)
    torch.testing.assert_close(
        compiled(p_lin, p_fc, x.array, y.array), _forward(lin, fc, p_lin, p_fc, x.array, y.array), rtol=1e-13, atol=0
    )
