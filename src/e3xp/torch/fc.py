"""``FullyConnectedNet``: e3nn's ``nn.FullyConnectedNet`` (same parameters, names and numbers)."""

from __future__ import annotations

import numbers

import torch

from ..core.irreps import Irreps
from ..core.layer_spec import LayerSpec, ParamSpec
from ._activations import NormalizedActivation, _name, check_act_normalization
from ._nn_common import make_parameter

__all__ = ["FullyConnectedNet"]


class _Layer(torch.nn.Module):
    """One layer ``act(x @ W / sqrt(h_in var_in)) sqrt(var_out)`` (e3nn's ``_Layer``)."""

    def __init__(self, weight: torch.nn.Parameter, act, var_in, var_out) -> None:
        super().__init__()
        self.weight = weight
        self.act = act
        self.h_in, self.h_out = weight.shape
        self.var_in = var_in
        self.var_out = var_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Same operations in the same order as e3nn, so the rounding is the same.
        if self.act is not None:
            w = self.weight / (self.h_in * self.var_in) ** 0.5
            x = x @ w
            x = self.act(x)
            x = x * self.var_out**0.5
        else:
            w = self.weight / (self.h_in * self.var_in / self.var_out) ** 0.5
            x = x @ w
        return x

    def extra_repr(self) -> str:
        act = None if self.act is None else _name(getattr(self.act, "f", self.act))
        return f"{self.h_in}->{self.h_out}, act={act}"


class FullyConnectedNet(torch.nn.Sequential):
    r"""Multi-layer perceptron of plain tensors, e3nn's ``nn.FullyConnectedNet``.

    Layer ``i`` holds ``layer{i}.weight`` of shape ``(hs[i], hs[i+1])`` drawn from N(0, 1)
    with torch's global generator (as e3nn: after the same ``torch.manual_seed`` the
    weights are e3nn's), and computes ``act(x @ W / sqrt(h_in var_in))``; the last
    layer has no activation unless ``out_act``.

    Parameters
    ----------
    hs : list of int
        Input, hidden and output sizes.
    act : callable or None
        Normalized to unit second moment (e3nn's ``normalize2mom``).
    variance_in, variance_out : float
    out_act : bool
    act_normalization : {"e3nn", "exact"}
        e3nn's sampled normalization constant (default, e3nn's numbers) or the exact one.

    Examples
    --------
    >>> import torch
    >>> net = FullyConnectedNet([4, 16, 2], torch.nn.functional.silu)
    >>> [(k, tuple(v.shape)) for k, v in net.state_dict().items()]
    [('layer0.weight', (4, 16)), ('layer1.weight', (16, 2))]
    >>> net(torch.zeros(5, 4)).shape
    torch.Size([5, 2])
    """

    def __init__(self, hs, act=None, variance_in=1, variance_out=1, out_act: bool = False, *,
                 act_normalization: str = "e3nn") -> None:
        super().__init__()
        hs = list(hs)

        if len(hs) < 1 or not all(isinstance(h, numbers.Integral) and not isinstance(h, bool) and h >= 0 for h in hs):
            raise ValueError(f"FullyConnectedNet: hs={hs!r} must be a non-empty list of sizes (ints >= 0)")
        if act is not None and not callable(act):
            raise TypeError(f"FullyConnectedNet: act={act!r} is not callable")
        check_act_normalization(act_normalization, "FullyConnectedNet")
        self.hs = [int(h) for h in hs]
        hs = self.hs
        self.act_normalization = act_normalization
        if act is not None:
            act = NormalizedActivation(act, act_normalization)
        params = tuple(ParamSpec(f"layer{i}.weight", (h1, h2)) for i, (h1, h2) in enumerate(zip(hs, hs[1:])))
        self.layer_spec = LayerSpec(
            "FullyConnectedNet", (Irreps(f"{hs[0]}x0e"),), Irreps(f"{hs[-1]}x0e"), None, params
        )
        var_in = variance_in
        for i, p in enumerate(params):
            if i == len(params) - 1:
                var_out = variance_out
                a = act if out_act else None
            else:
                var_out = 1
                a = act
            setattr(self, f"layer{i}", _Layer(make_parameter(p), a, var_in, var_out))
            var_in = var_out

    def forward(self, x):
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f"FullyConnectedNet: expected a torch.Tensor (as e3nn's), got {type(x).__module__}.{type(x).__qualname__}"
                + ("; pass x.array" if hasattr(x, "irreps") else "")
            )
        if x.ndim == 0 or x.shape[-1] != self.hs[0]:
            raise ValueError(f"FullyConnectedNet: the input has shape {tuple(x.shape)}, expected (..., {self.hs[0]})")
        return super().forward(x)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}{self.hs}"
