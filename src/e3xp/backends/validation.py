"""Input validation of the plan executors, shared by every backend.

The generic executor and the native ones of the framework packages call the same
``check_*_inputs`` first, so every backend rejects bad input with the same
messages (design section 7); :func:`weight_layout` is what those messages print.
"""

from __future__ import annotations

import math

import numpy as np

from e3xp.core.plans import LinearPlan, TensorProductPlan
from e3xp.core.spherical_harmonics import SphericalHarmonicsPlan

__all__ = ["check_tp_inputs", "check_linear_inputs", "check_sh_inputs", "weight_layout"]


_NORMALIZATIONS = ("component", "norm", "integral")


def _degree(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"a degree must be a non-negative int, got {value!r}")
    if value < 0:
        raise ValueError(f"a degree must be a non-negative int, got {value!r}")
    return int(value)


def _ls_tuple(ls) -> tuple:
    """Degrees in output order; an int means ``0..ls``. Plain Python: it runs under tracing."""
    if isinstance(ls, np.ndarray):
        ls = ls.tolist()
    if isinstance(ls, (list, tuple, range)):
        if len(ls) == 0:
            raise ValueError(f"ls must name at least one degree, got {ls!r}")
        return tuple(_degree(l) for l in ls)
    if isinstance(ls, (str, bytes)):
        raise TypeError(f"ls must be an int lmax or a sequence of ints, got {ls!r}")
    return tuple(range(_degree(ls) + 1))


def check_tp_inputs(backend, plan, x1, x2, weights) -> tuple:
    """Validate the arguments of :func:`tensor_product`; ``(shared weights?, batch shape)``.

    Native executors in the framework modules call it first, so every backend
    rejects bad input with the same messages.

    Examples
    --------
    >>> import numpy as np
    >>> from e3xp.backends import get_backend
    >>> from e3xp.core.plans import channelwise_tensor_product_plan
    >>> plan = channelwise_tensor_product_plan("2x0e", "0e")
    >>> check_tp_inputs(get_backend("numpy"), plan, np.ones((3, 2)), np.ones((1, 1)), np.ones((3, 2)))
    (False, (3,))
    """
    if not isinstance(plan, TensorProductPlan):
        raise TypeError(f"plan must be a TensorProductPlan, got {type(plan).__name__}")
    _check_input(backend, x1, plan.irreps_in1.dim, "x1", plan.irreps_in1)
    _check_input(backend, x2, plan.irreps_in2.dim, "x2", plan.irreps_in2)
    if plan.weight_numel == 0 and weights is not None:
        raise ValueError(
            f"this plan takes no weights (weight_numel = 0), got weights of shape "
            f"{tuple(getattr(weights, 'shape', ()))}"
        )
    shared = _check_flat(backend, weights, plan.weight_numel, "weights", plan)
    _check_same_dtype(backend, {"x1": x1, "x2": x2, "weights": weights})
    shapes = [tuple(x1.shape[:-1]), tuple(x2.shape[:-1])]
    if weights is not None and not shared:
        shapes.append(tuple(weights.shape[:-1]))
    batch = _broadcast(shapes, "x1, x2" + ("" if len(shapes) == 2 else " and weights"))
    return shared, batch


def check_linear_inputs(backend, plan, x, weights, bias) -> tuple:
    """Validate the inputs of :func:`linear`; return ``(shared, bias_shared, batch)``.

    ``shared``: one weight vector for every sample; ``bias_shared`` likewise (True
    when ``bias`` is None); ``batch``: the broadcast batch shape of the output.
    """
    if not isinstance(plan, LinearPlan):
        raise TypeError(f"plan must be a LinearPlan, got {type(plan).__name__}")
    _check_input(backend, x, plan.irreps_in.dim, "x", plan.irreps_in)
    if weights is None and plan.weight_numel == 0:
        shared = True
    else:
        shared = _check_flat(backend, weights, plan.weight_numel, "weights", plan)
    b_shared = True
    if bias is not None:
        if plan.bias_numel == 0:
            raise ValueError(
                f"this plan has no biases (bias_numel = 0), got bias of shape {tuple(bias.shape)}"
            )
        b_shared = _check_flat(backend, bias, plan.bias_numel, "bias", plan)
    _check_same_dtype(backend, {"x": x, "weights": weights, "bias": bias})
    shapes = [tuple(x.shape[:-1])]
    if weights is not None and not shared:
        shapes.append(tuple(weights.shape[:-1]))
    if bias is not None and not b_shared:
        shapes.append(tuple(bias.shape[:-1]))
    return shared, b_shared, _broadcast(shapes, "x, weights and bias")


