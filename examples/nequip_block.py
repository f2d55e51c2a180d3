"""A NequIP-style interaction block on a small random molecule, on every installed backend.

Pipeline (one message-passing layer, then an energy readout):

    node scalars --(species embedding)--> x_i                       4x0e
    edge vectors r_ij --> Y(r_ij)                                    0e + 1o + 2e
    |r_ij| --> Bessel basis * polynomial envelope --> radial MLP --> per-edge weights
    m_ij = ChannelwiseTensorProduct(x_j, Y(r_ij), weights_ij)        ("uvu")
    h_i  = sum_j m_ij / sqrt(avg. neighbours)   (scatter_sum)
    h_i  -> Linear -> gate -> Linear -> 1x0e per atom -> energy = sum over atoms

The same parameters (drawn once in numpy) run on each backend. For each backend the
script checks that the energy is invariant and the forces F = -dE/dpos equivariant
under random O(3) elements (a rotation, and a rotation times the inversion), and
that energies and forces agree with numpy. Forces come from autodiff on torch and
jax, and from central finite differences where the backend has no autodiff
(numpy, array_api_strict), so their equivariance is then limited to ~1e-8.

Run: ``python examples/nequip_block.py``
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from e3xp.backends import available_backends, backend_of, get_backend
from e3xp.core.irreps import Irreps
from e3xp.core.rotations import rand_matrix
from e3xp.irreps_array import IrrepsArray
from e3xp.ops.gate import gate
from e3xp.ops.linear import Linear
from e3xp.ops.radial import bessel, poly_envelope
from e3xp.ops.spherical_harmonics import spherical_harmonics
from e3xp.ops.weighted import ChannelwiseTensorProduct

N_ATOMS, N_SPECIES, R_CUT, N_BASIS, HIDDEN = 7, 3, 2.5, 8, 16
IRREPS_NODE = Irreps("4x0e")
IRREPS_SH = Irreps("0e + 1o + 2e")
IRREPS_GATE_IN = Irreps("8x0e + 4x0e + 2x1o + 2x2e")  # 8 activated scalars, 4 gates


def make_molecule(seed: int = 0):
    """Random positions (min. distance 0.8), species and the edges within ``R_CUT``."""
    rng = np.random.default_rng(seed)
    pos = []
    while len(pos) < N_ATOMS:
        p = rng.uniform(-1.6, 1.6, 3)
        if all(np.linalg.norm(p - q) > 0.8 for q in pos):
            pos.append(p)
    pos = np.array(pos)
    species = rng.integers(0, N_SPECIES, N_ATOMS)
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    src, dst = np.nonzero((d < R_CUT) & ~np.eye(N_ATOMS, dtype=bool))
    return pos, species, src, dst


class Block:
    """The layer's parameters (numpy float64) and its forward pass on any backend."""

    def __init__(self, n_edges: int, seed: int = 1):
        rng = np.random.default_rng(seed)
        self.tp = ChannelwiseTensorProduct(IRREPS_NODE, IRREPS_SH)
        self.lin1 = Linear(IRREPS_GATE_IN)
        self.lin2 = Linear("1x0e")
        self.avg_neighbours = n_edges / N_ATOMS
        self.embed = rng.standard_normal((N_SPECIES, IRREPS_NODE.dim))
        self.w_mlp1 = rng.standard_normal((N_BASIS, HIDDEN))
        self.w_mlp2 = rng.standard_normal((HIDDEN, self.tp.weight_numel))
        # Linear parameters: int seeds give the same numbers on every backend
        probe_hidden = IrrepsArray(self.tp.irreps_out, np.zeros((1, self.tp.irreps_out.dim)))
        self.p_lin1 = self.lin1.init(2, probe_hidden)
        probe_gated = gate(self.lin1.apply(self.p_lin1, probe_hidden))
        self.p_lin2 = self.lin2.init(3, probe_gated)

    def params_on(self, name: str) -> dict:
        be = get_backend(name)
        conv = lambda a: be.asarray(np.asarray(a), dtype="float64")  # noqa: E731
        return {
            "embed": conv(self.embed),
            "w_mlp1": conv(self.w_mlp1),
            "w_mlp2": conv(self.w_mlp2),
            "lin1": {k: conv(v) for k, v in self.p_lin1.items()},
            "lin2": {k: conv(v) for k, v in self.p_lin2.items()},
        }

    def energy(self, params: dict, pos, species_onehot, src, dst):
        be = backend_of(pos)
        xp = be.xp
        x = IrrepsArray(IRREPS_NODE, xp.matmul(species_onehot, params["embed"]))
        vec = xp.take(pos, dst, axis=0) - xp.take(pos, src, axis=0)
        r = xp.sqrt(xp.sum(vec**2, axis=-1))
        radial = bessel(r, N_BASIS, R_CUT) * poly_envelope(5, 2, R_CUT)(r)[:, None]
        hidden = xp.matmul(radial, params["w_mlp1"]) / math.sqrt(N_BASIS)
        hidden = hidden * (0.5 * (1.0 + xp.tanh(0.5 * hidden)))  # silu
        weights = xp.matmul(hidden, params["w_mlp2"]) / math.sqrt(HIDDEN)
        sh = spherical_harmonics(IRREPS_SH, vec)
        x_src = IrrepsArray(IRREPS_NODE, xp.take(x.array, src, axis=0))
        messages = self.tp.apply(weights, x_src, sh)
        h = be.scatter_sum(messages.array, dst, N_ATOMS) / math.sqrt(self.avg_neighbours)
        h = IrrepsArray(messages.irreps, h)
        h = gate(self.lin1.apply(params["lin1"], h))
        e_atoms = self.lin2.apply(params["lin2"], h).array
        return xp.sum(e_atoms)


