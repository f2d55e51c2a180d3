"""One force-training step (energy -> forces with create_graph -> force loss -> backward), eager vs compiled.

A scaled-down (c): node features 16x0e+16x1o+16x2e, SH lmax 3, channelwise TP
filtered to 0e+1o+2e+3o with per-edge weights from an MLP, scatter, linear, gate.
Also the compiled first-order fwd+bwd of the TP alone with the "plain_graph" kernel
(now used under compile) against the autograd-Function kernel (used before).

    PYTHONPATH=src python benchmarks/compile_forces.py [atoms] [repeats]
"""

import statistics
import sys
import time
import warnings

import torch

import e3xp
from e3xp import IrrepsArray

warnings.filterwarnings("ignore")
torch.manual_seed(0)
DT = torch.float64
N = int(sys.argv[1]) if len(sys.argv) > 1 else 48
REPEATS = int(sys.argv[2]) if len(sys.argv) > 2 else 7
NODE = e3xp.Irreps("16x0e + 16x1o + 16x2e")
SH = e3xp.Irreps("0e + 1o + 2e + 3o")
TP = e3xp.ChannelwiseTensorProduct(NODE, SH, filter_ir_out="0e + 1o + 2e + 3o")
GATED = e3xp.Irreps("16x0e + 16x0e + 16x1o")  # scalars, gates, gated vectors
LIN = e3xp.Linear(GATED, TP.irreps_out)
LIN_E = e3xp.Linear("0e", "16x0e + 16x1o")

pos = torch.rand(N, 3, dtype=DT) * (N / 4.0) ** (1 / 3) * 2.5
d = torch.cdist(pos, pos)
src, dst = torch.nonzero((d < 3.0) & ~torch.eye(N, dtype=torch.bool), as_tuple=True)  # cdist: diagonal not exactly 0
species = torch.randn(N, NODE.dim, dtype=DT)
target = torch.randn(N, 3, dtype=DT)
params = {
    "mlp1": torch.randn(8, 32, dtype=DT) / 8**0.5,
    "mlp2": torch.randn(32, TP.weight_numel, dtype=DT) / 32**0.5,
    "lin": LIN.init(0, IrrepsArray(TP.irreps_out, torch.zeros(TP.irreps_out.dim, dtype=DT)))["weight"],
    "lin_e": LIN_E.init(1, IrrepsArray("16x0e + 16x1o", torch.zeros(64, dtype=DT)))["weight"],
}
for p in params.values():
    p.requires_grad_(True)


def energy(pos, params):
    vec = pos[dst] - pos[src]
    r = torch.sqrt((vec**2).sum(-1))
    sh = e3xp.spherical_harmonics(SH, vec, normalize=True)
    emb = e3xp.soft_one_hot_linspace(r, start=0.0, end=3.0, number=8, basis="smooth_finite", cutoff=True)
    w = torch.nn.functional.silu(emb @ params["mlp1"]) @ params["mlp2"]
    m = TP.apply(w, IrrepsArray(NODE, species[src]), sh)
    h = e3xp.index_add(dst, m, out_dim=N)
    h = e3xp.gate(LIN.apply({"weight": params["lin"]}, h))
    return LIN_E.apply({"weight": params["lin_e"]}, h).array.sum()


def force_step(pos, params):
    e = energy(pos, params)
    f = -torch.autograd.grad(e, pos, create_graph=True)[0]
    return ((f - target) ** 2).mean()


compiled = torch.compile(force_step, fullgraph=True)


def run(fn):
    for p in params.values():
        p.grad = None
    with torch._dynamo.config.patch(trace_autograd_ops=True):
        loss = fn(pos.detach().requires_grad_(True), params)
    loss.backward()
    return loss


def timeit(fn, repeats=REPEATS):
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return first, statistics.median(ts) * 1e3, min(ts) * 1e3


print(f"{N} atoms, {src.numel()} edges, TP weight_numel {TP.weight_numel}, torch {torch.__version__}, "
      f"{torch.get_num_threads()} threads, median of {REPEATS}")
le = run(force_step)
ge = {k: v.grad.clone() for k, v in params.items()}
lc = run(compiled)
gc = {k: v.grad.clone() for k, v in params.items()}
print("compiled vs eager: loss diff %.1e, max grad diff %.1e" % (
    abs(float(le - lc)), max(float((ge[k] - gc[k]).abs().max()) for k in ge)))
for name, fn in (("eager", force_step), ("compiled", compiled)):
    first, med, mn = timeit(lambda: run(fn))
    print(f"force step {name:9s}: median {med:8.1f} ms  min {mn:8.1f} ms  first call {first:6.1f} s")

# the TP alone, compiled fwd+bwd: plain built-in ops (now) vs the autograd Functions (before)
import e3xp.backends.torch as tb  # noqa: E402

x = IrrepsArray(NODE, species[src].clone().requires_grad_(True))
sh = e3xp.spherical_harmonics(SH, pos[dst] - pos[src], normalize=True)
w = torch.randn(src.numel(), TP.weight_numel, dtype=DT, requires_grad=True)


def tp_fwd_bwd(fn):
    fn(w, x, sh).sum().backward()


real = tb.tensor_product_path
for label, patch in (("plain_graph (now)", None), ("graph with autograd Functions (before)", "graph")):
    torch._dynamo.reset()
    if patch:
        tb.tensor_product_path = lambda *a: "graph" if real(*a) == "plain_graph" else real(*a)
    cf = torch.compile(lambda w, x, y: TP.apply(w, x, y).array, fullgraph=True)
    first, med, mn = timeit(lambda: tp_fwd_bwd(cf))
    print(f"TP compiled fwd+bwd, {label:40s}: median {med:7.1f} ms  min {mn:7.1f} ms")
    tb.tensor_product_path = real
first, med, mn = timeit(lambda: tp_fwd_bwd(lambda w, x, y: TP.apply(w, x, y).array))
print(f"TP eager fwd+bwd {'':43s}: median {med:7.1f} ms  min {mn:7.1f} ms")
