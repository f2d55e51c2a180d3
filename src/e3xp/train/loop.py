"""The training job: data -> statistics -> model -> Adam steps -> checkpoints -> metrics and plots.

:func:`train` runs one job from :class:`TrainOptions` on torch or JAX and writes,
in ``options.out``:

* ``metrics.json``: nested ``{"test": {"energy_mae_per_atom", "force_mae",
  "force_rmse", "n_frames"}, "baseline": {"force_mae", "force_rmse"}
  (the zero-force predictor), "seconds_per_epoch", "history": [{"step", "loss"},
  ...] (every optimizer step), "backend", "dtype", "steps", "config"}``;
  ``seconds_per_epoch`` is the wall time of the optimizer steps (first-call
  compilation included) divided by the epochs done (fractional when
  ``max_steps`` stops mid-epoch);
* ``learning_curve.png``, ``force_parity.png``;
* ``checkpoint.npz`` (see :mod:`.checkpoint`), rewritten atomically at each epoch
  end and at the last step; ``resume=True`` continues from it with the same
  batch order, so an interrupted run ends where an uninterrupted one does.

The batch order, the splits and the initial parameters come from NumPy and the
seed only, so torch and JAX follow the same trajectory (float64: to rounding).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time

import numpy as np

from . import data as D
from .checkpoint import load_checkpoint, save_checkpoint
from .config import ModelConfig
from .loss import DEFAULT_ENERGY_WEIGHT, DEFAULT_FORCE_WEIGHT
from .model import init_params

__all__ = ["TrainOptions", "train", "make_trainer", "evaluate", "format_metrics", "hidden_irreps_for"]


@dataclasses.dataclass
class TrainOptions:
    """Everything ``python -m e3xp train`` accepts (see ``--help`` for each)."""

    backend: str = "torch"
    data: str | None = None  # None: the embedded Cu-Au dataset
    out: str = "train_out"
    epochs: int = 10
    max_steps: int | None = None
    batch_size: int = 4
    lr: float = 1e-2
    seed: int = 0
    dtype: str = "float64"
    device: str | None = None
    channels: int = 16
    layers: int = 2
    lmax: int = 2
    r_max: float = 4.0
    hidden_irreps: str | None = None
    num_bessel: int = 8
    radial_width: int = 32
    energy_weight: float = DEFAULT_ENERGY_WEIGHT
    force_weight: float = DEFAULT_FORCE_WEIGHT
    n_frames: int = 300  # size of the embedded dataset
    resume: bool = False
    quiet: bool = False
    devices: int | None = None  # data parallel: JAX mesh size / torchrun's WORLD_SIZE (see .distributed)


def hidden_irreps_for(channels: int, lmax: int) -> str:
    """Hidden irreps from ``--channels``: ``c x 0e + c x 0o`` and ``c/2`` of each parity of l = 1 (if lmax >= 1).

    >>> hidden_irreps_for(16, 2)
    '16x0e+16x0o+8x1o+8x1e'
    """
    s = f"{channels}x0e+{channels}x0o"
    if lmax >= 1:
        s += f"+{max(1, channels // 2)}x1o+{max(1, channels // 2)}x1e"
    return s


def make_trainer(backend: str, config: ModelConfig, params: dict, **kw):
    """The backend's trainer (imports torch or jax here, not before)."""
    if backend == "torch":
        from .torch_backend import TorchTrainer

        return TorchTrainer(config, params, **kw)
    if backend == "jax":
        from .jax_backend import JaxTrainer

        return JaxTrainer(config, params, **kw)
    raise ValueError(f"unknown backend {backend!r}; choose torch or jax")


def load_graphs(options: TrainOptions, species=None) -> tuple:
    """``(graphs, species, source)`` for the options (the embedded dataset when ``data`` is None)."""
    path = options.data if options.data is not None else D.default_dataset(options.n_frames, seed=0)
    graphs, species = D.read_dataset(path, options.r_max, species)
    return graphs, species, str(path)


def evaluate(trainer, graphs, n_species: int, r_max: float, batch_size: int = 8) -> dict:
    """Errors on ``graphs`` plus the arrays for the parity plot."""
    de, ftrue, fpred = [], [], []
    for k in range(0, len(graphs), batch_size):
        chunk = graphs[k : k + batch_size]
        b = D.collate(chunk, n_species, r_max=r_max, n_graphs=batch_size)
        e, f = trainer.predict(b)
        n = len(chunk)
        de.append((e[:n] - b["energy"][:n]) / b["n_atoms"][:n])
        m = b["node_mask"] > 0
        ftrue.append(b["forces"][m])
        fpred.append(f[m])
    de, ftrue, fpred = np.concatenate(de), np.concatenate(ftrue), np.concatenate(fpred)
    df = fpred - ftrue
    return {
        "energy_mae_per_atom": float(np.mean(np.abs(de))),
        "force_mae": float(np.mean(np.abs(df))),
        "force_rmse": float(np.sqrt(np.mean(df * df))),
        "n_frames": len(graphs),
        "_forces": (ftrue, fpred),
    }


def format_metrics(m: dict) -> str:
    """The metrics table printed at the end of a run."""
    t, b = m["test"], m["baseline"]
    rows = [
        ("backend / dtype", f"{m['backend']} / {m['dtype']}"),
        ("steps", f"{m['steps']}"),
        ("test frames", f"{t['n_frames']}"),
        ("energy MAE (meV/atom)", f"{1e3 * t['energy_mae_per_atom']:.3f}"),
        ("force MAE (meV/A)", f"{1e3 * t['force_mae']:.2f}"),
        ("force RMSE (meV/A)", f"{1e3 * t['force_rmse']:.2f}"),
        ("zero-force baseline MAE (meV/A)", f"{1e3 * b['force_mae']:.2f}"),
        ("seconds per epoch", f"{m['seconds_per_epoch']:.2f}"),
    ]
    w = max(len(r[0]) for r in rows)
    return "\n".join(f"{k:<{w}}  {v:>12}" for k, v in rows)


