"""ASE calculator of a trained checkpoint, and the NVE energy-conservation check.

>>> import os, tempfile
>>> from ase.build import bulk
>>> from e3xp.train.checkpoint import save_checkpoint
>>> from e3xp.train.config import ModelConfig
>>> from e3xp.train.model import init_params
>>> cfg = ModelConfig(species=("Cu",), energy_shift=(0.0,), hidden_irreps="4x0e+2x1o", num_layers=1, lmax=1)
>>> path = os.path.join(tempfile.mkdtemp(), "checkpoint.npz")
>>> save_checkpoint(path, params=init_params(cfg, 0), config=cfg, step=0)
>>> atoms = bulk("Cu", "fcc", a=3.6).repeat(2)
>>> atoms.calc = E3xpCalculator(path, backend="torch")
>>> atoms.get_forces().shape
(8, 3)
"""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from . import data as D
from .checkpoint import load_checkpoint

__all__ = ["E3xpCalculator", "nve_drift"]


class E3xpCalculator(Calculator):
    """Energy and forces of an e3xp.train checkpoint on torch or JAX.

    Parameters
    ----------
    checkpoint : str or path
        A ``checkpoint.npz`` written by ``python -m e3xp train``.
    backend : "torch" or "jax"
    dtype : "float32" or "float64"
    device : optional
        Torch device or JAX platform.

    Raises
    ------
    ValueError
        (from ``calculate``) a species the model does not know, or an atom with no
        neighbour within the cutoff.
    """

    implemented_properties = ["energy", "forces"]

    def __init__(self, checkpoint, backend: str = "torch", dtype: str = "float64", device=None, **kwargs):
        super().__init__(**kwargs)
        from .loop import make_trainer

        ck = load_checkpoint(checkpoint)
        self.config = ck.config
        self.backend = backend
        # the trainer's predict is the jitted energy+forces on JAX; its optimizer is never stepped
        self._model = make_trainer(backend, ck.config, ck.params, dtype=dtype, device=device)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        g = D.atoms_to_graph(self.atoms, self.config.species, self.config.r_max, labels=False, source="E3xpCalculator")
        # buckets of 64 atoms / 512 edges: an MD run on JAX compiles a few shapes, not one per step
        b = D.collate([g], len(self.config.species), r_max=self.config.r_max, node_multiple=64, edge_multiple=512)
        e, f = self._model.predict(b)
        self.results["energy"] = float(e[0])
        self.results["forces"] = f[: g.n_atoms].copy()


def nve_drift(atoms, calculator, steps: int = 200, dt_fs: float = 1.0, temperature_K: float = 300.0, seed: int = 0):
    """Run velocity Verlet (NVE) and report energy conservation.

    Returns a dict: ``drift`` (slope of a linear fit of the total energy per atom,
    eV/atom/ps), ``max_deviation`` (largest ``|E_tot(t) - E_tot(0)|`` per atom),
    ``ekin_std`` (standard deviation of the kinetic energy per atom, the scale of
    the exchange between kinetic and potential energy) and the time series.
    """
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.md.verlet import VelocityVerlet

    atoms = atoms.copy()
    atoms.calc = calculator
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=np.random.RandomState(seed))
    n = len(atoms)
    etot, ekin = [], []

    def record():
        k = atoms.get_kinetic_energy() / n
        etot.append(atoms.get_potential_energy() / n + k)
        ekin.append(k)

    dyn = VelocityVerlet(atoms, timestep=dt_fs * units.fs)
    dyn.attach(record, interval=1)
    dyn.run(steps)
    etot, ekin = np.array(etot), np.array(ekin)
    t_ps = np.arange(len(etot)) * dt_fs * 1e-3
    slope = float(np.polyfit(t_ps, etot, 1)[0])
    return {
        "drift": slope,
        "max_deviation": float(np.max(np.abs(etot - etot[0]))),
        "ekin_std": float(np.std(ekin)),
        "etot": etot,
        "ekin": ekin,
    }
