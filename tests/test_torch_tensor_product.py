"""e3xp.torch tensor products against e3nn 0.6.0's o3 modules: an e3nn state_dict loads
unchanged (strict) and gives e3nn's outputs and gradients in float64."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
o3 = pytest.importorskip("e3nn.o3")

import e3xp  # noqa: E402
import e3xp.torch as et  # noqa: E402
from e3xp.core.plans import execute_plan_reference  # noqa: E402

TOL = 1e-12


pytestmark = pytest.mark.usefixtures("torch_float64")  # root conftest.py


def _rel(a, b):
    a, b = a.detach(), b.detach()
    scale = max(float(a.abs().max()) if a.numel() else 0.0, 1e-300)
    return float((a - b).abs().max()) / scale if a.numel() else 0.0


def _pair(e3nn_cls, ours_cls, *args, **kwargs):
    torch.manual_seed(0)
    ref = e3nn_cls(*args, **kwargs)
    ours = ours_cls(*args, **kwargs)
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ref, ours


def _check(ref, ours, batch=(5,), weight_batch=None, square=False):
    """Outputs and gradients (inputs and weights) of ``ours`` against ``ref``."""
    g = torch.Generator().manual_seed(1)
    n1 = ref.irreps_in1.dim
    x = torch.randn(batch + (n1,), generator=g, requires_grad=True)
    y = None if square else torch.randn(batch + (ref.irreps_in2.dim,), generator=g, requires_grad=True)
    w = None
    if weight_batch is not None:
        w = torch.randn(weight_batch + (ref.weight_numel,), generator=g, requires_grad=True)
    args = (x,) if square else (x, y)
    out_ref = ref(*args) if w is None else ref(*args, w)
    out = ours(*args) if w is None else ours(*args, w)
    assert out.shape == out_ref.shape
    assert out.dtype == torch.float64
    err = _rel(out_ref, out)
    assert err <= TOL, err
    if out.numel() == 0:
        return err
    ct = torch.randn(out.shape, generator=g)
    leaves = [t for t in (x, y, w) if t is not None]
    if ref.internal_weights and ref.weight_numel:
        grads_ref = torch.autograd.grad(out_ref, leaves + [ref.weight], ct, allow_unused=True)
        grads = torch.autograd.grad(out, leaves + [ours.weight], ct, allow_unused=True)
    else:
        grads_ref = torch.autograd.grad(out_ref, leaves, ct, allow_unused=True)
        grads = torch.autograd.grad(out, leaves, ct, allow_unused=True)
    for gr, go in zip(grads_ref, grads):
        if gr is None:
            assert go is None or float(go.abs().max()) == 0.0
            continue
        gerr = _rel(gr, go)
        assert gerr <= TOL, gerr
    return err


# (irreps_in1, irreps_in2, irreps_out, mode, has_weight): each e3nn mode, both parities of one l
MODE_CASES = [
    ("2x1o + 3x0e", "3x1o + 2x1e", "4x1e + 2x0e", "uvw", True),
    ("2x1o", "3x1o + 1x2e", "2x1e", "uvu", True),
    ("2x1o", "3x2e", "2x1o", "uvu", False),
    ("2x1o", "3x1o", "3x1e", "uvv", True),
    ("4x2e", "3x1o", "3x1o", "uvv", False),
    ("3x1o", "3x1e", "4x1o", "uuw", True),
    ("3x1o", "3x2e", "1x1o", "uuw", False),
    ("3x1e", "3x1o", "3x1o", "uuu", True),
    ("3x1o", "3x1o", "3x1e", "uuu", False),
    ("2x1o", "3x1e", "6x1o", "uvuv", True),
    ("2x1o", "3x0e", "6x1o", "uvuv", False),
    ("3x1o", "3x1o", "3x0e", "uvu<v", True),
    ("4x2e", "4x2e", "6x2e", "uvu<v", False),
    ("4x1o", "4x1o", "5x1e", "u<vw", True),
]


@pytest.mark.parametrize("case", MODE_CASES, ids=[f"{c[3]}-{'w' if c[4] else 'nw'}-{i}" for i, c in enumerate(MODE_CASES)])
def test_each_mode_equals_e3nn(case):
    i1, i2, out, mode, w = case
    ins = [(0, 0, 0, mode, w)]
    ref, ours = _pair(o3.TensorProduct, et.TensorProduct, i1, i2, out, ins)
    assert ours.weight_numel == ref.weight_numel
    assert [tuple(i) for i in ours.instructions] == [tuple(i) for i in ref.instructions]
    _check(ref, ours)


def test_many_instructions_variances_and_path_weights():
    irreps1, irreps2, irreps_out = "2x0e + 3x1o + 1x1e + 2x2e", "0e + 1o + 2x2e", "3x0e + 1x1o + 3x1o + 1x2e + 0x1e"
    ins = [
        (0, 0, 0, "uvw", True, 2.0),
        (1, 1, 0, "uvw", True),
        (1, 0, 2, "uvu", True, 0.5),
        (1, 2, 2, "uvu", False),
        (2, 1, 1, "uvv", True),
        (3, 2, 3, "uvw", True, 3.0),
        (2, 2, 4, "uvw", True),  # zero output multiplicity: no weights
        (0, 0, 0, "uvw", True, 0.25),  # a second path between the same entries
    ]
    for irrep_norm in ("component", "norm", "none"):
        for path_norm in ("element", "path", "none"):
            kw = dict(in1_var=[1.0, 2.0, 0.5, 1.5], in2_var=[1.0, 0.3, 2.0], out_var=[1.0, 2.0, 0.5, 3.0, 1.0],
                      irrep_normalization=irrep_norm, path_normalization=path_norm)
            ref, ours = _pair(o3.TensorProduct, et.TensorProduct, irreps1, irreps2, irreps_out, ins, **kw)
            assert ours.weight_numel == ref.weight_numel
            torch.testing.assert_close(ours.output_mask, ref.output_mask, rtol=0, atol=0)
            _check(ref, ours, batch=(3, 2))


def test_external_shared_and_per_sample_weights():
    i1, i2, out = "3x0e + 2x1o", "0e + 1o + 2e", "3x0e + 2x1o + 3x1o + 2x2e"
    ins = [(0, 0, 0, "uvu", True), (1, 0, 1, "uvu", True), (0, 1, 2, "uvu", True), (1, 2, 1, "uvu", True),
           (1, 1, 3, "uvu", True)]
    # external shared
    ref, ours = _pair(o3.TensorProduct, et.TensorProduct, i1, i2, out, ins, internal_weights=False, shared_weights=True)
    assert sorted(ours.state_dict()) == ["output_mask", "weight"] and ours.weight.shape == (0,)
    _check(ref, ours, weight_batch=())
    # per sample (a NequIP/MACE convolution: per-edge weights), with broadcasting batch axes
    ref, ours = _pair(o3.TensorProduct, et.TensorProduct, i1, i2, out, ins, shared_weights=False)
    assert not ours.internal_weights
    _check(ref, ours, batch=(4,), weight_batch=(4,))
    _check(ref, ours, batch=(2, 3), weight_batch=(2, 3))


@pytest.mark.parametrize("irrep_norm", [None, "norm", "none"])
def test_fully_connected(irrep_norm):
    args = ("2x0e + 0x0o + 1o + 2x1e + 2e", "0e + 1o + 2e", "3x0e + 1o + 2x1e + 2o + 2e")
    for path_norm in (None, "path"):
        ref, ours = _pair(o3.FullyConnectedTensorProduct, et.FullyConnectedTensorProduct, *args,
                          irrep_normalization=irrep_norm, path_normalization=path_norm)
        assert repr(ours) == repr(ref)
        _check(ref, ours)
    ref, ours = _pair(o3.FullyConnectedTensorProduct, et.FullyConnectedTensorProduct, *args, shared_weights=False)
    _check(ref, ours, batch=(3,), weight_batch=(3,))


@pytest.mark.parametrize("cls", ["FullTensorProduct", "ElementwiseTensorProduct"])
def test_full_and_elementwise(cls):
    for args, kw in [
        (("2x0e + 1o + 1o", "1o + 2x1e + 0o"), {}),
        (("3x0e + 2x1o", "1e + 2x2e + 2x0o"), {"filter_ir_out": ["1o", "1e", "0o"]}),
        (("2x0e + 1o", "1o + 2x1e"), {"irrep_normalization": "norm"}),
    ]:
        ref, ours = _pair(getattr(o3, cls), getattr(et, cls), *args, **kw)
        assert str(ours.irreps_out) == str(ref.irreps_out)
        assert str(ours.irreps_in1) == str(ref.irreps_in1)
        _check(ref, ours, batch=(4,))


def test_full_tensor_product_sorts_as_e3nn():
    tp = et.FullTensorProduct("1o + 1e", "1o")
    assert str(tp.irreps_out) == str(o3.FullTensorProduct("1o + 1e", "1o").irreps_out)
    assert str(tp.irreps_out).startswith("1x0o+1x0e")  # e3nn (torch) order: 0o before 0e


@pytest.mark.parametrize("irrep_norm", [None, "norm", "none"])
def test_tensor_square(irrep_norm):
    for args in [("3x0e + 2x1o + 1e + 2x2e",), ("3x0e + 2x1o + 2e", "2x0e + 3x1e + 2e")]:
        ref, ours = _pair(o3.TensorSquare, et.TensorSquare, *args, irrep_normalization=irrep_norm)
        assert str(ours.irreps_out) == str(ref.irreps_out) and ours.weight_numel == ref.weight_numel
        assert repr(ours) == repr(ref)
        _check(ref, ours, square=True)
    ref, ours = _pair(o3.TensorSquare, et.TensorSquare, "2x0e + 2x1o", filter_ir_out=["0e", "1e"])
    assert str(ours.irreps_out) == str(ref.irreps_out)
    _check(ref, ours, square=True)


def test_zero_multiplicities_and_empty_output():
    # an instruction on a 0x entry, as e3nn allows
    ref, ours = _pair(o3.TensorProduct, et.TensorProduct, "0x1o + 2x0e", "1o", "2x1o + 0x1e",
                      [(0, 0, 1, "uvw", True), (1, 0, 0, "uvw", True)])
    _check(ref, ours)
    ref, ours = _pair(o3.FullTensorProduct, et.FullTensorProduct, "1o", "1o", filter_ir_out=["2o"])
    assert ours.irreps_out.dim == 0
    _check(ref, ours)


def test_same_seed_same_initial_weights_as_e3nn():
    torch.manual_seed(3)
    ref = o3.FullyConnectedTensorProduct("2x0e + 1o", "0e + 1o", "3x0e + 1e")
    torch.manual_seed(3)
    ours = et.FullyConnectedTensorProduct("2x0e + 1o", "0e + 1o", "3x0e + 1e")
    torch.testing.assert_close(ours.weight, ref.weight, rtol=0, atol=0)


def test_irreps_array_in_irreps_array_out():
    tp = et.FullyConnectedTensorProduct("2x0e + 1o", "0e + 1o", "3x0e + 1e")
    x = e3xp.IrrepsArray("2x0e + 1o", torch.randn(4, 5))
    y = e3xp.IrrepsArray("0e + 1o", torch.randn(4, 4))
    z = tp(x, y)
    assert isinstance(z, e3xp.IrrepsArray) and z.irreps == tp.irreps_out
    torch.testing.assert_close(z.array, tp(x.array, y.array))
    with pytest.raises(ValueError, match="1x0e\\+1x1o.*built for 2x0e\\+1x1o"):
        tp(e3xp.IrrepsArray("0e + 1o", torch.randn(4)), y)


def test_to_float64_uses_float64_buffers():
    torch.set_default_dtype(torch.float32)
    tp = et.FullyConnectedTensorProduct("2x1o + 2e", "1o + 2e", "2x0e + 1e + 2x2e")
    assert tp._cg0.dtype == torch.float32 and tp.weight.dtype == torch.float32
    tp = tp.to(torch.float64)
    assert all(getattr(tp, n).dtype == torch.float64 for n in tp._cg_names)
    x, y = torch.randn(3, 11, dtype=torch.float64), torch.randn(3, 8, dtype=torch.float64)
    out = tp(x, y)
    assert out.dtype == torch.float64
    ref = execute_plan_reference(tp.plan, x.numpy(), y.numpy(), tp.weight.detach().numpy())
    assert np.abs(out.detach().numpy() - ref).max() <= 1e-13 * np.abs(ref).max()
    # the forward reads the module's buffers (not a cache): zeroing them zeroes the output
    with torch.no_grad():
        for n in tp._cg_names:
            getattr(tp, n).zero_()
    assert float(tp(x, y).abs().max()) == 0.0
    # ... and the backend's cache was not touched
    tp2 = et.FullyConnectedTensorProduct("2x1o + 2e", "1o + 2e", "2x0e + 1e + 2x2e").to(torch.float64)
    assert float(tp2(x, y).abs().max()) > 0.0
    assert "_cg0" not in tp.state_dict()


def test_state_dict_round_trip_and_mismatch_message():
    a = et.FullyConnectedTensorProduct("2x0e + 1o", "0e + 1o", "3x0e + 1e")
    b = et.FullyConnectedTensorProduct("2x0e + 1o", "0e + 1o", "3x0e + 1e")
    b.load_state_dict(a.state_dict(), strict=True)
    torch.testing.assert_close(a.weight, b.weight, rtol=0, atol=0)
    c = et.FullyConnectedTensorProduct("3x0e + 1o", "0e + 1o", "3x0e + 1e")
    with pytest.raises(RuntimeError) as info:
        c.load_state_dict(a.state_dict())
    msg = str(info.value)
    assert "'weight'" in msg and "(10,)" in msg and "(13,)" in msg and "3x0e" in msg


def test_bad_input_errors():
    with pytest.raises(ValueError, match="selection rule"):
        et.TensorProduct("1o", "1o", "1o", [(0, 0, 0, "uvw", True)])
    with pytest.raises(ValueError, match="unknown connection mode 'uvx'"):
        et.TensorProduct("1o", "1o", "1e", [(0, 0, 0, "uvx", True)])
    with pytest.raises(ValueError, match="i_out=2 is out of range"):
        et.TensorProduct("1o", "1o", "1e", [(0, 0, 2, "uvw", True)])
    with pytest.raises(ValueError, match="mode 'uuu' needs mul1 == mul2 == mul_out"):
        et.TensorProduct("2x1o", "3x1o", "2x1e", [(0, 0, 0, "uuu", False)])
    with pytest.raises(ValueError, match="needs weights"):
        et.TensorProduct("1o", "1o", "1e", [(0, 0, 0, "uvw", False)])
    with pytest.raises(TypeError, match="must be a tuple"):
        et.TensorProduct("1o", "1o", "1e", [(0, 0, 0)])
    with pytest.raises(ValueError, match="in1_var has 2 entries"):
        et.TensorProduct("1o", "1o", "1e", [(0, 0, 0, "uvw", True)], in1_var=[1.0, 2.0])
    with pytest.raises(ValueError, match="internal_weights=True needs shared_weights=True"):
        et.TensorProduct("1o", "1o", "1e", [(0, 0, 0, "uvw", True)], internal_weights=True, shared_weights=False)
    tp = et.TensorProduct("2x1o", "1o", "2x1e", [(0, 0, 0, "uvu", True)], shared_weights=False)
    with pytest.raises(ValueError, match="weights must be given"):
        tp(torch.randn(6), torch.randn(3))
    with pytest.raises(ValueError, match=r"weight has shape \(3,\), expected \(\.\.\., 2\)"):
        tp(torch.randn(6), torch.randn(3), torch.randn(3))
    with pytest.raises(ValueError, match=r"input x: the input has shape \(4, 5\).*size 6"):
        tp(torch.randn(4, 5), torch.randn(3), torch.randn(4, 2))


def test_equivariance_under_o3():
    tp = et.TensorProduct("2x1o + 2x2e", "1o + 1e", "2x1e + 2x2o + 2x0o + 3x1o",
                          [(0, 0, 0, "uvu", True), (1, 0, 1, "uvu", True), (0, 1, 2, "uvu", True),
                           (1, 0, 3, "uvw", True), (0, 1, 3, "uvw", True)])
    R = torch.as_tensor(-e3xp.rand_matrix(seed=4))  # rotation times parity
    D1 = torch.as_tensor(tp.irreps_in1.D_from_matrix(R.numpy()))
    D2 = torch.as_tensor(tp.irreps_in2.D_from_matrix(R.numpy()))
    Do = torch.as_tensor(tp.irreps_out.D_from_matrix(R.numpy()))
    x, y = torch.randn(6, tp.irreps_in1.dim), torch.randn(6, tp.irreps_in2.dim)
    a = tp(x @ D1.T, y @ D2.T)
    b = tp(x, y) @ Do.T
    assert _rel(b, a) <= 1e-12


def test_double_backward_eager():
    ref, ours = _pair(o3.FullyConnectedTensorProduct, et.FullyConnectedTensorProduct, "2x0e + 1o", "0e + 1o + 2e",
                      "2x0e + 1o + 1e")
    for tp in (ref, ours):
        torch.manual_seed(5)
        x = torch.randn(3, tp.irreps_in1.dim, requires_grad=True)
        y = torch.randn(3, tp.irreps_in2.dim, requires_grad=True)
        (gx,) = torch.autograd.grad(tp(x, y).pow(2).sum(), x, create_graph=True)
        (gy,) = torch.autograd.grad(gx.pow(2).sum(), y)
        tp._res = (gx.detach(), gy)
    assert _rel(ref._res[0], ours._res[0]) <= TOL and _rel(ref._res[1], ours._res[1]) <= TOL


COMPILE_MODULES = [
    lambda: et.FullyConnectedTensorProduct("2x0e + 1o", "0e + 1o", "2x0e + 1e"),
    lambda: et.TensorProduct("2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o + 2x1e",
                             [(0, 0, 0, "uvu", True), (1, 1, 0, "uvu", True), (1, 0, 1, "uvu", True),
                              (1, 1, 2, "uvu", True)], shared_weights=False),
    lambda: et.FullTensorProduct("2x0e + 1o", "1o"),
    lambda: et.ElementwiseTensorProduct("2x0e + 1o", "1o + 2x1e"),
    lambda: et.TensorSquare("2x0e + 1o", "0e + 1e"),
    lambda: et.TensorProduct("3x1o", "3x1o", "3x1e", [(0, 0, 0, "uvu<v", True)]),
]


@pytest.mark.parametrize("k", range(len(COMPILE_MODULES)))
def test_torch_compile_parity(k):
    torch._dynamo.reset()
    tp = COMPILE_MODULES[k]()
    square = isinstance(tp, et.TensorSquare)
    x = torch.randn(4, tp.irreps_in1.dim, requires_grad=True)
    y = torch.randn(4, tp.irreps_in2.dim)
    args = (x,) if square else (x, y)
    if not tp.shared_weights:
        args = args + (torch.randn(4, tp.weight_numel),)
    f = torch.compile(tp, fullgraph=True, backend="inductor" if k == 0 else "aot_eager")
    eager = tp(*args)
    out = f(*args)
    assert _rel(eager, out) <= 1e-12
    (g_eager,) = torch.autograd.grad(eager.sum(), x)
    (g,) = torch.autograd.grad(f(*args).sum(), x)
    assert _rel(g_eager, g) <= 1e-12
    with torch.no_grad():
        assert _rel(eager, f(*args)) <= 1e-12


def test_plan_paths_follow_e3nn_instructions():
    tp = et.TensorProduct("2x1o + 2x0e", "1o", "2x1e + 2x1o",
                          [(0, 0, 0, "uvu", True), (1, 0, 1, "uvu", True, 4.0)])
    assert [(p.i_in1, p.i_out, p.mode, p.weight_offset) for p in tp.plan.paths] == [(0, 0, "uvu", 0), (1, 1, "uvu", 2)]
    assert math.isclose(tp.plan.paths[1].path_weight, math.sqrt(3 * 4.0))
