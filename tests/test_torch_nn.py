"""e3xp.torch's e3nn.nn counterparts against e3nn 0.6.0 itself (float64, <= 1e-12 relative).

Gate, NormActivation, Activation, FullyConnectedNet, BatchNorm, Extract, ExtractIr,
SphericalHarmonics: same irreps, same state_dict keys (loaded with strict=True both
ways), same outputs and input gradients; e3nn's sampled activation constants; the
exact ones; equivariance; torch.compile(fullgraph=True); clear errors.
"""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
e3nn = pytest.importorskip("e3nn")
from e3nn import nn as enn  # noqa: E402
from e3nn import o3  # noqa: E402
from e3nn.math import normalize2mom  # noqa: E402

import e3xp  # noqa: E402
import e3xp.torch as et  # noqa: E402
from e3xp import IrrepsArray  # noqa: E402
from e3xp.testing import assert_equivariant  # noqa: E402
from e3xp.torch._activations import NormalizedActivation, e3nn_sampled_constant  # noqa: E402

F64 = torch.float64
TOL = 1e-12
silu = torch.nn.functional.silu


def rel(a, b) -> float:
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    if b.numel() == 0:
        return 0.0
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-300)).item()


def randn(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=F64)


def compare(ref, mod, x, seed=1):
    """Max relative error of outputs and of input gradients (random cotangent)."""
    xa = x.clone().requires_grad_(True)
    xb = x.clone().requires_grad_(True)
    a, b = ref(xa), mod(xb)
    assert a.dtype == b.dtype == F64
    ct = randn(*a.shape, seed=seed)
    (ga,) = torch.autograd.grad((a * ct).sum(), xa)
    (gb,) = torch.autograd.grad((b * ct).sum(), xb)
    return rel(b, a), rel(gb, ga)


def same_state(ref, mod):
    """e3nn's state_dict loads strictly into mod and back; keys and shapes equal."""
    sa, sb = ref.state_dict(), mod.state_dict()
    assert list(sa) == list(sb)
    assert all(sa[k].shape == sb[k].shape for k in sa)
    mod.load_state_dict(sa, strict=True)
    ref.load_state_dict(mod.state_dict(), strict=True)


# ---------------------------------------------------------------- activation constants

ACTS = [torch.tanh, torch.sigmoid, silu, torch.relu, torch.nn.functional.gelu, torch.abs, torch.cos]


@pytest.mark.parametrize("f", ACTS, ids=lambda f: f.__name__)
def test_sampled_constant_is_e3nn_exactly(f):
    assert e3nn_sampled_constant(f) == normalize2mom(f).cst
    a = NormalizedActivation(f)
    x = randn(50)
    assert torch.equal(a(x), normalize2mom(f)(x))


def test_exact_constants_independent_values():
    # E[relu(z)^2] = 1/2, E[z^2] = 1, E[|z|^2] = 1: closed forms, not e3nn.
    assert NormalizedActivation(torch.relu, act_normalization="exact").cst == pytest.approx(math.sqrt(2), rel=1e-13)
    ident = NormalizedActivation(torch.abs, act_normalization="exact")
    assert ident._is_id
    x = randn(10)
    assert torch.equal(ident(x), x.abs())
    # e3nn's sampled constant of abs is 1.0011..., not the identity
    assert not NormalizedActivation(torch.abs)._is_id


# Documented in e3xp/torch/_activations.py and INTEGRATION.md: |c_e3nn / c_exact - 1|.
DOCUMENTED = {"silu": 1.577e-3, "sigmoid": 2.584e-4, "tanh": 7.510e-4, "relu": 1.503e-3}


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_exact_option_differs_by_documented_amount(name):
    f = {"silu": silu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}[name]
    c_e3nn = NormalizedActivation(f).cst
    c_exact = NormalizedActivation(f, act_normalization="exact").cst
    assert abs(c_e3nn / c_exact - 1) == pytest.approx(DOCUMENTED[name], abs=1e-6)


