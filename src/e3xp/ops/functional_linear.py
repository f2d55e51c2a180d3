"""e3nn-jax's ``FunctionalLinear``: an equivariant linear map with explicit flat weights."""

from __future__ import annotations

import math
import numbers

from ..backends import backend_of
from ..core.irreps import Irreps
from ..core.plans import linear_plan
from ..e3nn_config import config
from .._static import irreps_from_key, irreps_key, static_call, static_function
from ..irreps_array import IrrepsArray
from ._common import as_irreps_array
from .scatter import _device
from .tensor_products import _runs, scale_runs

__all__ = ["FunctionalLinear"]


def _normalization(value, name: str) -> float:
    if isinstance(value, str):
        table = {"element": 0.0, "path": 1.0}
        if value not in table:
            raise ValueError(f"FunctionalLinear: {name}={value!r} must be 'element', 'path' or a number")
        return table[value]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"FunctionalLinear: {name}={value!r} must be 'element', 'path' or a number")
    return float(value)


@static_function
def _functional_plan(key_in, key_out, biases, path_normalization, g):
    plan = linear_plan(irreps_from_key(key_in), irreps_from_key(key_out), biases=biases, path_normalization=path_normalization)
    # The plan applies sqrt(alpha); e3nn-jax applies sqrt(alpha) ** g. The factor
    # sqrt(alpha) ** (g - 1) is folded into the weights, as runs of Python floats.
    factors, sizes = [], []
    for p in sorted(plan.paths, key=lambda p: p.weight_offset):
        factors.append(1.0 if g == 1.0 else p.path_weight ** (g - 1.0))
        sizes.append(math.prod(p.weight_shape))
    return plan, (None if all(f == 1.0 for f in factors) else _runs(factors, sizes))


