"""e3nn's ``nn.models.gate_points_2101.Network`` (January 2021) from ``e3xp.torch`` modules.

Point convolutions with self-interactions and gates, exactly equivariant under E(3).
The module tree (``layers.{i}.first.sc / lin1 / fc / tp / lin2``, ``layers.{i}.second``)
and its parameter names are e3nn's, so ``load_state_dict(e3nn_network.state_dict())``
works unchanged and the outputs equal e3nn's (tested to float64 rounding).

Examples
--------
>>> import torch
>>> net = Network(irreps_in=None, irreps_hidden="4x0e + 2x1o", irreps_out="1o",
...               irreps_node_attr=None, irreps_edge_attr="0e + 1o", layers=1, max_radius=2.0,
...               number_of_basis=5, radial_layers=1, radial_neurons=8, num_neighbors=2.0,
...               num_nodes=4.0).double()
>>> pos = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [0, 1.2, 0], [0, 0, 0.9]], dtype=torch.float64)
>>> net({"pos": pos}).shape
torch.Size([1, 3])
"""

from __future__ import annotations

import math

import torch

from ...core.irreps import Irrep, Irreps
from ...ops.radial import soft_one_hot_linspace
from ..activation import Gate
from ..fc import FullyConnectedNet
from ..spherical_harmonics import SphericalHarmonics
from ..tensor_product import FullyConnectedTensorProduct, TensorProduct

__all__ = ["Network", "Convolution", "Compose", "radius_graph", "smooth_cutoff"]