def test_gate_exact_option_scales_scalars():
    args = ("3x0e", [silu], "2x0e", [torch.sigmoid], "2x1o")
    g1, g2 = et.Gate(*args), et.Gate(*args, act_normalization="exact")
    x = randn(4, g1.irreps_in.dim)
    y1, y2 = g1(x), g2(x)
    ratio_s = NormalizedActivation(silu, act_normalization="exact").cst / NormalizedActivation(silu).cst
    ratio_g = NormalizedActivation(torch.sigmoid, act_normalization="exact").cst / NormalizedActivation(torch.sigmoid).cst
    assert rel(y2[:, :3], y1[:, :3] * ratio_s) < TOL
    assert rel(y2[:, 3:], y1[:, 3:] * ratio_g) < TOL
    assert abs(ratio_s - 1) > 1e-3  # the option changes the numbers
    assert rel(y1, enn.Gate(*args).double()(x)) < TOL


def test_act_normalization_bad_value():
    with pytest.raises(ValueError, match="act_normalization='sampled'"):
        et.Gate("0e", [torch.relu], "", [], "", act_normalization="sampled")
    with pytest.raises(ValueError, match="act_normalization"):
        et.FullyConnectedNet([2, 2], torch.tanh, act_normalization=None)


# ---------------------------------------------------------------- the elementwise product

@pytest.mark.parametrize(
    "irreps1, irreps2",
    [("4x1o + 2x2e", "4x0e + 2x0o"), ("2x1o + 1x3o", "1x0e + 2x0o"), ("3x1e", "1x0o + 2x0e"), ("2x0e + 1o", "1e + 0o + 0o")],
)
def test_elementwise_product_equals_e3nn(irreps1, irreps2):
    """The functional op Gate / NormActivation use: e3nn's output order and normalization."""
    tp = o3.ElementwiseTensorProduct(irreps1, irreps2).double()
    x, y = randn(5, tp.irreps_in1.dim, seed=2), randn(5, tp.irreps_in2.dim, seed=3)
    z = e3xp.elementwise_tensor_product(IrrepsArray(irreps1, x), IrrepsArray(irreps2, y), irrep_normalization="component")
    assert str(z.irreps) == str(tp.irreps_out)
    assert rel(z.array, tp(x, y)) < TOL


# ---------------------------------------------------------------- Gate

GATES = [
    ("8x0e", [torch.relu], "4x0e", [torch.sigmoid], "2x1o + 2x2e"),
    ("4x0o + 2x0e", [torch.tanh, silu], "2x0o + 1x0e", [torch.tanh, torch.sigmoid], "1x1o + 2x1e"),
    ("2x0o", [torch.abs], "2x0o + 2x0e", [torch.abs, torch.sigmoid], "3x1o + 1x2o"),
    ("4x0o", [torch.abs], "", [], ""),
    ("", [], "2x0e", [torch.sigmoid], "2x1o"),
    ("3x0e + 1x0e", [silu, torch.tanh], "1x0e + 2x0e", [torch.sigmoid, torch.tanh], "2x1e + 1x1e"),
]


@pytest.mark.parametrize("args", GATES, ids=lambda a: f"{a[0]}|{a[2]}|{a[4]}")
def test_gate_equals_e3nn(args):
    ref, mod = enn.Gate(*args).double(), et.Gate(*args).double()
    assert str(mod.irreps_in) == str(ref.irreps_in)
    assert str(mod.irreps_out) == str(ref.irreps_out)
    same_state(ref, mod)
    out, grad = compare(ref, mod, randn(6, ref.irreps_in.dim))
    assert out < TOL and grad < TOL


def test_gate_irrepsarray_in_and_out():
    g = et.Gate("2x0e", [torch.relu], "1x0e", [torch.sigmoid], "1x1o").double()
    x = IrrepsArray(g.irreps_in, randn(3, g.irreps_in.dim))
    y = g(x)
    assert isinstance(y, IrrepsArray) and y.irreps == g.irreps_out
    assert torch.equal(y.array, g(x.array))
    with pytest.raises(ValueError, match="built for 3x0e\\+1x1o"):
        g(IrrepsArray("3x0e + 1x1e", x.array))


