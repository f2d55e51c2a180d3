"""e3xp.torch's e3nn.nn counterparts: O(3) equivariance (parity included) and input
gradients against finite differences (``torch.autograd.gradcheck``), float64.

No e3nn needed (tests/test_torch_nn.py compares with e3nn); skipped without torch.
"""

import pytest

torch = pytest.importorskip("torch")

import e3xp.torch as et  # noqa: E402
from e3xp import IrrepsArray  # noqa: E402
from e3xp.testing import assert_equivariant  # noqa: E402

F64 = torch.float64
silu = torch.nn.functional.silu


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


MODULES = {
    "Gate": (lambda: et.Gate("2x0e + 1x0o", [silu, torch.tanh], "1x0e + 2x0o", [torch.sigmoid, torch.tanh],
                             "1x1o + 1x1e + 1x2o"), (3,)),
    "Gate-exact": (lambda: et.Gate("2x0e", [silu], "2x0e", [torch.sigmoid], "2x1o", act_normalization="exact"), (3,)),
    "NormActivation": (lambda: et.NormActivation("0e + 2x1o + 2e", torch.sigmoid, bias=True), (3,)),
    "NormActivation-plain": (lambda: et.NormActivation("1e + 0o", torch.tanh, normalize=False), (3,)),
    "SphericalHarmonics": (lambda: et.SphericalHarmonics([0, 1, 2, 3], True, "component"), (4,)),
    "SphericalHarmonics-1e": (lambda: et.SphericalHarmonics("0e + 1e + 2e", False, irreps_in="1e"), (4,)),
    "BatchNorm": (lambda: et.BatchNorm("2x0e + 0o + 1o + 2e", reduce="mean"), (4, 2)),
    "BatchNorm-instance-max": (lambda: et.BatchNorm("2x0e + 1o", instance=True, reduce="max", normalization="norm"),
                               (3, 4)),
    "Activation": (lambda: et.Activation("2x0e + 0o + 1o", [torch.tanh, torch.abs, None]), (3,)),
}


def _irreps_in(m):
    return m.irreps if isinstance(m, et.BatchNorm) else m.irreps_in


def _module(name, train=True):
    build, lead = MODULES[name]
    m = build().to(F64)
    with torch.no_grad():
        for i, p in enumerate(m.parameters()):
            p.add_(0.3 * randn(*p.shape, seed=100 + i))
    if isinstance(m, et.BatchNorm) and not m.instance:
        m(randn(*lead, _irreps_in(m).dim, seed=5) + 0.7)  # running statistics away from their init
    m.train(train)
    return m, lead


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", sorted(MODULES))
def test_equivariance(name, train):
    m, lead = _module(name, train)
    x = IrrepsArray(_irreps_in(m), randn(*lead, _irreps_in(m).dim) + 0.2)
    assert_equivariant(m, x, atol=1e-10)


@pytest.mark.parametrize("name", sorted(MODULES) + ["FullyConnectedNet", "Extract"])
def test_input_gradients_finite_differences(name):
    if name == "FullyConnectedNet":
        torch.manual_seed(0)
        m, x = et.FullyConnectedNet([3, 5, 2], silu, out_act=True).to(F64), randn(4, 3)
    elif name == "Extract":
        m, x = et.Extract("1o + 0e + 2e", ["2e + 1o"], [(2, 0)], squeeze_out=True), randn(2, 9)
    else:
        m, lead = _module(name)
        x = randn(*lead, _irreps_in(m).dim, seed=3) + 0.2
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(m, (x,), eps=1e-6, atol=1e-7, rtol=1e-6)
