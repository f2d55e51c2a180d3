"""e3xp.torch.Linear against e3nn 0.6.0's o3.Linear: an e3nn state_dict loads unchanged
(strict) and gives e3nn's outputs and gradients in float64."""

import pytest

torch = pytest.importorskip("torch")
o3 = pytest.importorskip("e3nn.o3")

import e3xp  # noqa: E402
import e3xp.torch as et  # noqa: E402

TOL = 1e-12


pytestmark = pytest.mark.usefixtures("torch_float64")  # root conftest.py


def _rel(a, b):
    a, b = a.detach(), b.detach()
    if a.numel() == 0:
        return 0.0
    return float((a - b).abs().max()) / max(float(a.abs().max()), 1e-300)


def _pair(**kw):
    torch.manual_seed(0)
    ref = o3.Linear(**kw)
    with torch.no_grad():
        if isinstance(ref.bias, torch.nn.Parameter):
            ref.bias.normal_()  # e3nn starts them at zero: make them count
    ours = et.Linear(**kw)
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ref, ours


CASES = [
    dict(irreps_in="2x0e + 1o + 0x2e + 3x1o", irreps_out="3x0e + 1o + 1e + 0x0e", biases=True),
    dict(irreps_in="4x0e + 3x0e", irreps_out="4x0e + 3x0e", instructions=[(0, 0), (1, 1)], path_normalization="path"),
    dict(irreps_in="4x0e + 3x0e + 2x1o", irreps_out="5x0e + 2x1o", instructions=[(0, 0), (1, 0), (2, 1)],
         biases=[True, False]),
    dict(irreps_in="2x0e + 1o", irreps_out="3x0e + 2x1o", f_in=3, f_out=2, biases=True),
    dict(irreps_in="2x1e", irreps_out="3x0e"),  # nothing reachable: zeros
    dict(irreps_in="8x0e + 4x1o + 2x2e", irreps_out="4x0e + 8x1o + 2x2e + 2x2o", path_normalization="path"),
]


@pytest.mark.parametrize("kw", CASES, ids=[str(i) for i in range(len(CASES))])
def test_equals_e3nn(kw):
    ref, ours = _pair(**kw)
    assert repr(ours) == repr(ref)
    assert (ours.weight_numel, ours.bias_numel) == (ref.weight_numel, ref.bias_numel)
    torch.testing.assert_close(ours.output_mask, ref.output_mask, rtol=0, atol=0)
    g = torch.Generator().manual_seed(1)
    lead = (4, kw["f_in"]) if "f_in" in kw else (4,)
    x = torch.randn(lead + (ref.irreps_in.dim,), generator=g, requires_grad=True)
    a, b = ref(x), ours(x)
    assert a.shape == b.shape
    assert _rel(a, b) <= TOL
    if a.numel() and a.requires_grad:
        ct = torch.randn(a.shape, generator=g)
        params_ref = [p for p in (ref.weight, ref.bias) if isinstance(p, torch.nn.Parameter)]
        params = [p for p in (ours.weight, ours.bias) if isinstance(p, torch.nn.Parameter)]
        for gr, go in zip(torch.autograd.grad(a, [x] + params_ref, ct), torch.autograd.grad(b, [x] + params, ct)):
            assert _rel(gr, go) <= TOL


def test_external_and_per_sample_weights():
    kw = dict(irreps_in="3x0e + 2x1o", irreps_out="2x0e + 3x1o", biases=True, internal_weights=False)
    ref, ours = _pair(**kw)
    assert sorted(ours.state_dict()) == ["bias", "output_mask", "weight"] and ours.weight.shape == (0,)
    x = torch.randn(5, 9)
    w, b = torch.randn(ref.weight_numel), torch.randn(ref.bias_numel)
    assert _rel(ref(x, w, b), ours(x, w, b)) <= TOL
    ref, ours = _pair(irreps_in="3x0e + 2x1o", irreps_out="2x0e + 3x1o", shared_weights=False)
    w = torch.randn(5, ref.weight_numel, requires_grad=True)
    a, c = ref(x, w), ours(x, w)
    assert _rel(a, c) <= TOL
    assert _rel(torch.autograd.grad(a.pow(2).sum(), w)[0], torch.autograd.grad(c.pow(2).sum(), w)[0]) <= TOL