def _progress(total: int, initial: int, options: TrainOptions):
    from tqdm.auto import tqdm

    disable = options.quiet or not sys.stderr.isatty()
    return tqdm(total=total, initial=initial, disable=disable, desc=f"train[{options.backend}]", unit="step")


def train(options: TrainOptions, graphs_species=None, stream=None) -> dict:
    """Run the job; returns the metrics dict (also written to ``out/metrics.json``).

    ``graphs_species`` = ``(graphs, species, source)`` skips reading the data again
    (the demo trains twice on the same data).
    """
    stream = sys.stdout if stream is None else stream
    o = options
    os.makedirs(o.out, exist_ok=True)
    ck_path = os.path.join(o.out, "checkpoint.npz")
    ck = load_checkpoint(ck_path) if o.resume and os.path.exists(ck_path) else None
    if o.resume and ck is None:
        print(f"--resume: no checkpoint in {o.out}, starting from scratch", file=stream)
    graphs, species, source = graphs_species or load_graphs(o, species=None if ck is None else ck.config.species)
    split = D.split_indices(len(graphs), seed=o.seed)
    train_g = [graphs[i] for i in split["train"]]
    test_g = [graphs[i] for i in split["test"]]
    if ck is None:
        config = ModelConfig(
            species=species,
            r_max=o.r_max,
            num_layers=o.layers,
            hidden_irreps=o.hidden_irreps or hidden_irreps_for(o.channels, o.lmax),
            lmax=o.lmax,
            num_bessel=o.num_bessel,
            radial_width=o.radial_width,
            energy_shift=tuple(D.fit_energy_shift(train_g, len(species))),
            energy_scale=D.force_rms(train_g),
            avg_num_neighbors=D.avg_num_neighbors(train_g),
        )
        params, opt_state, step, history = init_params(config, o.seed), None, 0, []
    else:
        config, params, opt_state, step = ck.config, ck.params, ck.opt_state, ck.step
        history = ck.meta.get("history", [])
        if tuple(config.species) != tuple(species):
            raise ValueError(f"--resume: data species {species} differ from the checkpoint's {config.species}")
    from . import distributed

    par = distributed.setup(o, train_g, len(species), config.r_max)  # None: one device
    main = par is None or par.is_main  # only the main process writes
    make = par.make_trainer if par is not None else lambda *a, **k: make_trainer(o.backend, *a, **k)
    trainer = make(config, params, lr=o.lr, dtype=o.dtype, device=o.device,
                   energy_weight=o.energy_weight, force_weight=o.force_weight, opt_state=opt_state)
    if par is not None and main:
        print(par.describe(), file=stream)
    n_batches = math.ceil(len(train_g) / o.batch_size)
    total = o.epochs * n_batches if o.max_steps is None else min(o.max_steps, o.epochs * n_batches)
    n_species = len(species)
    meta = {"options": dataclasses.asdict(o), "data": source}
    bar = _progress(total, min(step, total), o if main else dataclasses.replace(o, quiet=True))
    t0, step0 = time.perf_counter(), step

    def checkpoint():
        if not main:
            return
        save_checkpoint(ck_path, params=trainer.params_numpy(), opt_state=trainer.opt_state_numpy(),
                        config=config, step=step, meta={**meta, "history": history})

    while step < total:
        epoch, skip = divmod(step, n_batches)
        for idx in D.batch_order(len(train_g), o.batch_size, o.seed, epoch)[skip:]:
            if par is not None:  # this device's share of the global batch; gradients all-reduced
                loss = par.step(trainer, idx)
            else:
                b = D.collate([train_g[i] for i in idx], n_species, r_max=config.r_max, n_graphs=o.batch_size)
                loss = trainer.step(b)
            if not math.isfinite(loss):
                raise FloatingPointError(f"loss is {loss} at step {step}; try a smaller --lr")
            history.append({"step": step, "loss": loss})
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4g}", epoch=epoch)
            if step >= total:
                break
        checkpoint()  # each epoch end (and the last, possibly partial, epoch)
    bar.close()
    elapsed = time.perf_counter() - t0
    epochs_done = (step - step0) / n_batches
    if par is not None:  # each rank its part of the test set, errors all-reduced
        test = par.evaluate(evaluate, trainer, test_g, n_species, config.r_max)
    else:
        test = evaluate(trainer, test_g, n_species, config.r_max)
    ftrue, fpred = test.pop("_forces")
    metrics = {
        "backend": o.backend,
        "dtype": o.dtype,
        "steps": step,
        "test": test,
        "baseline": {"force_mae": float(np.mean(np.abs(ftrue))), "force_rmse": float(np.sqrt(np.mean(ftrue**2)))},
        "seconds_per_epoch": elapsed / epochs_done if epochs_done > 0 else float("nan"),
        "history": history,
        "config": config.to_dict(),
        "data": source,
        "devices": 1 if par is None else par.world_size,
    }
    if par is not None:
        par.shutdown()
    if not main:
        return metrics
    with open(os.path.join(o.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    from . import plots

    plots.learning_curve(history, os.path.join(o.out, "learning_curve.png"), f"{o.backend} ({o.dtype})")
    plots.force_parity(ftrue, fpred, os.path.join(o.out, "force_parity.png"),
                       f"test forces, {o.backend}: MAE {1e3 * test['force_mae']:.0f} meV/A")
    print(format_metrics(metrics), file=stream)
    return metrics
