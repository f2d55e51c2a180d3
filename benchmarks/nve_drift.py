"""NVE energy drift of a trained e3xp potential (1,000 velocity-Verlet steps; not run in CI).

Usage: ``python benchmarks/nve_drift.py [CHECKPOINT] [--backend torch|jax] [--steps 1000] [--dt 1.0]``
(default checkpoint: ``demo_out/torch/checkpoint.npz`` from ``python -m e3xp train-demo``).
Starts from a frame of the embedded Cu-Au dataset at 300 K and prints the drift
(linear fit of the total energy per atom), the largest deviation from the start,
and the standard deviation of the kinetic energy per atom for scale.
"""

import argparse

import ase.io

from e3xp.train.calculator import E3xpCalculator, nve_drift
from e3xp.train.data import default_dataset

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint", nargs="?", default="demo_out/torch/checkpoint.npz")
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--dtype", default="float64")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--dt", type=float, default=1.0, help="fs")
    a = ap.parse_args()
    atoms = ase.io.read(default_dataset(), 0)
    calc = E3xpCalculator(a.checkpoint, backend=a.backend, dtype=a.dtype)
    r = nve_drift(atoms, calc, steps=a.steps, dt_fs=a.dt, temperature_K=300)
    print(f"{a.steps} steps of {a.dt} fs on {a.backend} ({a.dtype}), {len(atoms)} atoms")
    print(f"drift                {r['drift']:.3e} eV/atom/ps")
    print(f"max |E_tot - E_0|    {r['max_deviation']:.3e} eV/atom")
    print(f"std of E_kin         {r['ekin_std']:.3e} eV/atom")
