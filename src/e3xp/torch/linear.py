"""e3nn's ``o3.Linear`` as a ``torch.nn.Module``.

Same arguments, instruction order, normalization (``1 / sqrt(fan_in)``, ``fan_in``
times ``f_in`` when given), weight and bias layout and state_dict keys (``weight``,
``bias``: parameters when internal, empty buffers otherwise; ``output_mask``) as
e3nn 0.6.0, so ``load_state_dict(e3nn_linear.state_dict())`` works unchanged.
Without ``f_in`` the map runs on e3xp's :class:`~e3xp.core.plans.LinearPlan` and
the torch backend's kernels; with ``f_in`` / ``f_out`` (weights ``(f_in, f_out,
weight_numel)`` mixing an extra feature axis) it runs one ``torch.einsum`` per
instruction, as e3nn does.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ..core.irreps import Irreps
from ..core.layer_spec import LayerSpec, ParamSpec
from ..core.plans import LinearPath, LinearPlan
from ._module import unwrap, wrap
from .tensor_product import _drop_e3nn_codegen_keys, _spec_message, init_parameter

__all__ = ["Linear", "LinearInstruction"]


class LinearInstruction(NamedTuple):
    """e3nn's ``o3._linear.Instruction``; ``i_in == -1`` is a bias."""

    i_in: int
    i_out: int
    path_shape: tuple
    path_weight: float


def _positive_int(v, name):
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise ValueError(f"{name}={v!r} must be a positive int or None")
    return v


def build_linear(irreps_in, irreps_out, instructions=None, biases=False, path_normalization="element", f_in=None):
    """``(instructions, plan, output_mask list)`` of an e3nn ``o3.Linear`` configuration."""
    irreps_in, irreps_out = Irreps(irreps_in), Irreps(irreps_out)
    if path_normalization not in ("element", "path"):
        raise ValueError(f"path_normalization={path_normalization!r}: expected 'element' or 'path'")
    if instructions is None:
        pairs = [(i, o) for i, (_, a) in enumerate(irreps_in) for o, (_, b) in enumerate(irreps_out) if a == b]
    else:
        pairs = []
        for k, ins in enumerate(instructions):
            if not isinstance(ins, (tuple, list)) or len(ins) != 2:
                raise TypeError(f"instruction {k}: {ins!r} must be a pair (i_in, i_out)")
            i, o = ins
            for v, n, irreps, name in ((i, len(irreps_in), irreps_in, "i_in"), (o, len(irreps_out), irreps_out, "i_out")):
                if isinstance(v, bool) or not isinstance(v, int):
                    raise TypeError(f"instruction {k}: {name}={v!r} must be an int")
                if not 0 <= v < n:
                    raise ValueError(f"instruction {k}: {name}={v} is out of range for {irreps} ({n} entries)")
            if irreps_in[i].ir != irreps_out[o].ir:
                raise ValueError(
                    f"instruction {k} {ins!r}: {irreps_in[i]} and {irreps_out[o]} do not have the same irrep "
                    "(a linear map connects equal irreps only)"
                )
            pairs.append((i, o))

    def fan_in(i, o):
        x = sum(irreps_in[q if path_normalization == "element" else i].mul for q, oo in pairs if oo == o)
        x = x * f_in if f_in is not None else x
        return 1.0 if x == 0 else x

    final = [LinearInstruction(i, o, (irreps_in[i].mul, irreps_out[o].mul), fan_in(i, o) ** -0.5) for i, o in pairs]
    if biases is None:
        biases = False
    if isinstance(biases, bool):
        flags = [biases and ir.is_scalar() for _, ir in irreps_out]
    else:
        flags = [bool(b) for b in biases]
        if len(flags) != len(irreps_out):
            raise ValueError(f"biases={biases!r} has {len(flags)} flags, expected one per entry of {irreps_out}")
        bad = [str(irreps_out[i]) for i, f in enumerate(flags) if f and not irreps_out[i].ir.is_scalar()]
        if bad:
            raise ValueError(f"biases={biases!r} puts a bias on {bad}: only 0e entries can take a bias")
    final += [LinearInstruction(-1, o, (irreps_out[o].dim,), 1.0) for o, f in enumerate(flags) if f]

    paths, offset, bias_entries, bias_offset = [], 0, [], 0
    for ins in final:
        if 0 in ins.path_shape:
            continue
        if ins.i_in == -1:
            bias_entries.append((ins.i_out, bias_offset, ins.path_shape[0]))
            bias_offset += ins.path_shape[0]
        else:
            paths.append(LinearPath(ins.i_in, ins.i_out, ins.path_weight, offset, ins.path_shape))
            offset += math.prod(ins.path_shape)
    plan = LinearPlan(irreps_in, irreps_out, tuple(paths), offset, tuple(bias_entries), bias_offset)
    mask = []
    for o, mul_ir in enumerate(irreps_out):
        on = any(ins.i_out == o and 0 not in ins.path_shape for ins in final)
        mask += [1.0 if on else 0.0] * mul_ir.dim
    return final, plan, mask