@pytest.mark.parametrize(
    "args, match",
    [
        (("2x0e", [torch.relu], "1x0e", [torch.sigmoid], "2x1o"), "2 irreps in irreps_gated"),
        (("1o", [None], "", [], ""), "scalars must be scalars"),
        (("", [], "1o", [None], "1o"), "gate scalars must be scalars"),
        (("2x0e", [torch.relu, torch.relu], "", [], ""), "2 act_scalars"),
        (("0e + 0e", [torch.relu], "", [], ""), "1 act_scalars for irreps_scalars = 1x0e\\+1x0e"),
        (("0o", [torch.sigmoid], "", [], ""), "neither even nor odd"),
        (("0e", ["relu"], "", [], ""), "not callable"),
        (("2q", [torch.relu], "", [], ""), "irreps_scalars"),
    ],
)
def test_gate_errors(args, match):
    with pytest.raises((ValueError, TypeError), match=match):
        et.Gate(*args)


def test_gate_bad_input():
    g = et.Gate("2x0e", [torch.relu], "1x0e", [torch.sigmoid], "1x1o")
    with pytest.raises(ValueError, match=r"shape \(4, 5\).*size 6"):
        g(torch.zeros(4, 5))
    with pytest.raises(TypeError, match="numpy.ndarray"):
        g(np.zeros(6))


# ---------------------------------------------------------------- NormActivation

NORMACT = [dict(), dict(bias=True), dict(epsilon=0.3), dict(bias=True, epsilon=1e-3)]


@pytest.mark.parametrize("kw", NORMACT, ids=str)
def test_norm_activation_equals_e3nn(kw):
    irreps = "2x0e + 1o + 1o + 2x2e + 0o"
    ref = enn.NormActivation(o3.Irreps(irreps), torch.sigmoid, **kw).double()
    mod = et.NormActivation(irreps, torch.sigmoid, **kw).double()
    if kw.get("bias"):
        with torch.no_grad():
            ref.biases.copy_(randn(ref.biases.shape[0], seed=5))
    same_state(ref, mod)
    x = randn(5, mod.irreps_in.dim)
    x[0, 2:5] = 1e-5 * x[0, 2:5]  # a norm below epsilon (clamped), gradient through the clamp
    x[1, 8:13] = 0.0  # a zero irrep
    out, grad = compare(ref, mod, x)
    assert out < TOL and grad < TOL


def test_norm_activation_without_normalize():
    # e3nn 0.6.0 refuses normalize=False (TypeError comparing None > 0); its intended
    # path is a module built with normalize=True and switched to the plain norm:
    irreps = "0e + 2x1o + 2e"
    ref = enn.NormActivation(o3.Irreps(irreps), torch.tanh).double()
    ref.normalize, ref._eps_squared, ref.norm.squared = False, 0.0, False
    mod = et.NormActivation(irreps, torch.tanh, normalize=False).double()
    out, grad = compare(ref, mod, randn(4, mod.irreps_in.dim))
    assert out < TOL and grad < TOL
    # independent: tanh(|x|) x per irrep
    x = randn(3, 3, seed=9)
    y = et.NormActivation("1o", torch.tanh, normalize=False).double()(x)
    assert rel(y, torch.tanh(x.norm(dim=-1, keepdim=True)) * x) < TOL


def test_norm_activation_errors():
    with pytest.raises(ValueError, match="epsilon and normalize = False"):
        et.NormActivation("1o", torch.tanh, normalize=False, epsilon=1e-3)
    with pytest.raises(ValueError, match="epsilon -1"):
        et.NormActivation("1o", torch.tanh, epsilon=-1.0)
    with pytest.raises(TypeError, match="not callable"):
        et.NormActivation("1o", "tanh")


# ---------------------------------------------------------------- SphericalHarmonics

SH = [
    ("1x0e+1x1o+1x2e", True),
    ("1x0e+1x1o+1x2e+1x3o", True, "component"),
    ("1x0e+1x1e+1x2e", False, "component"),
    ([3, 1, 1], True, "norm"),
    (2, True, "integral", "1e"),
    ("2x1o + 1x0e", False, "integral"),
    (list(range(7)), True, "component"),
]


