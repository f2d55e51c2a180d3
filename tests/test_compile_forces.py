"""Force training under ``torch.compile``: energy -> forces -> force loss -> parameter gradients.

The construction that works (torch 2.13): one compiled function computes the energy
*and* the forces, ``torch.autograd.grad(E, pos, create_graph=True)`` traced into the
graph (``torch._dynamo.config.trace_autograd_ops=True``), ``fullgraph=True``; the
loss's ``backward`` then runs AOTAutograd's backward of that whole graph. e3xp's
tensor products use only built-in torch ops while compiling with an autograd graph
(``"plain_graph"``), since through its custom autograd Functions the traced double
backward gave wrong parameter gradients without an error.

Every number is compared with eager (the same functions, not compiled), float64;
eager's forces are checked against finite differences of the energy.
"""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import e3xp  # noqa: E402
from e3xp import IrrepsArray  # noqa: E402

DT = torch.float64
IRREPS_NODE = e3xp.Irreps("4x0e + 2x1o")
SH = e3xp.Irreps("0e + 1o + 2e")
TP = e3xp.ChannelwiseTensorProduct(IRREPS_NODE, SH, filter_ir_out="0e + 1o + 2e")
LIN = e3xp.Linear("6x0e + 2x1o", TP.irreps_out)  # 4 scalars, 2 gates for the 2 vectors
LIN_E = e3xp.Linear("1x0e", "4x0e + 2x1o")
NUM_BASIS = 8


def _system(n=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    pos = torch.randn(n, 3, dtype=DT, generator=gen) * 1.2
    src, dst = zip(*[(i, j) for i in range(n) for j in range(n) if i != j])
    species = torch.randn(n, IRREPS_NODE.dim, dtype=DT, generator=gen)
    target = torch.randn(n, 3, dtype=DT, generator=gen)
    return pos, species, torch.tensor(src), torch.tensor(dst), target


def _params(seed=1):
    gen = torch.Generator().manual_seed(seed)
    lin = LIN.init(seed, IrrepsArray(TP.irreps_out, torch.zeros(TP.irreps_out.dim, dtype=DT)))
    lin_e = LIN_E.init(seed + 1, IrrepsArray("4x0e + 2x1o", torch.zeros(10, dtype=DT)))
    return {
        "mlp1": torch.randn(NUM_BASIS, 16, dtype=DT, generator=gen) / NUM_BASIS**0.5,
        "mlp2": torch.randn(16, TP.weight_numel, dtype=DT, generator=gen) / 4.0,
        "lin": lin["weight"],
        "lin_e": lin_e["weight"],
    }


def energy(pos, params, species, src, dst):
    """Spherical harmonics of the edges, per-edge weights from an MLP, channelwise TP, scatter, linear, gate."""
    vec = pos[dst] - pos[src]
    r = torch.sqrt((vec**2).sum(-1))
    sh = e3xp.spherical_harmonics(SH, vec, normalize=True)
    emb = e3xp.soft_one_hot_linspace(r, start=0.0, end=5.0, number=NUM_BASIS, basis="smooth_finite", cutoff=True)
    w = torch.nn.functional.silu(emb @ params["mlp1"]) @ params["mlp2"]
    m = TP.apply(w, IrrepsArray(IRREPS_NODE, species[src]), sh)
    h = e3xp.index_add(dst, m, out_dim=pos.shape[0])
    h = e3xp.gate(LIN.apply({"weight": params["lin"]}, h))
    return LIN_E.apply({"weight": params["lin_e"]}, h).array.sum()


def force_step(pos, params, species, src, dst, target):
    """Energy, forces (create_graph) and the force loss, all in one function.

    ``pos`` must require grad already: ``requires_grad_`` on an intermediate
    inside the compiled region is refused by Dynamo (AOTAutograd would drop it).
    """
    e = energy(pos, params, species, src, dst)
    forces = -torch.autograd.grad(e, pos, create_graph=True)[0]
    return e, forces, ((forces - target) ** 2).mean()


def force_step_func(pos, params, species, src, dst, target):
    """The same with ``torch.func.grad_and_value``: no Dynamo config needed, ``pos`` a plain tensor."""
    de, e = torch.func.grad_and_value(energy)(pos, params, species, src, dst)
    forces = -de
    return e, forces, ((forces - target) ** 2).mean()


def compiled_force_step():
    # trace_autograd_ops: Dynamo traces torch.autograd.grad instead of breaking the
    # graph on it (it must apply while compiling, i.e. at the first call)
    fn = torch.compile(force_step, fullgraph=True)

    def run(pos, *args):
        with torch._dynamo.config.patch(trace_autograd_ops=True):
            return fn(pos.detach().requires_grad_(True), *args)

    return run


@pytest.fixture(scope="module", params=["autograd.grad", "func.grad"])
def compiled(request):
    torch._dynamo.reset()
    if request.param == "func.grad":
        return torch.compile(force_step_func, fullgraph=True)
    return compiled_force_step()


def eager_force_step(pos, *args):
    return force_step(pos.detach().requires_grad_(True), *args)


def _grads(step, params, args):
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    e, f, loss = step(args[0], leaves, *args[1:])
    loss.backward()
    return e.detach(), f.detach(), loss.detach(), {k: v.grad for k, v in leaves.items()}


def test_eager_forces_are_minus_the_energy_gradient_by_finite_differences():
    pos, species, src, dst, target = _system()
    params = _params()
    _, f, _ = eager_force_step(pos, params, species, src, dst, target)
    eps = 1e-6
    for atom, k in ((0, 0), (2, 1), (5, 2)):
        d = torch.zeros_like(pos)
        d[atom, k] = eps
        with torch.no_grad():
            fd = -(energy(pos + d, params, species, src, dst) - energy(pos - d, params, species, src, dst)) / (2 * eps)
        assert abs(float(f[atom, k]) - float(fd)) < 1e-7 * max(1.0, abs(float(fd)))


def test_eager_force_loss_gradient_by_finite_differences():
    """The parameter gradient of the force loss (a double backward) in eager, against finite differences."""
    pos, species, src, dst, target = _system()
    params = _params()
    _, _, _, grads = _grads(eager_force_step, params, (pos, species, src, dst, target))
    eps = 1e-6
    for name, idx in (("mlp2", (3, 5)), ("lin", (7,)), ("mlp1", (2, 4))):
        plus, minus = copy.deepcopy(params), copy.deepcopy(params)
        plus[name][idx] += eps
        minus[name][idx] -= eps
        fd = eager_force_step(pos, plus, species, src, dst, target)[2] - eager_force_step(pos, minus, species, src, dst, target)[2]
        fd = float(fd) / (2 * eps)
        assert abs(float(grads[name][idx]) - fd) < 1e-6 * max(1.0, abs(fd)), name


def test_compiled_force_step_equals_eager(compiled):
    pos, species, src, dst, target = _system()
    params = _params()
    want = _grads(eager_force_step, params, (pos, species, src, dst, target))
    got = _grads(compiled, params, (pos, species, src, dst, target))
    for a, b in zip(got[:3], want[:3]):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12), (a, b)
    for k in params:
        scale = float(want[3][k].abs().max())
        assert scale > 0, k  # every parameter gets a gradient from the force loss
        assert float((got[3][k] - want[3][k]).abs().max()) <= 1e-10 * scale, k


