"""Equivariant linear layer (Schur's lemma), functional: ``init(seed, x)`` and ``apply(params, x)``."""

from __future__ import annotations

from ..backends import backend_of
from ..core.irreps import Irreps
from ..core.layer_spec import LayerSpec, ParamSpec
from ..core.plans import linear_plan
from .._static import irreps_from_key, irreps_key, static_call, static_function
from ..irreps_array import IrrepsArray
from ._common import FrozenLayer, as_irreps_array, init_from_spec, unpack_params

__all__ = ["Linear"]


@static_function
def _plan(key_in: tuple, key_out: tuple, biases: bool):
    # Output irreps that no input irrep reaches (and no bias feeds) get no weights and
    # are zero, as in e3nn and e3nn-jax (design.md section 3): not an error.
    return linear_plan(irreps_from_key(key_in), irreps_from_key(key_out), biases=biases)


@static_function
def _regrouped(key: tuple) -> tuple:
    return irreps_key(irreps_from_key(key).regroup())


class Linear(FrozenLayer):
    r"""Equivariant linear map between irreps, following e3nn-jax's ``Linear``.

    As in e3nn-jax, the input is regrouped first (``8x0e + 4x1o + 3x0e`` is seen
    as ``11x0e + 4x1o``) and ``irreps_out`` is simplified (adjacent equal entries
    merged). Each ``(input block, output block)`` pair with equal irreps gets a
    weight block ``(mul_in, mul_out)`` with coefficient ``1 / sqrt(fan_in)``.

    Parameters are a dict of arrays on the input's backend, named as in e3nn's
    ``o3.Linear``:

    * ``"weight"``: one flat weight vector of size ``weight_numel``, in e3nn's
      ``o3.Linear`` layout for ``(irreps_in.regroup(), irreps_out.simplify())``:
      blocks ordered by input block, then output block, each ``(mul_in, mul_out)``
      row-major. Initialised from N(0, 1), the same numbers on every backend for
      the same int seed.
    * ``"bias"`` (only when ``biases=True``): size ``bias_numel``, one bias per
      ``0e`` output channel in output order, initialised to zero.

    The layer itself holds no parameters and no state: it is immutable, compares
    and hashes by its configuration, and pickles. Without ``irreps_in`` it maps
    any input it can (as e3nn-jax's ``Linear``), deriving the weight layout from
    each call's input irreps; ``apply`` checks that the params fit that layout.

    Parameters
    ----------
    irreps_out : str or Irreps
    irreps_in : str or Irreps, optional
        When given, the plan is built (and checked) here, and inputs must have
        these irreps (up to regrouping).
    biases : bool

    Raises
    ------
    ValueError
        At ``apply``: params whose shapes do not fit the input irreps. An output
        irrep that no input irrep reaches (and no bias feeds) is not an error: it
        gets no weights and is zero, as in e3nn and e3nn-jax.
    TypeError
        Params that are not the dict ``init`` returns (a bare array, the old
        ``{"w": ..., "b": ...}`` keys, lists instead of arrays).

    Examples
    --------
    >>> import numpy as np
    >>> a = IrrepsArray("3x0e + 2x1o", np.arange(9.0))
    >>> lin = Linear("1o + 3x0e + 1o")
    >>> params = lin.init(0, a)
    >>> sorted(params), params["weight"].shape
    (['weight'], (13,))
    >>> b = lin.apply(params, a)
    >>> b.irreps
    1x1o+3x0e+1x1o
    >>> lin.apply({"w": params["weight"]}, a)
    Traceback (most recent call last):
    ...
    TypeError: Linear.apply: params has the old keys 'w'; ... pass {'weight': ...} (what init returns)
    """

    def __init__(self, irreps_out, irreps_in=None, biases: bool = False):
        if not isinstance(biases, bool):
            raise TypeError(f"Linear: biases={biases!r} must be a bool")
        self._set(
            irreps_out=Irreps(irreps_out).simplify(),
            irreps_in=None if irreps_in is None else Irreps(irreps_in).regroup(),
            biases=biases,
        )
        if self.irreps_in is not None:
            self.plan(self.irreps_in)  # built once (cached), so a bad layer fails here

    def _init_args(self) -> tuple:
        return (self.irreps_out, self.irreps_in, self.biases)

    def plan(self, irreps_in):
        """The :class:`~e3xp.core.plans.LinearPlan` for inputs with ``irreps_in`` (regrouped).

        Examples
        --------
        >>> Linear("2x0e").plan("0e + 1o + 0e").weight_numel  # 2x0e -> 2x0e
        4
        """
        key_in = static_call(_regrouped, irreps_key(Irreps(irreps_in)))
        if self.irreps_in is not None and key_in != irreps_key(self.irreps_in):
            raise ValueError(
                f"Linear: input irreps {irreps_from_key(key_in)} differ from the declared "
                f"irreps_in {self.irreps_in}"
            )
        return static_call(_plan, key_in, irreps_key(self.irreps_out), self.biases)

    def spec(self, irreps_in=None) -> LayerSpec:
        """The framework-free :class:`~e3xp.core.layer_spec.LayerSpec` for inputs with ``irreps_in``.

        Default: the declared ``irreps_in``. Its parameters are what :meth:`init` returns.

        Examples
        --------
        >>> [(p.name, p.shape) for p in Linear("2x0e", biases=True).spec("0e + 0e").params]
        [('weight', (4,)), ('bias', (2,))]
        """
        plan = self._declared_plan() if irreps_in is None else self.plan(irreps_in)
        spec = LayerSpec.for_linear(plan)
        if self.biases and not plan.bias_numel:
            # biases=True with no 0e output: keep the (empty) "bias" key of init's dict
            spec = LayerSpec(spec.kind, spec.irreps_in, spec.irreps_out, plan,
                             spec.params + (ParamSpec("bias", (0,), "zeros", target="bias"),))
        return spec

    def _declared_plan(self):
        if self.irreps_in is None:
            raise ValueError(
                f"{self!r}: the input irreps are not known yet; pass irreps_in to the constructor, "
                "or ask lin.plan(irreps_in) for given inputs"
            )
        return self.plan(self.irreps_in)

    @property
    def weight_numel(self) -> int:
        """Size of ``params["weight"]`` (needs ``irreps_in``).

        Examples
        --------
        >>> Linear("2x0e + 1o", "3x0e + 2x1o").weight_numel  # 3*2 + 2*1
        8
        """
        return self._declared_plan().weight_numel

    @property
    def bias_numel(self) -> int:
        """Size of ``params["bias"]`` (needs ``irreps_in``; 0 without biases)."""
        return self._declared_plan().bias_numel

    def _keys(self) -> tuple:
        return ("weight", "bias") if self.biases else ("weight",)

    def init(self, seed, x) -> dict:
        """Initial parameters for inputs like ``x``, on ``x``'s backend, device and dtype.

        Parameters
        ----------
        seed : int, numpy Generator, JAX key or torch Generator
        x : IrrepsArray

        Returns
        -------
        dict
            ``{"weight": ...}``, plus ``"bias"`` (zeros) when ``biases``.

        Examples
        --------
        >>> import numpy as np
        >>> p = Linear("2x0e", biases=True).init(0, IrrepsArray("0e", np.ones(1)))
        >>> p["weight"].shape, p["bias"]
        ((2,), array([0., 0.]))
        """
        x = as_irreps_array(x, "Linear.init: x")
        return init_from_spec(self.spec(x.irreps), seed, x)

    def apply(self, params: dict, x) -> IrrepsArray:
        """Apply the map with ``params`` (from :meth:`init`, or any arrays of the same shapes).

        Parameters
        ----------
        params : dict
            ``{"weight": array}`` (plus ``"bias"`` when ``biases``), shaped for the
            irreps of ``x``.
        x : IrrepsArray

        Returns
        -------
        IrrepsArray
            With irreps ``self.irreps_out`` (simplified), on ``x``'s backend.

        Examples
        --------
        >>> import numpy as np
        >>> lin = Linear("0e")
        >>> lin.apply({"weight": np.array([2.0, 4.0])}, IrrepsArray("2x0e", np.array([1.0, 1.0])))
        1x0e [4.24264069]
        """
        x = as_irreps_array(x, "Linear.apply: x")
        x = x.regroup()
        plan = self.plan(x.irreps)
        hint = "" if self.biases else " (this Linear has biases=False)"
        w, *b = unpack_params(params, self._keys(), "Linear.apply", extra_hint=hint)
        b = b[0] if b else None
        for name, got, numel in (("weight", w, plan.weight_numel), ("bias", b, plan.bias_numel)):
            if got is not None and tuple(got.shape) != (numel,):
                raise ValueError(
                    f"Linear.apply: params[{name!r}] has shape {tuple(got.shape)}, but inputs with "
                    f"irreps {x.irreps} (regrouped) need ({numel},) for {plan.irreps_in} -> {plan.irreps_out}"
                )
        backend = backend_of(x.array, w) if b is None else backend_of(x.array, w, b)
        return IrrepsArray(plan.irreps_out, backend.linear(plan, x.array, w, b))

    def __repr__(self) -> str:
        return f"Linear({self.irreps_out}, irreps_in={self.irreps_in}, biases={self.biases})"
