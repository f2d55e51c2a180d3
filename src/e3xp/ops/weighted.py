"""Weighted tensor products: fully connected ("uvw") and channelwise ("uvu").

These are the bilinear layers of NequIP / MACE style interatomic potentials. Their
flat weight layouts are e3nn's (``o3.FullyConnectedTensorProduct`` and
``o3.TensorProduct`` with MACE's "uvu" instructions), so weights trained with e3nn
carry over unchanged. The irreps bookkeeping is a cached plan from
:mod:`e3xp.core.plans`; the backend of the inputs executes it.

Both layers are immutable values (see :class:`~e3xp.ops._common.FrozenLayer`):
parameters live in the dict ``{"weight": flat array}`` that ``init`` returns,
never on the layer.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..backends import backend_of
from ..core.irreps import Irreps
from ..core.layer_spec import LayerSpec
from ..core.plans import (
    TensorProductPlan,
    _channelwise_options,
    _filter_key,
    _irrep_normalization,
    _path_normalization,
    channelwise_tensor_product_plan,
    fully_connected_tensor_product_plan,
)
from .._static import irreps_from_key, irreps_key, static_call, static_function
from ..irreps_array import IrrepsArray
from ._common import FrozenLayer, as_irreps_array, init_from_spec, param_array, unpack_params

__all__ = ["FullyConnectedTensorProduct", "ChannelwiseTensorProduct"]

_MAX_LAYOUT_LINES = 8


def _layout(plan) -> str:
    """Human-readable weight layout: one line per weighted path, in flat order."""
    lines = []
    weighted = [p for p in plan.paths if p.has_weight]
    for p in weighted[:_MAX_LAYOUT_LINES]:
        ir1 = plan.irreps_in1[p.i_in1]
        ir2 = plan.irreps_in2[p.i_in2]
        iro = plan.irreps_out[p.i_out]
        lines.append(
            f"[{p.weight_offset}:{p.weight_offset + p.weight_size}] {ir1} x {ir2} -> {iro} "
            f"as {p.weight_shape}"
        )
    if len(weighted) > _MAX_LAYOUT_LINES:
        lines.append(f"... ({len(weighted) - _MAX_LAYOUT_LINES} more paths)")
    return "; ".join(lines)


def _check_weights(weights, plan, what: str):
    """The shape of ``weights`` (already known to be an array) if it fits ``plan``."""
    shape = tuple(weights.shape)
    if len(shape) == 0 or shape[-1] != plan.weight_numel:
        raise ValueError(
            f"{what}: weights of shape {shape} do not match weight_numel={plan.weight_numel} of inputs "
            f"{plan.irreps_in1} x {plan.irreps_in2}; expected ({plan.weight_numel},) shared or "
            f"(..., {plan.weight_numel}) per sample, laid out as {_layout(plan)}"
        )
    return shape


def _execute(plan, weights, x: IrrepsArray, y: IrrepsArray, what: str) -> IrrepsArray:
    wshape = _check_weights(weights, plan, what)
    backend = backend_of(x.array, y.array, weights)
    backend.check_float(weights, f"{what}: weights")
    xp = backend.xp
    a, b, w = x.array, y.array, weights
    dtype = xp.result_type(a, b, w)
    a, b, w = (t if t.dtype == dtype else xp.astype(t, dtype) for t in (a, b, w))
    lead = [tuple(a.shape[:-1]), tuple(b.shape[:-1])]
    if len(wshape) > 1:
        lead.append(wshape[:-1])
    try:
        _broadcast_shapes(*lead)
    except ValueError:
        names = ["x", "y", "weights"][: len(lead)]
        raise ValueError(
            f"{what}: the leading shapes "
            + ", ".join(f"{n} {s}" for n, s in zip(names, lead))
            + " do not broadcast"
        ) from None
    if plan.weight_numel == 0:
        # No weighted path (the requested outputs are unreachable): zeros, with the
        # leading shape the weights would have given.
        out = backend.tensor_product(plan, a, b)
        full = _broadcast_shapes(*lead) + (plan.irreps_out.dim,)
        return IrrepsArray(plan.irreps_out, xp.broadcast_to(out, full) if tuple(out.shape) != full else out)
    return IrrepsArray(plan.irreps_out, backend.tensor_product(plan, a, b, w))


def _broadcast_shapes(*shapes):
    import numpy as np

    return tuple(np.broadcast_shapes(*shapes))


def _check_inputs(layer, x, y, what: str):
    """``x, y`` as IrrepsArrays with the irreps the layer declares (where it declares them)."""
    x = as_irreps_array(x, f"{what}: x")
    y = as_irreps_array(y, f"{what}: y")
    for got, want, name in ((x.irreps, layer.irreps_in1, "x"), (y.irreps, layer.irreps_in2, "y")):
        if want is not None and got != want:
            raise ValueError(
                f"{what}: {name} has irreps {got}, but this layer was built for {want} "
                "(the weight layout depends on the exact irreps list)"
            )
    return x, y


def _init_weights(seed, plan, x: IrrepsArray, kind: str) -> dict:
    spec = LayerSpec.for_tensor_product(plan, kind)
    # a plan without weights still returns {"weight": (0,)}, the key apply expects
    return init_from_spec(spec, seed, x) if spec.params else {"weight": x.backend.xp.zeros((0,), dtype=x.dtype, device=x.device)}


@static_function
def _fully_connected_plan(key_in1: tuple, key_in2: tuple, key_out: tuple, irrep_norm: str, path_norm: str):
    irreps_in1, irreps_in2, irreps_out = map(irreps_from_key, (key_in1, key_in2, key_out))
    if not any(ir_out in list(ir1 * ir2) for _, ir1 in irreps_in1 for _, ir2 in irreps_in2 for _, ir_out in irreps_out):
        # No path at all: the output is zero and there are no weights, as in e3nn and
        # e3nn-jax (design.md section 3), not an error.
        return TensorProductPlan(irreps_in1, irreps_in2, irreps_out, (), 0)
    return fully_connected_tensor_product_plan(irreps_in1, irreps_in2, irreps_out, irrep_norm, path_norm)


class FullyConnectedTensorProduct(FrozenLayer):
    r"""Fully connected weighted tensor product ("uvw"), e3nn's ``o3.FullyConnectedTensorProduct``.

    Every output channel ``w`` of every output entry is a weighted sum over all input
    channel pairs ``(u, v)`` and all paths ``ir1 x ir2 -> ir_out`` allowed by the
    selection rule. The irreps are used exactly as given (not regrouped), because
    the flat weight layout depends on them: one block ``(mul1, mul2, mul_out)`` per
    path, paths ordered by ``i1``, then ``i2``, then ``i_out`` (e3nn's layout).
    With weights drawn from N(0, 1) the output has second moment ~1.

    Parameters are the dict ``{"weight": flat array}`` (e3nn's name): shape
    ``(weight_numel,)`` shared, or ``(..., weight_numel)`` per sample. The layer is
    immutable and holds no parameters. With both input irreps declared, the plan
    is built at construction; otherwise each call derives it from its inputs
    (cached), and the input irreps stay unknown to the layer.

    Parameters
    ----------
    irreps_out : str or Irreps
    irreps_in1, irreps_in2 : str or Irreps, optional
        Declared input irreps; otherwise taken from each call's inputs.
    irrep_normalization : {"component", "norm"}
    path_normalization : {"element", "path"}

    Raises
    ------
    ValueError
        Inputs whose irreps differ from the declared ones; weights that do not fit
        the input irreps. Output irreps that no path reaches are not an error: they
        get no weights and are zero (as in e3nn and e3nn-jax); with no path at all,
        ``weight_numel`` is 0 and the output is zero.
    TypeError
        Params that are not the dict ``init`` returns (e.g. a bare array).

    Examples
    --------
    >>> import numpy as np
    >>> tp = FullyConnectedTensorProduct("2x0e + 1o", "3x0e + 1o", "0e + 1o")
    >>> tp.weight_numel  # 3*1*2 + 1*1*2 + 3*1*1 + 1*1*1
    12
    >>> x = IrrepsArray("3x0e + 1o", np.arange(6.0))
    >>> y = IrrepsArray("0e + 1o", np.ones(4))
    >>> params = tp.init(0, x, y)
    >>> sorted(params), params["weight"].shape
    (['weight'], (12,))
    >>> tp.apply(params, x, y).irreps
    2x0e+1x1o
    """

    def __init__(
        self,
        irreps_out,
        irreps_in1=None,
        irreps_in2=None,
        irrep_normalization="component",
        path_normalization="element",
    ):
        self._set(
            irreps_out=Irreps(irreps_out),
            irreps_in1=None if irreps_in1 is None else Irreps(irreps_in1),
            irreps_in2=None if irreps_in2 is None else Irreps(irreps_in2),
            irrep_normalization=_irrep_normalization(irrep_normalization),
            path_normalization=_path_normalization(path_normalization),
        )
        known = self.irreps_in1 is not None and self.irreps_in2 is not None
        self._set(_plan=self._plan_for(self.irreps_in1, self.irreps_in2) if known else None)

    def _init_args(self) -> tuple:
        return (
            self.irreps_out,
            self.irreps_in1,
            self.irreps_in2,
            self.irrep_normalization,
            self.path_normalization,
        )

    def _plan_for(self, irreps_in1, irreps_in2):
        return static_call(
            _fully_connected_plan,
            irreps_key(irreps_in1),
            irreps_key(irreps_in2),
            irreps_key(self.irreps_out),
            self.irrep_normalization,
            self.path_normalization,
        )

    @property
    def plan(self):
        """The :class:`~e3xp.core.plans.TensorProductPlan` (needs both input irreps declared)."""
        if self._plan is None:
            raise ValueError(
                "FullyConnectedTensorProduct: the input irreps are not known yet; pass irreps_in1 and "
                "irreps_in2 to the constructor (init does not fix them: each call derives the "
                "layout from its inputs)"
            )
        return self._plan

    @property
    def weight_numel(self) -> int:
        """Size of the flat weight vector (needs both input irreps declared)."""
        return self.plan.weight_numel

    @property
    def spec(self) -> LayerSpec:
        """The framework-free :class:`~e3xp.core.layer_spec.LayerSpec` (needs both input irreps declared).

        Examples
        --------
        >>> [(p.name, p.shape) for p in FullyConnectedTensorProduct("0e", "2x1o", "1o").spec.params]
        [('weight', (2,))]
        """
        return LayerSpec.for_tensor_product(self.plan, "FullyConnectedTensorProduct")

    def _resolve(self, x, y, what: str):
        x, y = _check_inputs(self, x, y, what)
        plan = self._plan if self._plan is not None else self._plan_for(x.irreps, y.irreps)
        return plan, x, y

    def init(self, seed, x, y) -> dict:
        """Initial parameters, N(0, 1), on ``x``'s backend, device and dtype.

        Parameters
        ----------
        seed : int, numpy Generator, JAX key or torch Generator
        x, y : IrrepsArray
            Example inputs; their irreps fix the weight layout (not the layer).

        Returns
        -------
        dict
            ``{"weight": array of shape (weight_numel,)}``.

        Examples
        --------
        >>> import numpy as np
        >>> tp = FullyConnectedTensorProduct("0e")
        >>> tp.init(0, IrrepsArray("2x1o", np.ones(6)), IrrepsArray("1o", np.ones(3)))["weight"].shape
        (2,)
        """
        plan, x, y = self._resolve(x, y, "FullyConnectedTensorProduct.init")
        return _init_weights(seed, plan, x, "FullyConnectedTensorProduct")

    def apply(self, params, x, y) -> IrrepsArray:
        """Evaluate with ``params = {"weight": w}``, ``w`` shared ``(weight_numel,)`` or ``(..., weight_numel)``.

        Returns
        -------
        IrrepsArray
            Irreps ``irreps_out``; leading shape the broadcast of ``x``, ``y`` (and
            per-sample weights).

        Examples
        --------
        >>> import numpy as np
        >>> tp = FullyConnectedTensorProduct("0e", "1o", "1o")
        >>> x = IrrepsArray("1o", np.array([1.0, 2.0, 3.0]))
        >>> tp.apply({"weight": np.ones(1)}, x, x)  # |x|^2 / sqrt(3)
        1x0e [8.08290377]
        >>> tp.apply(np.ones(1), x, x)
        Traceback (most recent call last):
        ...
        TypeError: FullyConnectedTensorProduct.apply: params must be the dict ... got a bare ndarray; pass {'weight': weights}
        """
        what = "FullyConnectedTensorProduct.apply"
        (weights,) = unpack_params(params, ("weight",), what)
        plan, x, y = self._resolve(x, y, what)
        return _execute(plan, weights, x, y, what)

    def __repr__(self) -> str:
        return (
            f"FullyConnectedTensorProduct({self.irreps_out}, irreps_in1={self.irreps_in1}, "
            f"irreps_in2={self.irreps_in2})"
        )


class ChannelwiseTensorProduct(FrozenLayer):
    r"""Channelwise weighted tensor product ("uvu"), the convolution of NequIP / MACE.

    Paths are enumerated as MACE and NequIP do: ``i1`` over ``irreps_in1``, ``i2``
    over ``irreps_in2``, ``ir_out`` in ``ir1 x ir2`` kept when allowed by
    ``filter_ir_out``. Each path writes ``mul1`` copies of ``ir_out``; channel ``u``
    of the output is ``sum_v W[u, v] (x_u (x) y_v)`` with one weight block
    ``(mul1, mul2)`` per path. The output blocks are stably sorted by irrep (not
    simplified) unless ``sort=None``. The weights are typically per sample (per
    edge), from a radial MLP.

    Each combination of options is e3nn's ``o3.TensorProduct(irreps_in1,
    irreps_in2, irreps_out, instructions)`` (default normalizations) for this
    recipe: enumerate ``instructions = [(i1, i2, k, "uvu", True)]`` with
    ``irreps_out = [(mul1, ir_out)]`` in that order, then

    * ``sort="e3nn", weight_order="sorted"``: MACE's
      ``tp_out_irreps_with_instructions``: ``irreps_out, p, _ =
      irreps_out.sort()`` (e3nn's sort), ``i_out -> p[i_out]``, and the instructions
      sorted by their new ``i_out``;
    * ``sort="e3nn", weight_order="instruction"``: NequIP's ``InteractionBlock``
      and e3nn's ``Convolution`` (``gate_points_2101``): the same sort and ``i_out
      -> p[i_out]``, the instructions kept in enumeration order (so are the weights);
    * ``sort=None`` (either ``weight_order``, they agree): the enumeration as it is,
      no sort;
    * ``sort="e3nn-jax"`` (default): as the first two, with e3nn-jax's sort
      ``0e, 0o, 1o, 1e, 2e, 2o`` instead of e3nn's ``0o, 0e, 1o, 1e, 2o, 2e``. It
      equals the ``"e3nn"`` recipes exactly when no ``l`` is output with both
      parities (the usual MACE filter ``0e + 1o + 2e + ...`` is such a case);
      otherwise the output blocks (and, with ``"sorted"``, the weight blocks) are
      permuted relative to e3nn's. Default (``"e3nn-jax"``, ``"sorted"``): the
      behaviour of earlier e3xp versions.

    The weights are an input, like the third argument of e3nn's
    ``TensorProduct.forward(x, y, weight)``: ``apply`` takes the flat array, or the
    dict ``{"weight": array}`` that ``init`` returns for shared weights. The layer
    is immutable and holds no parameters.

    Parameters
    ----------
    irreps_in1, irreps_in2 : str or Irreps
        Node features and edge attributes (e.g. spherical harmonics).
    filter_ir_out : None, str, Irreps or list of irreps
        Output irreps to keep (all when None). Stored canonically, as Irreps of
        the kept irreps (sorted, multiplicity 1).
    irrep_normalization : {"component", "norm"}
    path_normalization : {"element", "path"}
    weight_order : {"sorted", "instruction"}
        Order of the ``(mul1, mul2)`` weight blocks: by sorted output block (MACE)
        or by enumeration (NequIP, e3nn's ``Convolution``).
    sort : {"e3nn-jax", "e3nn", None}
        Order of the output blocks (see above).

    Raises
    ------
    ValueError
        No path survives ``filter_ir_out``; inputs with other irreps; weights of the
        wrong shape; an unknown ``weight_order`` or ``sort``.

    Examples
    --------
    >>> import numpy as np
    >>> tp = ChannelwiseTensorProduct("4x0e + 4x1o", "0e + 1o", filter_ir_out="1o + 0e")
    >>> tp.irreps_out, tp.weight_numel, tp.filter_ir_out
    (4x0e+4x0e+4x1o+4x1o, 16, 1x0e+1x1o)
    >>> x = IrrepsArray(tp.irreps_in1, np.ones((5, 16)))
    >>> y = IrrepsArray(tp.irreps_in2, np.ones((5, 4)))
    >>> tp.apply(np.ones((5, 16)), x, y).shape  # per-edge weights
    (5, 32)
    >>> ChannelwiseTensorProduct("1o + 1e", "0e + 1o", sort="e3nn").irreps_out  # e3nn: 0o before 0e
    1x0o+1x0e+1x1o+1x1o+1x1e+1x1e+1x2o+1x2e
    >>> ChannelwiseTensorProduct("1o + 1e", "0e + 1o", sort=None).irreps_out
    1x1o+1x0e+1x1e+1x2e+1x1e+1x0o+1x1o+1x2o
    >>> ChannelwiseTensorProduct("1o", "0e", weight_order="output")
    Traceback (most recent call last):
    ...
    ValueError: weight_order='output' is not supported: expected 'sorted' (weight blocks in output order, MACE) or 'instruction' (weight blocks in enumeration order, NequIP / e3nn)
    """

    def __init__(
        self,
        irreps_in1,
        irreps_in2,
        filter_ir_out=None,
        irrep_normalization="component",
        path_normalization="element",
        weight_order="sorted",
        sort="e3nn-jax",
    ):
        keep = _filter_key(filter_ir_out)  # canonical: equal filters give equal layers
        weight_order, sort = _channelwise_options(weight_order, sort)
        self._set(
            irreps_in1=Irreps(irreps_in1),
            irreps_in2=Irreps(irreps_in2),
            filter_ir_out=None if keep is None else Irreps([(1, ir) for ir in keep]),
            irrep_normalization=_irrep_normalization(irrep_normalization),
            path_normalization=_path_normalization(path_normalization),
            weight_order=weight_order,
            sort=sort,
        )
        plan = channelwise_tensor_product_plan(
            self.irreps_in1,
            self.irreps_in2,
            self.filter_ir_out,
            self.irrep_normalization,
            self.path_normalization,
            weight_order=weight_order,
            sort=sort,
        )
        if plan.weight_numel == 0:
            raise ValueError(
                f"ChannelwiseTensorProduct: no weighted path from {self.irreps_in1} x {self.irreps_in2} "
                f"(filter_ir_out={filter_ir_out!r}); every allowed path has a zero multiplicity"
            )
        self._set(plan=plan)

    def _init_args(self) -> tuple:
        return (
            self.irreps_in1,
            self.irreps_in2,
            self.filter_ir_out,
            self.irrep_normalization,
            self.path_normalization,
            self.weight_order,
            self.sort,
        )

    @property
    def spec(self) -> LayerSpec:
        """The framework-free :class:`~e3xp.core.layer_spec.LayerSpec`: one flat ``weight``.

        Examples
        --------
        >>> ChannelwiseTensorProduct("2x0e", "0e").spec.params[0].shape
        (2,)
        """
        return LayerSpec.for_tensor_product(self.plan, "ChannelwiseTensorProduct")

    @property
    def irreps_out(self) -> Irreps:
        """Output irreps: ``mul1 x ir_out`` per path, stably sorted (``sort``), not simplified."""
        return self.plan.irreps_out

    @property
    def weight_numel(self) -> int:
        """Size of the flat weight vector (per sample when weights are per sample)."""
        return self.plan.weight_numel

    def init(self, seed, x, y) -> dict:
        """Shared weights, N(0, 1), on ``x``'s backend, device and dtype: ``{"weight": (weight_numel,)}``.

        Examples
        --------
        >>> import numpy as np
        >>> tp = ChannelwiseTensorProduct("2x0e", "0e")
        >>> tp.init(0, IrrepsArray("2x0e", np.ones(2)), IrrepsArray("0e", np.ones(1)))["weight"].shape
        (2,)
        """
        _, x, y = self._resolve(x, y, "ChannelwiseTensorProduct.init")
        return _init_weights(seed, self.plan, x, "ChannelwiseTensorProduct")

    def _resolve(self, x, y, what: str):
        x, y = _check_inputs(self, x, y, what)
        return self.plan, x, y

    def apply(self, weights, x, y) -> IrrepsArray:
        """Evaluate with flat ``weights``, shared ``(weight_numel,)`` or per sample ``(..., weight_numel)``.

        ``weights`` is an array (typically per edge, from a radial MLP) or the
        dict ``{"weight": array}`` returned by :meth:`init`.

        Returns
        -------
        IrrepsArray
            Irreps ``irreps_out``.
        """
        what = "ChannelwiseTensorProduct.apply"
        if isinstance(weights, Mapping):
            (weights,) = unpack_params(weights, ("weight",), what)
        else:
            weights = param_array(weights, "weights", what)
        _, x, y = self._resolve(x, y, what)
        return _execute(self.plan, weights, x, y, what)

    def __repr__(self) -> str:
        keep = None if self.filter_ir_out is None else str(self.filter_ir_out)
        opts = "" if self.weight_order == "sorted" else f", weight_order={self.weight_order!r}"
        opts += "" if self.sort == "e3nn-jax" else f", sort={self.sort!r}"
        return (
            f"ChannelwiseTensorProduct({self.irreps_in1}, {self.irreps_in2}, "
            f"filter_ir_out={keep!r}{opts}) -> {self.irreps_out}"
        )