@pytest.mark.parametrize("args", SH, ids=str)
def test_spherical_harmonics_equals_e3nn(args):
    ref, mod = o3.SphericalHarmonics(*args), et.SphericalHarmonics(*args)
    assert str(mod.irreps_out) == str(ref.irreps_out)
    assert str(mod.irreps_in) == str(ref.irreps_in)
    same_state(ref, mod)
    out, grad = compare(ref, mod, randn(2, 7, 3) * 3)
    assert out < TOL and grad < TOL


def test_spherical_harmonics_zero_vector_and_irrepsarray():
    ref, mod = o3.SphericalHarmonics(2, True, irreps_in="1e"), et.SphericalHarmonics(2, True, irreps_in="1e")
    z = torch.zeros(1, 3, dtype=F64, requires_grad=True)
    assert rel(mod(z), ref(z)) == 0.0
    (g,) = torch.autograd.grad(mod(z).sum(), z)
    assert torch.isfinite(g).all()
    x = IrrepsArray("1e", randn(4, 3))
    y = mod(x)
    assert y.irreps == mod.irreps_out and str(y.irreps) == "1x2e"
    with pytest.raises(ValueError, match="built for 1x1e"):
        mod(IrrepsArray("1o", x.array))


@pytest.mark.parametrize(
    "args, match",
    [
        (("1x0e+1x1e", True, "integral", "1o"), "inconsistent with the input parity"),
        (("1x0e", True, "integral", "2x1o"), "vector"),
        ((2, True, "unit"), "normalization='unit'"),
        (([1, -1], True), "l >= 0"),
        ((2, 1), "must be a bool"),
    ],
)
def test_spherical_harmonics_errors(args, match):
    with pytest.raises((ValueError, TypeError), match=match):
        et.SphericalHarmonics(*args)


# ---------------------------------------------------------------- FullyConnectedNet

FC = [
    dict(hs=[3, 8, 8, 2], act=silu),
    dict(hs=[4, 5, 1], act=torch.tanh, variance_in=2.0, variance_out=0.5, out_act=True),
    dict(hs=[3, 6, 2], act=None),
    dict(hs=[5, 4], act=torch.relu, out_act=True),
]


@pytest.mark.parametrize("kw", FC, ids=lambda kw: str(kw["hs"]))
def test_fully_connected_net_equals_e3nn(kw):
    torch.manual_seed(123)
    ref = enn.FullyConnectedNet(**kw)
    torch.manual_seed(123)
    mod = et.FullyConnectedNet(**kw)
    # same generator, same order: e3nn's initial weights
    assert all(torch.equal(ref.state_dict()[k], v) for k, v in mod.state_dict().items())
    ref.double(), mod.double()
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn(p.shape, dtype=F64))
    same_state(ref, mod)
    mod.layer_spec.check(dict(mod.named_parameters()))
    out, grad = compare(ref, mod, randn(7, kw["hs"][0]))
    assert out < TOL and grad < TOL


def test_fully_connected_net_init_statistics_and_errors():
    net = et.FullyConnectedNet([2, 3])
    assert [(k, tuple(v.shape)) for k, v in net.state_dict().items()] == [("layer0.weight", (2, 3))]
    with pytest.raises(ValueError, match=r"shape \(4, 3\), expected \(\.\.\., 2\)"):
        net(torch.zeros(4, 3))
    with pytest.raises(TypeError, match="pass x.array"):
        net(IrrepsArray("2x0e", torch.zeros(2)))
    with pytest.raises(ValueError, match="hs="):
        et.FullyConnectedNet([2, 2.5])


# ---------------------------------------------------------------- BatchNorm

BN = [
    dict(),
    dict(reduce="max", normalization="norm"),
    dict(instance=True),
    dict(affine=False),
    dict(include_bias=False, momentum=0.3, eps=1e-3),
]
BN_IRREPS = "2x0e + 1x0o + 2x1o + 1x2e + 3x0e"


