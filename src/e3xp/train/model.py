"""The NequIP-style potential, written once over e3xp IrrepsArrays.

Every e3xp layer the potential uses lives in this module (:class:`Potential`), so
the internals can later be swapped for the ``e3xp.torch`` / ``e3xp.flax`` modules
without touching data, training or the wrappers. The forward pass
:func:`energy` takes a nested dict of arrays of any framework and infers the
framework from the batch (e3xp ops do), so torch, JAX and NumPy evaluate the same
function with the same numbers. :func:`init_params` draws the parameters in NumPy
float64 from one integer seed; :func:`params_to_backend` converts them.

Pipeline per interaction layer (NequIP, Batzner et al. 2022)::

    x_j --Linear--> x'_j                              (mixes channels before the conv)
    r_ij --> Bessel(r) * envelope(r) --> radial MLP --> w_ij      (per-edge weights)
    m_ij = ChannelwiseTensorProduct(x'_j, Y(r_ij / |r_ij|), w_ij)  ("uvu" paths)
    h_i = sum_j m_ij / sqrt(avg_num_neighbors)                     (scatter_sum)
    x_i <- gate(Linear(h_i) + Linear_self(x_i)) / ...               (self-interaction)

then ``E_i = scale * Linear(x_i -> 0e) + shift[species_i]`` and
``E = sum_i E_i`` per graph.

>>> import numpy as np
>>> from e3xp.train.config import ModelConfig
>>> from e3xp.train.data import toy_batch
>>> cfg = ModelConfig(species=("Cu", "Au"), hidden_irreps="4x0e+2x1o", num_layers=1, lmax=1)
>>> params = init_params(cfg, seed=0)
>>> energy(params, toy_batch(), cfg).shape   # two graphs: one molecule + the padding graph
(2,)
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..backends import backend_of, get_backend
from ..core.irreps import Irreps
from ..irreps_array import IrrepsArray
from ..ops.gate import gate
from ..ops.linear import Linear
from ..ops.radial import bessel, poly_envelope
from ..ops.scatter import scatter_sum
from ..ops.spherical_harmonics import spherical_harmonics
from ..ops.weighted import ChannelwiseTensorProduct
from .config import ModelConfig

__all__ = ["Potential", "energy", "flatten_tree", "unflatten_tree", "init_params", "params_to_backend", "params_to_numpy", "tree_map"]


def tree_map(fn, tree):
    """Apply ``fn`` to every leaf of a nested dict (keys kept, order kept)."""
    if isinstance(tree, dict):
        return {k: tree_map(fn, v) for k, v in tree.items()}
    return fn(tree)


def flatten_tree(tree: dict, prefix: str = "") -> dict:
    """Nested dict -> flat dict with ``"a/b/c"`` keys (sorted), for checkpoints and optimizer state.

    >>> flatten_tree({"b": {"w": 1}, "a": 2})
    {'a': 2, 'b/w': 1}
    """
    out = {}
    for k in sorted(tree):
        v = tree[k]
        if isinstance(v, dict):
            out.update(flatten_tree(v, f"{prefix}{k}/"))
        else:
            out[f"{prefix}{k}"] = v
    return out


def unflatten_tree(flat: dict) -> dict:
    """Inverse of :func:`flatten_tree`."""
    out = {}
    for key, v in flat.items():
        *path, leaf = key.split("/")
        node = out
        for p in path:
            node = node.setdefault(p, {})
        node[leaf] = v
    return out


def _silu(xp, x):
    # x * sigmoid(x) written with tanh: one formula, stable for large |x|, on every framework
    return x * (0.5 * (1.0 + xp.tanh(0.5 * x)))


class Potential:
    """The layers of the potential for one :class:`ModelConfig` (no parameters held).

    Build it with :func:`Potential.of` (cached per config), then call
    :meth:`energy` with parameters and a batch.
    """

    def __init__(self, config: ModelConfig):
        self.config = config
        hidden = Irreps(config.hidden_irreps).regroup()
        scalars = Irreps([(mul, ir) for mul, ir in hidden if ir.l == 0])
        nonscalars = Irreps([(mul, ir) for mul, ir in hidden if ir.l > 0])
        n_scalar_0e = sum(mul for mul, ir in hidden if str(ir) == "0e")
        if n_scalar_0e == 0:
            raise ValueError(f"hidden_irreps {hidden} needs 0e channels (the embedding writes them)")
        self.hidden = hidden
        self.irreps_sh = Irreps.spherical_harmonics(config.lmax)
        self.n_species = len(config.species)
        # the one-hot species become scalar features; the first layer starts from them
        self.irreps_embed = Irreps(f"{n_scalar_0e}x0e")
        self.embed = Linear(self.irreps_embed, f"{self.n_species}x0e")
        # gate input: the hidden scalars, then one 0e gate per non-scalar irrep, then the non-scalars;
        # gate() takes the *last* scalar channels as gates, so its output irreps are `hidden` again
        n_gates = nonscalars.num_irreps
        self.irreps_gate_in = Irreps(str(scalars) + (f"+{n_gates}x0e+" + str(nonscalars) if n_gates else ""))
        # only the irreps the next layer uses: the others would be computed and dropped by the Linear
        keep = sorted({str(ir) for _, ir in hidden})
        self.layers = []
        irreps_in = self.irreps_embed
        for _ in range(config.num_layers):
            tp = ChannelwiseTensorProduct(irreps_in, self.irreps_sh, filter_ir_out=keep)
            layer = {
                "irreps_in": irreps_in,
                "linear_up": Linear(irreps_in, irreps_in),
                "tp": tp,
                "linear_down": Linear(self.irreps_gate_in, tp.irreps_out),
                "self_interaction": Linear(self.irreps_gate_in, irreps_in),
            }
            self.layers.append(layer)
            irreps_in = hidden
        self.readout = Linear("0e", hidden)
        self.envelope = poly_envelope(config.envelope_p - 1, 2, config.r_max)

    @staticmethod
    @functools.lru_cache(maxsize=32)
    def of(config: ModelConfig) -> "Potential":
        """The (cached) layers for ``config``; layers are immutable, so sharing is safe."""
        return Potential(config)

    # ------------------------------------------------------------------ parameters
    def init_params(self, seed: int) -> dict:
        """Parameters as a nested dict of NumPy float64 arrays, drawn N(0, 1) from ``seed``.

        The layers normalize by fan-in inside the forward pass (e3nn convention), so
        N(0, 1) weights give O(1) features whatever the width.
        """
        rng = np.random.default_rng(seed)
        cfg = self.config
        params = {"embed": {"weight": rng.standard_normal(self.embed.weight_numel)}}
        for k, layer in enumerate(self.layers):
            widths = [cfg.num_bessel] + [cfg.radial_width] * cfg.radial_depth + [layer["tp"].weight_numel]
            params[f"layer{k}"] = {
                "linear_up": {"weight": rng.standard_normal(layer["linear_up"].weight_numel)},
                "radial": {f"w{i}": rng.standard_normal((a, b)) for i, (a, b) in enumerate(zip(widths[:-1], widths[1:]))},
                "linear_down": {"weight": rng.standard_normal(layer["linear_down"].weight_numel)},
                "self_interaction": {"weight": rng.standard_normal(layer["self_interaction"].weight_numel)},
            }
        params["readout"] = {"weight": rng.standard_normal(self.readout.weight_numel)}
        return params

    # ------------------------------------------------------------------ forward
    def _radial_mlp(self, xp, p: dict, basis):
        h = basis
        n = len(p)
        for i in range(n):
            w = p[f"w{i}"]
            h = xp.matmul(h, w) / math.sqrt(w.shape[0])  # fan-in normalization
            if i < n - 1:
                h = _silu(xp, h)
        # no biases anywhere: the basis is zero at the cutoff, so the weights (and the
        # messages) go to zero smoothly there, and padded edges contribute nothing
        return h

    def atomic_energies(self, params: dict, batch: dict):
        """Per-atom energies ``(n_nodes,)`` (zero on padding atoms)."""
        cfg = self.config
        pos = batch["positions"]
        be = backend_of(pos)
        xp = be.xp
        n_nodes = pos.shape[0]
        send, recv = batch["senders"], batch["receivers"]
        # edge vector from the centre i (receiver) to its neighbour j (sender), with the
        # periodic image shift; built here from positions so forces flow through it
        vec = xp.take(pos, send, axis=0) - xp.take(pos, recv, axis=0) + batch["shifts"]
        r = xp.sqrt(xp.sum(vec * vec, axis=-1))
        edge_mask = batch["edge_mask"]
        basis = bessel(r, cfg.num_bessel, cfg.r_max) * (self.envelope(r) * edge_mask)[:, None]
        sh = spherical_harmonics(self.irreps_sh, vec, normalize=True, normalization="component")
        attrs = batch["node_attrs"]
        x = self.embed.apply(params["embed"], IrrepsArray(f"{self.n_species}x0e", attrs))
        norm = 1.0 / math.sqrt(cfg.avg_num_neighbors)
        for k, layer in enumerate(self.layers):
            p = params[f"layer{k}"]
            w = self._radial_mlp(xp, p["radial"], basis)
            x_up = layer["linear_up"].apply(p["linear_up"], x)
            x_j = IrrepsArray(x_up.irreps, xp.take(x_up.array, send, axis=0))
            m = layer["tp"].apply(w, x_j, sh)
            h = scatter_sum(m, recv, num_segments=n_nodes) * norm
            # message and self-interaction paths each give O(1) features: 1/sqrt(2) keeps the sum O(1)
            pre = (layer["linear_down"].apply(p["linear_down"], h)
                   + layer["self_interaction"].apply(p["self_interaction"], x)) * (1.0 / math.sqrt(2.0))
            x = gate(pre, even_act="silu", even_gate_act="sigmoid")
        out = self.readout.apply(params["readout"], x).array[:, 0]
        shift = xp.asarray(np.asarray(cfg.energy_shift), dtype=pos.dtype, device=_device(pos))
        e_atom = cfg.energy_scale * out + xp.matmul(attrs, shift)
        return e_atom * batch["node_mask"]

    def energy(self, params: dict, batch: dict):
        """Total energy per graph, ``(n_graphs,)`` including padding graphs (zero energy)."""
        e_atom = self.atomic_energies(params, batch)
        n_graphs = batch["graph_mask"].shape[0]
        return scatter_sum(e_atom, batch["graph"], num_segments=n_graphs)


def _device(x):
    import array_api_compat

    return array_api_compat.device(x)


def init_params(config: ModelConfig, seed: int = 0) -> dict:
    """NumPy float64 parameters for ``config`` from an integer seed (same on every framework).

    >>> from e3xp.train.config import ModelConfig
    >>> p = init_params(ModelConfig(hidden_irreps="4x0e", num_layers=1, lmax=0), seed=1)
    >>> sorted(p), p["layer0"]["radial"]["w0"].shape
    (['embed', 'layer0', 'readout'], (8, 32))
    """
    return Potential.of(config).init_params(seed)


def energy(params: dict, batch: dict, config: ModelConfig):
    """Energy per graph of a padded batch (see :mod:`e3xp.train.data`), on the batch's framework."""
    return Potential.of(config).energy(params, batch)


def params_to_backend(params: dict, backend: str, dtype: str = "float64", device=None) -> dict:
    """Convert NumPy parameters to arrays of ``backend`` ("numpy", "torch", "jax")."""
    be = get_backend(backend)
    # np.array copies: torch.as_tensor would otherwise alias (and in-place updates mutate) the input
    return tree_map(lambda a: be.asarray(np.array(a), dtype=dtype, device=device), params)


def params_to_numpy(params: dict) -> dict:
    """Any framework's parameter tree back to NumPy (float64 kept as stored)."""

    def conv(a):
        if hasattr(a, "detach"):  # torch
            return a.detach().cpu().numpy().copy()
        return np.array(a)

    return tree_map(conv, params)
