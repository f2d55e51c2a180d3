"""e3nn's ``o3.TensorProduct`` and its subclasses as ``torch.nn.Module`` s.

Same constructor arguments, instruction order, normalization, weight layout and
state_dict keys as e3nn 0.6.0, so ``load_state_dict(e3nn_module.state_dict())``
works unchanged and gives e3nn's numbers. The products run on e3xp's plans
(:mod:`e3xp.core.plans`): e3nn's instructions become one plan path each, in
instruction order, with e3nn's normalization folded into the path coefficient.

Mode names: e3nn's ``"uvw"``, ``"uvu"``, ``"uvv"``, ``"uuw"``, ``"uuu"``, ``"uvuv"``
and ``"u<vw"`` are plan modes of the same name; e3nn's ``"uvu<v"`` is the plan
mode ``"uvuv_triu"``.

State dict: ``weight`` (a parameter when the weights are internal, otherwise an
empty buffer, as in e3nn) and the buffer ``output_mask``. e3nn's checkpoints also
hold its code generator's Clebsch-Gordan constants
(``_compiled_main_left_right._w3j_*``, ``_triu_indices_*``); they are accepted and
ignored on loading: these modules compute their own constants and keep them as
non-persistent buffers (``_cg0``, ``_cg1``, ...), which ``.to()`` moves and
checkpoints leave out.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from ..core.irreps import Irrep, Irreps
from ..core.layer_spec import LayerSpec
from ..core.plans import TensorProductPlan, TPPath
from ._module import register_constants, unwrap, wrap

__all__ = [
    "Instruction",
    "TensorProduct",
    "FullyConnectedTensorProduct",
    "ElementwiseTensorProduct",
    "FullTensorProduct",
    "TensorSquare",
]

# e3nn's connection modes -> plan modes
_PLAN_MODE = {
    "uvw": "uvw",
    "uvu": "uvu",
    "uvv": "uvv",
    "uuw": "uuw",
    "uuu": "uuu",
    "uvuv": "uvuv",
    "uvu<v": "uvuv_triu",
    "u<vw": "u<vw",
}
# e3nn's state_dict keys of its generated code (constants it keeps as persistent buffers)
_E3NN_CODEGEN_PREFIXES = ("_compiled_main_left_right.", "_compiled_main_right.", "_compiled_main.")


class Instruction(NamedTuple):
    """One instruction, as e3nn's ``Instruction`` (``path_weight`` is the final coefficient)."""

    i_in1: int
    i_in2: int
    i_out: int
    connection_mode: str
    has_weight: bool
    path_weight: float
    path_shape: tuple


def _path_shape(mode: str, mul1: int, mul2: int, mul_out: int) -> tuple:
    npairs = mul1 * (mul2 - 1) // 2
    return {
        "uvw": (mul1, mul2, mul_out),
        "uvu": (mul1, mul2),
        "uvv": (mul1, mul2),
        "uuw": (mul1, mul_out),
        "uuu": (mul1,),
        "uvuv": (mul1, mul2),
        "uvu<v": (npairs,),
        "u<vw": (npairs, mul_out),
    }[mode]


def _num_elements(mode: str, mul1: int, mul2: int) -> int:
    """e3nn's fan-in of one instruction, per mode."""
    return {
        "uvw": mul1 * mul2,
        "uvu": mul2,
        "uvv": mul1,
        "uuw": mul1,
        "uuu": 1,
        "uvuv": 1,
        "uvu<v": 1,
        "u<vw": mul1 * (mul2 - 1) // 2,
    }[mode]


def _variances(var, irreps: Irreps, name: str) -> list:
    if var is None:
        return [1.0] * len(irreps)
    if isinstance(var, torch.Tensor):
        var = var.detach().cpu().reshape(-1).tolist()
    try:
        out = [float(v) for v in var]
    except (TypeError, ValueError):
        raise TypeError(f"{name}={var!r} must be a list of floats (one per entry of {irreps}) or None") from None
    if len(out) != len(irreps):
        raise ValueError(f"{name} has {len(out)} entries, expected one per entry of {irreps} ({len(irreps)})")
    return out