class Linear(torch.nn.Module):
    r"""Equivariant linear map, e3nn's ``o3.Linear``.

    Parameters
    ----------
    irreps_in, irreps_out : Irreps or str
    f_in, f_out : int, optional
        An extra feature axis: inputs ``(..., f_in, irreps_in.dim)``, outputs
        ``(..., f_out, irreps_out.dim)``, weights ``(f_in, f_out, weight_numel)``.
    internal_weights, shared_weights : bool, optional
        e3nn's defaults: internal and shared; ``shared_weights=False`` implies external.
    instructions : list of (i_in, i_out), optional
        Default: every pair of equal irreps, ``i_in`` major.
    biases : bool or list of bool
        True: a bias on every ``0e`` output entry.
    path_normalization : {"element", "path"}

    Examples
    --------
    >>> import torch
    >>> lin = Linear("4x0e + 16x1o", "8x0e + 8x1o", biases=True)
    >>> lin
    Linear(4x0e+16x1o -> 8x0e+8x1o | 160 weights)
    >>> sorted(lin.state_dict()), lin.bias_numel
    (['bias', 'output_mask', 'weight'], 8)
    >>> lin(torch.ones(52)).shape
    torch.Size([32])
    """

    def __init__(self, irreps_in, irreps_out, *, f_in=None, f_out=None, internal_weights=None, shared_weights=None,
                 instructions=None, biases=False, path_normalization="element"):
        super().__init__()
        f_in, f_out = _positive_int(f_in, "f_in"), _positive_int(f_out, "f_out")
        if (f_in is None) != (f_out is None):
            raise ValueError(f"f_in={f_in!r} and f_out={f_out!r}: give both or neither")
        self.f_in, self.f_out = f_in, f_out
        self.instructions, plan, mask = build_linear(irreps_in, irreps_out, instructions, biases, path_normalization, f_in)
        self.plan = plan
        self.irreps_in, self.irreps_out = plan.irreps_in, plan.irreps_out
        if shared_weights is False and internal_weights is None:
            internal_weights = False
        if shared_weights is None:
            shared_weights = True
        if internal_weights is None:
            internal_weights = True
        if internal_weights and not shared_weights:
            raise ValueError("internal_weights=True needs shared_weights=True (internal weights are shared)")
        self.internal_weights, self.shared_weights = bool(internal_weights), bool(shared_weights)
        self.weight_numel, self.bias_numel = plan.weight_numel, plan.bias_numel
        lead_w = (f_in, f_out) if f_in is not None else ()
        lead_b = (f_out,) if f_out is not None else ()
        params = []
        if self.internal_weights and self.weight_numel > 0:
            params.append(ParamSpec("weight", lead_w + (self.weight_numel,), "normal"))
        if self.internal_weights and self.bias_numel > 0:
            params.append(ParamSpec("bias", lead_b + (self.bias_numel,), "zeros", target="bias"))
        self.spec = LayerSpec("Linear", (plan.irreps_in,), plan.irreps_out, plan, tuple(params))
        for name in ("weight", "bias"):
            if any(p.name == name for p in params):
                setattr(self, name, torch.nn.Parameter(init_parameter(self.spec.param(name))))
            else:
                self.register_buffer(name, torch.Tensor())  # as e3nn: the key exists, empty
        self.register_buffer("output_mask", torch.tensor(mask, dtype=torch.get_default_dtype()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.irreps_in} -> {self.irreps_out} | {self.weight_numel} weights)"

    def _check(self, t, numel, name, lead):
        if t is None:
            if numel > 0 and not self.internal_weights:
                raise ValueError(f"Linear: {name} must be given (internal_weights=False), {numel} of them")
            return getattr(self, name) if numel > 0 else None
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"Linear: {name} must be a torch.Tensor, got {type(t).__name__}")
        want = lead + (numel,)
        shape = tuple(t.shape)
        if self.shared_weights and shape != want:
            raise ValueError(f"Linear: {name} has shape {shape}, expected {want} (shared weights)")
        if not self.shared_weights and (len(shape) < len(want) or shape[len(shape) - len(want):] != want):
            raise ValueError(f"Linear: {name} has shape {shape}, expected (..., {', '.join(map(str, want))})")
        return t if numel > 0 else None

    def forward(self, features, weight=None, bias=None):
        """The map applied to ``features`` ``(..., irreps_in.dim)`` (``(..., f_in, irreps_in.dim)`` with ``f_in``).

        ``weight`` / ``bias``: required when the weights are external.
        """
        x, was = unwrap(features, self.irreps_in, "Linear input")
        lead_w = (self.f_in, self.f_out) if self.f_in is not None else ()
        lead_b = (self.f_out,) if self.f_out is not None else ()
        w = self._check(weight, self.weight_numel, "weight", lead_w)
        b = self._check(bias, self.bias_numel, "bias", lead_b)
        if self.f_in is None:
            from ..backends import get_backend

            out = get_backend("torch").linear(self.plan, x, w, b)
        else:
            out = self._forward_features(x, w, b)
        return wrap(out, self.irreps_out, was)

    def _forward_features(self, x, w, b):
        """With ``f_in`` / ``f_out``: ``out[..., y, w, i] = sum c W[x, y, u, w] in[..., x, u, i]`` per instruction."""
        if x.ndim < 2 or x.shape[-2] != self.f_in:
            raise ValueError(f"Linear: the input has shape {tuple(x.shape)}, expected (..., f_in={self.f_in}, {self.irreps_in.dim})")
        batch = tuple(x.shape[:-2])
        if w is not None and not self.shared_weights:
            batch = torch.broadcast_shapes(batch, tuple(w.shape[:-3]))
        s_in = self.irreps_in.slices()
        blocks = [[] for _ in self.irreps_out]
        for p in self.plan.paths:
            mul_in, mul_out = p.weight_shape
            d = self.irreps_in[p.i_in].ir.dim
            xi = x[..., s_in[p.i_in]].reshape(tuple(x.shape[:-1]) + (mul_in, d))
            wi = w[..., p.weight_offset : p.weight_offset + mul_in * mul_out]
            wi = wi.reshape(tuple(wi.shape[:-1]) + (mul_in, mul_out))
            z = "" if self.shared_weights else "..."
            blocks[p.i_out].append(p.path_weight * torch.einsum(f"{z}xyuw,...xui->...ywi", wi, xi))
        if b is not None:
            for i_out, off, mul in self.plan.biases:
                blocks[i_out].append(b[..., off : off + mul].unsqueeze(-1))
        out = []
        for parts, (mul, ir) in zip(blocks, self.irreps_out):
            shape = batch + (self.f_out, mul * ir.dim)
            if not parts:
                out.append(x.new_zeros(shape))
                continue
            acc = parts[0]
            for q in parts[1:]:
                acc = acc + q
            out.append(acc.reshape(tuple(acc.shape[:-2]) + (mul * ir.dim,)).expand(shape))
        if not out:
            return x.new_zeros(batch + (self.f_out, 0))
        return torch.cat(out, dim=-1)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        _drop_e3nn_codegen_keys(state_dict, prefix)
        n_before = len(error_msgs)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
        if len(error_msgs) > n_before:
            msg = _spec_message(self.spec, state_dict, prefix, "Linear")
            if msg is not None:
                error_msgs.append(msg + "; the checkpoint was made for other irreps or instructions")
