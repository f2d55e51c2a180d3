"""``e3xp.flax.Linear``: e3nn-jax's ``e3nn_jax.flax.Linear`` (0.21) on e3xp, same parameter tree."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Tuple, Union

import flax.linen as nn
import jax
import jax.numpy as jnp

from ..core.irreps import Irreps
from ..core.layer_spec import LayerSpec, ParamSpec
from ..irreps_array import IrrepsArray
from ..ops.functional_linear import FunctionalLinear
from ._common import check_params, normalization_exponent, to_irreps_array

__all__ = ["Linear", "linear_instructions", "linear_spec"]


@dataclass(frozen=True)
class Instruction:
    """One parameter of an e3nn-jax linear map: a weight block ``(mul_in, mul_out)`` or a bias (``i_in = -1``)."""

    i_in: int
    i_out: int
    path_shape: tuple
    path_weight: float  # coefficient in the forward pass: sqrt(alpha) ** g
    weight_std: float  # std of the initial weights: sqrt(alpha) ** (1 - g); 0 for biases


def linear_instructions(irreps_in, irreps_out, instructions=None, biases=False,
                        path_normalization: float = 0.0, gradient_normalization: float = 1.0) -> tuple:
    """e3nn-jax's instruction list of ``FunctionalLinear`` (weights ``i_in``-major, then biases).

    ``alpha = 1 / (mul_in ** p * sum over paths into i_out of mul_in' ** (1 - p))``
    (``p`` the path normalization); the forward coefficient is ``sqrt(alpha) ** g``
    and the initial standard deviation ``sqrt(alpha) ** (1 - g)``.

    Examples
    --------
    >>> [(i.i_in, i.i_out, i.path_shape) for i in linear_instructions("4x0e + 1o", "2x0e", biases=True)]
    [(0, 0, (4, 2)), (-1, 0, (2,))]
    """
    irreps_in, irreps_out = Irreps(irreps_in), Irreps(irreps_out)
    p, g = float(path_normalization), float(gradient_normalization)
    if instructions is None:
        pairs = [
            (i, o)
            for i, (_, ir_in) in enumerate(irreps_in)
            for o, (_, ir_out) in enumerate(irreps_out)
            if ir_in == ir_out
        ]
    else:
        pairs = []
        for pair in instructions:
            i, o = (int(v) for v in pair)
            if not (0 <= i < len(irreps_in) and 0 <= o < len(irreps_out)):
                raise ValueError(f"Linear: instruction {tuple(pair)} is out of range for {irreps_in} -> {irreps_out}")
            if irreps_in[i].ir != irreps_out[o].ir:
                raise ValueError(
                    f"Linear: instruction {tuple(pair)} connects {irreps_in[i]} to {irreps_out[o]}: irreps must be equal"
                )
            pairs.append((i, o))
    out = []
    for i, o in pairs:
        x = irreps_in[i].mul ** p * sum(irreps_in[i2].mul ** (1.0 - p) for i2, o2 in pairs if o2 == o)
        alpha = 1.0 / x if x > 0 else 1.0
        out.append(Instruction(i, o, (irreps_in[i].mul, irreps_out[o].mul),
                               math.sqrt(alpha) ** g, math.sqrt(alpha) ** (1.0 - g)))
    if isinstance(biases, bool):
        flags = [biases and ir.is_scalar() for _, ir in irreps_out]
    else:
        flags = [bool(b) for b in biases]
        if len(flags) != len(irreps_out):
            raise ValueError(f"Linear: biases={biases!r} needs one flag per entry of {irreps_out}")
        bad = [str(irreps_out[k]) for k, b in enumerate(flags) if b and not irreps_out[k].ir.is_scalar()]
        if bad:
            raise ValueError(f"Linear: biases={biases!r} puts a bias on {bad}: only 0e entries take one")
    out += [Instruction(-1, o, (irreps_out[o].dim,), 1.0, 0.0) for o, b in enumerate(flags) if b]
    return tuple(out)


def _name(ins: Instruction, irreps_in: Irreps, irreps_out: Irreps) -> str:
    if ins.i_in == -1:
        return f"b[{ins.i_out}] {irreps_out[ins.i_out]}"
    return f"w[{ins.i_in},{ins.i_out}] {irreps_in[ins.i_in]},{irreps_out[ins.i_out]}"


def linear_spec(irreps_in, irreps_out, instructions: tuple, lead: tuple = (), plan=None) -> LayerSpec:
    """The parameters of e3nn-jax's flax ``Linear``: one per instruction, named as e3nn-jax names them.

    ``lead`` prefixes every shape (``(d,)`` for weights mixed from ``d`` input
    scalars, ``(num_indexed_weights,)`` for indexed weights ...). Weight pieces are
    ``target="weight"`` at their offset in the flat (e3nn / FunctionalLinear) vector,
    biases ``target="bias"``.

    Examples
    --------
    >>> ins = linear_instructions("4x0e + 2x1o", "3x0e + 1o")
    >>> [(p.name, p.shape) for p in linear_spec("4x0e + 2x1o", "3x0e + 1o", ins).params]
    [('w[0,0] 4x0e,3x0e', (4, 3)), ('w[1,1] 2x1o,1x1o', (2, 1))]
    """
    irreps_in, irreps_out = Irreps(irreps_in), Irreps(irreps_out)
    params, offsets = [], {"weight": 0, "bias": 0}
    for ins in instructions:
        target = "bias" if ins.i_in == -1 else "weight"
        size = math.prod(ins.path_shape)
        params.append(ParamSpec(
            _name(ins, irreps_in, irreps_out), tuple(lead) + tuple(ins.path_shape),
            "zeros" if target == "bias" else "normal", ins.weight_std, target, offsets[target],
        ))
        offsets[target] += size
    return LayerSpec("e3xp.flax.Linear", (irreps_in,), irreps_out, plan, tuple(params))


def _apply_instructions(instructions, irreps_in: Irreps, irreps_out: Irreps, ws: Sequence, x) -> jax.Array:
    """``sum_paths path_weight * einsum("...uw,...ui->...wi")`` with weights of any leading shape (broadcast with x's)."""
    lead = jnp.broadcast_shapes(x.shape[:-1], *[w.shape[: w.ndim - len(i.path_shape)] for i, w in zip(instructions, ws)])
    slices = irreps_in.slices()
    outs = [None] * len(irreps_out)
    for ins, w in zip(instructions, ws):
        if ins.i_in == -1:
            y = ins.path_weight * w[..., :, None]
        else:
            mul, ir = irreps_in[ins.i_in]
            xi = x[..., slices[ins.i_in]].reshape(x.shape[:-1] + (mul, ir.dim))
            y = ins.path_weight * jnp.einsum("...uw,...ui->...wi", w, xi)
        outs[ins.i_out] = y if outs[ins.i_out] is None else outs[ins.i_out] + y
    blocks = []
    for o, (mul, ir) in enumerate(irreps_out):
        y = outs[o]
        y = jnp.zeros(lead + (mul, ir.dim), x.dtype) if y is None else jnp.broadcast_to(y, lead + (mul, ir.dim))
        blocks.append(y.reshape(lead + (mul * ir.dim,)))
    if not blocks:
        return jnp.zeros(lead + (0,), x.dtype)
    return jnp.concatenate(blocks, axis=-1)


def _pytree_dtype(*args):
    leaves = jax.tree_util.tree_leaves(args)
    return jax.eval_shape(lambda xs: sum(jnp.sum(x) for x in xs), leaves).dtype


class Linear(nn.Module):
    r"""Equivariant linear layer, a drop-in for ``e3nn_jax.flax.Linear`` (0.21).

    Same signature, output and parameter tree as e3nn-jax: parameters named
    ``"w[i_in,i_out] <mul_in x ir>,<mul_out x ir>"`` of shape ``(mul_in, mul_out)``
    (indices into the regrouped input irreps and the simplified output irreps),
    biases ``"b[i_out] <mul x 0e>"``. So params initialised by e3nn-jax load as
    they are, and ``init`` with the same key gives e3nn-jax's numbers (the same
    names, shapes, order, dtype and initialisers).

    The input (``IrrepsArray`` or plain array, seen as scalars) is regrouped after
    dropping its zero chunks; ``irreps_out`` is simplified and, unless
    ``force_irreps_out``, restricted to the irreps present in the input (as
    e3nn-jax: ``Linear("2x0e + 1o + 2e")`` on ``0e + 1o`` gives ``2x0e+1x1o``). With
    ``force_irreps_out`` the output has exactly ``irreps_out`` and the unreachable
    entries are zero. Leading axes are batch axes; with ``channel_out`` the axis
    before the irreps axis is a channel axis, merged into the multiplicities and
    mixed (output ``(..., channel_out, irreps_out.dim)``).

    Call as ``linear(x)``, or ``linear(weights, x)`` with per-sample weights:
    float scalars ``(..., d)`` mixed with ``d`` sets of parameters (as
    e3nn-jax's ``linear_mixed``; ``weights_per_channel`` gives one per channel),
    or integer indices with ``num_indexed_weights``.

    Parameters
    ----------
    irreps_out : str or Irreps
    irreps_in : str or Irreps, optional
        Checked against the input (up to regrouping) when given.
    channel_out : int, optional
    gradient_normalization : "element", "path", a number, or None (``e3xp.config``, "path")
        "path": weights N(0, 1) and coefficient ``1/sqrt(fan_in)`` in the forward
        pass; "element": weights N(0, 1/fan_in) and coefficient 1.
    path_normalization : "element", "path", a number, or None (``e3xp.config``, "element")
    biases : bool
        Zero-initialised biases on the ``0e`` outputs.
    parameter_initializer : callable returning a ``jax.nn.initializers`` initializer, optional
        Used for every parameter (biases too), as in e3nn-jax.
    instructions : list of (i_in, i_out), optional
        Needs ``irreps_in`` and ``simplify_irreps_internally=False``.
    num_indexed_weights : int, optional
    weights_per_channel : bool
    force_irreps_out : bool
    simplify_irreps_internally : bool

    Examples
    --------
    >>> import jax, e3xp
    >>> x = e3xp.IrrepsArray("0e + 1o", jax.numpy.array([1.0, 0.0, 2.0, 0.0]))
    >>> linear = Linear("2x0e + 1o + 2e")
    >>> w = linear.init(jax.random.PRNGKey(0), x)
    >>> sorted(w["params"])
    ['w[0,0] 1x0e,2x0e', 'w[1,1] 1x1o,1x1o']
    >>> linear.apply(w, x).irreps  # the 2e is not reachable: dropped, as in e3nn-jax
    2x0e+1x1o
    """

    irreps_out: Any
    irreps_in: Any = None
    channel_out: Optional[int] = None
    gradient_normalization: Optional[Union[float, str]] = None
    path_normalization: Optional[Union[float, str]] = None
    biases: bool = False
    parameter_initializer: Optional[Callable[[], Callable]] = None
    instructions: Optional[Sequence[Tuple[int, int]]] = None
    num_indexed_weights: Optional[int] = None
    weights_per_channel: bool = False
    force_irreps_out: bool = False
    simplify_irreps_internally: bool = True

    def _normalizations(self):
        p = normalization_exponent(self.path_normalization, "path_normalization", "e3xp.flax.Linear", "path_normalization")
        g = normalization_exponent(self.gradient_normalization, "gradient_normalization", "e3xp.flax.Linear",
                                   "gradient_normalization")
        return p, g

    def _param(self, p: ParamSpec, dtype):
        if self.parameter_initializer is not None:
            init = self.parameter_initializer()
        elif p.init == "zeros":
            init = nn.initializers.zeros
        else:
            init = nn.initializers.normal(stddev=p.std)
        return self.param(p.name, init, p.shape, dtype)

    @nn.compact
    def __call__(self, weights_or_input, input_or_none=None) -> IrrepsArray:
        """Apply to ``x`` (``linear(x)``) or with per-sample weights (``linear(weights, x)``)."""
        what = "e3xp.flax.Linear"
        if input_or_none is None:
            weights, x = None, weights_or_input
        else:
            weights, x = weights_or_input, input_or_none
            if isinstance(weights, IrrepsArray) or hasattr(weights, "irreps"):
                if not Irreps(str(weights.irreps)).is_scalar():
                    raise ValueError(f"{what}: weights must be scalars (0e), got irreps {weights.irreps}")
                weights = weights.array
            weights = jnp.asarray(weights)
        if isinstance(x, IrrepsArray) or hasattr(x, "irreps"):
            x = to_irreps_array(x, f"{what}: input")
        else:
            x = jnp.asarray(x)
            if x.ndim == 0:
                raise ValueError(f"{what}: the input is a scalar (shape ()); give it shape (..., n)")
            x = IrrepsArray(Irreps(f"{x.shape[-1]}x0e"), x if x.dtype.kind in "fc" else x.astype(jnp.float32))
        if self.channel_out is not None and (not isinstance(self.channel_out, int) or self.channel_out < 1):
            raise ValueError(f"{what}: channel_out={self.channel_out!r} must be a positive int")

        dtype = _pytree_dtype(weights, x.array)
        if dtype.kind in "biu":
            dtype = jnp.dtype(jnp.float32)
        x = x.astype(dtype)
        irreps_out = Irreps(self.irreps_out)
        if self.simplify_irreps_internally:
            x = x.remove_zero_chunks().regroup()
            irreps_out = irreps_out.simplify()
        if not self.force_irreps_out:
            irreps_out = irreps_out.filter(keep=x.irreps)
        if self.channel_out is not None:
            if self.weights_per_channel:
                raise ValueError(f"{what}: channel_out and weights_per_channel cannot be combined (as in e3nn-jax)")
            if x.ndim < 2:
                raise ValueError(f"{what}: channel_out={self.channel_out} needs inputs (..., channels, irreps.dim), "
                                 f"got shape {x.shape}")
            x = x.axis_to_mul()
            irreps_out = self.channel_out * irreps_out
        self._validate(x)

        p, g = self._normalizations()
        instructions = linear_instructions(x.irreps, irreps_out, self.instructions, self.biases, p, g)
        if weights is None:
            if self.weights_per_channel:
                raise NotImplementedError(f"{what}: weights_per_channel needs per-sample weights (as in e3nn-jax)")
            spec = linear_spec(x.irreps, irreps_out, instructions)
            check_params(self, spec, what)
            ws = [self._param(q, dtype) for q in spec.params]
            if self.instructions is None and p in (0.0, 1.0):
                # the functional layer: e3xp's kernels on the flat e3nn layout
                lin = FunctionalLinear(
                    x.irreps, irreps_out, biases=[any(i.i_in == -1 and i.i_out == o for i in instructions)
                                                  for o in range(len(irreps_out))],
                    path_normalization="element" if p == 0.0 else "path", gradient_normalization=g,
                )
                flat = [w.reshape(-1) for w in ws]
                flat = jnp.concatenate(flat) if flat else jnp.zeros((0,), dtype)
                output = lin(flat, x)
            else:
                output = IrrepsArray(irreps_out, _apply_instructions(instructions, x.irreps, irreps_out, ws, x.array))
        else:
            output = self._call_with_weights(weights, x, irreps_out, instructions, g, dtype)

        if self.channel_out is not None:
            output = output.mul_to_axis(self.channel_out)
        if self.force_irreps_out:
            return output.rechunk(Irreps(self.irreps_out))
        return output

    def _validate(self, x: IrrepsArray) -> None:
        what = "e3xp.flax.Linear"
        if self.instructions is None:
            if self.irreps_in is not None and x.irreps.regroup() != Irreps(self.irreps_in).regroup():
                raise ValueError(f"{what}: the input irreps ({x.irreps}) do not match the expected irreps ({self.irreps_in})")
            return
        if self.simplify_irreps_internally:
            raise ValueError(f"{what}: instructions need simplify_irreps_internally=False (as in e3nn-jax)")
        if self.channel_out is not None:
            raise ValueError(f"{what}: instructions are not supported with channel_out")
        if self.irreps_in is None:
            raise ValueError(f"{what}: instructions are given, but irreps_in is not")
        if x.irreps != Irreps(self.irreps_in):
            raise ValueError(f"{what}: the input irreps ({x.irreps}) differ from irreps_in ({self.irreps_in})")

    def _call_with_weights(self, weights, x: IrrepsArray, irreps_out, instructions, g, dtype) -> IrrepsArray:
        what = "e3xp.flax.Linear"
        if weights.dtype.kind in "iu" and self.num_indexed_weights is not None:
            if self.weights_per_channel:
                raise NotImplementedError(f"{what}: weights_per_channel with indexed weights (as in e3nn-jax)")
            spec = linear_spec(x.irreps, irreps_out, instructions, lead=(self.num_indexed_weights,))
            check_params(self, spec, what)
            ws = [self._param(q, dtype)[weights] for q in spec.params]
        elif weights.dtype.kind in "fc" and self.num_indexed_weights is None:
            if weights.ndim == 0:
                raise ValueError(f"{what}: weights must have shape (..., d), got a scalar")
            d = weights.shape[-1]
            scale = math.sqrt(1.0 / d)
            lead = (d,)
            if self.weights_per_channel:
                if x.ndim < 2:
                    raise ValueError(f"{what}: weights_per_channel needs inputs (..., channels, irreps.dim)")
                lead = (d, x.shape[-2])
            mixed = tuple(
                Instruction(i.i_in, i.i_out, i.path_shape, i.path_weight, scale ** (1.0 - g) * i.weight_std)
                for i in instructions
            )
            spec = linear_spec(x.irreps, irreps_out, mixed, lead=lead)
            check_params(self, spec, what)
            weights = weights.astype(dtype)
            # (..., d) . (d, [nc,] *path_shape) -> (..., [nc,] *path_shape), as e3nn-jax's dot_general
            ws = [scale ** g * jnp.tensordot(weights, self._param(q, dtype), axes=([weights.ndim - 1], [0]))
                  for q in spec.params]
        else:
            raise ValueError(
                f"{what}: weights must be integers with num_indexed_weights set, or floats without it; got "
                f"weights.dtype={weights.dtype}, num_indexed_weights={self.num_indexed_weights}"
            )
        ws = [w.astype(dtype) for w in ws]
        return IrrepsArray(irreps_out, _apply_instructions(instructions, x.irreps, irreps_out, ws, x.array))