def test_equivariance_and_irreps_array():
    lin = et.Linear("3x0e + 2x1o + 2e + 1e", "2x0e + 3x1o + 2e + 0o", biases=True)
    with torch.no_grad():
        lin.bias.normal_()
    R = -e3xp.rand_matrix(seed=2)
    D_in = torch.as_tensor(lin.irreps_in.D_from_matrix(R))
    D_out = torch.as_tensor(lin.irreps_out.D_from_matrix(R))
    x = torch.randn(6, lin.irreps_in.dim)
    assert _rel(lin(x) @ D_out.T, lin(x @ D_in.T)) <= 1e-12
    z = lin(e3xp.IrrepsArray(lin.irreps_in, x))
    assert isinstance(z, e3xp.IrrepsArray) and z.irreps == lin.irreps_out
    torch.testing.assert_close(z.array, lin(x), rtol=0, atol=0)


def test_same_seed_same_initial_weights_as_e3nn():
    torch.manual_seed(7)
    ref = o3.Linear("4x0e + 16x1o", "8x0e + 8x1o", biases=True)
    torch.manual_seed(7)
    ours = et.Linear("4x0e + 16x1o", "8x0e + 8x1o", biases=True)
    torch.testing.assert_close(ours.weight, ref.weight, rtol=0, atol=0)
    torch.testing.assert_close(ours.bias, ref.bias, rtol=0, atol=0)


def test_state_dict_round_trip_float64_and_mismatch():
    torch.set_default_dtype(torch.float32)
    a = et.Linear("2x0e + 1o", "3x0e + 1o", biases=True)
    b = et.Linear("2x0e + 1o", "3x0e + 1o", biases=True).to(torch.float64)
    b.load_state_dict(a.state_dict(), strict=True)
    assert b.weight.dtype == torch.float64
    torch.testing.assert_close(b.weight, a.weight.double(), rtol=0, atol=0)
    assert b(torch.randn(2, 5, dtype=torch.float64)).dtype == torch.float64
    c = et.Linear("3x0e + 1o", "3x0e + 1o", biases=True)
    with pytest.raises(RuntimeError) as info:
        c.load_state_dict(a.state_dict())
    msg = str(info.value)
    assert "'weight'" in msg and "(7,)" in msg and "(10,)" in msg and "3x0e+1x1o" in msg


def test_compile_parity_and_double_backward():
    torch._dynamo.reset()
    lin = et.Linear("3x0e + 2x1o", "2x0e + 3x1o", biases=True)
    x = torch.randn(4, 9, requires_grad=True)
    f = torch.compile(lin, fullgraph=True, backend="aot_eager")
    assert _rel(lin(x), f(x)) <= 1e-12
    (g,) = torch.autograd.grad(lin(x).pow(2).sum(), x, create_graph=True)
    (gg,) = torch.autograd.grad(g.pow(3).sum(), lin.weight)
    ref = o3.Linear("3x0e + 2x1o", "2x0e + 3x1o", biases=True)
    ref.load_state_dict(lin.state_dict())
    (g_ref,) = torch.autograd.grad(ref(x).pow(2).sum(), x, create_graph=True)
    (gg_ref,) = torch.autograd.grad(g_ref.pow(3).sum(), ref.weight)
    assert _rel(gg_ref, gg) <= TOL


def test_bad_input_errors():
    with pytest.raises(ValueError, match="do not have the same irrep"):
        et.Linear("2x0e + 1o", "1e", instructions=[(1, 0)])
    with pytest.raises(ValueError, match="i_out=3 is out of range"):
        et.Linear("2x0e", "0e", instructions=[(0, 3)])
    with pytest.raises(ValueError, match="only 0e entries can take a bias"):
        et.Linear("2x0e", "0e + 1o", biases=[False, True])
    with pytest.raises(ValueError, match="give both or neither"):
        et.Linear("2x0e", "0e", f_in=2)
    with pytest.raises(ValueError, match="path_normalization='x'"):
        et.Linear("2x0e", "0e", path_normalization="x")
    lin = et.Linear("2x0e", "3x0e", internal_weights=False)
    with pytest.raises(ValueError, match="weight must be given"):
        lin(torch.randn(2))
    with pytest.raises(ValueError, match=r"weight has shape \(5,\), expected \(6,\)"):
        lin(torch.randn(2), torch.randn(5))
    with pytest.raises(ValueError, match=r"the input has shape \(3,\).*size 2"):
        et.Linear("2x0e", "0e")(torch.randn(3))