class FunctionalLinear:
    r"""Equivariant linear map ``irreps_in -> irreps_out`` applied to flat weights (e3nn-jax's class).

    Every ``(i_in, i_out)`` pair of equal irreps is a path (``i_in`` major) with a
    ``(mul_in, mul_out)`` weight block; the bias blocks (one per ``0e`` output with
    a bias) follow the weights. The input is *not* regrouped (as e3nn-jax).

    Parameters
    ----------
    irreps_in, irreps_out : str or Irreps
    instructions : None
        Only None (all allowed pairs) is supported; e3nn-jax's explicit
        ``(i_in, i_out)`` lists raise NotImplementedError.
    biases : None, bool or list of bool
        As e3nn-jax: True biases every ``0e`` output, a list gives one flag per output entry.
    path_normalization : {"element", "path"} or None
        ``alpha = 1 / fan_in`` summed per element ("element") or per path. None:
        ``e3xp.config("path_normalization")`` ("element" unless set).
    gradient_normalization : {"path", "element"}, a number, or None
        e3nn-jax's split of ``sqrt(alpha)`` between the forward coefficient and the
        initialisation: the path coefficient is ``sqrt(alpha) ** g`` ("path" = 1,
        "element" = 0). None: ``e3xp.config("gradient_normalization")`` ("path" unless set).

    Examples
    --------
    >>> import numpy as np
    >>> lin = FunctionalLinear("2x0e + 1o", "0e + 1o")
    >>> lin.num_weights
    3
    >>> lin(np.array([1.0, 1.0, 2.0]), IrrepsArray("2x0e + 1o", np.array([1.0, 1.0, 1.0, 0.0, 0.0])))
    1x0e+1x1o [1.41421356 2.         0.         0.        ]
    """

    def __init__(
        self,
        irreps_in,
        irreps_out,
        instructions=None,
        biases=None,
        path_normalization=None,
        gradient_normalization=None,
    ):
        if instructions is not None:
            raise NotImplementedError(
                "FunctionalLinear: instructions must be None (every pair of equal irreps); explicit "
                "(i_in, i_out) lists are not implemented in e3xp"
            )
        self.irreps_in = Irreps(irreps_in)
        self.irreps_out = Irreps(irreps_out)
        pn = config("path_normalization") if path_normalization is None else path_normalization
        if pn not in ("element", "path"):
            raise ValueError(f"FunctionalLinear: path_normalization={path_normalization!r} must be 'element' or 'path'")
        if gradient_normalization is None:
            gradient_normalization = config("gradient_normalization")
        g = _normalization(gradient_normalization, "gradient_normalization")
        flags = bool(biases) if biases is None or isinstance(biases, bool) else tuple(bool(b) for b in biases)
        # static_call keeps the plan construction out of torch.compile's trace
        self.plan, self._scale = static_call(
            _functional_plan, irreps_key(self.irreps_in), irreps_key(self.irreps_out), flags, pn, g
        )

    @property
    def num_weights(self) -> int:
        """Number of weights, biases included."""
        return self.plan.weight_numel + self.plan.bias_numel

    def split_weights(self, weights) -> list:
        """The flat ``weights`` as one ``(mul_in, mul_out)`` block per path, then the bias blocks.

        Examples
        --------
        >>> import numpy as np
        >>> [w.shape for w in FunctionalLinear("2x0e", "3x0e", biases=True).split_weights(np.arange(9.0))]
        [(2, 3), (3,)]
        """
        xp = backend_of(weights).xp
        blocks = [
            xp.reshape(weights[p.weight_offset : p.weight_offset + math.prod(p.weight_shape)], tuple(p.weight_shape))
            for p in self.plan.paths
        ]
        base = self.plan.weight_numel
        blocks += [weights[base + offset : base + offset + mul] for _, offset, mul in self.plan.biases]
        return blocks

    def __call__(self, ws, input) -> IrrepsArray:  # noqa: A002 - e3nn-jax's name
        """Apply to ``input`` (irreps ``irreps_in``; any leading shape) with flat weights ``ws`` (or a list of blocks)."""
        x = as_irreps_array(input, "FunctionalLinear: input")
        if x.irreps != self.irreps_in:
            if x.irreps.simplify() != self.irreps_in.simplify():
                raise ValueError(f"FunctionalLinear: input has irreps {x.irreps}, expected {self.irreps_in}")
            x = IrrepsArray(self.irreps_in, x.array)  # rechunk: same layout
        if isinstance(ws, (list, tuple)):
            xp = backend_of(*ws).xp
            ws = xp.concat([xp.reshape(w, (-1,)) for w in ws]) if ws else xp.zeros((0,))
        if getattr(ws, "shape", None) is None or tuple(ws.shape) != (self.num_weights,):
            raise ValueError(
                f"FunctionalLinear: ws must have shape ({self.num_weights},) (num_weights), got "
                f"{getattr(ws, 'shape', type(ws).__name__)}"
            )
        backend = backend_of(x.array, ws)
        n = self.plan.weight_numel
        w, b = ws[:n], (ws[n:] if self.plan.bias_numel else None)
        if self._scale is not None:
            w = scale_runs(backend.xp, w, self._scale)
        return IrrepsArray(self.irreps_out, backend.linear(self.plan, x.array, w, b))

    def matrix(self, ws):
        """The map as a ``(irreps_in.dim, irreps_out.dim)`` matrix (biases left out).

        Examples
        --------
        >>> import numpy as np
        >>> FunctionalLinear("0e", "2x0e").matrix(np.array([1.0, 2.0]))
        array([[1., 2.]])
        """
        backend = backend_of(ws)
        xp = backend.xp
        n = self.plan.weight_numel
        ws = xp.concat([ws[:n], xp.zeros_like(ws[n:])]) if self.plan.bias_numel else ws
        eye = xp.eye(self.irreps_in.dim, dtype=ws.dtype, device=_device(backend, ws))
        return self(ws, IrrepsArray(self.irreps_in, eye)).array

    def __repr__(self) -> str:
        return f"FunctionalLinear({self.irreps_in} -> {self.irreps_out}, {self.num_weights} weights)"
