"""Equivariant linear layer (Schur's lemma), functional: ``init(seed, x)`` and ``apply(params, x)``."""

from __future__ import annotations

from ..backends import backend_of
from ..core.irreps import Irreps
from ..core.plans import linear_plan
from .._static import irreps_from_key, irreps_key, static_call, static_function
from ..irreps_array import IrrepsArray
from ._common import as_irreps_array

__all__ = ["Linear"]


@static_function
def _plan(key_in: tuple, key_out: tuple, biases: bool):
    irreps_in, irreps_out = irreps_from_key(key_in), irreps_from_key(key_out)
    unreachable = [
        str(mul_ir)
        for mul_ir in irreps_out
        if mul_ir.mul > 0 and mul_ir.ir not in irreps_in and not (biases and mul_ir.ir.is_scalar())
    ]
    if unreachable:
        raise ValueError(
            f"Linear: no allowed path to the output irreps {' + '.join(unreachable)} from the "
            f"input {irreps_in} (a linear map only connects equal irreps)"
        )
    return linear_plan(irreps_in, irreps_out, biases=biases)


@static_function
def _regrouped(key: tuple) -> tuple:
    return irreps_key(irreps_from_key(key).regroup())


class Linear:
    r"""Equivariant linear map between irreps, following e3nn-jax's ``Linear``.

    As in e3nn-jax, the input is regrouped first (``8x0e + 4x1o + 3x0e`` is seen
    as ``11x0e + 4x1o``) and ``irreps_out`` is simplified (adjacent equal entries
    merged). Each ``(input block, output block)`` pair with equal irreps gets a
    weight block ``(mul_in, mul_out)`` with coefficient ``1 / sqrt(fan_in)``.

    Parameters are a dict of arrays on the input's backend:

    * ``"w"``: one flat weight vector of size ``weight_numel``, in e3nn's
      ``o3.Linear`` layout for ``(irreps_in.regroup(), irreps_out.simplify())``:
      blocks ordered by input block, then output block, each ``(mul_in, mul_out)``
      row-major. Initialised from N(0, 1), the same numbers on every backend for
      the same int seed.
    * ``"b"`` (only when ``biases=True``): size ``bias_numel``, one bias per ``0e``
      output channel in output order, initialised to zero.

    Parameters
    ----------
    irreps_out : str or Irreps
    irreps_in : str or Irreps, optional
        When given, ``init`` checks that the input has these irreps (up to regrouping).
    biases : bool

    Raises
    ------
    ValueError
        At ``init``: an output irrep that no input irrep reaches (and that no bias
        feeds). At ``apply``: input irreps different from those seen by ``init``.

    Examples
    --------
    >>> import numpy as np
    >>> a = IrrepsArray("3x0e + 2x1o", np.arange(9.0))
    >>> lin = Linear("1o + 3x0e + 1o")
    >>> params = lin.init(0, a)
    >>> sorted(params), params["w"].shape
    (['w'], (13,))
    >>> b = lin.apply(params, a)
    >>> b.irreps
    1x1o+3x0e+1x1o
    """

    def __init__(self, irreps_out, irreps_in=None, biases: bool = False):
        self.irreps_out = Irreps(irreps_out).simplify()
        self.irreps_in = None if irreps_in is None else Irreps(irreps_in).regroup()
        if not isinstance(biases, bool):
            raise TypeError(f"Linear: biases={biases!r} must be a bool")
        self.biases = biases

    def plan(self, irreps_in):
        """The :class:`~e3xp.core.plans.LinearPlan` for inputs with ``irreps_in`` (regrouped)."""
        key_in = static_call(_regrouped, irreps_key(Irreps(irreps_in)))
        if self.irreps_in is not None and key_in != irreps_key(self.irreps_in):
            raise ValueError(
                f"Linear: input irreps {irreps_from_key(key_in)} differ from the declared "
                f"irreps_in {self.irreps_in}"
            )
        return static_call(_plan, key_in, irreps_key(self.irreps_out), self.biases)

    def init(self, seed, x) -> dict:
        """Initial parameters for inputs like ``x``, on ``x``'s backend, device and dtype.

        Parameters
        ----------
        seed : int, numpy Generator, JAX key or torch Generator
        x : IrrepsArray

        Returns
        -------
        dict
            ``{"w": ...}`` plus ``"b"`` when ``biases``.
        """
        x = as_irreps_array(x, "Linear.init: x")
        plan = self.plan(x.irreps)
        self._init_key = irreps_key(plan.irreps_in)
        backend = x.backend
        params = {"w": backend.normal(seed, (plan.weight_numel,), dtype=x.dtype, device=x.device)}
        if self.biases:
            params["b"] = backend.xp.zeros((plan.bias_numel,), dtype=x.dtype, device=x.device)
        return params

    def apply(self, params: dict, x) -> IrrepsArray:
        """Apply the map with ``params`` (from :meth:`init`, or any arrays of the same shapes).

        Returns
        -------
        IrrepsArray
            With irreps ``self.irreps_out`` (simplified), on ``x``'s backend.
        """
        x = as_irreps_array(x, "Linear.apply: x")
        x = x.regroup()
        expected = getattr(self, "_init_key", None)
        if expected is not None and irreps_key(x.irreps) != expected:
            raise ValueError(
                f"Linear.apply: input irreps {x.irreps} (regrouped) differ from the irreps "
                f"{irreps_from_key(expected)} this layer was initialised with"
            )
        plan = self.plan(x.irreps)
        if not isinstance(params, dict) or "w" not in params:
            raise TypeError(f"Linear.apply: params must be a dict with key 'w', got {type(params).__name__}")
        w = params["w"]
        if tuple(w.shape) != (plan.weight_numel,):
            raise ValueError(
                f"Linear.apply: params['w'] has shape {tuple(w.shape)}, expected ({plan.weight_numel},)"
            )
        b = params.get("b") if self.biases else None
        if self.biases and (b is None or tuple(b.shape) != (plan.bias_numel,)):
            raise ValueError(
                f"Linear.apply: params['b'] must have shape ({plan.bias_numel},), got "
                f"{None if b is None else tuple(b.shape)}"
            )
        backend = backend_of(x.array, w) if b is None else backend_of(x.array, w, b)
        return IrrepsArray(plan.irreps_out, backend.linear(plan, x.array, w, b))

    def __repr__(self) -> str:
        return f"Linear({self.irreps_out}, irreps_in={self.irreps_in}, biases={self.biases})"
