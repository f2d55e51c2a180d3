"""``python -m e3xp train`` and ``python -m e3xp train-demo`` (argparse wiring).

``train`` runs one job (:func:`e3xp.train.loop.train`). ``train-demo`` is the
``make demo`` preset: a small model trained briefly on the embedded Cu-Au
dataset on torch and then on JAX (same seed, same batches), printing both
metrics tables and writing the plots under ``--out`` (``demo_out/torch``,
``demo_out/jax``); about 2-3 minutes on 2 CPU cores.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time

from .loop import TrainOptions

__all__ = ["add_parsers", "apply_threads", "run", "DEMO"]

# small enough for ~1 minute per backend on 2 CPU cores, large enough that the test
# force MAE ends well below the zero-force baseline
DEMO = dict(epochs=2, max_steps=80, batch_size=4, lr=1e-2, channels=8, layers=2, lmax=1, r_max=4.0,
            num_bessel=6, radial_width=16, n_frames=300, dtype="float32")


def _add_common(p, defaults: TrainOptions):
    p.add_argument("--data", default=defaults.data, help="ASE-readable file with energies and forces "
                   "(default: the embedded Cu-Au EMT dataset, generated and cached on first use)")
    p.add_argument("--out", default=defaults.out, help="output folder (metrics.json, plots, checkpoint.npz)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (torch.set_num_threads; default: torch's). On a machine "
                   "shared with other busy processes use 1: every small op waits for all its threads")
    p.add_argument("--epochs", type=int, default=defaults.epochs)
    p.add_argument("--max-steps", type=int, default=defaults.max_steps, help="stop after this many optimizer steps")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--seed", type=int, default=defaults.seed, help="parameters, splits and batch order")
    p.add_argument("--dtype", choices=("float32", "float64"), default=defaults.dtype)
    p.add_argument("--device", default=defaults.device, help="torch device (cpu, cuda, ...) or jax platform")
    p.add_argument("--channels", type=int, default=defaults.channels, help="scalar channels per parity (vectors: half)")
    p.add_argument("--layers", type=int, default=defaults.layers)
    p.add_argument("--lmax", type=int, default=defaults.lmax, help="largest degree of the edge harmonics")
    p.add_argument("--r-max", type=float, default=defaults.r_max, help="cutoff radius (Angstrom)")
    p.add_argument("--hidden-irreps", default=None, help="override the hidden irreps built from --channels")
    p.add_argument("--energy-weight", type=float, default=defaults.energy_weight)
    p.add_argument("--force-weight", type=float, default=defaults.force_weight)
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_parsers(sub) -> None:
    """Add the ``train`` and ``train-demo`` subcommands to an argparse subparsers object."""
    p = sub.add_parser("train", help="train an equivariant interatomic potential (torch or jax)")
    p.add_argument("--backend", choices=("torch", "jax"), default="torch")
    p.add_argument("--devices", type=int, default=None,
                   help="data parallel: jax, devices of the mesh (one process); torch, must equal the "
                   "processes started by torchrun --nproc_per_node. --batch-size stays the global batch")
    _add_common(p, TrainOptions())
    d = sub.add_parser("train-demo", help="the make-demo preset: a short training run on torch and on jax")
    d.add_argument("--backends", default="torch,jax", help="comma-separated (default torch,jax)")
    _add_common(d, TrainOptions(**{**DEMO, "out": "demo_out"}))


def _options(args, **over) -> TrainOptions:
    fields = {f.name for f in dataclasses.fields(TrainOptions)}
    kw = {k: v for k, v in vars(args).items() if k in fields}
    kw.update(over)
    return TrainOptions(**kw)


def apply_threads(args) -> None:
    """``--threads N``: torch's intra-op threads for this process (nothing when not given).

    Measured on 2 cores (benchmarks/RESULTS.md, "Training step (issue 18)"): idle, the
    default 2 threads were ~1.3x faster than 1; with another process keeping one core
    busy, 2 threads took ~2.5 s per step and 1 thread ~40 ms.
    """
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(int(args.threads))


def run(args, stream=None) -> int:
    """Execute a parsed ``train`` / ``train-demo`` command; returns the exit status."""
    from .loop import load_graphs, train

    stream = sys.stdout if stream is None else stream
    apply_threads(args)
    if args.command == "train":
        train(_options(args), stream=stream)
        return 0
    t0 = time.perf_counter()
    base = _options(args, backend="torch")
    graphs = load_graphs(base)  # read once, train twice
    results = {}
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        print(f"== {backend}", file=stream)
        opts = dataclasses.replace(base, backend=backend, out=os.path.join(args.out, backend))
        results[backend] = train(opts, graphs_species=graphs, stream=stream)
    ok = all(m["test"]["force_mae"] < 0.5 * m["baseline"]["force_mae"] for m in results.values())
    print(f"== demo done in {time.perf_counter() - t0:.0f} s; plots and metrics in {args.out}/; "
          f"force MAE below half the zero-force baseline on every backend: {ok}", file=stream)
    return 0 if ok else 1