@pytest.mark.parametrize("kw", BN, ids=str)
def test_batch_norm_equals_e3nn_train_and_eval(kw):
    ref, mod = enn.BatchNorm(BN_IRREPS, **kw).double(), et.BatchNorm(BN_IRREPS, **kw).double()
    if ref.affine:
        with torch.no_grad():
            for p in ref.parameters():
                p.copy_(randn(p.shape[0], seed=7) + (1.0 if p.shape[0] == 7 else 0.0))
    same_state(ref, mod)
    errs = []
    for step in range(4):
        x = randn(6, 4, ref.irreps.dim, seed=10 + step) * 2 + 0.5
        errs += compare(ref, mod, x)
    for k, v in ref.state_dict().items():
        errs.append(rel(mod.state_dict()[k], v))
    if not kw.get("instance"):
        assert not torch.equal(mod.running_var, torch.ones_like(mod.running_var))  # stats did move
    ref.eval(), mod.eval()
    errs += compare(ref, mod, randn(3, 5, ref.irreps.dim, seed=20))
    assert max(errs) < TOL, errs


def test_batch_norm_irrepsarray_and_errors():
    bn = et.BatchNorm("0e + 1o").double()
    x = IrrepsArray("0e + 1o", randn(5, 4))
    y = bn(x)
    assert isinstance(y, IrrepsArray) and y.irreps == x.irreps
    with pytest.raises(ValueError, match=r"shape \(4,\); expected \(batch, \.\.\., 4\)"):
        bn(torch.zeros(4, dtype=F64))
    with pytest.raises(ValueError, match="reduce='sum'"):
        et.BatchNorm("0e", reduce="sum")
    with pytest.raises(ValueError, match="normalization='unit'"):
        et.BatchNorm("0e", normalization="unit")


# ---------------------------------------------------------------- Activation, Extract

def test_activation_equals_e3nn():
    args = ("2x0e + 0o + 1o + 3x0o", [torch.tanh, torch.abs, None, torch.tanh])
    ref, mod = enn.Activation(*args).double(), et.Activation(*args).double()
    assert str(ref.irreps_out) == str(mod.irreps_out)
    same_state(ref, mod)
    out, grad = compare(ref, mod, randn(4, ref.irreps_in.dim))
    assert out < TOL and grad < TOL


def test_extract_equals_e3nn():
    args = ("1e + 0e + 2x0e + 1o", ["0e", "2x0e + 1e", "1o + 0e"], [(1,), (2, 0), (3, 1)])
    ref, mod = enn.Extract(*args), et.Extract(*args)
    x = randn(3, 9)
    for a, b in zip(ref(x), mod(x)):
        assert torch.equal(a, b)
    ys = mod(IrrepsArray("1e + 0e + 2x0e + 1o", x))
    assert [str(y.irreps) for y in ys] == ["1x0e", "2x0e+1x1e", "1x1o+1x0e"]
    r, m = enn.ExtractIr("0e + 1o + 2x0e + 1o", "1o"), et.ExtractIr("0e + 1o + 2x0e + 1o", "1o")
    x = randn(2, 9)
    assert str(r.irreps_out) == str(m.irreps_out) and torch.equal(r(x), m(x))


def test_extract_errors():
    with pytest.raises(ValueError, match="expects 1x0e"):
        et.Extract("1e + 0e", ["0e"], [(0,)])
    with pytest.raises(ValueError, match="2 instructions"):
        et.Extract("1e + 0e", ["0e"], [(1,), (1,)])
    with pytest.raises(IndexError, match="index 5"):
        et.Extract("1e + 0e", ["0e"], [(5,)])


# ---------------------------------------------------------------- dtype, round trip

def build_all():
    return {
        "Gate": (et.Gate("4x0e", [silu], "2x0e", [torch.sigmoid], "1x1o + 1x2e"), (5,)),
        "NormActivation": (et.NormActivation("2x0e + 1o", torch.sigmoid, bias=True), (5,)),
        "SphericalHarmonics": (et.SphericalHarmonics("1x0e+1x1o+1x2e", True), (5,)),
        "FullyConnectedNet": (et.FullyConnectedNet([3, 4, 2], torch.tanh), (5,)),
        "BatchNorm": (et.BatchNorm("2x0e + 1o"), (5, 2)),
        "ExtractIr": (et.ExtractIr("2x0e + 1o", "1o"), (5,)),
        "Activation": (et.Activation("2x0e + 1o", [torch.tanh, None]), (5,)),
    }