def _index(value, n: int, what: str, irreps: Irreps, k: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"instruction {k}: {what}={value!r} must be an int")
    if not 0 <= value < n:
        raise ValueError(f"instruction {k}: {what}={value} is out of range for {irreps} ({n} entries)")
    return value


def _check_mults(k, mode, has_weight, mul1, mul2, mul_out, ins) -> None:
    """e3nn's per-mode multiplicity rules (its code generator asserts them)."""
    need = {
        "uvw": None,
        "uvu": ("mul_out == mul1", mul_out == mul1),
        "uvv": ("mul_out == mul2", mul_out == mul2),
        "uuw": ("mul1 == mul2", mul1 == mul2),
        "uuu": ("mul1 == mul2 == mul_out", mul1 == mul2 == mul_out),
        "uvuv": ("mul_out == mul1 * mul2", mul_out == mul1 * mul2),
        "uvu<v": ("mul1 == mul2 and mul_out == mul1 (mul1 - 1) / 2", mul1 == mul2 and mul_out == mul1 * (mul1 - 1) // 2),
        "u<vw": ("mul1 == mul2", mul1 == mul2),
    }[mode]
    if need is not None and not need[1]:
        raise ValueError(
            f"instruction {k} {ins!r}: mode {mode!r} needs {need[0]}, got mul1={mul1}, mul2={mul2}, mul_out={mul_out}"
        )
    if mode in ("uvw", "u<vw") and not has_weight:
        raise ValueError(f"instruction {k} {ins!r}: mode {mode!r} needs weights (has_weight=True), as in e3nn")
    if mode == "uuw" and not has_weight and mul_out != 1:
        raise ValueError(
            f"instruction {k} {ins!r}: mode 'uuw' without weights sums the channels: needs mul_out == 1, got {mul_out}"
        )


def build_tensor_product(irreps_in1, irreps_in2, irreps_out, instructions, in1_var=None, in2_var=None,
                         out_var=None, irrep_normalization=None, path_normalization=None):
    """``(instructions, plan, output_mask list)`` of an e3nn ``o3.TensorProduct`` configuration.

    ``instructions`` are e3nn's :class:`Instruction` s, ``path_weight`` being the final
    coefficient ``sqrt(alpha * out_var * path_weight / fan_in)``; the plan holds one
    path per non-empty instruction, in order, weights in e3nn's flat layout.
    """
    irreps_in1, irreps_in2, irreps_out = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
    irrep_normalization = "component" if irrep_normalization is None else irrep_normalization
    path_normalization = "element" if path_normalization is None else path_normalization
    if irrep_normalization not in ("component", "norm", "none"):
        raise ValueError(f"irrep_normalization={irrep_normalization!r}: expected 'component', 'norm' or 'none'")
    if path_normalization not in ("element", "path", "none"):
        raise ValueError(f"path_normalization={path_normalization!r}: expected 'element', 'path' or 'none'")
    if isinstance(instructions, (str, bytes)) or not hasattr(instructions, "__iter__"):
        raise TypeError(f"instructions must be a list of tuples (i_in1, i_in2, i_out, mode, has_weight[, path_weight]), "
                        f"got {instructions!r}")
    raw = []
    for k, ins in enumerate(instructions):
        if not isinstance(ins, (tuple, list)) or len(ins) not in (5, 6):
            raise TypeError(
                f"instruction {k}: {ins!r} must be a tuple (i_in1, i_in2, i_out, mode, has_weight[, path_weight])"
            )
        i1, i2, io, mode, has_weight = ins[:5]
        path_weight = ins[5] if len(ins) == 6 else 1.0
        i1 = _index(i1, len(irreps_in1), "i_in1", irreps_in1, k)
        i2 = _index(i2, len(irreps_in2), "i_in2", irreps_in2, k)
        io = _index(io, len(irreps_out), "i_out", irreps_out, k)
        if mode not in _PLAN_MODE:
            raise ValueError(f"instruction {k} {ins!r}: unknown connection mode {mode!r}, expected one of {tuple(_PLAN_MODE)}")
        if not isinstance(has_weight, bool):
            raise TypeError(f"instruction {k} {ins!r}: has_weight={has_weight!r} must be a bool")
        try:
            path_weight = float(path_weight)
        except (TypeError, ValueError):
            raise TypeError(f"instruction {k} {ins!r}: path_weight={path_weight!r} must be a number") from None
        (mul1, ir1), (mul2, ir2), (mul_out, ir_out) = irreps_in1[i1], irreps_in2[i2], irreps_out[io]
        if ir_out not in list(ir1 * ir2):
            raise ValueError(
                f"instruction {k} {ins!r}: {ir_out} is not in {ir1} x {ir2} (selection rule: "
                f"|l1 - l2| <= l <= l1 + l2 and p = p1 p2)"
            )
        raw.append((i1, i2, io, mode, has_weight, path_weight, _path_shape(mode, mul1, mul2, mul_out), ins))
    v1 = _variances(in1_var, irreps_in1, "in1_var")
    v2 = _variances(in2_var, irreps_in2, "in2_var")
    vo = _variances(out_var, irreps_out, "out_var")

    def fan(r):
        return v1[r[0]] * v2[r[1]] * _num_elements(r[3], irreps_in1[r[0]].mul, irreps_in2[r[1]].mul)

    final, paths, offset = [], [], 0
    for k, r in enumerate(raw):
        i1, i2, io, mode, has_weight, path_weight, shape, ins = r
        (mul1, ir1), (mul2, ir2), (mul_out, ir_out) = irreps_in1[i1], irreps_in2[i2], irreps_out[io]
        alpha = {"component": ir_out.dim, "norm": ir1.dim * ir2.dim, "none": 1}[irrep_normalization]
        if path_normalization == "element":
            x = sum(fan(q) for q in raw if q[2] == io)
        elif path_normalization == "path":
            x = fan(r) * len([q for q in raw if q[2] == io])
        else:
            x = 1
        alpha = alpha / x if x > 0 else alpha
        alpha = alpha * vo[io] * path_weight
        if alpha < 0:
            raise ValueError(
                f"instruction {k} {ins!r}: the squared path coefficient is {alpha} < 0 "
                "(negative path_weight or variance)"
            )
        c = math.sqrt(alpha)
        final.append(Instruction(i1, i2, io, mode, has_weight, c, shape))
        size = math.prod(shape) if has_weight else 0
        if 0 in shape or mul1 * mul2 * mul_out == 0:
            offset += size
            continue  # e3nn generates no code for it
        _check_mults(k, mode, has_weight, mul1, mul2, mul_out, ins)
        plan_mode = _PLAN_MODE[mode]
        if has_weight:
            paths.append(TPPath(i1, i2, io, plan_mode, c, offset, shape))
        else:
            paths.append(TPPath(i1, i2, io, plan_mode, c, -1, ()))
        offset += size
    plan = TensorProductPlan(irreps_in1, irreps_in2, irreps_out, tuple(paths), offset)
    mask = []
    for io, (mul, ir) in enumerate(irreps_out):
        on = any(ins.i_out == io and ins.path_weight != 0 and 0 not in ins.path_shape for ins in final)
        mask += [1.0 if on else 0.0] * (mul * ir.dim)
    return final, plan, mask


def init_parameter(p, dtype=None) -> torch.Tensor:
    """A tensor drawn as the :class:`~e3xp.core.layer_spec.ParamSpec` says, with torch's global RNG.

    ``"normal"`` is ``std * torch.randn(shape)``: e3nn draws its weights with
    ``torch.randn`` too, so one ``torch.manual_seed`` gives both the same numbers.
    """
    if p.init == "normal":
        t = torch.randn(p.shape, dtype=dtype)
        return t * p.std if p.std != 1.0 else t
    return (torch.zeros if p.init == "zeros" else torch.ones)(p.shape, dtype=dtype)


def _drop_e3nn_codegen_keys(state_dict, prefix: str) -> None:
    for key in [k for k in state_dict if k.startswith(prefix)]:
        if key[len(prefix):].startswith(_E3NN_CODEGEN_PREFIXES):
            del state_dict[key]


def _spec_message(spec: LayerSpec, state_dict, prefix: str, what: str):
    """The spec's key-and-shapes message when a checkpoint's parameter does not fit, else None."""
    present = {p.name: state_dict[prefix + p.name] for p in spec.params if prefix + p.name in state_dict}
    for p in spec.params:
        if p.name in present:
            try:
                LayerSpec(spec.kind, spec.irreps_in, spec.irreps_out, spec.plan, (p,)).check(
                    {p.name: present[p.name]}, what, prefix
                )
            except ValueError as e:
                return str(e)
    return None


class TensorProduct(torch.nn.Module):
    r"""Tensor product with parametrized paths, e3nn's ``o3.TensorProduct``.

    Parameters
    ----------
    irreps_in1, irreps_in2, irreps_out : Irreps or str
    instructions : list of tuple
        ``(i_in1, i_in2, i_out, mode, has_weight[, path_weight])``; ``mode`` one of
        ``"uvw"``, ``"uvu"``, ``"uvv"``, ``"uuw"``, ``"uuu"``, ``"uvuv"``, ``"uvu<v"``,
        ``"u<vw"`` (e3nn's meanings).
    in1_var, in2_var, out_var : list of float, optional
        Variance per entry of each irreps (default 1).
    irrep_normalization : {"component", "norm", "none"}
    path_normalization : {"element", "path", "none"}
    internal_weights, shared_weights : bool, optional
        e3nn's defaults: shared, internal when some instruction has weights;
        ``shared_weights=False`` implies external weights.

    Examples
    --------
    >>> import torch
    >>> tp = TensorProduct("2x1o", "1o", "2x1e", [(0, 0, 0, "uvu", True)])
    >>> tp
    TensorProduct(2x1o x 1x1o -> 2x1e | 2 paths | 2 weights)
    >>> sorted(tp.state_dict())
    ['output_mask', 'weight']
    >>> tp(torch.ones(6), torch.ones(3)).shape
    torch.Size([6])
    >>> cross = TensorProduct("1o", "1o", "1e", [(0, 0, 0, "uuu", False)])
    >>> print(cross(torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 1, 0])) * 2 ** 0.5)  # (x cross y) / sqrt(2)
    tensor([0., 0., 1.])
    """

    def __init__(self, irreps_in1, irreps_in2, irreps_out, instructions, in1_var=None, in2_var=None, out_var=None,
                 irrep_normalization=None, path_normalization=None, internal_weights=None, shared_weights=None):
        super().__init__()
        self.instructions, plan, mask = build_tensor_product(
            irreps_in1, irreps_in2, irreps_out, instructions, in1_var, in2_var, out_var,
            irrep_normalization, path_normalization,
        )
        self.plan = plan
        self.irreps_in1, self.irreps_in2, self.irreps_out = plan.irreps_in1, plan.irreps_in2, plan.irreps_out
        if shared_weights is False and internal_weights is None:
            internal_weights = False
        if shared_weights is None:
            shared_weights = True
        if internal_weights is None:
            internal_weights = shared_weights and any(i.has_weight for i in self.instructions)
        if internal_weights and not shared_weights:
            raise ValueError("internal_weights=True needs shared_weights=True (internal weights are shared)")
        self.internal_weights, self.shared_weights = bool(internal_weights), bool(shared_weights)
        self.weight_numel = plan.weight_numel
        self.spec = LayerSpec.for_tensor_product(plan, type(self).__name__, internal_weights=self.internal_weights)
        names = [p.name for p in self.spec.params]
        if "weight" in names:
            self.weight = torch.nn.Parameter(init_parameter(self.spec.param("weight")))
        else:
            self.register_buffer("weight", torch.Tensor())  # as e3nn: the key exists, empty
        self.register_buffer("output_mask", torch.tensor(mask, dtype=torch.get_default_dtype()))
        from ..core.schedule import prepare

        # float64 NumPy originals: the buffers are made from them in each dtype (see _apply)
        self._cg_float64 = tuple(np.array(c) for c in prepare("tp", plan)[1])
        dtype = torch.get_default_dtype()
        self._cg_names = tuple(
            register_constants(self, "_cg", [torch.as_tensor(c, dtype=dtype) for c in self._cg_float64])
        )

    def _apply(self, fn, *args, **kwargs):
        # .to() / .double() / .cuda() convert the buffers; the constants are then made
        # again from their float64 originals in the new dtype and device, so that a
        # module built in float32 and moved to float64 computes with float64 constants.
        out = super()._apply(fn, *args, **kwargs)
        for name, c in zip(self._cg_names, self._cg_float64):
            b = self._buffers[name]
            if b is not None and b.is_floating_point() and b.device.type != "meta":
                self._buffers[name] = torch.as_tensor(c, dtype=b.dtype, device=b.device)
        return out

    # ------------------------------------------------------------------ e3nn's API

    def __repr__(self) -> str:
        npath = sum(math.prod(i.path_shape) for i in self.instructions)
        return (
            f"{type(self).__name__}({self.irreps_in1.simplify()} x {self.irreps_in2.simplify()} "
            f"-> {self.irreps_out.simplify()} | {npath} paths | {self.weight_numel} weights)"
        )

    def _flat_weight(self, weight):
        """The flat weights to use (None when the product has none), checked as e3nn does."""
        what = type(self).__name__
        if isinstance(weight, (list, tuple)):
            shapes = [ins.path_shape for ins in self.instructions if ins.has_weight]
            if len(weight) != len(shapes):
                raise ValueError(f"{what}: got {len(weight)} weight tensors, expected one per weighted instruction ({len(shapes)})")
            lead = (-1,) if not self.shared_weights else ()
            weight = torch.cat([w.reshape(lead + (math.prod(s),)) for w, s in zip(weight, shapes)], dim=-1)
        if weight is None:
            if self.weight_numel > 0 and not self.internal_weights:
                raise ValueError(
                    f"{what}: weights must be given (internal_weights=False): a tensor of shape "
                    f"{'(weight_numel,)' if self.shared_weights else '(..., weight_numel)'} with weight_numel = {self.weight_numel}"
                )
            return self.weight if self.weight_numel > 0 else None
        if not isinstance(weight, torch.Tensor):
            raise TypeError(f"{what}: weight must be a torch.Tensor or a list of them, got {type(weight).__name__}")
        shape = tuple(weight.shape)
        if self.shared_weights and shape != (self.weight_numel,):
            raise ValueError(f"{what}: weight has shape {shape}, expected ({self.weight_numel},) (shared weights)")
        if not self.shared_weights and (len(shape) < 2 or shape[-1] != self.weight_numel):
            raise ValueError(
                f"{what}: weight has shape {shape}, expected (..., {self.weight_numel}) with batch axes "
                "(shared_weights=False)"
            )
        return weight if self.weight_numel > 0 else None

    def _constants(self, like):
        consts = tuple(getattr(self, n) for n in self._cg_names)
        if consts and (consts[0].dtype != like.dtype or consts[0].device != like.device):
            return None  # not moved with .to(): the backend's cache, in the input's dtype and device
        return consts

    def _forward(self, x, y, weight):
        what = type(self).__name__
        x1, a = unwrap(x, self.irreps_in1, f"{what} input x")
        x2, b = unwrap(y, self.irreps_in2, f"{what} input y")
        w = self._flat_weight(weight)
        from ..backends import get_backend

        out = get_backend("torch").tensor_product(self.plan, x1, x2, w, constants=self._constants(x1))
        return wrap(out, self.irreps_out, a or b)

    def forward(self, x, y, weight=None):
        """``w x (x) y``: ``x`` ``(..., irreps_in1.dim)``, ``y`` ``(..., irreps_in2.dim)``.

        ``weight``: required when the weights are external, ``(weight_numel,)``
        (shared) or ``(..., weight_numel)`` (per sample), or a list of per-instruction
        tensors as e3nn accepts.
        """
        return self._forward(x, y, weight)

    def weight_view_for_instruction(self, instruction: int, weight=None) -> torch.Tensor:
        """View of the weights of instruction ``instruction`` (``(..., *path_shape)``)."""
        if not self.instructions[instruction].has_weight:
            raise ValueError(f"Instruction {instruction} has no weights.")
        offset = sum(math.prod(i.path_shape) for i in self.instructions[:instruction] if i.has_weight)
        ins = self.instructions[instruction]
        w = self._flat_weight(weight)
        return w.narrow(-1, offset, math.prod(ins.path_shape)).view(tuple(w.shape[:-1]) + ins.path_shape)

    def weight_views(self, weight=None, yield_instruction: bool = False):
        """Views of the weights of every weighted instruction, in order (e3nn's ``weight_views``)."""
        w = self._flat_weight(weight)
        offset = 0
        for k, ins in enumerate(self.instructions):
            if ins.has_weight:
                n = math.prod(ins.path_shape)
                view = w.narrow(-1, offset, n).view(tuple(w.shape[:-1]) + ins.path_shape)
                offset += n
                yield (k, ins, view) if yield_instruction else view

    # ------------------------------------------------------------------ checkpoints

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        _drop_e3nn_codegen_keys(state_dict, prefix)
        n_before = len(error_msgs)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
        if len(error_msgs) > n_before:
            msg = _spec_message(self.spec, state_dict, prefix, type(self).__name__)
            if msg is not None:
                error_msgs.append(msg + "; the checkpoint was made for other irreps or instructions")


def _filter(filter_ir_out):
    """e3nn's ``filter_ir_out`` (a list of irreps) as a list of :class:`Irrep`; strings allowed."""
    if filter_ir_out is None:
        return None
    if isinstance(filter_ir_out, str):
        try:
            return [mul_ir.ir for mul_ir in Irreps(filter_ir_out)]
        except ValueError:
            return [Irrep(filter_ir_out)]
    try:
        return [Irrep(ir) for ir in filter_ir_out]
    except (TypeError, ValueError) as e:
        raise ValueError(f"filter_ir_out (={filter_ir_out!r}) must be an iterable of irreps ({e})") from e


def _e3nn_sort(irreps: Irreps):
    """e3nn (torch)'s ``Irreps.sort``: by ``(l, p)`` with ``0o`` before ``0e``, stable; ``(irreps, p)``."""
    order = sorted(range(len(irreps)), key=lambda i: (irreps[i].ir.l, irreps[i].ir.p, i))
    p = [0] * len(irreps)
    for new, old in enumerate(order):
        p[old] = new
    return Irreps([irreps[i] for i in order]), p


class FullyConnectedTensorProduct(TensorProduct):
    """e3nn's ``o3.FullyConnectedTensorProduct``: a weighted ``"uvw"`` path for every allowed triple.

    Examples
    --------
    >>> import torch
    >>> tp = FullyConnectedTensorProduct("2x0e + 1o", "0e + 1o", "3x0e + 1e")
    >>> tp.weight_numel, [ins[:3] for ins in tp.instructions]
    (10, [(0, 0, 0), (1, 1, 0), (1, 1, 1)])
    >>> tp(torch.ones(5), torch.ones(4)).shape
    torch.Size([6])
    """

    def __init__(self, irreps_in1, irreps_in2, irreps_out, irrep_normalization=None, path_normalization=None,
                 **kwargs):
        irreps_in1, irreps_in2, irreps_out = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
        instr = [
            (i1, i2, io, "uvw", True, 1.0)
            for i1, (_, ir1) in enumerate(irreps_in1)
            for i2, (_, ir2) in enumerate(irreps_in2)
            for io, (_, ir_out) in enumerate(irreps_out)
            if ir_out in list(ir1 * ir2)
        ]
        super().__init__(irreps_in1, irreps_in2, irreps_out, instr, irrep_normalization=irrep_normalization,
                         path_normalization=path_normalization, **kwargs)


class ElementwiseTensorProduct(TensorProduct):
    """e3nn's ``o3.ElementwiseTensorProduct``: the ``n``-th irrep of ``x`` with the ``n``-th of ``y`` (``"uuu"``).

    The inputs are simplified and split to a common multiplicity sequence; the
    output is neither sorted nor simplified (e3nn's order).

    Examples
    --------
    >>> tp = ElementwiseTensorProduct("2x0e + 1o", "1o + 2x1e")
    >>> tp.irreps_in1, tp.irreps_out
    (1x0e+1x0e+1x1o, 1x1o+1x1e+1x0o+1x1o+1x2o)
    """

    def __init__(self, irreps_in1, irreps_in2, filter_ir_out=None, irrep_normalization=None, **kwargs):
        irreps_in1, irreps_in2 = Irreps(irreps_in1).simplify(), Irreps(irreps_in2).simplify()
        keep = _filter(filter_ir_out)
        if irreps_in1.num_irreps != irreps_in2.num_irreps:
            raise ValueError(
                f"ElementwiseTensorProduct needs inputs with the same number of irreps, got {irreps_in1} "
                f"({irreps_in1.num_irreps}) and {irreps_in2} ({irreps_in2.num_irreps})"
            )
        a, b = [(m, ir) for m, ir in irreps_in1], [(m, ir) for m, ir in irreps_in2]
        i = 0
        while i < len(a):
            (m1, ir1), (m2, ir2) = a[i], b[i]
            if m1 < m2:
                b[i : i + 1] = [(m1, ir2), (m2 - m1, ir2)]
            if m2 < m1:
                a[i : i + 1] = [(m2, ir1), (m1 - m2, ir1)]
            i += 1
        out, instr = [], []
        for i, ((mul, ir1), (_, ir2)) in enumerate(zip(a, b)):
            for ir in ir1 * ir2:
                if keep is not None and ir not in keep:
                    continue
                instr.append((i, i, len(out), "uuu", False))
                out.append((mul, ir))
        super().__init__(Irreps(a), Irreps(b), Irreps(out), instr, irrep_normalization=irrep_normalization, **kwargs)


class FullTensorProduct(TensorProduct):
    """e3nn's ``o3.FullTensorProduct``: every ``(u, v)`` channel pair (``"uvuv"``), no weights.

    The output blocks are sorted with e3nn's (torch) order, ``0o`` before ``0e``,
    and not simplified.

    Examples
    --------
    >>> tp = FullTensorProduct("2x0e + 1o", "1o + 1e")
    >>> tp.irreps_out
    1x0o+1x0e+2x1o+1x1o+2x1e+1x1e+1x2o+1x2e
    """

    def __init__(self, irreps_in1, irreps_in2, filter_ir_out=None, irrep_normalization=None, **kwargs):
        irreps_in1, irreps_in2 = Irreps(irreps_in1).simplify(), Irreps(irreps_in2).simplify()
        keep = _filter(filter_ir_out)
        out, instr = [], []
        for i1, (mul1, ir1) in enumerate(irreps_in1):
            for i2, (mul2, ir2) in enumerate(irreps_in2):
                for ir_out in ir1 * ir2:
                    if keep is not None and ir_out not in keep:
                        continue
                    instr.append((i1, i2, len(out), "uvuv", False))
                    out.append((mul1 * mul2, ir_out))
        out, p = _e3nn_sort(Irreps(out))
        instr = [(i1, i2, p[io], mode, w) for i1, i2, io, mode, w in instr]
        super().__init__(irreps_in1, irreps_in2, out, instr, irrep_normalization=irrep_normalization, **kwargs)


def _square_alpha(irrep_normalization, ir1, ir2, ir_out, symmetric):
    if not symmetric:
        return {"component": ir_out.dim, "norm": ir1.dim * ir2.dim, "none": 1}[irrep_normalization]
    if irrep_normalization == "component":
        return ir_out.dim / (ir1.dim + 2) if ir_out.l == 0 else ir_out.dim / 2
    if irrep_normalization == "norm":
        return ir_out.dim * ir1.dim if ir_out.l == 0 else ir1.dim * (ir1.dim + 2) / 2
    return 1


class TensorSquare(TensorProduct):
    """e3nn's ``o3.TensorSquare``: ``x (x) x`` without redundant terms.

    Without ``irreps_out``: no weights, ``"uvuv"`` (different blocks), ``"uvu<v"``
    (channel pairs ``u < v`` of one block) and ``"uuu"`` (same channel, even ``l``)
    paths, output sorted with e3nn's order. With ``irreps_out`` (simplified):
    weighted ``"uvw"``, ``"u<vw"``, ``"uuw"`` paths into it.

    Examples
    --------
    >>> import torch
    >>> sq = TensorSquare("2x0e + 1o")
    >>> sq.irreps_out, sq.weight_numel
    (1x0e+2x0e+1x0e+2x1o+1x2e, 0)
    >>> TensorSquare("2x0e + 1o", "3x0e + 2x1e").weight_numel
    12
    >>> sq(torch.ones(5)).shape
    torch.Size([15])
    """

    def __init__(self, irreps_in, irreps_out=None, filter_ir_out=None, irrep_normalization=None, **kwargs):
        irrep_normalization = "component" if irrep_normalization is None else irrep_normalization
        if irrep_normalization not in ("component", "norm", "none"):
            raise ValueError(f"irrep_normalization={irrep_normalization!r}: expected 'component', 'norm' or 'none'")
        irreps_in = Irreps(irreps_in).simplify()
        keep = _filter(filter_ir_out)
        instr = []
        if irreps_out is None:
            out = []
            for i1, (mul1, ir1) in enumerate(irreps_in):
                for i2, (mul2, ir2) in enumerate(irreps_in):
                    for ir_out in ir1 * ir2:
                        if keep is not None and ir_out not in keep:
                            continue
                        alpha = _square_alpha(irrep_normalization, ir1, ir2, ir_out, False)
                        if i1 < i2:
                            instr.append((i1, i2, len(out), "uvuv", False, alpha))
                            out.append((mul1 * mul2, ir_out))
                        elif i1 == i2:
                            if mul1 > 1:
                                instr.append((i1, i1, len(out), "uvu<v", False, alpha))
                                out.append((mul1 * (mul1 - 1) // 2, ir_out))
                            if ir_out.l % 2 == 0:
                                alpha = _square_alpha(irrep_normalization, ir1, ir2, ir_out, True)
                                instr.append((i1, i1, len(out), "uuu", False, alpha))
                                out.append((mul1, ir_out))
            irreps_out, p = _e3nn_sort(Irreps(out))
            instr = [(i1, i2, p[io], mode, w, a) for i1, i2, io, mode, w, a in instr]
        else:
            if filter_ir_out is not None:
                raise ValueError("Both `irreps_out` and `filter_ir_out` are not None, this is ambiguous.")
            irreps_out = Irreps(irreps_out).simplify()
            for i1, (mul1, ir1) in enumerate(irreps_in):
                for i2, (_, ir2) in enumerate(irreps_in):
                    for io, (_, ir_out) in enumerate(irreps_out):
                        if ir_out not in list(ir1 * ir2):
                            continue
                        alpha = _square_alpha(irrep_normalization, ir1, ir2, ir_out, False)
                        if i1 < i2:
                            instr.append((i1, i2, io, "uvw", True, alpha))
                        elif i1 == i2:
                            if mul1 > 1:
                                instr.append((i1, i1, io, "u<vw", True, alpha))
                            if ir_out.l % 2 == 0:
                                alpha = _square_alpha(irrep_normalization, ir1, ir2, ir_out, True)
                                instr.append((i1, i1, io, "uuw", True, alpha))
        super().__init__(irreps_in, irreps_in, irreps_out, instr, irrep_normalization="none", **kwargs)
        self.irreps_in = irreps_in

    def __repr__(self) -> str:
        npath = sum(math.prod(i.path_shape) for i in self.instructions)
        return (
            f"{type(self).__name__}({self.irreps_in} -> {self.irreps_out.simplify()} | {npath} paths | "
            f"{self.weight_numel} weights)"
        )

    def forward(self, x, weight=None):  # noqa: D102 (e3nn's signature)
        """``x (x) x``: ``x`` ``(..., irreps_in.dim)``; ``weight`` as :meth:`TensorProduct.forward`."""
        return self._forward(x, x, weight)
