"""Data for e3xp.train: bad input is refused naming the frame, statistics, batching and padding."""

import os

import numpy as np
import pytest

pytest.importorskip("ase")

from ase import Atoms  # noqa: E402
from ase.calculators.singlepoint import SinglePointCalculator  # noqa: E402

from e3xp.train import data  # noqa: E402
from tests.train_helpers import R_MAX, SPECIES, frames, graphs, write_dataset  # noqa: E402


def _labelled(atoms, energy=1.0, forces=True):
    atoms = atoms.copy()
    f = np.zeros((len(atoms), 3)) if forces else None
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=f) if forces else SinglePointCalculator(atoms, energy=energy)
    return atoms


def test_missing_energy_names_file_and_frame(tmp_path):
    import ase.io

    good = frames(2)
    bare = good[1].copy()  # no calculator: no energy, no forces
    path = str(tmp_path / "bad.extxyz")
    ase.io.write(path, [good[0], bare], format="extxyz")
    with pytest.raises(ValueError, match=r"bad\.extxyz: frame 1: no energy"):
        data.read_dataset(path, R_MAX)


def test_missing_forces_names_frame():
    a = _labelled(frames(1)[0], forces=False)
    with pytest.raises(ValueError, match=r"frame 3: no forces"):
        data.atoms_to_graph(a, SPECIES, R_MAX, frame=3, source="x.xyz")


def test_unknown_species_names_frame():
    a = _labelled(frames(1)[0])
    with pytest.raises(ValueError, match=r"frame 2: species \['Au'\] not known"):
        data.atoms_to_graph(a, ("Cu",), R_MAX, frame=2)


def test_isolated_atom_names_frame_and_atom():
    a = _labelled(Atoms("Cu3", positions=[[0, 0, 0], [2.5, 0, 0], [20.0, 0, 0]]))
    with pytest.raises(ValueError, match=r"frame 5: atom\(s\) \[2\] have no neighbour"):
        data.atoms_to_graph(a, SPECIES, R_MAX, frame=5)


@pytest.mark.parametrize("where", ["energy", "forces", "positions"])
def test_nan_names_frame(where):
    a = frames(1)[0].copy()
    e, f = 1.0, np.zeros((len(a), 3))
    if where == "energy":
        e = float("nan")
    elif where == "forces":
        f[4, 1] = np.nan
    else:
        a.positions[0, 0] = np.nan
    a.calc = SinglePointCalculator(a, energy=e, forces=f)
    with pytest.raises(ValueError, match=r"frame 7: NaN"):
        data.atoms_to_graph(a, SPECIES, R_MAX, frame=7)


def test_read_dataset_and_edges_match_minimum_image(tmp_path):
    path = write_dataset(tmp_path / "d.extxyz", n=3)
    gs, species = data.read_dataset(path, R_MAX)
    assert species == SPECIES and len(gs) == 3
    g, atoms = gs[0], frames(3)[0]
    # independent check of the edge vectors: every pair distance below r_max from ASE's
    # minimum-image distances (the 32-atom cell is larger than 2 r_max, so one image per pair)
    vec = g.positions[g.senders] - g.positions[g.receivers] + g.shifts
    d_edges = np.sort(np.linalg.norm(vec, axis=1))
    d_all = atoms.get_all_distances(mic=True)
    expected = np.sort(d_all[(d_all < R_MAX) & ~np.eye(len(atoms), dtype=bool)])
    np.testing.assert_allclose(d_edges, expected, atol=1e-10)
    np.testing.assert_allclose(g.energy, atoms.get_potential_energy())


def test_energy_shift_recovers_per_species_energies():
    # energies that are exactly sums of per-species values: least squares must recover them
    rng = np.random.default_rng(0)
    gs = []
    for _ in range(10):
        z = rng.integers(0, 3, size=rng.integers(3, 9))
        gs.append(data.Graph(np.zeros((len(z), 3)), z, np.zeros(0, int), np.zeros(0, int), np.zeros((0, 3)),
                             energy=float(np.sum(np.array([-1.5, 2.0, 0.25])[z]))))
    np.testing.assert_allclose(data.fit_energy_shift(gs, 3), [-1.5, 2.0, 0.25], atol=1e-12)
    counts = np.stack([np.bincount(g.species, minlength=3) for g in gs])
    e = np.array([g.energy for g in gs]) + rng.normal(size=10)  # noisy: equals numpy's lstsq
    for g, ei in zip(gs, e):
        g.energy = float(ei)
    np.testing.assert_allclose(data.fit_energy_shift(gs, 3), np.linalg.lstsq(counts, e, rcond=None)[0])


def test_collate_padding_layout():
    gs = graphs(3)
    b = data.collate(gs, 2, r_max=R_MAX, n_graphs=4, node_multiple=32, edge_multiple=256)
    n = sum(g.n_atoms for g in gs)
    m = sum(g.n_edges for g in gs)
    N, E = b["positions"].shape[0], b["senders"].shape[0]
    assert N % 32 == 0 and N > n and E % 256 == 0 and E >= m
    assert b["graph_mask"].tolist() == [1, 1, 1, 0, 0] and b["node_mask"].sum() == n and b["edge_mask"].sum() == m
    assert np.all(b["graph"][n:] == 4)  # padding atoms in the padding graph
    assert np.all(b["senders"][m:] >= n) and np.all(b["receivers"][m:] >= n)
    assert np.all(np.linalg.norm(b["shifts"][m:], axis=1) > R_MAX)
    # offsets: edges of graph 1 point into graph 1's atoms
    a0, e0 = gs[0].n_atoms, gs[0].n_edges
    assert np.all(b["graph"][b["senders"][e0 : e0 + gs[1].n_edges]] == 1)
    np.testing.assert_array_equal(b["receivers"][e0 : e0 + gs[1].n_edges], gs[1].receivers + a0)


def test_embedded_dataset_is_deterministic_and_cached(tmp_path, monkeypatch):
    import ase.io

    monkeypatch.setenv("E3XP_CACHE", str(tmp_path / "a"))
    p1 = data.default_dataset(n_frames=3, seed=0)
    mtime = os.path.getmtime(p1)
    assert data.default_dataset(n_frames=3, seed=0) == p1 and os.path.getmtime(p1) == mtime  # cached
    monkeypatch.setenv("E3XP_CACHE", str(tmp_path / "b"))
    p2 = data.default_dataset(n_frames=3, seed=0)
    assert p2 != p1 and not [f for f in os.listdir(tmp_path / "b") if f.endswith(".tmp")]
    a1, a2 = ase.io.read(p1, ":"), ase.io.read(p2, ":")
    assert len(a1) == 3
    for x, y in zip(a1, a2):
        np.testing.assert_array_equal(x.positions, y.positions)
        assert x.get_potential_energy() == y.get_potential_energy()
        assert sorted(set(x.get_chemical_symbols())) == ["Au", "Cu"] and len(x) == 32
    # the labels are EMT's: recompute one frame independently
    from ase.calculators.emt import EMT

    ref = a1[2].copy()
    ref.calc = EMT()
    np.testing.assert_allclose(a1[2].get_forces(), ref.get_forces(), atol=1e-6)


def test_batch_order_covers_every_frame_once():
    order = data.batch_order(11, 4, seed=3, epoch=2)
    assert [len(b) for b in order] == [4, 4, 3]
    assert sorted(sum(order, [])) == list(range(11))
    assert order != data.batch_order(11, 4, seed=3, epoch=1)
