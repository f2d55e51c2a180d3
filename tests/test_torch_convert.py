"""e3xp.torch.from_e3nn / load_e3nn_state_dict against e3nn 0.6.0 modules."""

import pytest

torch = pytest.importorskip("torch")
e3nn = pytest.importorskip("e3nn")
from e3nn import nn as enn  # noqa: E402
from e3nn import o3  # noqa: E402

import e3xp.torch as et  # noqa: E402
from e3xp.torch import from_e3nn, load_e3nn_state_dict  # noqa: E402

F64 = torch.float64
silu = torch.nn.functional.silu


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def rel(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def perturbed(m):
    with torch.no_grad():
        for i, p in enumerate(m.parameters()):
            p.add_(randn(*p.shape, seed=40 + i))
    return m


CASES = {
    "FullyConnectedNet": (lambda: enn.FullyConnectedNet([3, 7, 2], silu, variance_in=2.0, out_act=True), (4,)),
    "Gate": (lambda: enn.Gate("2x0e + 2x0o", [silu, torch.tanh], "3x0e", [torch.sigmoid], "2x1o + 1x2e"), (4,)),
    "NormActivation": (lambda: enn.NormActivation(o3.Irreps("0e + 2x1o + 2e"), torch.sigmoid, bias=True), (4,)),
    "SphericalHarmonics": (lambda: o3.SphericalHarmonics("1x0e + 1x1e + 1x2e + 1x1e", True, "norm"), (4,)),
    "BatchNorm": (lambda: enn.BatchNorm("2x0e + 1o + 0o", reduce="max"), (5, 3)),
    "Activation": (lambda: enn.Activation("2x0e + 0o", [torch.tanh, torch.abs]), (4,)),
}


def dim_of(m):
    if isinstance(m, enn.FullyConnectedNet):
        return m.hs[0]
    return (m.irreps if isinstance(m, enn.BatchNorm) else m.irreps_in).dim


@pytest.mark.parametrize("name", sorted(CASES))
def test_from_e3nn(name):
    build, lead = CASES[name]
    ref = perturbed(build().double())
    new = from_e3nn(ref)
    assert type(new) is getattr(et, name)
    assert list(new.state_dict()) == list(ref.state_dict())
    for k, v in ref.state_dict().items():
        assert torch.equal(new.state_dict()[k], v)
    for step in range(3):  # BatchNorm: training steps update both the same way
        x = randn(*lead, dim_of(ref), seed=step)
        assert rel(new(x), ref(x)) < 1e-12
    ref.eval()
    new.eval()
    x = randn(*lead, dim_of(ref), seed=9)
    assert rel(new(x), ref(x)) < 1e-12


def test_from_e3nn_keeps_mode_dtype_and_converts_sequential():
    seq = torch.nn.Sequential(enn.BatchNorm("2x0e + 1o"), enn.Gate("0e", [torch.relu], "0e", [torch.sigmoid], "1o"))
    seq.eval()
    new = from_e3nn(seq)
    assert isinstance(new, torch.nn.Sequential) and not new[0].training
    assert [type(m).__name__ for m in new] == ["BatchNorm", "Gate"]
    assert new[0].running_var.dtype == torch.float32
    x = torch.randn(3, 5)
    assert torch.allclose(new(x), seq(x), rtol=1e-6, atol=1e-7)
    assert from_e3nn(enn.BatchNorm("0e").double()).weight.dtype == F64


def test_from_e3nn_extract():
    ref = enn.Extract("1e + 0e + 0e", ["0e", "0e + 1e"], [(1,), (2, 0)])
    new = from_e3nn(ref)
    x = randn(2, 5)
    assert all(torch.equal(a, b) for a, b in zip(new(x), ref(x)))
    ref = enn.ExtractIr("1e + 0e + 2x0e", "0e")
    new = from_e3nn(ref)
    x = randn(2, 6)
    assert isinstance(new, et.ExtractIr) and torch.equal(new(x), ref(x))


def test_from_e3nn_unsupported():
    with pytest.raises(TypeError, match="no e3xp.torch counterpart for torch.nn.modules.linear.Linear"):
        from_e3nn(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="expected an e3nn torch.nn.Module"):
        from_e3nn("Gate")


# Active once e3xp.torch.Linear / TensorProduct / TensorSquare exist (written in another
# worktree; checked against that branch before merging).
OTHER = [
    ("Linear", lambda: o3.Linear("2x0e + 1o", "3x0e + 2x1o", biases=True, path_normalization="path")),
    ("Linear", lambda: o3.Linear("2x0e + 1o + 0e", "3x0e + 2x1o", instructions=[(0, 0), (1, 1), (2, 0)])),
    ("Linear", lambda: o3.Linear("2x0e + 1o", "3x0e + 2x1o", f_in=3, f_out=2)),
    ("TensorProduct", lambda: o3.FullyConnectedTensorProduct("2x0e + 1o", "0e + 1o", "3x0e + 2x1o")),
    ("TensorProduct", lambda: o3.ElementwiseTensorProduct("2x0e + 1o", "1e + 0o + 0o")),
    ("TensorProduct", lambda: o3.FullTensorProduct("2x0e + 1o", "0e + 1o")),
    ("TensorProduct", lambda: o3.TensorProduct(
        "2x1o", "1x1o", "2x1e + 2x0e", [(0, 0, 0, "uvu", True), (0, 0, 1, "uvu", True, 0.3)], irrep_normalization="norm")),
    ("TensorSquare", lambda: o3.TensorSquare("2x0e + 1o")),
    ("TensorSquare", lambda: o3.TensorSquare("2x0e + 1o", "3x0e + 1e", irrep_normalization="norm")),
]


@pytest.mark.parametrize("name, build", OTHER, ids=[f"{n}{i}" for i, (n, _) in enumerate(OTHER)])
def test_from_e3nn_linear_and_tensor_products(name, build):
    if not hasattr(et, name):
        pytest.skip(f"e3xp.torch.{name} is not in this branch yet")
    old = torch.get_default_dtype()
    torch.set_default_dtype(F64)  # e3nn's own constants in float64 (built in float32 they are off by 1e-8)
    try:
        ref = perturbed(build())
    finally:
        torch.set_default_dtype(old)
    new = from_e3nn(ref)
    assert type(new) is getattr(et, name)
    if name == "TensorProduct":
        xs = [randn(4, ref.irreps_in1.dim, seed=1), randn(4, ref.irreps_in2.dim, seed=2)]
    elif getattr(new, "f_in", None):
        xs = [randn(4, 3, ref.irreps_in.dim, seed=1)]
    else:
        xs = [randn(4, ref.irreps_in.dim, seed=1)]
    assert rel(new(*xs), ref(*xs)) < 1e-12


def test_load_e3nn_state_dict_errors_name_key_and_shapes():
    mod = et.FullyConnectedNet([3, 4, 2])
    sd = enn.FullyConnectedNet([3, 5, 2]).state_dict()
    with pytest.raises(ValueError, match=r"'layer0.weight' has shape \(3, 5\) in the state_dict, but the module expects \(3, 4\)"):
        load_e3nn_state_dict(mod, sd)
    bn = et.BatchNorm("2x0e + 1o")
    sd = enn.BatchNorm("3x0e + 1o").state_dict()
    with pytest.raises(ValueError, match=r"'weight' has shape \(4,\) in the state_dict, but the module expects \(3,\)"):
        load_e3nn_state_dict(bn, sd)
    with pytest.raises(KeyError, match="'layer1.weight'.*missing"):
        load_e3nn_state_dict(mod, {"layer0.weight": torch.zeros(3, 4)})
    good = dict(mod.state_dict())
    good["extra"] = torch.zeros(1)
    with pytest.raises(KeyError, match="unexpected key 'extra'"):
        load_e3nn_state_dict(mod, good)
    # a good one loads, values included
    sd = enn.FullyConnectedNet([3, 4, 2]).state_dict()
    load_e3nn_state_dict(mod, sd)
    assert torch.equal(mod.layer1.weight, sd["layer1.weight"])
