"""Seconds per training step (energy + forces + loss + backward + Adam) of the same NequIP-style model.

Four implementations, side by side, on the same batch of the embedded Cu-Au dataset:
e3xp on torch, e3xp on JAX (jitted), and simplified NequIP equivalents written with
e3nn (torch: ``o3.TensorProduct`` "uvu", ``o3.Linear``, ``nn.Gate``) and with
e3nn-jax (``e3nn.tensor_product``, ``e3nn.flax.Linear``, ``e3nn.gate``). The reference
versions have the same layer structure and sizes but are not numerically identical.

Usage: ``python benchmarks/train_step.py [--channels 8] [--layers 2] [--lmax 1] [--batch 4] [--steps 15] [--only "e3xp torch"]``

Each row: median, min and max of ``--steps`` timed steps after two warm-up steps,
torch's default threads. ``--only`` runs the named rows alone (comma-separated),
for before/after runs in alternating processes.
"""

import argparse
import math
import statistics
import time

import numpy as np


def timeit(step, n):
    """(median, min, max) seconds of ``n`` timed steps after two warm-up steps (the first compiles)."""
    step()  # compile / warm up
    step()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        step()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), min(ts), max(ts)


def e3xp_steps(cfg, batch, n, only=None):
    from e3xp.train.jax_backend import JaxTrainer
    from e3xp.train.model import init_params
    from e3xp.train.torch_backend import TorchTrainer

    p = init_params(cfg, 0)
    out = {}
    for name, cls in (("e3xp torch", TorchTrainer), ("e3xp jax", JaxTrainer)):
        if only and name not in only:
            continue
        tr = cls(cfg, p, dtype="float32")
        out[name] = timeit(lambda: tr.step(batch), n)
    return out


def e3nn_torch_step(cfg, batch, n):
    import torch
    from e3nn import nn as enn
    from e3nn import o3

    hidden = o3.Irreps(cfg.hidden_irreps)
    sh_irreps = o3.Irreps.spherical_harmonics(cfg.lmax)
    scal = o3.Irreps([(m, ir) for m, ir in hidden if ir.l == 0])
    vec = o3.Irreps([(m, ir) for m, ir in hidden if ir.l > 0])
    gates = o3.Irreps(f"{vec.num_irreps}x0e")

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            n0 = hidden.count("0e")
            self.embed = o3.Linear(f"{len(cfg.species)}x0e", f"{n0}x0e")
            self.layers = torch.nn.ModuleList()
            irr_in = o3.Irreps(f"{n0}x0e")
            for _ in range(cfg.num_layers):
                instr, outs = [], []
                for i1, (m1, ir1) in enumerate(irr_in):
                    for i2, (_, ir2) in enumerate(sh_irreps):
                        for ir in ir1 * ir2:
                            if ir in hidden:
                                instr.append((i1, i2, len(outs), "uvu", True))
                                outs.append((m1, ir))
                tp = o3.TensorProduct(irr_in, sh_irreps, o3.Irreps(outs), instr, shared_weights=False,
                                      internal_weights=False)
                layer = torch.nn.ModuleDict({
                    "up": o3.Linear(irr_in, irr_in),
                    "tp": tp,
                    "mlp": enn.FullyConnectedNet([cfg.num_bessel] + [cfg.radial_width] * cfg.radial_depth
                                                 + [tp.weight_numel], torch.nn.functional.silu),
                    "down": o3.Linear(tp.irreps_out, scal + gates + vec),
                    "self": o3.Linear(irr_in, scal + gates + vec),
                    "gate": enn.Gate(scal, [torch.nn.functional.silu if ir.p == 1 else torch.tanh for _, ir in scal],
                                     gates, [torch.sigmoid], vec),
                })
                self.layers.append(layer)
                irr_in = hidden
            self.readout = o3.Linear(hidden, "0e")

        def forward(self, b):
            pos = b["positions"]
            vecs = pos[b["senders"]] - pos[b["receivers"]] + b["shifts"]
            r = vecs.norm(dim=-1)
            k = torch.arange(1, cfg.num_bessel + 1, dtype=pos.dtype) * math.pi / cfg.r_max
            basis = math.sqrt(2 / cfg.r_max) * torch.sin(k * r[:, None]) / r[:, None]
            x_ = (r / cfg.r_max).clamp(max=1)
            p = cfg.envelope_p
            env = 1 - (p + 1) * (p + 2) / 2 * x_**p + p * (p + 2) * x_ ** (p + 1) - p * (p + 1) / 2 * x_ ** (p + 2)
            basis = basis * (env * b["edge_mask"])[:, None]
            sh = o3.spherical_harmonics(sh_irreps, vecs, True, "component")
            x = self.embed(b["node_attrs"])
            for L in self.layers:
                w = L["mlp"](basis)
                m = L["tp"](L["up"](x)[b["senders"]], sh, w)
                h = torch.zeros(pos.shape[0], m.shape[1], dtype=pos.dtype).index_add(0, b["receivers"], m)
                h = h / math.sqrt(cfg.avg_num_neighbors)
                x = L["gate"]((L["down"](h) + L["self"](x)) / math.sqrt(2))
            e = self.readout(x)[:, 0] * b["node_mask"]
            return torch.zeros(b["graph_mask"].shape[0], dtype=pos.dtype).index_add(0, b["graph"], e)

    from e3xp.train.loss import loss
    from e3xp.train.torch_backend import batch_to_torch

    model = Model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    b = batch_to_torch(batch, "float32")

    def step():
        opt.zero_grad()
        pos = b["positions"].detach().requires_grad_(True)
        e = model({**b, "positions": pos})
        (g,) = torch.autograd.grad(e.sum(), pos, create_graph=True)
        loss(e, -g, b).backward()
        opt.step()

    return timeit(step, n)


