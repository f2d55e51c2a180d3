"""Weighted tensor products as flax modules, on e3xp's functional layers.

e3nn-jax 0.21 has no flax tensor-product module. ``FullyConnectedTensorProduct``
follows its haiku ``e3nn_jax.haiku.FullyConnectedTensorProduct`` (the
``e3nn_jax.legacy.FunctionalFullyConnectedTensorProduct`` it wraps): one parameter per
path, named ``"w[i1,i2,i_out] <mul1 x ir1>,<mul2 x ir2>,<mul_out x ir_out>"``,
shape ``(mul1, mul2, mul_out)``, N(0, 1). ``ChannelwiseTensorProduct`` ("uvu", the
NequIP / MACE convolution) takes per-sample weights (e.g. from a radial MLP) or, without
them, owns shared ones named the same way with shapes ``(mul1, mul2)``.
"""

from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax.numpy as jnp

from ..core.irreps import Irreps
from ..core.layer_spec import LayerSpec, ParamSpec
from ..irreps_array import IrrepsArray
from ..ops.weighted import ChannelwiseTensorProduct as _Channelwise
from ..ops.weighted import FullyConnectedTensorProduct as _FullyConnected
from ._common import check_params, to_irreps_array

__all__ = ["FullyConnectedTensorProduct", "ChannelwiseTensorProduct", "path_spec"]


def path_spec(plan, kind: str) -> LayerSpec:
    """One ``ParamSpec`` per weighted path of a tensor-product plan, pieces of its flat ``weight``.

    Examples
    --------
    >>> from e3xp.core.plans import fully_connected_tensor_product_plan
    >>> plan = fully_connected_tensor_product_plan("2x0e + 1o", "1o", "3x1o")
    >>> [(p.name, p.shape, p.offset) for p in path_spec(plan, "TP").params]
    [('w[0,0,0] 2x0e,1x1o,3x1o', (2, 1, 3), 0)]
    """
    params = []
    for p in plan.paths:
        if not p.has_weight:
            continue
        name = (f"w[{p.i_in1},{p.i_in2},{p.i_out}] "
                f"{plan.irreps_in1[p.i_in1]},{plan.irreps_in2[p.i_in2]},{plan.irreps_out[p.i_out]}")
        params.append(ParamSpec(name, tuple(p.weight_shape), "normal", 1.0, "weight", p.weight_offset))
    return LayerSpec(kind, (plan.irreps_in1, plan.irreps_in2), plan.irreps_out, plan, tuple(params))


def _flat(module, spec: LayerSpec, dtype):
    ws = [module.param(p.name, nn.initializers.normal(stddev=p.std), p.shape, dtype) for p in spec.params]
    return jnp.concatenate([w.reshape(-1) for w in ws]) if ws else jnp.zeros((0,), dtype)


def _inputs(x1, x2, what):
    x1 = to_irreps_array(x1, f"{what}: x1")
    x2 = to_irreps_array(x2, f"{what}: x2")
    try:
        lead = jnp.broadcast_shapes(x1.shape[:-1], x2.shape[:-1])
    except ValueError:
        raise ValueError(f"{what}: the leading shapes {x1.shape[:-1]} and {x2.shape[:-1]} do not broadcast") from None
    dtype = jnp.result_type(x1.dtype, x2.dtype)
    return x1.broadcast_to(lead + (-1,)).astype(dtype), x2.broadcast_to(lead + (-1,)).astype(dtype), dtype


