"""Shared by the distributed tests and their subprocess helpers: a tiny dataset and model.

Small Cu-Au clusters of 3 to 7 atoms (different sizes, so padding and the fixed
per-device capacity are exercised) with EMT energies and forces, and a tiny
float64 model; everything is deterministic from the seeds.
"""

from __future__ import annotations

import numpy as np


def tiny_graphs(n: int = 13, seed: int = 0, r_max: float = 4.0):
    from ase import Atoms
    from ase.calculators.emt import EMT

    from e3xp.train.data import atoms_to_graph

    rng = np.random.default_rng(seed)
    graphs = []
    for k in range(n):
        size = int(rng.integers(3, 8))
        pos = []
        while len(pos) < size:
            p = rng.uniform(-2.2, 2.2, 3)
            if all(2.2 < np.linalg.norm(p - q) for q in pos) and (not pos or min(np.linalg.norm(p - q) for q in pos) < 3.2):
                pos.append(p)
        atoms = Atoms(rng.choice(["Cu", "Au"], size).tolist(), positions=pos)
        atoms.calc = EMT()
        graphs.append(atoms_to_graph(atoms, ("Cu", "Au"), r_max, frame=k))
    return graphs


def tiny_config():
    from e3xp.train.config import ModelConfig

    return ModelConfig(species=("Cu", "Au"), r_max=4.0, num_layers=1, hidden_irreps="4x0e+2x1o", lmax=1,
                       num_bessel=4, radial_width=8, radial_depth=1, avg_num_neighbors=3.0)


def max_rel_diff(a: dict, b: dict) -> float:
    """Largest ``max|a - b| / max|b|`` over the leaves of two flat parameter dicts."""
    assert sorted(a) == sorted(b)
    return max(float(np.abs(np.asarray(a[k]) - np.asarray(b[k])).max() / np.abs(np.asarray(b[k])).max())
               for k in a)


def global_batches(n: int, batch_size: int, epochs: int):
    from e3xp.train.data import batch_order

    return [b for epoch in range(epochs) for b in batch_order(n, batch_size, seed=0, epoch=epoch)]


def write_tiny_dataset(path, n: int = 16, seed: int = 0):
    """The clusters of :func:`tiny_graphs` as an extxyz file (energies and forces stored)."""
    import ase.io
    from ase import Atoms
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        size = int(rng.integers(3, 8))
        pos = []
        while len(pos) < size:
            p = rng.uniform(-2.2, 2.2, 3)
            if all(2.2 < np.linalg.norm(p - q) for q in pos) and (not pos or min(np.linalg.norm(p - q) for q in pos) < 3.2):
                pos.append(p)
        atoms = Atoms(rng.choice(["Cu", "Au"], size).tolist(), positions=pos)
        atoms.calc = EMT()
        e, f = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=e, forces=f)
        frames.append(atoms)
    ase.io.write(str(path), frames, format="extxyz")
    return str(path)


# the command line both CLI tests train with: 16 frames -> 12 train, batches 5, 5, 2 per epoch
CLI_ARGS = ["--epochs", "2", "--batch-size", "5", "--dtype", "float64", "--channels", "4", "--layers", "1",
            "--lmax", "1", "--quiet"]


def checkpoint_diff(a, b) -> float:
    from e3xp.train.checkpoint import load_checkpoint
    from e3xp.train.model import flatten_tree

    ca, cb = load_checkpoint(a), load_checkpoint(b)
    assert ca.step == cb.step
    return max_rel_diff(flatten_tree(ca.params), flatten_tree(cb.params))


def change_from_init(path) -> float:
    """Largest relative change of a checkpoint's parameters from their initial values."""
    from e3xp.train.checkpoint import load_checkpoint
    from e3xp.train.model import flatten_tree, init_params

    ck = load_checkpoint(path)
    seed = ck.meta.get("options", {}).get("seed", 0)
    return max_rel_diff(flatten_tree(ck.params), flatten_tree(init_params(ck.config, seed)))