def e3nn_jax_step(cfg, batch, n):
    import e3nn_jax as e3nn
    import flax.linen as fnn
    import jax
    import jax.numpy as jnp
    import optax

    hidden = e3nn.Irreps(cfg.hidden_irreps)
    scal = e3nn.Irreps([(m, ir) for m, ir in hidden if ir.l == 0])
    vec = e3nn.Irreps([(m, ir) for m, ir in hidden if ir.l > 0])
    gate_in = scal + e3nn.Irreps(f"{vec.num_irreps}x0e") + vec

    class Model(fnn.Module):
        @fnn.compact
        def __call__(self, b):
            pos = b["positions"]
            vecs = pos[b["senders"]] - pos[b["receivers"]] + b["shifts"]
            r = jnp.linalg.norm(vecs, axis=-1)
            basis = e3nn.bessel(r, cfg.num_bessel, cfg.r_max) * (e3nn.poly_envelope(cfg.envelope_p - 1, 2)(r / cfg.r_max)
                                                                 * b["edge_mask"])[:, None]
            sh = e3nn.spherical_harmonics(cfg.lmax, e3nn.IrrepsArray("1o", vecs), True, "component")
            n0 = hidden.count("0e")
            x = e3nn.flax.Linear(f"{n0}x0e")(e3nn.IrrepsArray(f"{len(cfg.species)}x0e", b["node_attrs"]))
            for _ in range(cfg.num_layers):
                xu = e3nn.flax.Linear(x.irreps)(x)
                m = e3nn.tensor_product(xu[b["senders"]], sh, filter_ir_out=hidden)
                h = basis
                for _ in range(cfg.radial_depth):
                    h = jax.nn.silu(fnn.Dense(cfg.radial_width, use_bias=False)(h))
                w = fnn.Dense(m.irreps.num_irreps, use_bias=False)(h)
                m = m * w  # one weight per output irrep channel: the "uvu" weights of this edge
                hsum = e3nn.scatter_sum(m, dst=b["receivers"], output_size=pos.shape[0]) / math.sqrt(cfg.avg_num_neighbors)
                pre = (e3nn.flax.Linear(gate_in, force_irreps_out=True)(hsum) + e3nn.flax.Linear(gate_in, force_irreps_out=True)(x)) / math.sqrt(2)
                x = e3nn.gate(pre)
            e = e3nn.flax.Linear("0e")(x).array[:, 0] * b["node_mask"]
            return jax.ops.segment_sum(e, b["graph"], b["graph_mask"].shape[0])

    from e3xp.train.jax_backend import batch_to_jax
    from e3xp.train.loss import loss

    b = batch_to_jax(batch, "float32")
    model = Model()
    params = model.init(jax.random.PRNGKey(0), b)
    tx = optax.adam(1e-3)
    s = tx.init(params)

    def objective(p):
        g, e = jax.grad(lambda pos: (lambda e: (e.sum(), e))(model.apply(p, {**b, "positions": pos})),
                        has_aux=True)(b["positions"])
        return loss(e, -g, b)

    @jax.jit
    def step(p, s):
        v, g = jax.value_and_grad(objective)(p)
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s, v

    state = [params, s]

    def run():
        state[0], state[1], v = step(*state)
        v.block_until_ready()

    return timeit(run, n)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--lmax", type=int, default=1)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--only", default="", help="comma-separated row names (default: all)")
    a = ap.parse_args()
    from e3xp.train import data
    from e3xp.train.config import ModelConfig
    from e3xp.train.loop import hidden_irreps_for

    graphs, species = data.read_dataset(data.default_dataset(), 4.0)
    gs = graphs[: a.batch]
    cfg = ModelConfig(species=species, num_layers=a.layers, lmax=a.lmax, hidden_irreps=hidden_irreps_for(a.channels, a.lmax),
                      num_bessel=6, radial_width=16, avg_num_neighbors=data.avg_num_neighbors(gs),
                      energy_shift=tuple(data.fit_energy_shift(gs, 2)), energy_scale=data.force_rms(gs))
    batch = data.collate(gs, len(species), r_max=cfg.r_max)
    print(f"{a.batch} x 32 atoms, {int(batch['edge_mask'].sum())} edges, hidden {cfg.hidden_irreps}, lmax {a.lmax}, "
          f"{a.layers} layers, float32, median of {a.steps} steps")
    only = {s.strip() for s in a.only.split(",") if s.strip()}
    rows = e3xp_steps(cfg, batch, a.steps, only)
    for name, fn in (("e3nn torch", e3nn_torch_step), ("e3nn-jax", e3nn_jax_step)):
        if only and name not in only:
            continue
        try:
            rows[name] = fn(cfg, batch, a.steps)
        except Exception as e:  # noqa: BLE001 - report and keep the other rows
            print(f"{name}: failed ({type(e).__name__}: {e})")
    for name, (med, lo, hi) in rows.items():
        print(f"{name:<20} {1e3 * med:9.1f} ms/step  (min {1e3 * lo:.1f}, max {1e3 * hi:.1f})")
