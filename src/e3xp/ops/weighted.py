"""Weighted tensor products: fully connected ("uvw") and channelwise ("uvu").

These are the bilinear layers of NequIP / MACE style interatomic potentials. Their
flat weight layouts are e3nn's (``o3.FullyConnectedTensorProduct`` and
``o3.TensorProduct`` with MACE's "uvu" instructions), so weights trained with e3nn
carry over unchanged. The irreps bookkeeping is a cached plan from
:mod:`e3xp.core.plans`; the backend of the inputs executes it.
"""

from __future__ import annotations

from ..backends import backend_of
from ..core.irreps import Irreps
from ..core.plans import channelwise_tensor_product_plan, fully_connected_tensor_product_plan
from ..irreps_array import IrrepsArray
from ._common import as_irreps_array

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
    if isinstance(weights, IrrepsArray):
        raise TypeError(f"{what}: weights must be a plain array, got an IrrepsArray ({weights.irreps})")
    shape = getattr(weights, "shape", None)
    if shape is None:
        raise TypeError(f"{what}: weights must be an array, got {type(weights).__name__}")
    shape = tuple(shape)
    if len(shape) == 0 or shape[-1] != plan.weight_numel:
        raise ValueError(
            f"{what}: weights of shape {shape} do not match weight_numel={plan.weight_numel}; expected "
            f"({plan.weight_numel},) shared or (..., {plan.weight_numel}) per sample, laid out as "
            f"{_layout(plan)}"
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
    return IrrepsArray(plan.irreps_out, backend.tensor_product(plan, a, b, w))


def _broadcast_shapes(*shapes):
    import numpy as np

    return tuple(np.broadcast_shapes(*shapes))


class FullyConnectedTensorProduct:
    r"""Fully connected weighted tensor product ("uvw"), e3nn's ``o3.FullyConnectedTensorProduct``.

    Every output channel ``w`` of every output entry is a weighted sum over all input
    channel pairs ``(u, v)`` and all paths ``ir1 x ir2 -> ir_out`` allowed by the
    selection rule. The irreps are used exactly as given (not regrouped), because
    the flat weight layout depends on them: one block ``(mul1, mul2, mul_out)`` per
    path, paths ordered by ``i1``, then ``i2``, then ``i_out`` (e3nn's layout).
    With weights drawn from N(0, 1) the output has second moment ~1.

    Parameters
    ----------
    irreps_out : str or Irreps
    irreps_in1, irreps_in2 : str or Irreps, optional
        Declared input irreps; otherwise taken from the inputs at :meth:`init`.
    irrep_normalization : {"component", "norm"}
    path_normalization : {"element", "path"}

    Raises
    ------
    ValueError
        Irreps that admit no path; inputs whose irreps differ from the declared /
        initialised ones; weights of the wrong shape.

    Examples
    --------
    >>> import numpy as np
    >>> tp = FullyConnectedTensorProduct("2x0e + 1o", "3x0e + 1o", "0e + 1o")
    >>> tp.weight_numel  # 3*1*2 + 1*1*2 + 3*1*1 + 1*1*1
    12
    >>> x = IrrepsArray("3x0e + 1o", np.arange(6.0))
    >>> y = IrrepsArray("0e + 1o", np.ones(4))
    >>> w = tp.init(0, x, y)
    >>> tp.apply(w, x, y).irreps
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
        self.irreps_out = Irreps(irreps_out)
        self.irreps_in1 = None if irreps_in1 is None else Irreps(irreps_in1)
        self.irreps_in2 = None if irreps_in2 is None else Irreps(irreps_in2)
        self.irrep_normalization = irrep_normalization
        self.path_normalization = path_normalization
        if self.irreps_in1 is not None and self.irreps_in2 is not None:
            self._plan = self._make_plan(self.irreps_in1, self.irreps_in2)
        else:
            self._plan = None

    def _make_plan(self, irreps_in1, irreps_in2):
        plan = fully_connected_tensor_product_plan(
            irreps_in1, irreps_in2, self.irreps_out, self.irrep_normalization, self.path_normalization
        )
        if plan.weight_numel == 0:
            raise ValueError(
                f"FullyConnectedTensorProduct: no weighted path from {irreps_in1} x {irreps_in2} to "
                f"{self.irreps_out} (every allowed path has a zero multiplicity)"
            )
        return plan

    @property
    def plan(self):
        """The :class:`~e3xp.core.plans.TensorProductPlan` (once the input irreps are known)."""
        if self._plan is None:
            raise ValueError(
                "FullyConnectedTensorProduct: the input irreps are not known yet; pass irreps_in1 and "
                "irreps_in2 to the constructor or call init(seed, x, y) first"
            )
        return self._plan

    @property
    def weight_numel(self) -> int:
        """Size of the flat weight vector."""
        return self.plan.weight_numel

    def _resolve(self, x: IrrepsArray, y: IrrepsArray, what: str):
        for got, want, name in ((x.irreps, self.irreps_in1, "x"), (y.irreps, self.irreps_in2, "y")):
            if want is not None and got != want:
                raise ValueError(
                    f"{what}: {name} has irreps {got}, but this layer was built for {want} "
                    "(the weight layout depends on the exact irreps list)"
                )
        if self._plan is None:
            self._plan = self._make_plan(x.irreps, y.irreps)
            self.irreps_in1, self.irreps_in2 = x.irreps, y.irreps
        return self._plan

    def init(self, seed, x, y):
        """Initial flat weights, N(0, 1), on ``x``'s backend, device and dtype.

        Parameters
        ----------
        seed : int, numpy Generator, JAX key or torch Generator
        x, y : IrrepsArray
            Example inputs; their irreps fix the layer's input irreps.

        Returns
        -------
        array
            Shape ``(weight_numel,)``.
        """
        x = as_irreps_array(x, "FullyConnectedTensorProduct.init: x")
        y = as_irreps_array(y, "FullyConnectedTensorProduct.init: y")
        plan = self._resolve(x, y, "FullyConnectedTensorProduct.init")
        return x.backend.normal(seed, (plan.weight_numel,), dtype=x.dtype, device=x.device)

    def apply(self, weights, x, y) -> IrrepsArray:
        """Evaluate with flat ``weights``, shared ``(weight_numel,)`` or per sample ``(..., weight_numel)``.

        Returns
        -------
        IrrepsArray
            Irreps ``irreps_out``; leading shape the broadcast of ``x``, ``y`` (and
            per-sample weights).
        """
        x = as_irreps_array(x, "FullyConnectedTensorProduct.apply: x")
        y = as_irreps_array(y, "FullyConnectedTensorProduct.apply: y")
        plan = self._resolve(x, y, "FullyConnectedTensorProduct.apply")
        return _execute(plan, weights, x, y, "FullyConnectedTensorProduct.apply")

    def __repr__(self) -> str:
        return (
            f"FullyConnectedTensorProduct({self.irreps_out}, irreps_in1={self.irreps_in1}, "
            f"irreps_in2={self.irreps_in2})"
        )


class ChannelwiseTensorProduct:
    r"""Channelwise weighted tensor product ("uvu"), the convolution of NequIP / MACE.

    Paths are enumerated as MACE does: ``i1`` over ``irreps_in1``, ``i2`` over
    ``irreps_in2``, ``ir_out`` in ``ir1 x ir2`` kept when allowed by
    ``filter_ir_out``. Each path writes ``mul1`` copies of ``ir_out``; channel ``u``
    of the output is ``sum_v W[u, v] (x_u (x) y_v)`` with one weight block
    ``(mul1, mul2)`` per path. The output blocks are sorted stably by irrep (not
    simplified). It equals e3nn's ``o3.TensorProduct`` built with those "uvu"
    instructions; the weights are typically per sample (per edge), from a radial MLP.

    Parameters
    ----------
    irreps_in1, irreps_in2 : str or Irreps
        Node features and edge attributes (e.g. spherical harmonics).
    filter_ir_out : None, str, Irreps or list of irreps
        Output irreps to keep (all when None).
    irrep_normalization : {"component", "norm"}
    path_normalization : {"element", "path"}

    Raises
    ------
    ValueError
        No path survives ``filter_ir_out``; inputs with other irreps; weights of the
        wrong shape.

    Examples
    --------
    >>> import numpy as np
    >>> tp = ChannelwiseTensorProduct("4x0e + 4x1o", "0e + 1o", filter_ir_out="0e + 1o")
    >>> tp.irreps_out, tp.weight_numel
    (4x0e+4x0e+4x1o+4x1o, 16)
    >>> x = IrrepsArray(tp.irreps_in1, np.ones((5, 16)))
    >>> y = IrrepsArray(tp.irreps_in2, np.ones((5, 4)))
    >>> tp.apply(np.ones((5, 16)), x, y).shape  # per-edge weights
    (5, 32)
    """

    def __init__(
        self,
        irreps_in1,
        irreps_in2,
        filter_ir_out=None,
        irrep_normalization="component",
        path_normalization="element",
    ):
        self.irreps_in1 = Irreps(irreps_in1)
        self.irreps_in2 = Irreps(irreps_in2)
        self.filter_ir_out = filter_ir_out
        self.plan = channelwise_tensor_product_plan(
            self.irreps_in1, self.irreps_in2, filter_ir_out, irrep_normalization, path_normalization
        )
        if self.plan.weight_numel == 0:
            raise ValueError(
                f"ChannelwiseTensorProduct: no weighted path from {self.irreps_in1} x {self.irreps_in2} "
                f"(filter_ir_out={filter_ir_out!r}); every allowed path has a zero multiplicity"
            )

    @property
    def irreps_out(self) -> Irreps:
        """Output irreps: ``mul1 x ir_out`` per path, stably sorted, not simplified."""
        return self.plan.irreps_out

    @property
    def weight_numel(self) -> int:
        """Size of the flat weight vector (per sample when weights are per sample)."""
        return self.plan.weight_numel

    def _check(self, x, y, what):
        x = as_irreps_array(x, f"{what}: x")
        y = as_irreps_array(y, f"{what}: y")
        for got, want, name in ((x.irreps, self.irreps_in1, "x"), (y.irreps, self.irreps_in2, "y")):
            if got != want:
                raise ValueError(f"{what}: {name} has irreps {got}, but this layer was built for {want}")
        return x, y

    def init(self, seed, x, y):
        """Shared flat weights, N(0, 1), on ``x``'s backend, device and dtype: ``(weight_numel,)``."""
        x, y = self._check(x, y, "ChannelwiseTensorProduct.init")
        return x.backend.normal(seed, (self.weight_numel,), dtype=x.dtype, device=x.device)

    def apply(self, weights, x, y) -> IrrepsArray:
        """Evaluate with flat ``weights``, shared ``(weight_numel,)`` or per sample ``(..., weight_numel)``.

        Returns
        -------
        IrrepsArray
            Irreps ``irreps_out``.
        """
        x, y = self._check(x, y, "ChannelwiseTensorProduct.apply")
        return _execute(self.plan, weights, x, y, "ChannelwiseTensorProduct.apply")

    def __repr__(self) -> str:
        return (
            f"ChannelwiseTensorProduct({self.irreps_in1}, {self.irreps_in2}, "
            f"filter_ir_out={self.filter_ir_out!r}) -> {self.irreps_out}"
        )