def test_compiled_force_training_matches_eager(compiled):
    """A few Adam steps on the force loss: compiled and eager parameters stay equal."""
    pos, species, src, dst, target = _system(seed=3)
    runs = {}
    for name, step in (("eager", eager_force_step), ("compiled", compiled)):
        params = {k: v.clone().requires_grad_(True) for k, v in _params(seed=4).items()}
        opt = torch.optim.Adam(params.values(), lr=1e-2)
        losses = []
        for _ in range(4):
            opt.zero_grad()
            loss = step(pos, params, species, src, dst, target)[2]
            loss.backward()
            opt.step()
            losses.append(float(loss))
        runs[name] = (losses, {k: v.detach() for k, v in params.items()})
    (le, pe), (lc, pc) = runs["eager"], runs["compiled"]
    assert np.allclose(lc, le, rtol=1e-10, atol=0) and le[-1] < le[0]
    for k in pe:
        assert torch.allclose(pc[k], pe[k], rtol=1e-10, atol=1e-12), k


def test_compiled_tensor_product_path_has_no_custom_autograd_functions():
    from e3xp.backends.torch import tensor_product_path
    from e3xp.core.schedule import prepare

    schedule, _ = prepare("tp", TP.plan)
    assert tensor_product_path(schedule, False, True, True) == "plain_graph"
    assert tensor_product_path(schedule, False, True, False) == "graph"  # eager keeps its autograd Functions


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_inference_takes_the_forward_only_kernel_even_with_trainable_parameters(monkeypatch, mode):
    """Under no_grad / inference_mode no graph is built, whatever requires_grad says."""
    import e3xp.backends.torch as tb

    calls = []
    real = tb.grouped_forward
    monkeypatch.setattr(tb, "grouped_forward", lambda *a: calls.append(1) or real(*a))
    pos, species, src, dst, _ = _system()
    params = {k: v.requires_grad_(True) for k, v in _params().items()}
    want = energy(pos, params, species, src, dst)  # with grad: the autograd kernels
    assert not calls and want.requires_grad
    with getattr(torch, mode)():
        got = energy(pos, params, species, src, dst)
    assert calls and not got.requires_grad
    assert torch.allclose(got, want.detach(), rtol=1e-12, atol=0)