def input_dim(m):
    if isinstance(m, et.FullyConnectedNet):
        return m.hs[0]
    return (m.irreps if isinstance(m, et.BatchNorm) else m.irreps_in).dim


@pytest.mark.parametrize("name", sorted(build_all()))
def test_to_float64_and_state_dict_round_trip(name):
    m, lead = build_all()[name]
    m = m.to(F64)
    for t in list(m.parameters()) + list(m.buffers()):
        assert t.dtype == F64
    x = randn(*lead, input_dim(m))
    y = m(x)
    assert y.dtype == F64
    with torch.no_grad():
        for p in m.parameters():
            p.add_(randn(*p.shape, seed=3))
    m2, _ = build_all()[name]
    m2 = m2.to(F64)
    m2.load_state_dict(m.state_dict(), strict=True)
    m.eval(), m2.eval()
    assert torch.equal(m(x), m2(x))


# ---------------------------------------------------------------- torch.compile

@pytest.mark.parametrize("name", sorted(build_all()))
def test_compile_fullgraph_parity(name):
    torch._dynamo.reset()
    m, lead = build_all()[name]
    m = m.to(F64)
    twin, _ = build_all()[name]
    twin = twin.to(F64)
    twin.load_state_dict(m.state_dict())
    c = torch.compile(m, fullgraph=True, backend="aot_eager")
    for step in range(2):
        x = randn(*lead, input_dim(m), seed=step).requires_grad_(True)
        x2 = x.detach().clone().requires_grad_(True)
        a, b = c(x), twin(x2)
        assert rel(a, b) < TOL
        (ga,) = torch.autograd.grad(a.sum(), x)
        (gb,) = torch.autograd.grad(b.sum(), x2)
        assert rel(ga, gb) < TOL
    for k, v in twin.state_dict().items():  # BatchNorm's running stats moved the same way
        assert rel(m.state_dict()[k], v) < TOL


# ---------------------------------------------------------------- equivariance

EQUIVARIANT = {
    "Gate": lambda: et.Gate("2x0e + 2x0o", [silu, torch.tanh], "2x0e + 1x0o", [torch.sigmoid, torch.tanh],
                            "2x1o + 1x2e"),
    "NormActivation": lambda: et.NormActivation("0e + 2x1o + 1e + 2o", torch.sigmoid, bias=True),
    "SphericalHarmonics": lambda: et.SphericalHarmonics([0, 1, 2, 3], True, "component"),
    "SphericalHarmonics-1e": lambda: et.SphericalHarmonics("0e + 1e + 2e", False, irreps_in="1e"),
    "BatchNorm": lambda: et.BatchNorm("2x0e + 0o + 2x1o + 2e"),
    "BatchNorm-instance": lambda: et.BatchNorm("2x0e + 0o + 2x1o + 2e", instance=True, reduce="max"),
}


@pytest.mark.parametrize("name", sorted(EQUIVARIANT))
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_equivariance(name, mode):
    m = EQUIVARIANT[name]().to(F64)
    if isinstance(m, et.NormActivation):
        with torch.no_grad():
            m.biases.copy_(randn(m.biases.shape[0], seed=4))
    lead = (6, 3) if isinstance(m, et.BatchNorm) else (6,)
    irreps = m.irreps if isinstance(m, et.BatchNorm) else m.irreps_in
    if isinstance(m, et.BatchNorm):
        m(randn(*lead, irreps.dim, seed=8) + 1.0)  # running statistics away from their init
    m.train(mode == "train")
    x = IrrepsArray(irreps, randn(*lead, irreps.dim) + 0.3)
    assert_equivariant(m, x, atol=1e-12)


@pytest.mark.parametrize("name", sorted(build_all()))
def test_pickle_and_deepcopy(name):
    import copy
    import pickle

    m, lead = build_all()[name]
    m = m.to(F64).eval()
    x = randn(*lead, input_dim(m))
    for c in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
        assert torch.equal(c(x), m(x))
        assert list(c.state_dict()) == list(m.state_dict())
