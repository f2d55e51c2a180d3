"""Small data and models shared by the tests of e3xp.train (tiny, so each test takes seconds)."""

import numpy as np

SPECIES = ("Au", "Cu")
R_MAX = 3.5


def frames(n=6, seed=0):
    """A few EMT Cu-Au MD frames (deterministic, ~0.2 s)."""
    from e3xp.train.data import make_cuau_frames

    return make_cuau_frames(n, seed=seed, every=2, burn_in=10)


def graphs(n=6, seed=0):
    from e3xp.train.data import atoms_to_graph

    return [atoms_to_graph(a, SPECIES, R_MAX, frame=k) for k, a in enumerate(frames(n, seed))]


def tiny_config(gs=None, **over):
    from e3xp.train import data
    from e3xp.train.config import ModelConfig

    gs = graphs() if gs is None else gs
    kw = dict(species=SPECIES, r_max=R_MAX, num_layers=1, hidden_irreps="4x0e+2x0o+2x1o+2x1e", lmax=1,
              num_bessel=4, radial_width=8, radial_depth=1,
              avg_num_neighbors=data.avg_num_neighbors(gs),
              energy_shift=tuple(data.fit_energy_shift(gs, 2)), energy_scale=data.force_rms(gs))
    kw.update(over)
    return ModelConfig(**kw)


def write_dataset(path, n=8, seed=0):
    import ase.io

    ase.io.write(str(path), frames(n, seed), format="extxyz")
    return str(path)


def rel(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))