def check_sh_inputs(backend, sh_plan, vectors, ls, normalization) -> tuple:
    """Validate the arguments of :func:`spherical_harmonics`; the degrees as a tuple.

    Examples
    --------
    >>> import numpy as np
    >>> from e3xp.backends import get_backend
    >>> from e3xp.core.spherical_harmonics import spherical_harmonics_plan
    >>> check_sh_inputs(get_backend("numpy"), spherical_harmonics_plan(2), np.ones(3), 2, "norm")
    (0, 1, 2)
    """
    if not isinstance(sh_plan, SphericalHarmonicsPlan):
        raise TypeError(f"sh_plan must be a SphericalHarmonicsPlan, got {type(sh_plan).__name__}")
    ls = _ls_tuple(ls)
    if normalization not in _NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {_NORMALIZATIONS}, got {normalization!r}")
    _check_array(backend, vectors, "vectors")
    if len(vectors.shape) == 0 or vectors.shape[-1] != 3:
        raise ValueError(
            f"vectors must have a last axis of size 3 (x, y, z), got shape {tuple(vectors.shape)}"
        )
    return ls


def weight_layout(plan) -> str:
    """A readable description of where each path's weights live in the flat vector.

    Examples
    --------
    >>> from e3xp.core.plans import linear_plan
    >>> print(weight_layout(linear_plan("2x0e", "3x0e")))
    path 0: in[0]=2x0e -> out[0]=3x0e, weights[0:6] as (2, 3)
    """
    lines = []
    if isinstance(plan, LinearPlan):
        for k, p in enumerate(plan.paths):
            size = math.prod(p.weight_shape)
            lines.append(
                f"path {k}: in[{p.i_in}]={plan.irreps_in[p.i_in]} -> out[{p.i_out}]="
                f"{plan.irreps_out[p.i_out]}, weights[{p.weight_offset}:{p.weight_offset + size}] "
                f"as {tuple(p.weight_shape)}"
            )
    else:
        for k, p in enumerate(plan.paths):
            where = "no weights"
            if p.has_weight:
                size = math.prod(p.weight_shape)
                where = f"weights[{p.weight_offset}:{p.weight_offset + size}] as {tuple(p.weight_shape)}"
            lines.append(
                f"path {k}: in1[{p.i_in1}]={plan.irreps_in1[p.i_in1]} x in2[{p.i_in2}]="
                f"{plan.irreps_in2[p.i_in2]} -> out[{p.i_out}]={plan.irreps_out[p.i_out]} "
                f"{p.mode!r}, {where}"
            )
    return "\n".join(lines) if lines else "(no paths)"


def _broadcast(shapes, what: str) -> tuple:
    ndim = max([len(s) for s in shapes] + [0])
    out = []
    for axis in range(ndim):
        size = 1
        for s in shapes:
            k = axis - (ndim - len(s))
            if k < 0 or s[k] == 1:
                continue
            if size != 1 and s[k] != size:
                raise ValueError(
                    f"leading shapes {', '.join(str(tuple(s)) for s in shapes)} of {what} "
                    "do not broadcast"
                )
            size = s[k]
        out.append(size)
    return tuple(out)


def _check_array(backend, x, name: str) -> None:
    """TypeError unless ``x`` is a real floating array of ``backend``."""
    if not backend.is_array(x):
        raise TypeError(f"{name} must be an array of backend {backend.name!r}, got {type(x).__name__}")
    backend.check_float(x, name)


def _check_input(backend, x, dim: int, name: str, irreps) -> None:
    _check_array(backend, x, name)
    if len(x.shape) == 0 or x.shape[-1] != dim:
        raise ValueError(
            f"{name} has shape {tuple(x.shape)}: expected a last axis of size {dim} = ({irreps}).dim"
        )


def _check_same_dtype(backend, arrays: dict) -> None:
    named = [(k, v) for k, v in arrays.items() if v is not None]
    ref_name, ref = named[0]
    for k, v in named[1:]:
        if v.dtype != ref.dtype:
            raise TypeError(
                f"{k} has dtype {backend._dtype_name(v.dtype)} but {ref_name} has "
                f"{backend._dtype_name(ref.dtype)}: cast them to one floating dtype"
            )


def _check_flat(backend, w, numel: int, name: str, plan):
    """Validate flat parameters; True when shared ``(numel,)``, False when per sample."""
    if w is None:
        if numel > 0:
            raise ValueError(
                f"{name} are required: expected shape ({numel},) or (..., {numel}); "
                f"layout:\n{weight_layout(plan)}"
            )
        return True
    _check_array(backend, w, name)
    if len(w.shape) == 0 or w.shape[-1] != numel:
        raise ValueError(
            f"{name} have shape {tuple(w.shape)}: expected ({numel},) (shared) or "
            f"(..., {numel}) (per sample) for this plan; layout:\n{weight_layout(plan)}"
        )
    return len(w.shape) == 1
