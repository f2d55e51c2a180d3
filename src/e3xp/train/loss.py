"""The training loss, framework-neutral (plain arithmetic on torch or JAX arrays).

``loss = energy_weight * MSE(energy per atom) + force_weight * MSE(force components)``,
averaged over the real graphs / atoms of a padded batch (padding masked out).

>>> import numpy as np
>>> b = {"energy": np.array([2.0, 0.0]), "n_atoms": np.array([2.0, 1.0]), "graph_mask": np.array([1.0, 0.0]),
...      "forces": np.zeros((3, 3)), "node_mask": np.array([1.0, 1.0, 0.0])}
>>> float(loss(np.array([4.0, 9.0]), np.ones((3, 3)), b, energy_weight=1.0, force_weight=2.0))
3.0
"""

from __future__ import annotations

__all__ = ["loss", "DEFAULT_ENERGY_WEIGHT", "DEFAULT_FORCE_WEIGHT"]

DEFAULT_ENERGY_WEIGHT = 1.0
DEFAULT_FORCE_WEIGHT = 10.0


def loss(energy, forces, batch, energy_weight: float = DEFAULT_ENERGY_WEIGHT,
         force_weight: float = DEFAULT_FORCE_WEIGHT):
    """Weighted MSE of energy per atom (over real graphs) and force components (over real atoms)."""
    gm, nm = batch["graph_mask"], batch["node_mask"]
    de = (energy - batch["energy"]) / batch["n_atoms"]
    loss_e = (gm * de * de).sum() / gm.sum()
    df = forces - batch["forces"]
    loss_f = (nm[:, None] * df * df).sum() / (3.0 * nm.sum())
    return energy_weight * loss_e + force_weight * loss_f
