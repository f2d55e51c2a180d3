"""What every ``e3xp.torch`` module shares: tensor-or-IrrepsArray inputs, checked against
the irreps the module was built for, and outputs of the same kind."""

from __future__ import annotations

import torch

from ..core.irreps import Irreps
from ..irreps_array import IrrepsArray


def unwrap(x, irreps: Irreps, what: str):
    """``(tensor, was_irreps_array)`` for an input that must carry ``irreps``.

    A plain tensor must have ``irreps.dim`` on its last axis; an IrrepsArray must
    have exactly ``irreps`` (e3nn modules take their irreps list as is: the weight
    layout depends on it, so a regrouped or reordered input is refused).
    """
    if isinstance(x, IrrepsArray):
        if x.irreps != irreps:
            raise ValueError(f"{what}: the input has irreps {x.irreps}, but this module was built for {irreps}")
        return x.array, True
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{what}: expected a torch.Tensor or an e3xp.IrrepsArray, got {type(x).__module__}.{type(x).__qualname__}"
        )
    if x.ndim == 0 or x.shape[-1] != irreps.dim:
        shape = tuple(x.shape)
        raise ValueError(f"{what}: the input has shape {shape}, but {irreps} needs a last axis of size {irreps.dim}")
    return x, False


def wrap(t: torch.Tensor, irreps: Irreps, as_irreps_array: bool):
    """The output as the same kind as the input: IrrepsArray or plain tensor."""
    return IrrepsArray(irreps, t) if as_irreps_array else t


def register_constants(module: torch.nn.Module, prefix: str, constants) -> list:
    """Register arrays as non-persistent buffers ``{prefix}{i}``; returns their names.

    Non-persistent: ``.to(device or dtype)`` moves them with the parameters, and
    ``state_dict`` (checkpoints, e3nn's keys) stays free of them.
    """
    names = []
    for i, c in enumerate(constants):
        name = f"{prefix}{i}"
        module.register_buffer(name, torch.as_tensor(c), persistent=False)
        names.append(name)
    return names
