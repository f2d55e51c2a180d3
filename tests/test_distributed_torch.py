"""Data parallelism on PyTorch (DDP, gloo on CPU) and the framework-neutral batch rule.

The DDP run is ``torchrun --nproc_per_node 2 -m e3xp train`` in a subprocess, so
the test process never joins a process group.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent
SRC = HERE.parent / "src"
sys.path.insert(0, str(HERE))

needs_ase = pytest.mark.skipif(importlib.util.find_spec("ase") is None, reason="ase not installed")
needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")


# ---------------------------------------------------------------------------- the batch rule
def test_per_device_batch_and_errors():
    from e3xp.train.distributed import per_device_batch

    assert [per_device_batch(b, 2) for b in (2, 3, 4, 5)] == [1, 2, 2, 3]
    assert per_device_batch(7, 1) == 7
    with pytest.raises(ValueError, match=r"--batch-size 3 is smaller than the number of devices \(4\)"):
        per_device_batch(3, 4)
    with pytest.raises(ValueError, match="must be >= 1"):
        per_device_batch(4, 0)


def test_shard_of_covers_the_global_batch_once():
    from e3xp.train.distributed import shard_of

    idx = [9, 4, 7, 1, 3]
    for world in (1, 2, 3, 5):
        per = -(-len(idx) // world)
        parts = [shard_of(idx, world, r, per) for r in range(world)]
        assert sum(parts, []) == idx  # in order, each structure on exactly one device
        assert all(len(p) <= per for p in parts)
    assert shard_of([1, 2, 3], 2, 1, 2) == [3]  # partial batch: fewer real graphs at the end
    assert shard_of([1], 2, 1, 1) == []  # a device may get only padding
    with pytest.raises(ValueError, match="rank 2 outside"):
        shard_of(idx, 2, 2, 3)


@needs_ase
def test_global_batcher_fixed_shapes_and_counts():
    from _dist_common import tiny_graphs
    from e3xp.train.distributed import GlobalBatcher

    graphs = tiny_graphs()
    b = GlobalBatcher(graphs, 2, 4.0, global_batch=5, world_size=2)
    assert b.per_device == 3
    shapes = set()
    for idx in ([0, 1, 2, 3, 4], [5, 6, 7], [12], list(np.argsort([-g.n_atoms for g in graphs])[:5])):
        shards = b.shards(idx)
        for s in shards:
            shapes.add(tuple((k, v.shape) for k, v in sorted(s.items())))
        # the real graphs / atoms of all shards are those of the global batch
        assert sum(s["graph_mask"].sum() for s in shards) == len(idx) == b.counts(idx)[0]
        assert sum(s["node_mask"].sum() for s in shards) == sum(graphs[i].n_atoms for i in idx) == b.counts(idx)[1]
        assert sum(s["edge_mask"].sum() for s in shards) == sum(graphs[i].n_edges for i in idx)
    assert len(shapes) == 1  # one padded shape for every batch, partial or not


@needs_ase
def test_sum_loss_is_the_train_loss_and_adds_up_over_shards():
    from _dist_common import tiny_graphs
    from e3xp.train.data import collate
    from e3xp.train.distributed import GlobalBatcher, sum_loss
    from e3xp.train.loss import loss

    graphs = tiny_graphs()
    rng = np.random.default_rng(1)
    idx = [3, 8, 0, 11, 5]
    whole = collate([graphs[i] for i in idx], 2, r_max=4.0)
    e = rng.standard_normal(whole["energy"].shape) * whole["graph_mask"]
    f = rng.standard_normal(whole["forces"].shape)
    ref = loss(e, f, whole, 1.0, 10.0)  # the train loss of the whole batch (independent code)
    counts = (whole["graph_mask"].sum(), whole["node_mask"].sum())
    assert abs(sum_loss(e, f, whole, *counts, 1.0, 10.0) - ref) <= 1e-14 * abs(ref)
    # the same predictions cut into 2 device shards: the shard sums add up to the global loss
    b = GlobalBatcher(graphs, 2, 4.0, global_batch=5, world_size=2)
    total, a, g = 0.0, 0, 0
    for s in b.shards(idx):
        ng, na = int(s["graph_mask"].sum()), int(s["node_mask"].sum())
        es = np.zeros_like(s["energy"])
        es[:ng] = e[g : g + ng]
        fs = np.zeros_like(s["forces"])
        fs[:na] = f[a : a + na]
        part = sum_loss(es, fs, s, *b.counts(idx), 1.0, 10.0)
        assert np.isfinite(part)  # empty slots (n_atoms 0) do not make it NaN
        total, a, g = total + part, a + na, g + ng
    assert abs(total - ref) <= 1e-14 * abs(ref)


# ---------------------------------------------------------------------------- torch
@needs_torch
def test_single_process_context_and_env_errors(monkeypatch):
    from e3xp.train.distributed import init_torch_distributed

    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    ctx = init_torch_distributed()
    assert (ctx.rank, ctx.world_size, ctx.is_main, ctx.distributed) == (0, 1, True, False)
    assert ctx.all_reduce_sum([1.5, 2.0]) == [1.5, 2.0]
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="MASTER_ADDR is not set: launch with torchrun"):
        init_torch_distributed()


@needs_torch
@needs_ase
def test_ddp_trainer_on_one_process_equals_torch_trainer():
    """World size 1 (no DDP wrapper): the sum-form loss gives TorchTrainer's steps."""
    from _dist_common import global_batches, max_rel_diff, tiny_config, tiny_graphs
    from e3xp.train.data import collate
    from e3xp.train.distributed import GlobalBatcher, TorchDDPTrainer, init_torch_distributed
    from e3xp.train.model import flatten_tree, init_params
    from e3xp.train.torch_backend import TorchTrainer

    cfg, graphs = tiny_config(), tiny_graphs()
    p0 = init_params(cfg, seed=0)
    ref = TorchTrainer(cfg, p0, lr=1e-2)
    tr = TorchDDPTrainer(cfg, p0, context=init_torch_distributed(), lr=1e-2)
    batcher = GlobalBatcher(graphs, 2, cfg.r_max, 5, world_size=1)
    for idx in global_batches(len(graphs), 5, 1):
        a = ref.step(collate([graphs[i] for i in idx], 2, r_max=cfg.r_max))
        b = tr.step(batcher.shard(idx, 0), batcher.counts(idx))
        assert abs(a - b) <= 1e-12 * abs(a)
    assert max_rel_diff(flatten_tree(tr.params_numpy()), flatten_tree(ref.params_numpy())) <= 1e-12


