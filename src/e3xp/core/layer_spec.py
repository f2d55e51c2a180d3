"""Framework-free description of a layer: irreps in and out, the plan, parameter specs.

Every front-end builds its layers from a :class:`LayerSpec`: the functional objects
(``e3xp.Linear``, the weighted tensor products), the ``torch.nn.Module`` s of
``e3xp.torch`` and the flax modules of ``e3xp.flax``. A spec says what a layer
computes (``plan``) and which parameters it owns, with their names, shapes and
initial distribution, so that

* a front-end registers exactly those parameters (``torch.nn.Parameter``,
  ``flax`` ``self.param``) and nothing decides the layout twice;
* checkpoints can be checked against it key by key (:meth:`LayerSpec.check`), with
  an error naming the key and both shapes;
* two front-ends initialised from one integer seed hold the same numbers
  (:meth:`LayerSpec.init_numpy` draws in float64 with NumPy).

A parameter is either the plan's whole flat vector (``target`` = its name, the
e3nn (torch) layout: one ``weight`` of ``weight_numel``) or one piece of it
(``offset`` into the flat vector of ``target``, e3nn-jax's layout: one array per
instruction). :meth:`LayerSpec.flat` puts the pieces back together.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .irreps import Irreps

__all__ = ["ParamSpec", "LayerSpec", "INITIALIZERS"]

INITIALIZERS = ("normal", "zeros", "ones")


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a layer.

    Parameters
    ----------
    name : str
        Its key in the front-end (``"weight"``, ``"bias"``, ``"w[0,0] 4x0e,2x0e"`` ...).
    shape : tuple of int
    init : {"normal", "zeros", "ones"}
        Initial distribution: ``std * N(0, 1)``, zeros or ones.
    std : float
        Standard deviation of ``"normal"``.
    target : str
        The plan's flat vector this parameter is (part of): ``"weight"`` or ``"bias"``.
    offset : int
        Where it starts in that flat vector (its size is ``prod(shape)``).

    Examples
    --------
    >>> ParamSpec("weight", (6,)).size
    6
    """

    name: str
    shape: tuple
    init: str = "normal"
    std: float = 1.0
    target: str = "weight"
    offset: int = 0

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"ParamSpec.name must be a non-empty string, got {self.name!r}")
        shape = tuple(int(s) for s in self.shape)
        if any(s < 0 for s in shape):
            raise ValueError(f"ParamSpec {self.name!r}: negative size in shape {shape}")
        object.__setattr__(self, "shape", shape)
        if self.init not in INITIALIZERS:
            raise ValueError(f"ParamSpec {self.name!r}: init={self.init!r}, expected one of {INITIALIZERS}")

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class LayerSpec:
    """What a layer computes and which parameters it owns (see the module docstring).

    Parameters
    ----------
    kind : str
        The layer's name, for messages (``"Linear"``, ``"TensorProduct"`` ...).
    irreps_in : tuple of Irreps
        One entry per input.
    irreps_out : Irreps
    plan : TensorProductPlan, LinearPlan or None
        None for layers without a plan (an MLP, a gate).
    params : tuple of ParamSpec
        In registration order.

    Examples
    --------
    >>> from e3xp.core.plans import linear_plan
    >>> plan = linear_plan("2x0e + 1o", "0e + 1o", biases=True)
    >>> spec = LayerSpec.for_linear(plan)
    >>> [(p.name, p.shape, p.init) for p in spec.params]
    [('weight', (3,), 'normal'), ('bias', (1,), 'zeros')]
    >>> w = spec.init_numpy(0)
    >>> spec.check(w, "Linear")  # passes: the shapes fit
    """

    kind: str
    irreps_in: tuple
    irreps_out: Irreps
    plan: object
    params: tuple

    def __post_init__(self):
        object.__setattr__(self, "irreps_in", tuple(Irreps(i) for i in self.irreps_in))
        object.__setattr__(self, "irreps_out", Irreps(self.irreps_out))
        object.__setattr__(self, "params", tuple(self.params))
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.kind}: parameter names repeat: {names}")

    # ------------------------------------------------------------------ builders

    @classmethod
    def for_linear(cls, plan, kind: str = "Linear", std: float = 1.0) -> "LayerSpec":
        """e3nn's layout of a linear map: flat ``weight`` (N(0, std)) and, with biases, ``bias`` (zeros)."""
        params = [ParamSpec("weight", (plan.weight_numel,), "normal", std)]
        if plan.bias_numel:
            params.append(ParamSpec("bias", (plan.bias_numel,), "zeros", target="bias"))
        return cls(kind, (plan.irreps_in,), plan.irreps_out, plan, tuple(params))

    @classmethod
    def for_tensor_product(cls, plan, kind: str = "TensorProduct", internal_weights: bool = True,
                           std: float = 1.0) -> "LayerSpec":
        """e3nn's layout of a weighted tensor product: one flat ``weight`` when it is internal.

        With ``internal_weights=False`` the weights are an input of the layer
        (per edge, from a radial MLP) and the layer owns no parameter.
        """
        params = (ParamSpec("weight", (plan.weight_numel,), "normal", std),) if internal_weights and plan.weight_numel else ()
        return cls(kind, (plan.irreps_in1, plan.irreps_in2), plan.irreps_out, plan, params)

    # ------------------------------------------------------------------ use

    def param(self, name: str) -> ParamSpec:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"{self.kind} has no parameter {name!r}; it has {[p.name for p in self.params]}")

    def init_numpy(self, seed) -> dict:
        """Initial parameters as float64 NumPy arrays, drawn in ``params`` order.

        ``seed`` is an int or a ``numpy.random.Generator``; one int gives the same
        numbers to every front-end (each converts them to its framework).

        Examples
        --------
        >>> from e3xp.core.plans import linear_plan
        >>> spec = LayerSpec.for_linear(linear_plan("2x0e", "0e"))
        >>> bool(np.array_equal(spec.init_numpy(3)["weight"], np.random.default_rng(3).standard_normal(2)))
        True
        """
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        out = {}
        for p in self.params:
            if p.init == "normal":
                out[p.name] = p.std * rng.standard_normal(p.shape)
            elif p.init == "zeros":
                out[p.name] = np.zeros(p.shape)
            else:
                out[p.name] = np.ones(p.shape)
        return out

    def check(self, params: Mapping, what: str | None = None, prefix: str = "") -> None:
        """Raise if ``params`` lacks a key, has an extra one, or a shape differs.

        The message names the key and both shapes, e.g. for a checkpoint of
        another irreps configuration.

        Examples
        --------
        >>> from e3xp.core.plans import linear_plan
        >>> spec = LayerSpec.for_linear(linear_plan("2x0e", "0e"))
        >>> spec.check({"weight": np.zeros(3)})
        Traceback (most recent call last):
        ...
        ValueError: Linear: parameter 'weight' has shape (3,), expected (2,) (Linear 2x0e -> 1x0e)
        """
        what = what or self.kind
        for p in self.params:
            if p.name not in params:
                raise KeyError(f"{what}: parameter {prefix + p.name!r} is missing (expected shape {p.shape})")
            got = tuple(getattr(params[p.name], "shape", ()))
            if got != p.shape:
                ins = " x ".join(str(i) for i in self.irreps_in)
                raise ValueError(
                    f"{what}: parameter {prefix + p.name!r} has shape {got}, expected {p.shape} "
                    f"({self.kind} {ins} -> {self.irreps_out})"
                )
        extra = sorted(set(params) - {p.name for p in self.params})
        if extra:
            raise KeyError(f"{what}: unexpected parameter {prefix + extra[0]!r}; expected {[p.name for p in self.params]}")

    def flat(self, params: Mapping, xp, target: str = "weight"):
        """The plan's flat ``target`` vector from ``params`` (pieces concatenated by offset).

        ``xp`` is the array namespace of the arrays (``array_api_compat.array_namespace``).
        Leading (batch) axes of the pieces are kept.
        """
        pieces = sorted((p for p in self.params if p.target == target), key=lambda p: p.offset)
        if len(pieces) == 1 and pieces[0].offset == 0:
            return params[pieces[0].name]
        arrays = []
        for p in pieces:
            a = params[p.name]
            lead = tuple(a.shape[: len(a.shape) - len(p.shape)])
            arrays.append(xp.reshape(a, lead + (p.size,)))
        return xp.concat(arrays, axis=-1)
