"""Datasets of structures with energies and forces, graphs and padded batches.

* :func:`read_dataset` reads any ASE-readable file (``ase.io.read(path, ":")``) and
  checks it: every frame needs an energy and forces, no NaN, every atom a
  neighbour within the cutoff, only known species. Errors are ``ValueError``
  naming the file and the frame index.
* :func:`default_dataset` is the embedded dataset: Langevin MD of a 32-atom
  fcc Cu-Au supercell at 1000 K with ASE's EMT calculator, generated
  deterministically on first use and cached (``$E3XP_CACHE`` or ``~/.cache/e3xp``).
* :func:`collate` concatenates graphs with node / edge offsets and pads the batch
  to fixed bucket sizes (padding atoms and edges carry zero masks and contribute
  nothing), so ``jax.jit`` sees a handful of shapes instead of one per step.

Neighbour lists come from ``ase.neighborlist.neighbor_list("ijS", ...)``; edge
vectors are rebuilt inside the model from positions (``pos[j] - pos[i] + S @ cell``)
so forces flow through them.

>>> b = toy_batch()
>>> b["positions"].shape[0] % 8, int(b["node_mask"].sum()), b["graph_mask"].tolist()
(0, 3, [1.0, 0.0])
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = [
    "Graph",
    "atoms_to_graph",
    "read_dataset",
    "default_dataset",
    "default_dataset_path",
    "make_cuau_frames",
    "split_indices",
    "fit_energy_shift",
    "force_rms",
    "avg_num_neighbors",
    "collate",
    "batch_order",
    "round_up",
    "toy_batch",
]


@dataclasses.dataclass
class Graph:
    """One structure: atoms, edges (with periodic shifts) and optional labels (NumPy)."""

    positions: np.ndarray  # (n, 3)
    species: np.ndarray  # (n,) index into the model's species tuple
    senders: np.ndarray  # (e,) j: the neighbour whose features travel
    receivers: np.ndarray  # (e,) i: the centre that sums the messages
    shifts: np.ndarray  # (e, 3) S @ cell, so that r_ij = pos[j] - pos[i] + shift
    energy: float | None = None
    forces: np.ndarray | None = None  # (n, 3)
    frame: int = 0
    source: str = ""

    @property
    def n_atoms(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.senders.shape[0])


def _where(source: str, frame: int) -> str:
    return f"{source}: frame {frame}" if source else f"frame {frame}"


def atoms_to_graph(atoms, species, r_max: float, *, frame: int = 0, source: str = "", labels: bool = True) -> Graph:
    """The graph of one ``ase.Atoms`` within cutoff ``r_max`` (ASE neighbour list).

    Parameters
    ----------
    atoms : ase.Atoms
    species : sequence of str
        The model's chemical symbols; another symbol is a ValueError.
    r_max : float
    frame, source : int, str
        Named in error messages.
    labels : bool
        Read energy and forces (required), or leave them None (inference).

    Raises
    ------
    ValueError
        Unknown species, NaN or inf in positions / cell / labels, missing energy or
        forces, an atom without neighbour within ``r_max``; the message names the
        frame (and file).

    Examples
    --------
    >>> from ase.build import molecule
    >>> g = atoms_to_graph(molecule("H2O"), ("H", "O"), 2.0, labels=False)
    >>> g.n_atoms, g.n_edges, g.species.tolist()
    (3, 6, [1, 0, 0])
    """
    from ase.neighborlist import neighbor_list

    where = _where(source, frame)
    species = tuple(species)
    symbols = atoms.get_chemical_symbols()
    unknown = sorted(set(symbols) - set(species))
    if unknown:
        raise ValueError(f"{where}: species {unknown} not known to the model (species {list(species)})")
    pos = np.asarray(atoms.get_positions(), dtype=np.float64)
    if not np.all(np.isfinite(pos)) or not np.all(np.isfinite(np.asarray(atoms.get_cell()))):
        raise ValueError(f"{where}: NaN or inf in the positions or the cell")
    index = {s: k for k, s in enumerate(species)}
    z = np.array([index[s] for s in symbols], dtype=np.int64)
    i, j, S = neighbor_list("ijS", atoms, float(r_max))
    lonely = np.setdiff1d(np.arange(len(atoms)), i)
    if len(lonely):
        raise ValueError(
            f"{where}: atom(s) {lonely.tolist()[:10]} have no neighbour within r_max={r_max} "
            "(an isolated atom gets no message; increase r_max or remove it)"
        )
    shifts = S.astype(np.float64) @ np.asarray(atoms.get_cell(), dtype=np.float64)
    energy = forces = None
    if labels:
        try:
            energy = float(atoms.get_potential_energy())
        except Exception as e:  # noqa: BLE001 - ASE raises several types when there is no energy
            raise ValueError(f"{where}: no energy ({type(e).__name__}: {e})") from None
        try:
            forces = np.asarray(atoms.get_forces(), dtype=np.float64)
        except Exception as e:  # noqa: BLE001
            raise ValueError(f"{where}: no forces ({type(e).__name__}: {e})") from None
        if forces.shape != pos.shape:
            raise ValueError(f"{where}: forces of shape {forces.shape} for {len(atoms)} atoms")
        if not np.isfinite(energy) or not np.all(np.isfinite(forces)):
            raise ValueError(f"{where}: NaN or inf in the energy or the forces")
    return Graph(pos, z, j.astype(np.int64), i.astype(np.int64), shifts, energy, forces, frame, source)


def read_dataset(path, r_max: float, species=None) -> tuple:
    """Read every frame of an ASE-readable file; returns ``(graphs, species)``.

    ``species`` defaults to the sorted chemical symbols present in the file.

    Raises
    ------
    ValueError
        The file is empty or unreadable, or a frame is bad (see :func:`atoms_to_graph`).
    """
    import ase.io

    path = str(path)
    try:
        frames = ase.io.read(path, ":")
    except Exception as e:  # noqa: BLE001 - ASE raises many types for unreadable files
        raise ValueError(f"{path}: cannot read with ase.io.read ({type(e).__name__}: {e})") from None
    if not frames:
        raise ValueError(f"{path}: no frames")
    if species is None:
        species = tuple(sorted({s for a in frames for s in a.get_chemical_symbols()}))
    graphs = [atoms_to_graph(a, species, r_max, frame=k, source=path) for k, a in enumerate(frames)]
    return graphs, tuple(species)


# ---------------------------------------------------------------------------- embedded dataset
CUAU_VERSION = 1


def default_dataset_path(n_frames: int = 300, seed: int = 0) -> Path:
    """Cache file of the embedded dataset (``$E3XP_CACHE`` or ``~/.cache/e3xp``)."""
    root = Path(os.environ.get("E3XP_CACHE") or Path.home() / ".cache" / "e3xp")
    return root / f"cuau_emt_1000K_n{n_frames}_seed{seed}_v{CUAU_VERSION}.extxyz"


def make_cuau_frames(n_frames: int = 300, seed: int = 0, every: int = 5, burn_in: int = 100) -> list:
    """Langevin MD (EMT, 1000 K, 2 fs) of a 32-atom fcc Cu16Au16 cell; frames every ``every`` steps.

    Deterministic: the Au sites, the initial velocities and the Langevin noise all
    come from ``np.random.RandomState(seed)``.
    """
    from ase import units
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    rng = np.random.RandomState(seed)
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat(2)
    symbols = np.array(atoms.get_chemical_symbols())
    symbols[rng.permutation(len(atoms))[: len(atoms) // 2]] = "Au"
    atoms.set_chemical_symbols(symbols.tolist())
    atoms.calc = EMT()
    MaxwellBoltzmannDistribution(atoms, temperature_K=1000, rng=rng)
    dyn = Langevin(atoms, timestep=2 * units.fs, temperature_K=1000, friction=0.02, rng=rng, fixcm=False)
    dyn.run(burn_in)
    frames = []
    for _ in range(n_frames):
        dyn.run(every)
        snap = atoms.copy()
        snap.calc = SinglePointCalculator(snap, energy=atoms.get_potential_energy(), forces=atoms.get_forces())
        frames.append(snap)
    return frames


def default_dataset(n_frames: int = 300, seed: int = 0) -> Path:
    """Path of the embedded Cu-Au dataset, generated and cached (atomically) on first use."""
    import ase.io

    path = default_dataset_path(n_frames, seed)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = make_cuau_frames(n_frames, seed)
    # write next to the target, then rename: a crash or a concurrent run never leaves half a file
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        ase.io.write(tmp, frames, format="extxyz")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


# ---------------------------------------------------------------------------- statistics
def split_indices(n: int, seed: int = 0, fractions=(0.8, 0.1, 0.1)) -> dict:
    """Train / val / test indices, a fixed permutation of ``range(n)`` from ``seed``.

    >>> s = split_indices(10, seed=0)
    >>> [len(s[k]) for k in ("train", "val", "test")], sorted(np.concatenate(list(s.values()))) == list(range(10))
    ([8, 1, 1], True)
    """
    if n < 3:
        raise ValueError(f"split_indices: need at least 3 frames for train/val/test, got {n}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(fractions[1] * n)))
    n_test = max(1, int(round(fractions[2] * n)))
    n_train = n - n_val - n_test
    return {"train": perm[:n_train], "val": perm[n_train : n_train + n_val], "test": perm[n_train + n_val :]}


def fit_energy_shift(graphs, n_species: int) -> np.ndarray:
    """Per-species energies ``e_s`` minimizing ``sum_g (E_g - sum_s count_gs e_s)^2`` (least squares).

    With a fixed composition the fit is rank-deficient; ``lstsq`` then returns the
    minimum-norm solution, which still reproduces the mean energy.
    """
    counts = np.stack([np.bincount(g.species, minlength=n_species) for g in graphs]).astype(np.float64)
    e = np.array([g.energy for g in graphs])
    shift, *_ = np.linalg.lstsq(counts, e, rcond=None)
    return shift


def force_rms(graphs) -> float:
    """Root mean square of all force components."""
    f = np.concatenate([g.forces.ravel() for g in graphs])
    return float(np.sqrt(np.mean(f * f)))


def avg_num_neighbors(graphs) -> float:
    """Mean number of edges per atom."""
    return float(sum(g.n_edges for g in graphs) / sum(g.n_atoms for g in graphs))


# ---------------------------------------------------------------------------- batching
def round_up(n: int, multiple: int) -> int:
    """Smallest multiple of ``multiple`` that is >= ``n``."""
    return -(-int(n) // int(multiple)) * int(multiple)


def collate(graphs, n_species: int, *, r_max: float, n_graphs: int | None = None,
            node_multiple: int = 32, edge_multiple: int = 256) -> dict:
    """Concatenate graphs into one padded batch (a dict of NumPy arrays).

    Node and edge counts are rounded up to ``node_multiple`` / ``edge_multiple``
    (at least one padding atom is always added: padding edges attach to it), and
    the number of graphs is ``n_graphs + 1`` (default ``len(graphs) + 1``): the
    last graph holds the padding atoms. Padding atoms have zero ``node_mask`` and
    one-hot; padding edges have zero ``edge_mask`` and a shift longer than
    ``r_max``, so the envelope is zero there too. Padding never changes the
    energies or forces of the real graphs (tested).

    Keys: ``positions (N,3)``, ``node_attrs (N,S)`` one-hot, ``node_mask (N,)``,
    ``graph (N,)``, ``senders``, ``receivers (E,)``, ``shifts (E,3)``,
    ``edge_mask (E,)``, ``graph_mask (G,)``, ``n_atoms (G,)``, and when every
    graph is labelled ``energy (G,)``, ``forces (N,3)``.
    """
    graphs = list(graphs)
    n_real_graphs = len(graphs)
    n_graphs = n_real_graphs if n_graphs is None else int(n_graphs)
    if n_graphs < n_real_graphs:
        raise ValueError(f"collate: {n_real_graphs} graphs for n_graphs={n_graphs}")
    n_nodes = sum(g.n_atoms for g in graphs)
    n_edges = sum(g.n_edges for g in graphs)
    N = round_up(n_nodes + 1, node_multiple)
    E = round_up(max(n_edges, 1), edge_multiple)
    G = n_graphs + 1
    pad_node, pad_graph = n_nodes, G - 1
    out = {
        "positions": np.zeros((N, 3)),
        "node_attrs": np.zeros((N, n_species)),
        "node_mask": np.zeros(N),
        "graph": np.full(N, pad_graph, dtype=np.int64),
        "senders": np.full(E, pad_node, dtype=np.int64),
        "receivers": np.full(E, pad_node, dtype=np.int64),
        "shifts": np.zeros((E, 3)),
        "edge_mask": np.zeros(E),
        "graph_mask": np.zeros(G),
        "n_atoms": np.zeros(G),
    }
    out["shifts"][:, 0] = 2.0 * r_max  # a padding edge is longer than the cutoff
    labelled = all(g.energy is not None for g in graphs)
    if labelled:
        out["energy"] = np.zeros(G)
        out["forces"] = np.zeros((N, 3))
    a = e = 0
    for k, g in enumerate(graphs):
        n, m = g.n_atoms, g.n_edges
        out["positions"][a : a + n] = g.positions
        out["node_attrs"][a + np.arange(n), g.species] = 1.0
        out["node_mask"][a : a + n] = 1.0
        out["graph"][a : a + n] = k
        out["senders"][e : e + m] = g.senders + a
        out["receivers"][e : e + m] = g.receivers + a
        out["shifts"][e : e + m] = g.shifts
        out["edge_mask"][e : e + m] = 1.0
        out["graph_mask"][k] = 1.0
        out["n_atoms"][k] = n
        if labelled:
            out["energy"][k] = g.energy
            out["forces"][a : a + n] = g.forces
        a, e = a + n, e + m
    # empty slots (n_graphs > real graphs) and the padding graph: 1 avoids 0/0 in per-atom energies
    # (masked out of the loss, but 0 * nan is nan: a partial batch had a NaN loss)
    out["n_atoms"][n_real_graphs:] = 1.0
    return out


def batch_order(n: int, batch_size: int, seed: int, epoch: int) -> list:
    """Indices of each batch of one epoch: a NumPy permutation from ``(seed, epoch)``.

    Both frameworks draw their batches from here, so they see the same batches in
    the same order.

    >>> batch_order(5, 2, seed=0, epoch=0)
    [[2, 4], [3, 0], [1]]
    """
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    return [perm[k : k + batch_size].tolist() for k in range(0, n, batch_size)]


def toy_batch(species=("Cu", "Au"), r_max: float = 4.0) -> dict:
    """A padded batch of one 3-atom molecule (for examples and quick checks)."""
    from ase import Atoms

    atoms = Atoms("CuAuCu", positions=[[0.0, 0.0, 0.0], [2.4, 0.1, 0.0], [0.3, 2.3, 0.4]])
    g = atoms_to_graph(atoms, species, r_max, labels=False)
    return collate([g], len(species), r_max=r_max, node_multiple=8, edge_multiple=8)