@needs_torch
@needs_ase
def test_train_objects_pickle():
    """DDP / spawn move objects between processes: the model's pieces pickle and compare equal."""
    import torch

    from _dist_common import tiny_config
    from e3xp.train.model import Potential
    from e3xp.train.torch_backend import TorchPotential

    cfg = tiny_config()
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    pot = Potential.of(cfg)
    for layer in pot.layers:
        for name in ("linear_up", "tp", "linear_down", "self_interaction"):
            assert pickle.loads(pickle.dumps(layer[name])) == layer[name]
    assert copy.deepcopy(pot.readout) == pot.readout
    # the whole potential too (poly_envelope returned a local closure, which did not pickle)
    back_pot = pickle.loads(pickle.dumps(pot))
    assert back_pot.envelope == pot.envelope and back_pot.layers[0]["tp"] == pot.layers[0]["tp"]
    r = np.linspace(0.0, 5.0, 11)
    assert np.array_equal(back_pot.envelope(r), pot.envelope(r))
    mod = TorchPotential(cfg, seed=0)
    back = pickle.loads(pickle.dumps(mod))
    for (n1, p1), (n2, p2) in zip(mod.named_parameters(), back.named_parameters()):
        assert n1 == n2 and torch.equal(p1, p2)
    # the module holds only parameters: no buffers or hidden state for DDP to broadcast
    assert list(mod.buffers()) == []


# ---------------------------------------------------------------------------- the command line
@needs_torch
@needs_ase
def test_cli_torchrun_2_processes_equals_1(tmp_path):
    """``torchrun --nproc_per_node 2 -m e3xp train --backend torch`` trains the one-process model."""
    import socket
    import shutil

    from _dist_common import CLI_ARGS, change_from_init, checkpoint_diff, write_tiny_dataset
    from e3xp.__main__ import main

    data = write_tiny_dataset(tmp_path / "tiny.extxyz")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which("torchrun")
    cmd = ([torchrun] if torchrun else [sys.executable, "-m", "torch.distributed.run"]) + [
        "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port", str(port),
        "-m", "e3xp", "train", "--backend", "torch", "--devices", "2", "--data", data,
        "--out", str(tmp_path / "d2"), *CLI_ARGS]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    # rank 0 alone prints the table (and writes): one table in the output
    assert out.count("data parallel: 2 torch devices, global batch 5 = 3 per device") == 1, out
    assert out.count("seconds per epoch") == 1, out
    assert main(["train", "--backend", "torch", "--data", data, "--out", str(tmp_path / "d1"), *CLI_ARGS]) == 0
    m2, m1 = (json.load(open(tmp_path / f"d{n}" / "metrics.json")) for n in (2, 1))
    assert m2["devices"] == 2 and m2["steps"] == m1["steps"] == 6  # 12 train frames: batches 5, 5, 2
    # the logged loss is the global one (all-reduced), step by step that of one process
    l2, l1 = ([h["loss"] for h in m["history"]] for m in (m2, m1))
    assert max(abs(a - b) / abs(b) for a, b in zip(l2, l1)) <= 1e-10
    # the parameters moved, and equal one-process training to float64 rounding
    assert change_from_init(tmp_path / "d1" / "checkpoint.npz") > 1e-3
    # test metrics: each rank evaluated part of the test set, the errors reduced over ranks
    assert m2["test"]["n_frames"] == m1["test"]["n_frames"] == 2
    for key in ("energy_mae_per_atom", "force_mae", "force_rmse"):
        assert abs(m2["test"][key] - m1["test"][key]) <= 1e-10 * abs(m1["test"][key]), key
    assert checkpoint_diff(tmp_path / "d2" / "checkpoint.npz", tmp_path / "d1" / "checkpoint.npz") <= 1e-10


@needs_torch
@needs_ase
def test_cli_torch_devices_errors(tmp_path, monkeypatch):
    from _dist_common import CLI_ARGS, write_tiny_dataset
    from e3xp.__main__ import main

    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    data = write_tiny_dataset(tmp_path / "tiny.extxyz")
    args = ["train", "--backend", "torch", "--data", data, "--out", str(tmp_path / "o"), *CLI_ARGS]
    with pytest.raises(ValueError, match="torchrun --nproc_per_node 2 -m e3xp train"):
        main(args + ["--devices", "2"])
    monkeypatch.setenv("WORLD_SIZE", "4")
    with pytest.raises(ValueError, match=r"--devices 2 but torchrun started 4 processes"):
        main(args + ["--devices", "2"])
    # a global batch smaller than the processes: refused before joining the process group
    with pytest.raises(ValueError, match=r"--batch-size 3 is smaller than the number of devices \(4\)"):
        main(args + ["--batch-size", "3"])
