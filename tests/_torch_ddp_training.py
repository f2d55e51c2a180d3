"""DDP training with 2 gloo processes against single-process training (run as a script).

The parent trains the tiny model of ``_dist_common`` with the plain
:class:`TorchTrainer` on each whole global batch (the reference), then spawns 2
processes (``torch.multiprocessing.spawn``, MASTER_ADDR=127.0.0.1, a free port)
that train with :class:`TorchDDPTrainer` on their shards of the same global
batches; rank 0 alone writes its parameters. Prints one JSON line: the largest
relative parameter differences after 3 steps and after all steps, the losses, and
what each rank wrote.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from _dist_common import global_batches, max_rel_diff, tiny_config, tiny_graphs  # noqa: E402

BATCH, EPOCHS, K = 5, 2, 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank, world, port, outdir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from e3xp.train import distributed as D
    from e3xp.train.model import flatten_tree, init_params

    ctx = D.init_torch_distributed()
    cfg, graphs = tiny_config(), tiny_graphs()
    batcher = D.GlobalBatcher(graphs, 2, cfg.r_max, BATCH, world_size=ctx.world_size)
    tr = D.TorchDDPTrainer(cfg, init_params(cfg, seed=0), context=ctx, lr=1e-2, dtype="float64")
    losses, snaps = [], {}
    for k, idx in enumerate(global_batches(len(graphs), BATCH, EPOCHS)):
        losses.append(tr.step(batcher.shard(idx, ctx.rank), batcher.counts(idx)))
        snaps[k] = flatten_tree(tr.params_numpy())
    if ctx.is_main:  # only rank 0 writes
        np.savez(os.path.join(outdir, "params.npz"), **{f"{k}|{n}": v for k, s in snaps.items() for n, v in s.items()})
        with open(os.path.join(outdir, "losses.json"), "w") as f:
            json.dump(losses, f)
    with open(os.path.join(outdir, f"rank{ctx.rank}.done"), "w") as f:
        f.write(json.dumps({"rank": ctx.rank, "world": ctx.world_size, "backend": ctx.backend, "losses": losses}))
    ctx.shutdown()


def main():
    torch.set_num_threads(1)
    from e3xp.train.data import collate
    from e3xp.train.model import flatten_tree, init_params
    from e3xp.train.torch_backend import TorchTrainer

    cfg, graphs = tiny_config(), tiny_graphs()
    batches = global_batches(len(graphs), BATCH, EPOCHS)
    ref = TorchTrainer(cfg, init_params(cfg, seed=0), lr=1e-2, dtype="float64")
    ref_loss, ref_params = [], []
    for idx in batches:
        ref_loss.append(ref.step(collate([graphs[i] for i in idx], 2, r_max=cfg.r_max)))
        ref_params.append(flatten_tree(ref.params_numpy()))

    with tempfile.TemporaryDirectory() as outdir:
        torch.multiprocessing.spawn(worker, args=(2, free_port(), outdir), nprocs=2, join=True)
        written = sorted(os.listdir(outdir))
        z = np.load(os.path.join(outdir, "params.npz"))
        snaps = {}
        for key in z.files:
            k, name = key.split("|")
            snaps.setdefault(int(k), {})[name] = z[key]
        with open(os.path.join(outdir, "losses.json")) as f:
            losses = json.load(f)
        ranks = [json.load(open(os.path.join(outdir, f"rank{r}.done"))) for r in range(2)]
    diffs = [max_rel_diff(snaps[k], ref_params[k]) for k in range(len(batches))]
    out = {
        "batches": [len(b) for b in batches],
        "rel_diff_after_K": diffs[K - 1],
        "rel_diff_after_all": diffs[-1],
        "max_loss_rel_diff": max(abs(a - b) / abs(b) for a, b in zip(losses, ref_loss)),
        "losses": losses,
        "ref_losses": ref_loss,
        "rank_losses_equal": ranks[0]["losses"] == ranks[1]["losses"],
        "backends": [r["backend"] for r in ranks],
        "written": written,
        "param_change_from_init": max_rel_diff(snaps[len(batches) - 1], flatten_tree(init_params(cfg, seed=0))),
    }
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()
