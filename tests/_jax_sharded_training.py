"""Sharded JAX training on 2 virtual CPU devices against single-device training (subprocess).

Run with ``XLA_FLAGS=--xla_force_host_platform_device_count=2``. Trains the tiny
model of ``_dist_common`` for 2 epochs of 13 structures with the global batch 5
(batches 5, 5, 3: 5 does not divide over 2 devices, the last batch is partial),
once with the plain single-device :class:`JaxTrainer` on each whole global batch
(the reference), once with :class:`ShardedJaxTrainer` on a 2-device mesh and once
on a 1-device mesh. Prints one JSON line: the largest relative parameter
differences after 3 steps and after all 6, the losses, and the number of
compilations of the sharded step.

Run as a script (``python _jax_sharded_training.py TMPDIR``) it also runs, in the
same process (one JAX start-up for all): first the operation checks of
``_jax_sharding_ops.py``, then the training comparison above (``RESULT`` line),
then ``python -m e3xp train --backend jax --devices 2`` and ``--devices 1`` on a
tiny extxyz file in TMPDIR (``CLI`` line: the checkpoints' largest relative
parameter difference and both loss histories).
"""

from __future__ import annotations

import json
import os
import sys

BATCH, EPOCHS, K = 5, 2, 3


def main():
    # imports here, not at module level: pytest's --doctest-modules imports this file too,
    # and jax_enable_x64 is process-wide
    sys.path.insert(0, os.path.dirname(__file__))
    import jax

    jax.config.update("jax_enable_x64", True)
    from _dist_common import global_batches, max_rel_diff, tiny_config, tiny_graphs
    from e3xp.train import distributed as D
    from e3xp.train.data import collate
    from e3xp.train.jax_backend import JaxTrainer
    from e3xp.train.model import flatten_tree, init_params

    assert len(jax.devices()) == 2
    cfg, graphs = tiny_config(), tiny_graphs()
    params = init_params(cfg, seed=0)
    batches = global_batches(len(graphs), BATCH, EPOCHS)
    kw = dict(lr=1e-2, dtype="float64")

    ref = JaxTrainer(cfg, params, **kw)
    ref_loss, ref_params = [], []
    for idx in batches:
        ref_loss.append(ref.step(collate([graphs[i] for i in idx], 2, r_max=cfg.r_max)))
        ref_params.append(flatten_tree(ref.params_numpy()))

    out = {"batches": [len(b) for b in batches]}
    trainers = {}
    for n_dev in (2, 1):
        mesh = D.make_mesh(n_dev)
        batcher = D.GlobalBatcher(graphs, 2, cfg.r_max, BATCH, world_size=n_dev)
        tr = trainers[n_dev] = D.ShardedJaxTrainer(cfg, params, mesh=mesh, **kw)
        losses, diffs = [], []
        for k, idx in enumerate(batches):
            losses.append(tr.step(batcher.shards(idx), batcher.counts(idx)))
            diffs.append(max_rel_diff(flatten_tree(tr.params_numpy()), ref_params[k]))
        out[f"dev{n_dev}"] = {
            "per_device": batcher.per_device,
            "capacity": [batcher.n_nodes, batcher.n_edges],
            "rel_diff_after_K": diffs[K - 1],
            "rel_diff_after_all": diffs[-1],
            "max_loss_rel_diff": max(abs(a - b) / abs(b) for a, b in zip(losses, ref_loss)),
            "losses": losses, "ref_losses": ref_loss,
            "compilations": tr.compilations(),
            "params_sharding_replicated": all(
                leaf.sharding.is_fully_replicated for leaf in jax.tree_util.tree_leaves(tr.params)),
            "param_change_from_init": max_rel_diff(flatten_tree(tr.params_numpy()), flatten_tree(params)),
        }
    # control: counting the padding slots as real graphs (the mistake the batch rule avoids)
    # must show up in the parameters, or the comparison above could not fail
    # (the 2-device trainer again, restarted from the initial parameters: no new compilation)
    batcher = D.GlobalBatcher(graphs, 2, cfg.r_max, BATCH, world_size=2)
    tr = trainers[2]
    tr.params = jax.device_put(jax.tree.map(jax.numpy.asarray, params), tr.replicated)
    tr.opt_state = jax.device_put(tr.tx.init(tr.params), tr.replicated)
    for idx in batches[:K]:
        tr.step(batcher.shards(idx), (2 * batcher.per_device, batcher.counts(idx)[1]))
    out["control_padding_counted_rel_diff"] = max_rel_diff(flatten_tree(tr.params_numpy()), ref_params[K - 1])
    out["dev2"]["compilations_after_control"] = tr.compilations()
    try:
        D.make_mesh(3)
        out["mesh3_error"] = None
    except ValueError as e:
        out["mesh3_error"] = str(e)
    print("RESULT " + json.dumps(out))


def cli(tmp):
    from _dist_common import CLI_ARGS, change_from_init, checkpoint_diff, write_tiny_dataset
    from e3xp.__main__ import main as e3xp_main

    data = write_tiny_dataset(os.path.join(tmp, "tiny.extxyz"))
    for n in (2, 1):
        assert e3xp_main(["train", "--backend", "jax", "--devices", str(n), "--data", data,
                          "--out", os.path.join(tmp, f"d{n}"), *CLI_ARGS]) == 0
    m2, m1 = (json.load(open(os.path.join(tmp, f"d{n}", "metrics.json"))) for n in (2, 1))
    print("CLI " + json.dumps({
        "diff": checkpoint_diff(os.path.join(tmp, "d2", "checkpoint.npz"), os.path.join(tmp, "d1", "checkpoint.npz")),
        "change_from_init": change_from_init(os.path.join(tmp, "d1", "checkpoint.npz")),
        "devices": [m2["devices"], m1["devices"]],
        "steps": [m2["steps"], m1["steps"]],
        "losses": [[h["loss"] for h in m["history"]] for m in (m2, m1)],
    }))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _jax_sharding_ops

    ops_status = _jax_sharding_ops.main()
    main()
    cli(sys.argv[1])
    sys.exit(ops_status)
