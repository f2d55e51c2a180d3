"""Data parallelism on JAX: e3xp operations and the training step under sharding.

JAX reads ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` only when it
initialises, and the test process has usually initialised it already with one
CPU device, so every check with 2 virtual devices runs in one fresh subprocess
(``_jax_sharded_training.py``, which also runs ``_jax_sharding_ops.py``), started
once per module; the tests below assert its output.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax not installed")

HERE = Path(__file__).parent
SRC = HERE.parent / "src"
sys.path.insert(0, str(HERE))


def run_with_devices(args, n_devices: int = 2, timeout: float = 120) -> str:
    """Run ``python *args`` with ``n_devices`` virtual CPU devices; return its output (asserts exit 0)."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={n_devices}").strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    return out


needs_train = pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("flax", "optax", "ase")),
                                 reason="needs flax, optax and ase")


CLI_DIR = {}


@pytest.fixture(scope="module")
def two_devices(tmp_path_factory):
    """The output of the 2-virtual-device subprocess (ops checks, training, CLI)."""
    if any(importlib.util.find_spec(m) is None for m in ("flax", "optax", "ase")):
        # without the train extras, only the operation checks run
        return run_with_devices([str(HERE / "_jax_sharding_ops.py")])
    CLI_DIR["path"] = tmp = tmp_path_factory.mktemp("cli")
    return run_with_devices([str(HERE / "_jax_sharded_training.py"), str(tmp)], timeout=600)


def _line(out: str, tag: str) -> dict:
    import json

    line = [x for x in out.splitlines() if x.startswith(tag + " ")]
    assert len(line) == 1, out
    return json.loads(line[0][len(tag) + 1:])


def test_e3xp_ops_under_jit_sharding_and_shard_map(two_devices):
    out = two_devices
    lines = [line for line in out.splitlines() if line.endswith(("ok", "FAIL"))]
    # 5 ops x (jit + shard_map) + the gradient + 2 eager device checks
    assert len(lines) == 13, out
    assert all(line.endswith("ok") for line in lines), out
    assert "ALL OK" in out


@needs_train
def test_sharded_training_equals_single_device_and_compiles_once(two_devices):
    r = _line(two_devices, "RESULT")
    assert r["batches"] == [5, 5, 3, 5, 5, 3]  # odd global batch, partial last batch, 2 epochs
    for n_dev in ("dev2", "dev1"):
        d = r[n_dev]
        # the parameters moved, and equal single-device training to float64 rounding
        assert d["param_change_from_init"] > 1e-3
        assert d["rel_diff_after_K"] <= 1e-10, d
        assert d["rel_diff_after_all"] <= 1e-10, d
        assert d["max_loss_rel_diff"] <= 1e-10, d
        # one compilation for 6 steps of batches with different sizes (fixed per-device capacity)
        assert d["compilations"] == 1, d
        assert d["params_sharding_replicated"]
    assert r["dev2"]["per_device"] == 3 and r["dev1"]["per_device"] == 5
    # the comparison can fail: a wrong normalisation gives a visible difference
    assert r["control_padding_counted_rel_diff"] > 1e-6
    assert r["dev2"]["compilations_after_control"] == 1  # other counts, same compiled step
    assert "--devices 3 but JAX sees 2 cpu device(s)" in r["mesh3_error"]
    assert "xla_force_host_platform_device_count=3" in r["mesh3_error"]


@needs_train
def test_cli_train_devices_2_equals_devices_1(two_devices):
    """``python -m e3xp train --backend jax --devices 2`` trains the model of ``--devices 1``."""
    r = _line(two_devices, "CLI")
    assert "data parallel: 2 jax devices, global batch 5 = 3 per device" in two_devices
    assert r["devices"] == [2, 1] and r["steps"] == [6, 6]
    assert r["change_from_init"] > 1e-3 and r["diff"] <= 1e-10, r
    l2, l1 = r["losses"]
    assert max(abs(a - b) / abs(b) for a, b in zip(l2, l1)) <= 1e-10, r


@needs_train
def test_cli_devices_errors(tmp_path):
    import jax

    from _dist_common import CLI_ARGS, write_tiny_dataset
    from e3xp.__main__ import main

    data = write_tiny_dataset(tmp_path / "tiny.extxyz")
    n = len(jax.devices())
    with pytest.raises(ValueError, match=f"--devices {n + 1} but JAX sees {n}"):
        main(["train", "--backend", "jax", "--devices", str(n + 1), "--data", data, "--out", str(tmp_path / "o"),
              *CLI_ARGS])
    with pytest.raises(ValueError, match="--devices must be >= 1"):
        main(["train", "--backend", "jax", "--devices", "0", "--data", data, "--out", str(tmp_path / "o"), *CLI_ARGS])


@needs_train
def test_cli_two_processes_jax_distributed_equal_one_device(two_devices, tmp_path):
    """Multi-host JAX, tried on one machine: 2 processes x 1 CPU device joined by
    ``jax.distributed.initialize`` (gloo collectives), each collating only its own
    device's batch, train the ``--devices 1`` model; process 1 writes and prints nothing."""
    import socket

    from _dist_common import CLI_ARGS, checkpoint_diff

    tmp = CLI_DIR["path"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for pid in (0, 1):
        env = dict(os.environ, JAX_PLATFORMS="cpu", JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo",
                   E3XP_COORDINATOR=f"127.0.0.1:{port}", E3XP_NUM_PROCESSES="2", E3XP_PROCESS_ID=str(pid))
        env.pop("XLA_FLAGS", None)
        env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        cmd = [sys.executable, "-m", "e3xp", "train", "--backend", "jax", "--data", str(tmp / "tiny.extxyz"),
               "--out", str(tmp_path / "mh"), *CLI_ARGS]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert "data parallel: 2 jax devices, global batch 5 = 3 per device" in outs[0]
    assert "seconds per epoch" in outs[0] and "seconds per epoch" not in outs[1]
    assert checkpoint_diff(tmp_path / "mh" / "checkpoint.npz", tmp / "d1" / "checkpoint.npz") <= 1e-10
