"""The potential: forces = -dE/dr (finite differences), E(3) symmetry and padding invariance, on each framework."""

import numpy as np
import pytest

pytest.importorskip("ase")

from e3xp.core.rotations import rand_matrix  # noqa: E402
from e3xp.train import data, model  # noqa: E402
from tests.train_helpers import R_MAX, SPECIES, frames, graphs, tiny_config  # noqa: E402


def _config():
    # two layers and lmax 2 exercise every path type (vectors, pseudo-vectors, odd scalars)
    return tiny_config(graphs(2), num_layers=2, lmax=2)


_JAX_FORCES = {}


def _energy_forces(backend, params, batch, cfg):
    """NumPy (energy, forces) of a padded batch on ``backend`` (forces by autodiff)."""
    if backend == "torch":
        from e3xp.train.torch_backend import TorchPotential, batch_to_torch

        e, f = TorchPotential(cfg, params).energy_and_forces(batch_to_torch(batch))
        return e.detach().numpy(), f.numpy()
    if backend == "jax":
        import jax

        from e3xp.train.jax_backend import batch_to_jax

        if cfg not in _JAX_FORCES:  # jitted once per config (op-by-op JAX is minutes here)

            def forces(p, b):
                def total(pos):
                    e = model.energy(p, {**b, "positions": pos}, cfg)
                    return e.sum(), e

                return jax.grad(total, has_aux=True)(b["positions"])

            _JAX_FORCES[cfg] = jax.jit(forces)
        g, e = _JAX_FORCES[cfg](model.params_to_backend(params, "jax"), batch_to_jax(batch))
        return np.asarray(e), -np.asarray(g)
    return model.energy(params, batch, cfg), None


BACKENDS = [
    "numpy",
    pytest.param("torch", marks=pytest.mark.skipif(not __import__("importlib").util.find_spec("torch"), reason="no torch")),
    pytest.param("jax", marks=pytest.mark.skipif(
        not all(__import__("importlib").util.find_spec(m) for m in ("jax", "flax", "optax")), reason="no jax")),
]


def _batch(atoms_list, cfg, **kw):
    gs = [data.atoms_to_graph(a, cfg.species, cfg.r_max, labels=False, frame=k) for k, a in enumerate(atoms_list)]
    return data.collate(gs, len(cfg.species), r_max=cfg.r_max, **kw)


@pytest.mark.parametrize("backend", BACKENDS)
def test_energy_invariant_forces_equivariant(backend, jax_x64):
    cfg = _config()
    params = model.init_params(cfg, seed=1)
    crystal = frames(1)[0]
    cluster = crystal.copy()
    cluster.pbc = False  # a cluster: inversion too (a periodic cell cannot have negative handedness in ASE)
    cluster.center()
    for atoms, gs in ((crystal, [rand_matrix(3)]), (cluster, [rand_matrix(4), -rand_matrix(5)])):
        n = len(atoms)
        e0, f0 = _energy_forces(backend, params, _batch([atoms], cfg), cfg)
        for R in gs:
            R = np.asarray(R)
            moved = atoms.copy()
            moved.positions = atoms.positions @ R.T + np.array([0.3, -1.2, 0.7]) * (not atoms.pbc.any())
            moved.cell = atoms.cell.array @ R.T
            e1, f1 = _energy_forces(backend, params, _batch([moved], cfg), cfg)
            assert abs(e1[0] - e0[0]) < 1e-10 * max(1.0, abs(e0[0]))
            if f0 is not None:
                np.testing.assert_allclose(f1[:n], f0[:n] @ R.T, atol=1e-10)
        # not trivially invariant: a deformation changes the energy
        squeezed = atoms.copy()
        squeezed.positions[0] += [0.1, 0.0, 0.0]
        assert abs(_energy_forces(backend, params, _batch([squeezed], cfg), cfg)[0][0] - e0[0]) > 1e-6


@pytest.mark.parametrize("backend", BACKENDS[1:])
def test_forces_are_minus_energy_gradient(backend, jax_x64):
    """Autodiff forces against central finite differences of the NumPy energy (float64)."""
    cfg = _config()
    params = model.init_params(cfg, seed=2)
    atoms = frames(1)[0]
    _, f = _energy_forces(backend, params, _batch([atoms], cfg), cfg)
    h = 1e-5
    rng = np.random.default_rng(0)
    for a, c in zip(rng.integers(0, len(atoms), 4), rng.integers(0, 3, 4)):
        e = []
        for s in (h, -h):
            moved = atoms.copy()
            moved.positions[a, c] += s
            e.append(model.energy(params, _batch([moved], cfg), cfg)[0])
        fd = -(e[0] - e[1]) / (2 * h)
        assert abs(fd - f[a, c]) < 1e-6 * max(1.0, abs(fd)), (a, c, fd, f[a, c])


@pytest.mark.parametrize("backend", BACKENDS)
def test_padding_does_not_change_energies_or_forces(backend, jax_x64):
    cfg = _config()
    params = model.init_params(cfg, seed=3)
    fr = frames(2)
    e_a, f_a = _energy_forces(backend, params, _batch(fr, cfg, node_multiple=1, edge_multiple=1), cfg)
    e_b, f_b = _energy_forces(backend, params, _batch(fr, cfg, n_graphs=5, node_multiple=128, edge_multiple=2048), cfg)
    n = sum(len(a) for a in fr)
    np.testing.assert_allclose(e_b[:2], e_a[:2], rtol=1e-12)
    assert np.all(e_b[2:] == 0)
    if f_a is not None:
        np.testing.assert_allclose(f_b[:n], f_a[:n], atol=1e-12)
        assert np.all(f_b[n:] == 0)
    # separately collated graphs give the same energies: no cross-talk between graphs
    e_1 = _energy_forces(backend, params, _batch(fr[1:], cfg), cfg)[0]
    np.testing.assert_allclose(e_1[0], e_a[1], rtol=1e-12)


def test_energy_shift_and_scale_enter_as_documented():
    cfg = _config()
    params = model.init_params(cfg, seed=4)
    b = _batch(frames(1), cfg)
    e0 = model.energy(params, b, cfg)[0]
    counts = b["node_attrs"].sum(0)
    e1 = model.energy(params, b, cfg.replace(energy_shift=(1.0, -2.0)))[0]
    np.testing.assert_allclose(e1 - e0, counts @ (np.array([1.0, -2.0]) - np.array(cfg.energy_shift)), rtol=1e-10)
    e2 = model.energy(params, b, cfg.replace(energy_scale=2 * cfg.energy_scale))[0]
    base = counts @ np.array(cfg.energy_shift)
    np.testing.assert_allclose(e2 - base, 2 * (e0 - base), rtol=1e-10)


def test_torch_state_dict_has_every_parameter():
    torch = pytest.importorskip("torch")
    from e3xp.train.torch_backend import TorchPotential

    cfg = _config()
    pot = TorchPotential(cfg, seed=0)
    flat = model.flatten_tree(model.init_params(cfg, 0))
    sd = pot.state_dict()
    assert sorted(k.replace("params.", "", 1).replace(".", "/") for k in sd) == sorted(flat)
    for k, v in flat.items():
        assert torch.equal(sd["params." + k.replace("/", ".")], torch.as_tensor(v))
