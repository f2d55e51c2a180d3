"""``ChannelwiseTensorProduct(weight_order=..., sort=...)`` against e3nn's own recipes.

Each option combination must equal e3nn's ``o3.TensorProduct`` built by the
recipe its docstring names (float64, relative 1e-12), on numpy, torch (with and
without an autograd graph: two different torch kernels) and jax (jitted):

* MACE's ``tp_out_irreps_with_instructions``: e3nn sort, ``i_out -> p[i_out]``,
  instructions sorted by ``i_out`` -> ``sort="e3nn", weight_order="sorted"``;
* NequIP's ``InteractionBlock`` / e3nn's ``Convolution``: the same without sorting
  the instructions -> ``sort="e3nn", weight_order="instruction"``;
* no sort at all -> ``sort=None``;
* the same recipes with e3nn-jax's sort (the permutation taken from
  ``e3nn_jax.Irreps.sort``, independent of e3xp) -> ``sort="e3nn-jax"``.
"""

import numpy as np
import pytest

import e3xp
from e3xp import ChannelwiseTensorProduct, IrrepsArray

torch = pytest.importorskip("torch")
o3 = pytest.importorskip("e3nn.o3")

BACKENDS = ["numpy", "torch", "torch-graph", "jax"]

CASES = [
    # the case of issue 14: both parities of l = 0, 1, 2 are kept, the sorts differ (max abs 6.9)
    ("3x0e + 2x1o + 2x1e", "0e + 1o + 2e", "0e + 0o + 1o + 1e + 2e + 2o"),
    ("2x0e + 3x1o + 1x1e + 2x2o", "0e + 1o", None),  # no filter
    ("2x0o + 2x1e", "2x0e + 1x1o + 2x1e", "0e + 0o + 1o + 1e"),  # mul2 > 1 ("uvu" with v)
    ("4x0e + 4x1o", "0e + 1o + 2e", "0e + 1o + 2e"),  # MACE's usual filter: all sorts agree
]


def _recipe(in1, in2, filt, sort, weight_order):
    """(irreps_out, instructions) for e3nn's TensorProduct, written from the MACE / NequIP code."""
    in1, in2 = o3.Irreps(in1), o3.Irreps(in2)
    target = None if filt is None else o3.Irreps(filt)
    out, ins = [], []
    for i, (mul, ir_in) in enumerate(in1):
        for j, (_, ir_edge) in enumerate(in2):
            for ir_out in ir_in * ir_edge:
                if target is None or ir_out in target:
                    k = len(out)
                    out.append((mul, ir_out))
                    ins.append((i, j, k, "uvu", True))
    if sort is None:
        return o3.Irreps(out), ins
    if sort == "e3nn":
        irreps_out, p, _ = o3.Irreps(out).sort()
    else:
        import e3nn_jax

        _, p, _ = e3nn_jax.Irreps(str(o3.Irreps(out))).sort()
        irreps_out = o3.Irreps([out[i] for i in np.argsort(p)])
    ins = [(a, b, p[c], mode, train) for a, b, c, mode, train in ins]
    if weight_order == "sorted":
        ins = sorted(ins, key=lambda x: x[2])  # MACE
    return irreps_out, ins


def _reference(in1, in2, filt, sort, weight_order, x, y, w):
    irreps_out, ins = _recipe(in1, in2, filt, sort, weight_order)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # e3nn builds its CG buffers in the default dtype
    try:
        tp = o3.TensorProduct(in1, in2, irreps_out, ins, shared_weights=False, internal_weights=False)
    finally:
        torch.set_default_dtype(old)
    with torch.no_grad():
        out = tp(torch.as_tensor(x), torch.as_tensor(y), torch.as_tensor(w))
    return irreps_out, tp.weight_numel, out.numpy()


def _run(backend, tp, x, y, w):
    if backend == "numpy":
        return np.asarray(tp.apply(w, IrrepsArray(tp.irreps_in1, x), IrrepsArray(tp.irreps_in2, y)).array)
    if backend.startswith("torch"):
        tx, ty, tw = (torch.as_tensor(a) for a in (x, y, w))
        if backend == "torch-graph":  # the differentiable kernels (grouped_graph), not the forward-only one
            tx.requires_grad_(True)
        out = tp.apply(tw, IrrepsArray(tp.irreps_in1, tx), IrrepsArray(tp.irreps_in2, ty)).array
        return out.detach().numpy()
    import jax

    f = jax.jit(lambda w, x, y: tp.apply(w, IrrepsArray(tp.irreps_in1, x), IrrepsArray(tp.irreps_in2, y)).array)
    return np.asarray(f(*(jax.numpy.asarray(a) for a in (w, x, y))))


