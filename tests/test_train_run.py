"""Training job end to end: CLI smoke, checkpoint round trip, resume, torch -> JAX, ASE calculator, NVE."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("ase")
torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

from e3xp.train import model  # noqa: E402
from e3xp.train.checkpoint import load_checkpoint  # noqa: E402
from e3xp.train.loop import TrainOptions, train  # noqa: E402
from tests.train_helpers import R_MAX, frames, write_dataset  # noqa: E402

SMALL = dict(batch_size=2, lr=5e-3, channels=4, layers=1, lmax=1, r_max=R_MAX, num_bessel=4, radial_width=8,
             dtype="float64", quiet=True)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("data") / "cuau.extxyz", n=10)


def test_cli_smoke(dataset, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in [os.path.abspath("src"), os.environ.get("PYTHONPATH")] if p)}
    r = subprocess.run(
        [sys.executable, "-m", "e3xp", "train", "--backend", "torch", "--data", dataset, "--out", str(out),
         "--max-steps", "3", "--batch-size", "2", "--channels", "4", "--layers", "1", "--lmax", "1",
         "--r-max", str(R_MAX), "--quiet"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "force MAE" in r.stdout and "zero-force baseline" in r.stdout
    m = json.loads((out / "metrics.json").read_text())
    for group, key in [("test", "energy_mae_per_atom"), ("test", "force_mae"), ("test", "force_rmse"),
                       ("baseline", "force_mae")]:
        assert np.isfinite(m[group][key]) and m[group][key] > 0
    assert m["seconds_per_epoch"] > 0
    assert [h["step"] for h in m["history"]] == [0, 1, 2] and all(np.isfinite(h["loss"]) for h in m["history"])
    for f in ("learning_curve.png", "force_parity.png", "checkpoint.npz"):
        assert (out / f).stat().st_size > 1000
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]
    # the zero-force baseline is the mean |F| of the test split, recomputed here
    from e3xp.train import data

    gs, _ = data.read_dataset(dataset, R_MAX)
    test = [gs[i] for i in data.split_indices(len(gs), seed=0)["test"]]
    np.testing.assert_allclose(m["baseline"]["force_mae"], np.mean(np.abs(np.concatenate([g.forces for g in test]))))


def test_cli_threads_option():
    """``--threads N`` sets torch's intra-op threads; without it torch's default stays."""
    import argparse

    from e3xp.train import cli

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    cli.add_parsers(sub)
    before = torch.get_num_threads()
    try:
        args = parser.parse_args(["train", "--threads", "1"])
        assert args.threads == 1
        cli.apply_threads(args)
        assert torch.get_num_threads() == 1
        torch.set_num_threads(before)
        cli.apply_threads(parser.parse_args(["train"]))
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(before)


def test_resume_continues_the_same_trajectory(dataset, tmp_path):
    straight = train(TrainOptions(backend="torch", data=dataset, out=str(tmp_path / "a"), max_steps=6, **SMALL),
                     stream=open(os.devnull, "w"))
    # 4 train frames / batch 2 -> 2 steps per epoch (10 frames: 8 train); stop mid-way, then resume
    train(TrainOptions(backend="torch", data=dataset, out=str(tmp_path / "b"), max_steps=3, **SMALL),
          stream=open(os.devnull, "w"))
    resumed = train(TrainOptions(backend="torch", data=dataset, out=str(tmp_path / "b"), max_steps=6, resume=True,
                                 **SMALL), stream=open(os.devnull, "w"))
    la = np.array([h["loss"] for h in straight["history"]])
    lb = np.array([h["loss"] for h in resumed["history"]])
    assert len(lb) == 6 and [h["step"] for h in resumed["history"]] == list(range(6))
    np.testing.assert_allclose(lb, la, rtol=1e-12)
    pa = load_checkpoint(tmp_path / "a" / "checkpoint.npz")
    pb = load_checkpoint(tmp_path / "b" / "checkpoint.npz")
    assert pa.step == pb.step == 6 and pa.opt_state["step"] == 6
    for k, v in model.flatten_tree(pa.params).items():
        np.testing.assert_allclose(model.flatten_tree(pb.params)[k], v, rtol=1e-12, atol=1e-15)


def test_checkpoint_round_trip_and_torch_to_jax(dataset, tmp_path, jax_x64):
    from e3xp.train import data
    from e3xp.train.torch_backend import TorchPotential, batch_to_torch

    train(TrainOptions(backend="torch", data=dataset, out=str(tmp_path), max_steps=2, **SMALL),
          stream=open(os.devnull, "w"))
    ck = load_checkpoint(tmp_path / "checkpoint.npz")
    assert ck.step == 2 and ck.meta["history"][1]["step"] == 1
    assert ck.config.species == ("Au", "Cu") and ck.config.energy_scale > 0
    ck_t = load_checkpoint(tmp_path / "checkpoint.npz", backend="torch")
    assert isinstance(ck_t.params["readout"]["weight"], torch.Tensor)
    g = data.atoms_to_graph(frames(1)[0], ck.config.species, R_MAX)
    b = data.collate([g], 2, r_max=R_MAX)
    e_t = TorchPotential(ck.config, ck.params)(batch_to_torch(b)).detach().numpy()
    # the reloaded numbers equal what the torch trainer held at its last step
    np.testing.assert_allclose(model.energy(ck.params, b, ck.config), e_t, rtol=1e-12)
    if all(__import__("importlib").util.find_spec(m) for m in ("jax", "flax", "optax")):
        from e3xp.train.jax_backend import batch_to_jax

        ck_j = load_checkpoint(tmp_path / "checkpoint.npz", backend="jax")
        e_j = np.asarray(model.energy(ck_j.params, batch_to_jax(b), ck.config))
        np.testing.assert_allclose(e_j, e_t, rtol=1e-12)
        # and JAX resumes the torch run: its Adam state came across too
        from e3xp.train.loop import make_trainer

        jt = make_trainer("jax", ck.config, ck.params, opt_state=ck.opt_state, lr=SMALL["lr"])
        tt = make_trainer("torch", ck.config, ck.params, opt_state=ck.opt_state, lr=SMALL["lr"])
        b2 = data.collate(data.read_dataset(dataset, R_MAX)[0][:2], 2, r_max=R_MAX, n_graphs=2)
        for _ in range(2):
            np.testing.assert_allclose(jt.step(b2), tt.step(b2), rtol=1e-10)


def test_calculator_energy_forces_and_errors(dataset, tmp_path):
    from ase import Atoms

    from e3xp.train.calculator import E3xpCalculator

    train(TrainOptions(backend="torch", data=dataset, out=str(tmp_path), max_steps=1, **SMALL),
          stream=open(os.devnull, "w"))
    calc = E3xpCalculator(tmp_path / "checkpoint.npz", backend="torch")
    atoms = frames(1)[0]
    atoms.calc = calc
    f = atoms.get_forces()
    e0 = atoms.get_potential_energy()
    # forces against finite differences of the calculator's own energy
    h = 1e-5
    for a, c in [(0, 0), (7, 2)]:
        es = []
        for s in (h, -h):
            moved = atoms.copy()
            moved.positions[a, c] += s
            moved.calc = calc
            es.append(moved.get_potential_energy())
        assert abs(-(es[0] - es[1]) / (2 * h) - f[a, c]) < 1e-6
    assert np.isfinite(e0)
    bad = Atoms("CuAg", positions=[[0, 0, 0], [2.5, 0, 0]])
    bad.calc = calc
    with pytest.raises(ValueError, match=r"species \['Ag'\] not known"):
        bad.get_potential_energy()


def test_nve_conserves_energy(dataset, tmp_path):
    """200 velocity-Verlet steps: total energy stays put, well within the kinetic energy's fluctuations."""
    from e3xp.train.calculator import E3xpCalculator, nve_drift

    train(TrainOptions(backend="torch", data=dataset, out=str(tmp_path), max_steps=2, **SMALL),
          stream=open(os.devnull, "w"))
    calc = E3xpCalculator(tmp_path / "checkpoint.npz", backend="torch")
    r = nve_drift(frames(1)[0], calc, steps=200, dt_fs=1.0, temperature_K=300)
    print({k: r[k] for k in ("drift", "max_deviation", "ekin_std")})
    assert r["ekin_std"] > 1e-4  # energy really flows between kinetic and potential
    assert r["max_deviation"] < 0.05 * r["ekin_std"]
    # the check can fail: forces of the wrong sign (not -dE/dr) break conservation at once
    class Flipped(E3xpCalculator):
        def calculate(self, *a, **k):
            super().calculate(*a, **k)
            self.results["forces"] = -self.results["forces"]

    bad = nve_drift(frames(1)[0], Flipped(tmp_path / "checkpoint.npz", backend="torch"), steps=20, dt_fs=1.0,
                    temperature_K=300)
    assert bad["max_deviation"] > 0.05 * bad["ekin_std"]