_JITTED = {}


def _jax_energy_and_grad(block):
    # one compilation per block, reused for the rotated inputs
    if id(block) not in _JITTED:
        import jax

        _JITTED[id(block)] = jax.jit(jax.value_and_grad(block.energy, argnums=1))
    return _JITTED[id(block)]


def _forces(block, name, params, pos_np, onehot, src, dst):
    """(energy, forces) as numpy, on backend ``name``."""
    be = get_backend(name)
    conv = lambda a, dt="float64": be.asarray(a, dtype=dt)  # noqa: E731
    s, d, oh = conv(src, "int64"), conv(dst, "int64"), conv(onehot)
    if name == "torch":
        import torch

        p = torch.tensor(pos_np, dtype=torch.float64, requires_grad=True)
        e = block.energy(params, p, oh, s, d)
        (g,) = torch.autograd.grad(e, p)
        return float(e.detach()), -g.numpy()
    if name == "jax":
        import jax

        e, g = _jax_energy_and_grad(block)(params, conv(pos_np), oh, s, d)
        return float(e), -np.asarray(g)
    energy = lambda p: float(be.to_numpy(block.energy(params, conv(p), oh, s, d)))  # noqa: E731
    h, f = 1e-5, np.zeros_like(pos_np)
    for idx in np.ndindex(pos_np.shape):
        step = np.zeros_like(pos_np)
        step[idx] = h
        f[idx] = -(energy(pos_np + step) - energy(pos_np - step)) / (2 * h)
    return energy(pos_np), f


def main(backends=None, verbose: bool = True) -> list:
    """Run the checks on ``backends`` (default: every installed one); return the rows."""
    if backends is None:
        backends = [b for b in available_backends() if b != "cupy"]
        try:
            import cupy

            if cupy.cuda.runtime.getDeviceCount() > 0:
                backends.append("cupy")
        except Exception:  # noqa: BLE001 - no cupy or no CUDA device: skip it
            pass
    if "jax" in backends:
        import jax

        jax.config.update("jax_enable_x64", True)
    pos, species, src, dst = make_molecule()
    onehot = np.eye(N_SPECIES)[species]
    block = Block(len(src))
    gs = [np.asarray(rand_matrix(10)), -np.asarray(rand_matrix(11))]  # a rotation; rotation x inversion
    rows, ref = [], None
    for name in backends:
        t0 = time.perf_counter()
        params = block.params_on(name)
        e0, f0 = _forces(block, name, params, pos, onehot, src, dst)
        e_err = f_err = 0.0
        for R in gs:
            e1, f1 = _forces(block, name, params, pos @ R.T, onehot, src, dst)
            e_err = max(e_err, abs(e1 - e0))
            f_err = max(f_err, float(np.max(np.abs(f1 - f0 @ R.T))))
        if ref is None:
            ref = (e0, f0)
        rows.append(
            {
                "backend": name,
                "energy": e0,
                "energy_invariance": e_err,
                "force_equivariance": f_err,
                "forces_from": "autodiff" if name in ("torch", "jax") else "finite diff.",
                "energy_vs_first": abs(e0 - ref[0]),
                "forces_vs_first": float(np.max(np.abs(f0 - ref[1]))),
                "seconds": time.perf_counter() - t0,
            }
        )
    if verbose:
        print(f"NequIP-style block: {N_ATOMS} atoms, {len(src)} edges, "
              f"{block.tp.irreps_in1} x {block.tp.irreps_in2} -> {block.tp.irreps_out}")
        print(f"{'backend':<18}{'energy':>14}{'|dE| O(3)':>11}{'|dF| O(3)':>11}  {'forces':<13}"
              f"{'|E-E[0]|':>10}{'|F-F[0]|':>10}{'s':>7}")
        for r in rows:
            print(f"{r['backend']:<18}{r['energy']:>14.8f}{r['energy_invariance']:>11.1e}"
                  f"{r['force_equivariance']:>11.1e}  {r['forces_from']:<13}{r['energy_vs_first']:>10.1e}"
                  f"{r['forces_vs_first']:>10.1e}{r['seconds']:>7.1f}")
    return rows


if __name__ == "__main__":
    rows = main()
    ok = all(r["energy_invariance"] < 1e-10 for r in rows) and all(
        r["force_equivariance"] < (1e-10 if r["forces_from"] == "autodiff" else 1e-6) for r in rows
    )
    sys.exit(0 if ok else 1)