def _inputs(tp, n=7, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((n, tp.irreps_in1.dim)),
        rng.standard_normal((n, tp.irreps_in2.dim)),
        rng.standard_normal((n, tp.weight_numel)),
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "sort, weight_order",
    [("e3nn", "sorted"), ("e3nn", "instruction"), (None, "sorted"), (None, "instruction"),
     ("e3nn-jax", "sorted"), ("e3nn-jax", "instruction")],
)
@pytest.mark.parametrize("case", CASES, ids=[c[0].replace(" ", "") for c in CASES])
def test_channelwise_options_equal_e3nn_recipes(jax_x64, backend, sort, weight_order, case):
    if backend == "jax":
        pytest.importorskip("jax")
    in1, in2, filt = case
    tp = ChannelwiseTensorProduct(in1, in2, filt, sort=sort, weight_order=weight_order)
    x, y, w = _inputs(tp)
    irreps_ref, numel_ref, ref = _reference(in1, in2, filt, sort, weight_order, x, y, w)
    assert str(tp.irreps_out) == str(irreps_ref)
    assert tp.weight_numel == numel_ref
    got = _run(backend, tp, x, y, w)
    assert got.shape == ref.shape
    assert np.max(np.abs(got - ref)) <= 1e-12 * np.max(np.abs(ref))


def test_default_is_the_e3nnjax_sort_and_differs_from_mace_when_both_parities_are_kept():
    """The bug of issue 14: the default layer is not MACE's recipe in this case (max abs ~6.9)."""
    in1, in2, filt = CASES[0]
    default = ChannelwiseTensorProduct(in1, in2, filt)
    assert (default.sort, default.weight_order) == ("e3nn-jax", "sorted")
    mace = ChannelwiseTensorProduct(in1, in2, filt, sort="e3nn")
    x, y, w = _inputs(default)
    _, _, ref = _reference(in1, in2, filt, "e3nn", "sorted", x, y, w)
    assert np.max(np.abs(_run("numpy", default, x, y, w) - ref)) > 1.0
    assert np.max(np.abs(_run("numpy", mace, x, y, w) - ref)) <= 1e-12 * np.max(np.abs(ref))
    # the two outputs are the same blocks permuted: e3nn-jax order 0e, 0o, ... vs e3nn's 0o, 0e, ...
    assert str(default.irreps_out).startswith("3x0e+2x0e+2x0o+") and str(mace.irreps_out).startswith("2x0o+3x0e+2x0e+")


def test_orders_agree_when_no_l_has_both_parities():
    in1, in2, filt = CASES[3]
    plans = {
        (s, o): ChannelwiseTensorProduct(in1, in2, filt, sort=s, weight_order=o).plan
        for s in ("e3nn", "e3nn-jax") for o in ("sorted", "instruction")
    }
    assert len({p.irreps_out for p in plans.values()}) == 1
    # the weight orders still differ: MACE groups the weights by output, NequIP by instruction
    assert plans["e3nn", "sorted"] == plans["e3nn-jax", "sorted"]
    assert plans["e3nn", "instruction"] == plans["e3nn-jax", "instruction"]
    assert plans["e3nn", "sorted"] != plans["e3nn", "instruction"]


def test_sort_none_weight_orders_coincide():
    a = ChannelwiseTensorProduct(*CASES[0], sort=None, weight_order="sorted").plan
    b = ChannelwiseTensorProduct(*CASES[0], sort=None, weight_order="instruction").plan
    assert a == b


@pytest.mark.parametrize(
    "kwargs, match",
    [({"sort": "torch"}, "sort='torch' is not supported"), ({"sort": 1}, "sort=1 is not supported"),
     ({"weight_order": "output"}, "weight_order='output' is not supported"),
     ({"weight_order": None}, "weight_order=None is not supported")],
)
def test_bad_options_name_the_problem(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ChannelwiseTensorProduct("2x0e + 1o", "0e + 1o", **kwargs)
    with pytest.raises(ValueError, match=match):
        e3xp.core.plans.channelwise_tensor_product_plan("2x0e + 1o", "0e + 1o", **kwargs)


def test_options_are_part_of_the_layer_value():
    import copy
    import pickle

    a = ChannelwiseTensorProduct("1o + 1e", "0e + 1o", sort="e3nn", weight_order="instruction")
    assert a != ChannelwiseTensorProduct("1o + 1e", "0e + 1o", sort="e3nn")
    for b in (pickle.loads(pickle.dumps(a)), copy.deepcopy(a)):
        assert b == a and b.plan == a.plan and (b.sort, b.weight_order) == ("e3nn", "instruction")
    assert "sort='e3nn'" in repr(a) and "weight_order='instruction'" in repr(a)