def _scatter_sum(src: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    return src.new_zeros((size, src.shape[1])).index_add(0, index, src)


def radius_graph(pos: torch.Tensor, r_max: float, batch: torch.Tensor) -> torch.Tensor:
    """``(2, n_edges)``: ordered pairs of distinct points of one graph closer than ``r_max``.

    All-pairs distances: meant for the small graphs of this reference model.
    """
    r = torch.cdist(pos, pos)
    index = ((r < r_max) & (r > 0)).nonzero().T
    return index[:, batch[index[0]] == batch[index[1]]]


def smooth_cutoff(x: torch.Tensor) -> torch.Tensor:
    """1 for ``x <= 0.5``, 0 for ``x >= 1``, a half cosine between (e3nn's envelope)."""
    u = 2 * (x - 1)
    y = (1 - torch.cos(math.pi * u)) / 2
    return torch.where(u > 0, torch.zeros_like(y), torch.where(u < -1, torch.ones_like(y), y))


def _path_exists(irreps_in1: Irreps, irreps_in2: Irreps, ir_out) -> bool:
    ir_out = Irrep(ir_out)
    return any(ir_out in ir1 * ir2 for _, ir1 in irreps_in1 for _, ir2 in irreps_in2)


def _e3nn_sort(irreps: Irreps):
    """``(sorted irreps, p)`` with e3nn's order (0o, 0e, 1o, 1e, ...: by ``(l, p)``, stable);
    ``p[i]`` is where entry ``i`` lands."""
    order = sorted(range(len(irreps)), key=lambda i: (irreps[i].ir.l, -irreps[i].ir.p * (-1) ** irreps[i].ir.l, i))
    p = [0] * len(order)
    for new, old in enumerate(order):
        p[old] = new
    return Irreps([irreps[i] for i in order]), p


class Convolution(torch.nn.Module):
    """One point convolution: self-connection ``sc``, ``lin1``, the "uvu" product ``tp`` with
    per-edge weights from the radial network ``fc``, a sum over neighbours, ``lin2``.

    The mixing of the self-connection and the convolution uses e3nn's angle pi/8
    on the outputs the self-connection reaches (``sc.output_mask``).
    """

    def __init__(self, irreps_in, irreps_node_attr, irreps_edge_attr, irreps_out,
                 number_of_basis, radial_layers, radial_neurons, num_neighbors) -> None:
        super().__init__()
        self.irreps_in = Irreps(irreps_in)
        self.irreps_node_attr = Irreps(irreps_node_attr)
        self.irreps_edge_attr = Irreps(irreps_edge_attr)
        self.irreps_out = Irreps(irreps_out)
        self.num_neighbors = num_neighbors
        self.sc = FullyConnectedTensorProduct(self.irreps_in, self.irreps_node_attr, self.irreps_out)
        self.lin1 = FullyConnectedTensorProduct(self.irreps_in, self.irreps_node_attr, self.irreps_in)
        # NequIP's recipe: enumerate, sort the middle irreps with e3nn's order and keep
        # the instructions (hence the weights) in enumeration order
        mid, instructions = [], []
        for i, (mul, ir_in) in enumerate(self.irreps_in):
            for j, (_, ir_edge) in enumerate(self.irreps_edge_attr):
                for ir_out in ir_in * ir_edge:
                    if ir_out in self.irreps_out:
                        instructions.append((i, j, len(mid), "uvu", True))
                        mid.append((mul, ir_out))
        irreps_mid, perm, _ = Irreps(mid).sort(convention="e3nn")
        instructions = [(i1, i2, perm[k], mode, w) for i1, i2, k, mode, w in instructions]
        self.tp = TensorProduct(self.irreps_in, self.irreps_edge_attr, irreps_mid, instructions,
                                internal_weights=False, shared_weights=False)
        self.fc = FullyConnectedNet([number_of_basis] + radial_layers * [radial_neurons] + [self.tp.weight_numel],
                                    torch.nn.functional.silu)
        self.lin2 = FullyConnectedTensorProduct(irreps_mid, self.irreps_node_attr, self.irreps_out)

    def forward(self, node_input, node_attr, edge_src, edge_dst, edge_attr, edge_length_embedded):
        weight = self.fc(edge_length_embedded)
        s = self.sc(node_input, node_attr)
        x = self.lin1(node_input, node_attr)
        edge_features = self.tp(x[edge_src], edge_attr, weight)
        x = _scatter_sum(edge_features, edge_dst, x.shape[0]) / self.num_neighbors**0.5
        x = self.lin2(x, node_attr)
        c_s, c_x = math.sin(math.pi / 8), math.cos(math.pi / 8)
        m = self.sc.output_mask
        return c_s * s + ((1 - m) + c_x * m) * x


class Compose(torch.nn.Module):
    """``second(first(*inputs))`` (e3nn's names, so the state_dict keys match)."""

    def __init__(self, first, second) -> None:
        super().__init__()
        self.first, self.second = first, second
        self.irreps_in, self.irreps_out = first.irreps_in, second.irreps_out

    def forward(self, *inputs):
        return self.second(self.first(*inputs))


class Network(torch.nn.Module):
    """e3nn's ``gate_points_2101.Network``; the arguments are e3nn's (see its docstring).

    ``forward(data)`` takes a dict with ``pos`` and optionally ``x`` (node features),
    ``z`` (node attributes) and ``batch``; it returns the per-graph sum of the node
    outputs divided by ``sqrt(num_nodes)``, or the node outputs with
    ``reduce_output=False``.
    """

    def __init__(self, irreps_in, irreps_hidden, irreps_out, irreps_node_attr, irreps_edge_attr, layers,
                 max_radius, number_of_basis, radial_layers, radial_neurons, num_neighbors, num_nodes,
                 reduce_output: bool = True) -> None:
        super().__init__()
        self.max_radius = max_radius
        self.number_of_basis = number_of_basis
        self.num_neighbors = num_neighbors
        self.num_nodes = num_nodes
        self.reduce_output = reduce_output
        self.irreps_in = Irreps(irreps_in) if irreps_in is not None else None
        self.irreps_hidden = Irreps(irreps_hidden)
        self.irreps_out = Irreps(irreps_out)
        self.irreps_node_attr = Irreps(irreps_node_attr) if irreps_node_attr is not None else Irreps("0e")
        self.irreps_edge_attr = Irreps(irreps_edge_attr)
        self.input_has_node_in = irreps_in is not None
        self.input_has_node_attr = irreps_node_attr is not None
        self.sh = SphericalHarmonics(self.irreps_edge_attr, normalize=True, normalization="component")

        act = {1: torch.nn.functional.silu, -1: torch.tanh}
        act_gates = {1: torch.sigmoid, -1: torch.tanh}
        irreps = self.irreps_in if self.irreps_in is not None else Irreps("0e")
        self.layers = torch.nn.ModuleList()
        for _ in range(layers):
            reachable = [(mul, ir) for mul, ir in self.irreps_hidden if _path_exists(irreps, self.irreps_edge_attr, ir)]
            irreps_scalars = Irreps([(mul, ir) for mul, ir in reachable if ir.l == 0])
            irreps_gated = Irreps([(mul, ir) for mul, ir in reachable if ir.l > 0])
            ir = "0e" if _path_exists(irreps, self.irreps_edge_attr, "0e") else "0o"
            irreps_gates = Irreps([(mul, ir) for mul, _ in irreps_gated])
            gate = Gate(irreps_scalars, [act[ir.p] for _, ir in irreps_scalars],
                        irreps_gates, [act_gates[ir.p] for _, ir in irreps_gates], irreps_gated)
            conv = Convolution(irreps, self.irreps_node_attr, self.irreps_edge_attr, gate.irreps_in,
                               number_of_basis, radial_layers, radial_neurons, num_neighbors)
            irreps = gate.irreps_out
            self.layers.append(Compose(conv, gate))
        self.layers.append(Convolution(irreps, self.irreps_node_attr, self.irreps_edge_attr, self.irreps_out,
                                       number_of_basis, radial_layers, radial_neurons, num_neighbors))

    def forward(self, data: dict) -> torch.Tensor:
        pos = data["pos"]
        batch = data["batch"] if "batch" in data else pos.new_zeros(pos.shape[0], dtype=torch.long)
        edge_src, edge_dst = radius_graph(pos, self.max_radius, batch)
        edge_vec = pos[edge_src] - pos[edge_dst]
        edge_sh = self.sh(edge_vec)
        edge_length = edge_vec.norm(dim=1)
        edge_length_embedded = soft_one_hot_linspace(
            edge_length, start=0.0, end=self.max_radius, number=self.number_of_basis, basis="gaussian", cutoff=False
        ) * self.number_of_basis**0.5
        edge_attr = smooth_cutoff(edge_length / self.max_radius)[:, None] * edge_sh
        if self.input_has_node_in and "x" in data:
            x = data["x"]
        elif self.irreps_in is None:
            x = pos.new_ones((pos.shape[0], 1))
        else:
            raise ValueError(f"Network: irreps_in={self.irreps_in} but data has no 'x'")
        if self.input_has_node_attr and "z" in data:
            z = data["z"]
        elif self.irreps_node_attr == Irreps("0e"):
            z = pos.new_ones((pos.shape[0], 1))
        else:
            raise ValueError(f"Network: irreps_node_attr={self.irreps_node_attr} but data has no 'z'")
        for layer in self.layers:
            x = layer(x, z, edge_src, edge_dst, edge_attr, edge_length_embedded)
        if self.reduce_output:
            return _scatter_sum(x, batch, int(batch.max()) + 1) / self.num_nodes**0.5
        return x
