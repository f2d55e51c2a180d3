"""Training throughput (structures per second) on 1 and 2 CPU devices, torch DDP and JAX sharding.

One run measures, on the embedded Cu-Au dataset (32-atom frames) and the same
global batch:

* torch, 1 process with 1 and with 2 intra-op threads (``TorchTrainer``);
* torch, 2 processes x 1 thread, DDP over gloo (``TorchDDPTrainer``,
  ``torch.multiprocessing.spawn``);
* JAX, in a subprocess with ``XLA_FLAGS=--xla_force_host_platform_device_count=2``:
  the single-device ``JaxTrainer``, and ``ShardedJaxTrainer`` on a 1- and a
  2-device mesh (virtual CPU devices share the host's cores).

Each case runs ``--warmup`` steps (compilation, first allocations; not timed) then
``--steps`` timed steps; structures/s = steps x batch / seconds. The 1-minute
load average is printed before and after: on a shared machine the numbers are
only as good as the quiet they ran in.

Run: ``PYTHONPATH=src python benchmarks/scale_out.py [--steps 10 --batch-size 8]``
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")


def options():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--lmax", type=int, default=1)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--jax-only", action="store_true", help=argparse.SUPPRESS)  # the subprocess
    p.add_argument("--skip-jax", action="store_true")
    p.add_argument("--skip-torch", action="store_true")
    return p.parse_args()


def setup(o):
    from e3xp.train import data as D
    from e3xp.train.config import ModelConfig
    from e3xp.train.loop import hidden_irreps_for
    from e3xp.train.model import init_params

    graphs, species = D.read_dataset(D.default_dataset(300, seed=0), 4.0)
    cfg = ModelConfig(species=species, r_max=4.0, num_layers=o.layers, hidden_irreps=hidden_irreps_for(o.channels, o.lmax),
                      lmax=o.lmax, num_bessel=6, radial_width=16,
                      energy_shift=tuple(D.fit_energy_shift(graphs, len(species))),
                      energy_scale=D.force_rms(graphs), avg_num_neighbors=D.avg_num_neighbors(graphs))
    n = (o.warmup + o.steps) * o.batch_size
    batches = [list(range(k, k + o.batch_size)) for k in range(0, n, o.batch_size)]
    batches = [[i % len(graphs) for i in b] for b in batches]
    return graphs, species, cfg, init_params(cfg, 0), batches


def timed(step, batches, warmup):
    for b in batches[:warmup]:
        step(b)
    t0 = time.perf_counter()
    for b in batches[warmup:]:
        step(b)
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------- torch
def torch_single(o, threads):
    import torch

    from e3xp.train.data import collate
    from e3xp.train.torch_backend import TorchTrainer

    torch.set_num_threads(threads)
    graphs, species, cfg, params, batches = setup(o)
    tr = TorchTrainer(cfg, params, dtype=o.dtype)
    return timed(lambda b: tr.step(collate([graphs[i] for i in b], len(species), r_max=4.0, n_graphs=o.batch_size)),
                 batches, o.warmup)


def _ddp_worker(rank, world, port, o, out):
    import torch

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from e3xp.train import distributed as D

    ctx = D.init_torch_distributed()
    graphs, species, cfg, params, batches = setup(o)
    batcher = D.GlobalBatcher(graphs, len(species), 4.0, o.batch_size, world_size=world)
    tr = D.TorchDDPTrainer(cfg, params, context=ctx, dtype=o.dtype)
    ctx.barrier()
    seconds = timed(lambda b: tr.step(batcher.shard(b, rank), batcher.counts(b)), batches, o.warmup)
    if ctx.is_main:
        with open(out, "w") as f:
            json.dump(seconds, f)
    ctx.shutdown()


def torch_ddp(o, world=2):
    import torch

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "t.json")
        torch.multiprocessing.spawn(_ddp_worker, args=(world, port, o, out), nprocs=world, join=True)
        return json.load(open(out))


# ---------------------------------------------------------------------------- jax
def jax_cases(o):
    import jax

    if o.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    from e3xp.train import distributed as D
    from e3xp.train.jax_backend import JaxTrainer

    graphs, species, cfg, params, batches = setup(o)
    res = {}
    tr = JaxTrainer(cfg, params, dtype=o.dtype)
    # the plain trainer with the data-parallel padding (fixed capacity), for a like-for-like 1-device number
    b1 = D.GlobalBatcher(graphs, len(species), 4.0, o.batch_size, world_size=1)
    res["jax JaxTrainer, 1 device"] = timed(lambda b: tr.step(b1.shard(b, 0)), batches, o.warmup)
    for n in (1, 2):
        batcher = D.GlobalBatcher(graphs, len(species), 4.0, o.batch_size, world_size=n)
        st = D.ShardedJaxTrainer(cfg, params, mesh=D.make_mesh(n), dtype=o.dtype)
        res[f"jax ShardedJaxTrainer, mesh of {n}"] = timed(
            lambda b: st.step(lambda r: batcher.shard(b, r), batcher.counts(b)), batches, o.warmup)

    return res


def main():
    o = options()
    if o.jax_only:
        print("JSON " + json.dumps(jax_cases(o)))
        return
    load0 = os.getloadavg()
    results = {}
    if not o.skip_torch:
        for threads in (1, 2):
            results[f"torch 1 process x {threads} thread(s)"] = torch_single(o, threads)
        results["torch DDP 2 processes x 1 thread (gloo)"] = torch_ddp(o)
    if not o.skip_jax:
        env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
        env["PYTHONPATH"] = os.pathsep.join([SRC, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        args = [sys.executable, __file__, "--jax-only"] + [
            a for k, v in vars(o).items() if k not in ("jax_only", "skip_jax", "skip_torch")
            for a in (f"--{k.replace('_', '-')}", str(v))]
        proc = subprocess.run(args, env=env, capture_output=True, text=True)
        if proc.returncode:
            sys.exit(proc.stdout + proc.stderr)
        line = [x for x in proc.stdout.splitlines() if x.startswith("JSON ")][0]
        results.update(json.loads(line[5:]))
    load1 = os.getloadavg()
    print(f"global batch {o.batch_size} x {o.steps} timed steps (after {o.warmup} warm-up), {o.dtype}, "
          f"channels {o.channels}, lmax {o.lmax}, layers {o.layers}; {os.cpu_count()} CPU cores")
    print(f"load average (1 min) before {load0[0]:.2f}, after {load1[0]:.2f}")
    w = max(len(k) for k in results)
    for k, sec in results.items():
        print(f"  {k:<{w}}  {o.steps * o.batch_size / sec:8.1f} structures/s  ({sec / o.steps * 1e3:7.1f} ms/step)")


if __name__ == "__main__":
    main()