class FullyConnectedTensorProduct(nn.Module):
    r"""Fully connected weighted tensor product ("uvw") as a flax module.

    The parameter layout of e3nn-jax's haiku ``FullyConnectedTensorProduct`` (see
    the module docstring): the inputs are simplified after dropping their zero
    chunks, the paths enumerated ``i1, i2, i_out`` over them and ``irreps_out``
    (simplified); the output is rechunked to ``irreps_out``. Numbers are
    e3nn's / e3nn-jax's (``irrep_normalization="component"``, ``"element"`` path
    normalization, weights N(0, 1) with ``1/sqrt(fan_in)`` in the forward pass).
    Computed by :class:`e3xp.FullyConnectedTensorProduct` on the flat weights.
    Unreachable outputs are zero.

    Parameters
    ----------
    irreps_out : str or Irreps
    irreps_in1, irreps_in2 : str or Irreps, optional
        When given, the inputs are rechunked to them (must simplify alike).

    Examples
    --------
    >>> import jax, e3xp
    >>> x = e3xp.IrrepsArray("2x0e + 1o", jax.numpy.ones(5))
    >>> y = e3xp.IrrepsArray("1o", jax.numpy.ones(3))
    >>> tp = FullyConnectedTensorProduct("3x1o + 0e")
    >>> w = tp.init(jax.random.PRNGKey(0), x, y)
    >>> sorted(w["params"])
    ['w[0,0,0] 2x0e,1x1o,3x1o', 'w[1,0,1] 1x1o,1x1o,1x0e']
    >>> tp.apply(w, x, y).irreps
    3x1o+1x0e
    """

    irreps_out: Any
    irreps_in1: Optional[Any] = None
    irreps_in2: Optional[Any] = None

    @nn.compact
    def __call__(self, x1, x2) -> IrrepsArray:
        what = "e3xp.flax.FullyConnectedTensorProduct"
        x1, x2, dtype = _inputs(x1, x2, what)
        if self.irreps_in1 is not None:
            x1 = x1.rechunk(Irreps(self.irreps_in1))
        if self.irreps_in2 is not None:
            x2 = x2.rechunk(Irreps(self.irreps_in2))
        x1 = x1.remove_zero_chunks().simplify()
        x2 = x2.remove_zero_chunks().simplify()
        irreps_out = Irreps(self.irreps_out)
        tp = _FullyConnected(irreps_out.simplify(), x1.irreps, x2.irreps)
        spec = path_spec(tp.plan, what)
        check_params(self, spec, what)
        out = tp.apply({"weight": _flat(self, spec, dtype)}, x1, x2)
        return out.rechunk(irreps_out)


class ChannelwiseTensorProduct(nn.Module):
    r"""Channelwise weighted tensor product ("uvu"), the NequIP / MACE convolution, as a flax module.

    ``tp(x, y, weights)`` with per-sample weights ``(..., weight_numel)`` (from a
    radial MLP: no parameters), or ``tp(x, y)`` with shared weights, one parameter
    per path (see the module docstring). Paths and output irreps are those of
    :class:`e3xp.ChannelwiseTensorProduct` (``mul1 x ir_out`` per path, stably
    sorted, not simplified); it computes the output.

    Parameters
    ----------
    filter_ir_out : str, Irreps or list of irreps, optional
    irrep_normalization : {"component", "norm"}
    path_normalization : {"element", "path"}

    Examples
    --------
    >>> import jax, e3xp
    >>> x = e3xp.IrrepsArray("4x0e + 4x1o", jax.numpy.ones((10, 16)))
    >>> y = e3xp.IrrepsArray("0e + 1o", jax.numpy.ones((10, 4)))
    >>> tp = ChannelwiseTensorProduct(filter_ir_out="0e + 1o")
    >>> v = tp.init(jax.random.PRNGKey(0), x, y, jax.numpy.ones((10, 16)))  # per-edge weights
    >>> v, tp.apply(v, x, y, jax.numpy.ones((10, 16))).irreps
    ({}, 4x0e+4x0e+4x1o+4x1o)
    >>> sorted(tp.init(jax.random.PRNGKey(0), x, y)["params"])[:2]  # shared weights
    ['w[0,0,0] 4x0e,1x0e,4x0e', 'w[0,1,2] 4x0e,1x1o,4x1o']
    """

    filter_ir_out: Optional[Any] = None
    irrep_normalization: str = "component"
    path_normalization: str = "element"

    @nn.compact
    def __call__(self, x1, x2, weights=None) -> IrrepsArray:
        what = "e3xp.flax.ChannelwiseTensorProduct"
        x1, x2, dtype = _inputs(x1, x2, what)
        tp = _Channelwise(x1.irreps, x2.irreps, self.filter_ir_out, self.irrep_normalization, self.path_normalization)
        if weights is None:
            spec = path_spec(tp.plan, what)
            check_params(self, spec, what)
            weights = _flat(self, spec, dtype)
        else:
            weights = jnp.asarray(getattr(weights, "array", weights))
            if weights.dtype.kind not in "fc":
                raise TypeError(f"{what}: weights must be floats, got {weights.dtype}")
            weights = weights.astype(jnp.result_type(weights.dtype, dtype))
        return tp.apply(weights, x1, x2)
