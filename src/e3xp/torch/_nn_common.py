"""Helpers shared by the e3nn.nn counterparts in ``e3xp.torch`` (gate, norm activation,
MLP, batch norm, extract): parameters from a :class:`~e3xp.core.layer_spec.LayerSpec`
and e3nn's sort order of irreps."""

from __future__ import annotations

import torch

from ..core.irreps import Irreps
from ..core.layer_spec import ParamSpec


def make_parameter(p: ParamSpec) -> torch.nn.Parameter:
    """A parameter drawn as e3nn draws it: ``torch.randn`` from torch's global generator
    in the default dtype (``"normal"``), or zeros / ones.

    Drawing from the same generator in the same order as e3nn means that after the
    same ``torch.manual_seed`` an e3xp.torch module starts from e3nn's numbers.
    """
    if p.init == "normal":
        t = torch.randn(*p.shape)
        if p.std != 1.0:
            t = t * p.std
    elif p.init == "zeros":
        t = torch.zeros(*p.shape)
    else:
        t = torch.ones(*p.shape)
    return torch.nn.Parameter(t)


def as_irreps(value, what: str) -> Irreps:
    """``Irreps(value)`` with the argument's name in the error; e3nn's ``Irreps`` accepted."""
    value = from_e3nn_object(value)
    try:
        return Irreps(value)
    except (ValueError, TypeError) as e:
        raise type(e)(f"{what}: {value!r} is not valid irreps ({e})") from e


def from_e3nn_object(value):
    """An e3nn (torch) ``Irreps`` / ``Irrep`` / ``MulIr`` as its string (e3xp parses it)."""
    if type(value).__module__.split(".")[0] == "e3nn":
        return str(value)
    return value


def e3nn_sort_order(irreps: Irreps) -> list:
    """Indices of ``irreps`` in e3nn (torch)'s sorted order: ``(l, p)`` with odd
    before even (``0o, 0e, 1o, 1e, ...``), stable.

    (e3xp's ``Irreps.sort`` follows e3nn-jax: ``0e, 0o, 1o, 1e, 2e, 2o``.)
    """
    return sorted(range(len(irreps)), key=lambda i: (irreps[i].ir.l, irreps[i].ir.p, i))


def offsets(irreps: Irreps) -> list:
    """Start of each entry of ``irreps`` in its data layout."""
    out, o = [], 0
    for mul_ir in irreps:
        out.append(o)
        o += mul_ir.dim
    return out


def gather(x: torch.Tensor, pieces, dim_out: int) -> torch.Tensor:
    """Concatenate ``x[..., start:start + length]`` for ``(start, length)`` in ``pieces``
    (adjacent pieces merged); a new tensor of last axis ``dim_out``."""
    merged = []
    for start, length in pieces:
        if length == 0:
            continue
        if merged and merged[-1][0] + merged[-1][1] == start:
            merged[-1] = (merged[-1][0], merged[-1][1] + length)
        else:
            merged.append((start, length))
    if not merged:
        return x.new_zeros(x.shape[:-1] + (dim_out,))
    return torch.cat([x.narrow(-1, s, n) for s, n in merged], dim=-1)


class E3nnProductKeys(torch.nn.Module):
    """The state e3nn keeps for one of its weightless internal tensor products
    (``Gate.mul``, ``NormActivation.norm.tp`` / ``.scalar_multiplier``): buffers
    ``weight`` (empty) and ``output_mask`` (ones, the product's output dimension).

    They take no part in the computation; they are here so that ``state_dict`` s of
    e3nn and e3xp.torch have the same keys and load into each other with
    ``strict=True``.
    """

    def __init__(self, dim_out: int) -> None:
        super().__init__()
        self.register_buffer("weight", torch.zeros(0))
        self.register_buffer("output_mask", torch.ones(dim_out))

    def forward(self, *args):  # pragma: no cover - never called
        raise RuntimeError("E3nnProductKeys only holds e3nn's state_dict keys; it computes nothing")
