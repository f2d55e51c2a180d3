"""``BatchNorm``: e3nn's ``nn.BatchNorm`` (same buffers, parameters and numbers)."""

from __future__ import annotations

import torch

from ..core.layer_spec import LayerSpec, ParamSpec
from ._module import unwrap, wrap
from ._nn_common import as_irreps, make_parameter

__all__ = ["BatchNorm"]


class BatchNorm(torch.nn.Module):
    r"""Batch normalization of irreps by their norms, e3nn's ``nn.BatchNorm``.

    Scalars (``0e``) are centred by their mean; every irrep is divided by
    ``sqrt(mean |x|^2 + eps)`` (``"component"``: mean over components, ``"norm"``:
    sum). The norm is invariant, so the layer is equivariant. Training mode uses
    the batch statistics and updates ``running_mean`` (one per ``0e`` channel) and
    ``running_var`` (one per irrep) with ``momentum``; eval mode uses the running
    ones. ``instance=True`` normalizes each sample over its other axes (no running
    statistics).

    Parameters
    ----------
    irreps : str or Irreps
    eps : float
    momentum : float
    affine : bool
        Learnable ``weight`` (ones, one per irrep) and, with ``include_bias``,
        ``bias`` (zeros, one per ``0e`` channel).
    reduce : {"mean", "max"}
        How the squared norms are reduced over the non-batch axes.
    instance : bool
    include_bias : bool
    normalization : {"component", "norm"}

    Notes
    -----
    The input has shape ``(batch, ..., irreps.dim)``.

    Examples
    --------
    >>> import torch
    >>> bn = BatchNorm("2x0e + 1o")
    >>> sorted((k, tuple(v.shape)) for k, v in bn.state_dict().items())
    [('bias', (2,)), ('running_mean', (2,)), ('running_var', (3,)), ('weight', (3,))]
    >>> x = torch.tensor([[1.0, 2.0, 3.0, 0.0, 0.0], [3.0, 2.0, 0.0, 4.0, 0.0]])
    >>> bn(x)[:, 0].detach()  # centred, divided by sqrt(var + eps)
    tensor([-1.0000,  1.0000])
    >>> bn.running_mean
    tensor([0.2000, 0.2000])
    """

    def __init__(self, irreps, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True, reduce: str = "mean",
                 instance: bool = False, include_bias: bool = True, normalization: str = "component") -> None:
        super().__init__()
        self.irreps = as_irreps(irreps, "BatchNorm: irreps")
        if reduce not in ("mean", "max"):
            raise ValueError(f"BatchNorm: reduce={reduce!r}, expected 'mean' or 'max'")
        if normalization not in ("norm", "component"):
            raise ValueError(f"BatchNorm: normalization={normalization!r}, expected 'norm' or 'component'")
        self.eps = eps
        self.momentum = momentum
        self.affine = bool(affine)
        self.instance = bool(instance)
        self.include_bias = bool(include_bias)
        self.reduce = reduce
        self.normalization = normalization
        self.irs = [(m.mul, m.ir.dim, m.ir.l == 0 and m.ir.p == 1) for m in self.irreps]
        num_scalar = sum(m.mul for m in self.irreps if m.ir.l == 0 and m.ir.p == 1)
        num_features = self.irreps.num_irreps
        if self.instance:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
        else:
            self.register_buffer("running_mean", torch.zeros(num_scalar))
            self.register_buffer("running_var", torch.ones(num_features))
        params = []
        if self.affine:
            params.append(ParamSpec("weight", (num_features,), "ones"))
            if self.include_bias:
                params.append(ParamSpec("bias", (num_scalar,), "zeros", target="bias"))
        self.layer_spec = LayerSpec("BatchNorm", (self.irreps,), self.irreps, None, tuple(params))
        for p in params:
            setattr(self, p.name, make_parameter(p))
        if not self.affine:
            self.register_parameter("weight", None)
            if self.include_bias:
                self.register_parameter("bias", None)

    def extra_repr(self) -> str:
        return f"{self.irreps}, eps={self.eps}, momentum={self.momentum}"

    def _roll_avg(self, curr, update):
        return (1 - self.momentum) * curr + self.momentum * update.detach()

    def forward(self, input):  # noqa: A002 - e3nn's name
        x, as_array = unwrap(input, self.irreps, "BatchNorm")
        if x.ndim < 2:
            raise ValueError(f"BatchNorm: the input has shape {tuple(x.shape)}; expected (batch, ..., {self.irreps.dim})")
        orig_shape = x.shape
        batch = x.shape[0]
        x = x.reshape(batch, -1, self.irreps.dim)  # [batch, sample, features]
        update = self.training and not self.instance
        batch_stats = self.training or self.instance
        new_means, new_vars, fields = [], [], []
        ix = irm = irv = iw = ib = 0
        for mul, d, is_scalar in self.irs:
            field = x[:, :, ix : ix + mul * d].reshape(batch, -1, mul, d)
            ix += mul * d
            if is_scalar:
                if batch_stats:
                    if self.instance:
                        field_mean = field.mean(1).reshape(batch, mul)
                    else:
                        field_mean = field.mean([0, 1]).reshape(mul)
                        new_means.append(self._roll_avg(self.running_mean[irm : irm + mul], field_mean))
                else:
                    field_mean = self.running_mean[irm : irm + mul]
                irm += mul
                field = field - field_mean.reshape(-1, 1, mul, 1)
            if batch_stats:
                if self.normalization == "norm":
                    field_norm = field.pow(2).sum(3)
                else:
                    field_norm = field.pow(2).mean(3)
                if self.reduce == "mean":
                    field_norm = field_norm.mean(1)
                else:
                    field_norm = field_norm.max(1).values
                if not self.instance:
                    field_norm = field_norm.mean(0)
                    new_vars.append(self._roll_avg(self.running_var[irv : irv + mul], field_norm))
            else:
                field_norm = self.running_var[irv : irv + mul]
            irv += mul
            field_norm = (field_norm + self.eps).pow(-0.5)
            if self.affine:
                field_norm = field_norm * self.weight[iw : iw + mul]
                iw += mul
            field = field * field_norm.reshape(-1, 1, mul, 1)
            if self.affine and self.include_bias and is_scalar:
                field = field + self.bias[ib : ib + mul].reshape(mul, 1)
                ib += mul
            fields.append(field.reshape(batch, -1, mul * d))
        if update:
            with torch.no_grad():
                if new_means:
                    self.running_mean.copy_(torch.cat(new_means))
                if new_vars:
                    self.running_var.copy_(torch.cat(new_vars))
        if fields:
            out = torch.cat(fields, dim=2)
        else:
            out = x
        return wrap(out.reshape(orig_shape), self.irreps, as_array)
