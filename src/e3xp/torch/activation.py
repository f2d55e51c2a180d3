"""Equivariant nonlinearities with e3nn (torch)'s signatures: ``Activation``, ``Gate``,
``NormActivation``.

The activations of ``Activation`` and ``Gate`` are normalized to unit second moment as
e3nn does; ``act_normalization="e3nn"`` (default) uses e3nn's sampled constants, so
the numbers equal e3nn's, ``"exact"`` the exact ones (see
:mod:`e3xp.torch._activations`).
"""

from __future__ import annotations

import torch

from ..core.irreps import Irreps
from ..core.layer_spec import LayerSpec, ParamSpec
from ..core.plans import elementwise_tensor_product_plan
from ..irreps_array import IrrepsArray
from ..ops.tensor_products import elementwise_tensor_product
from ._activations import NormalizedActivation, _name, activation_parity, check_act_normalization
from ._module import unwrap, wrap
from ._nn_common import E3nnProductKeys, as_irreps, e3nn_sort_order, gather, make_parameter, offsets

__all__ = ["Activation", "Gate", "NormActivation"]


class Activation(torch.nn.Module):
    r"""Scalar activation functions, one per entry of ``irreps_in`` (e3nn's ``nn.Activation``).

    Each function is normalized to unit second moment under N(0, 1) (e3nn's
    ``normalize2mom``). On an odd scalar ``0o`` the function must be odd (output
    ``0o``) or even (output ``0e``).

    Parameters
    ----------
    irreps_in : str or Irreps
    acts : list of (callable or None)
        One per entry of ``irreps_in``; None leaves the entry unchanged.
    act_normalization : {"e3nn", "exact"}
        e3nn's sampled normalization constant (default) or the exact one.

    Examples
    --------
    >>> import torch
    >>> a = Activation("256x0o", [torch.abs])
    >>> a.irreps_out
    256x0e
    >>> Activation("2x0e + 1o", [torch.tanh, None])(torch.tensor([0.0, 0.0, 1.0, 2.0, 3.0]))
    tensor([0., 0., 1., 2., 3.])
    """

    def __init__(self, irreps_in, acts, *, act_normalization: str = "e3nn") -> None:
        super().__init__()
        irreps_in = as_irreps(irreps_in, "Activation: irreps_in")
        check_act_normalization(act_normalization, "Activation")
        acts = list(acts)
        if len(irreps_in) != len(acts):
            raise ValueError(
                f"Activation: {len(acts)} activation functions for the {len(irreps_in)} entries of {irreps_in}; "
                "pass one callable or None per entry"
            )
        normalized = []
        irreps_out = []
        for mul_ir, act in zip(irreps_in, acts):
            mul, ir = mul_ir.mul, mul_ir.ir
            if act is None:
                normalized.append(None)
                irreps_out.append((mul, ir))
                continue
            if not callable(act):
                raise TypeError(f"Activation: the activation {act!r} for {mul_ir} is not callable")
            if ir.l != 0:
                raise ValueError(
                    f"Activation: cannot apply the activation {_name(act)!r} to the non-scalar entry {mul_ir} "
                    f"of {irreps_in}"
                )
            a = NormalizedActivation(act, act_normalization)
            p_act = activation_parity(a)
            p_out = p_act if ir.p == -1 else ir.p
            if p_out == 0:
                raise ValueError(
                    f"Activation: the activation {_name(act)!r} on the odd scalars {mul_ir} is neither even nor odd, "
                    "so the result has no parity"
                )
            normalized.append(a)
            irreps_out.append((mul, (0, p_out)))
        self.irreps_in = irreps_in
        self.irreps_out = Irreps(irreps_out)
        self.act_normalization = act_normalization
        self.acts = torch.nn.ModuleList([a if a is not None else torch.nn.Identity() for a in normalized])
        self._paths = [(o, mul_ir.dim, a is not None) for o, mul_ir, a in zip(offsets(irreps_in), irreps_in, normalized)]

    def act_tensor(self, t: torch.Tensor) -> torch.Tensor:
        """The activation of a plain tensor (last axis ``irreps_in.dim``)."""
        out = []
        for (start, length, has_act), act in zip(self._paths, self.acts):
            piece = t.narrow(-1, start, length)
            out.append(act(piece) if has_act else piece)
        if not out:
            return torch.zeros_like(t)
        if len(out) == 1:
            return out[0]
        return torch.cat(out, dim=-1)

    def forward(self, features, dim: int = -1):
        if dim != -1 and dim != (features.ndim - 1 if isinstance(features, torch.Tensor) else -1):
            raise ValueError(f"Activation: only dim=-1 (the irreps axis last) is supported, got dim={dim}")
        t, as_array = unwrap(features, self.irreps_in, "Activation")
        return wrap(self.act_tensor(t), self.irreps_out, as_array)

    def extra_repr(self) -> str:
        return f"{self.irreps_in} -> {self.irreps_out}"


def _e3nn_elementwise_irreps_out(irreps_in1: Irreps, irreps_in2: Irreps) -> Irreps:
    """Output irreps of e3nn's ``ElementwiseTensorProduct(irreps_in1, irreps_in2)`` (no filter):
    both simplified, split to a common refinement, then ``ir1 x ir2`` per pair."""
    a = [(m.mul, m.ir) for m in irreps_in1.simplify()]
    b = [(m.mul, m.ir) for m in irreps_in2.simplify()]
    i = 0
    while i < len(a):
        (m1, ir1), (m2, ir2) = a[i], b[i]
        if m1 < m2:
            b[i] = (m1, ir2)
            b.insert(i + 1, (m2 - m1, ir2))
        if m2 < m1:
            a[i] = (m2, ir1)
            a.insert(i + 1, (m1 - m2, ir1))
        i += 1
    out = []
    for (mul, ir1), (_, ir2) in zip(a, b):
        for ir in ir1 * ir2:
            out.append((mul, ir))
    return Irreps(out)


class Gate(torch.nn.Module):
    r"""Gate activation (e3nn's ``nn.Gate``, same signature, input layout and output).

    ``irreps_scalars`` go through ``act_scalars``; ``irreps_gated`` are multiplied by
    the scalars ``irreps_gates`` passed through ``act_gates``. The output is
    ``act(scalars)`` followed by the gated irreps: ``irreps_out = irreps_scalars' +
    irreps_gated'`` (primes: after the activations' parity and the products).

    Input layout, as e3nn: the three groups (each simplified) concatenated and then
    sorted in e3nn (torch)'s order (``0o, 0e, 1o, 1e, ...``, stable), then simplified:
    ``irreps_in``. With even scalars and gates and ``l > 0`` gated irreps (the usual
    case) that is scalars, gates, gated concatenated; with odd scalars the ``0o``
    entries come first.

    Parameters
    ----------
    irreps_scalars : str or Irreps
        Scalars (``l = 0``), one activation per entry (as given, not simplified).
    act_scalars : list of (callable or None)
    irreps_gates : str or Irreps
        Scalars, ``irreps_gates.num_irreps == irreps_gated.num_irreps``.
    act_gates : list of (callable or None)
    irreps_gated : str or Irreps
    act_normalization : {"e3nn", "exact"}
        e3nn's sampled normalization constants of the activations (default; equal to
        e3nn's numbers) or the exact ones.

    Examples
    --------
    >>> import torch
    >>> g = Gate("16x0o", [torch.tanh], "32x0o", [torch.tanh], "16x1e+16x1o")
    >>> g.irreps_in, g.irreps_out
    (48x0o+16x1o+16x1e, 16x0o+16x1o+16x1e)
    >>> g = Gate("0e", [torch.relu], "0e", [torch.sigmoid], "1o")
    >>> y = g(torch.tensor([-1.0, 0.0, 1.0, 2.0, 3.0]))
    >>> y[0].item(), torch.allclose(y[1:], torch.tensor([1.0, 2.0, 3.0]) * torch.sigmoid(torch.tensor(0.0)) * g.act_gates.acts[0].cst)
    (0.0, True)
    """

    def __init__(self, irreps_scalars, act_scalars, irreps_gates, act_gates, irreps_gated, *,
                 act_normalization: str = "e3nn") -> None:
        super().__init__()
        irreps_scalars = as_irreps(irreps_scalars, "Gate: irreps_scalars")
        irreps_gates = as_irreps(irreps_gates, "Gate: irreps_gates")
        irreps_gated = as_irreps(irreps_gated, "Gate: irreps_gated")
        check_act_normalization(act_normalization, "Gate")
        if len(irreps_gates) > 0 and irreps_gates.lmax > 0:
            raise ValueError(f"Gate: gate scalars must be scalars, instead got irreps_gates = {irreps_gates}")
        if len(irreps_scalars) > 0 and irreps_scalars.lmax > 0:
            raise ValueError(f"Gate: scalars must be scalars, instead got irreps_scalars = {irreps_scalars}")
        if irreps_gates.num_irreps != irreps_gated.num_irreps:
            raise ValueError(
                f"Gate: there are {irreps_gated.num_irreps} irreps in irreps_gated ({irreps_gated}), but a different "
                f"number ({irreps_gates.num_irreps}) of gate scalars in irreps_gates ({irreps_gates})"
            )
        groups = [irreps_scalars.simplify(), irreps_gates.simplify(), irreps_gated.simplify()]
        self.irreps_scalars, self.irreps_gates, self.irreps_gated = groups
        act_scalars, act_gates = list(act_scalars), list(act_gates)
        for what, irreps, acts in (("scalars", irreps_scalars, act_scalars), ("gates", irreps_gates, act_gates)):
            if len(acts) != len(irreps):
                raise ValueError(
                    f"Gate: {len(acts)} act_{what} for irreps_{what} = {irreps}, which has {len(irreps)} "
                    f"entries; pass one activation (or None) per entry"
                )

        # e3nn's _Sortcut: the groups concatenated, sorted (e3nn's order), simplified.
        concat = Irreps([m for g in groups for m in g])
        order = e3nn_sort_order(concat)
        sorted_irreps = Irreps([concat[i] for i in order])
        sorted_starts = offsets(sorted_irreps)
        start_of = {old: sorted_starts[new] for new, old in enumerate(order)}
        self._pieces = []
        i = 0
        for g in groups:
            self._pieces.append(tuple((start_of[i + j], m.dim) for j, m in enumerate(g)))
            i += len(g)
        self.irreps_in = sorted_irreps.simplify()

        self.act_normalization = act_normalization
        # As e3nn: the activations act on the irreps as given (one per entry, not simplified);
        # the data layout is that of the simplified group.
        self.act_scalars = Activation(irreps_scalars, act_scalars, act_normalization=act_normalization)
        self.act_gates = Activation(irreps_gates, act_gates, act_normalization=act_normalization)
        gates_out = self.act_gates.irreps_out
        # The product: e3xp's elementwise tensor product of the (simplified) gated irreps
        # and activated gates; its plan must give e3nn's output irreps.
        self._gates_irreps = gates_out.simplify()
        expected = _e3nn_elementwise_irreps_out(irreps_gated, gates_out)
        if len(groups[2]) > 0:
            plan = elementwise_tensor_product_plan(groups[2], self._gates_irreps)
            if plan.irreps_out != expected:  # pragma: no cover - a broken invariant, not user input
                raise AssertionError(f"Gate: elementwise product gives {plan.irreps_out}, e3nn gives {expected}")
        self._irreps_mul = expected
        self.irreps_out = self.act_scalars.irreps_out + expected
        self.mul = E3nnProductKeys(expected.dim)  # e3nn's state_dict keys mul.weight, mul.output_mask

    def forward(self, features):
        t, as_array = unwrap(features, self.irreps_in, "Gate")
        scalars, gates, gated = (gather(t, p, g.dim) for p, g in zip(
            self._pieces, (self.irreps_scalars, self.irreps_gates, self.irreps_gated)))
        scalars = self.act_scalars.act_tensor(scalars)
        if gates.shape[-1]:
            gates = self.act_gates.act_tensor(gates)
            gated = elementwise_tensor_product(
                IrrepsArray(self.irreps_gated, gated), IrrepsArray(self._gates_irreps, gates),
                irrep_normalization="component",
            ).array
            out = torch.cat([scalars, gated], dim=-1)
        else:
            out = scalars
        return wrap(out, self.irreps_out, as_array)

    def extra_repr(self) -> str:
        return f"{self.irreps_in} -> {self.irreps_out}"


class NormActivation(torch.nn.Module):
    r"""Norm-based activation (e3nn's ``nn.NormActivation``).

    Each irrep ``x`` becomes ``f(|x| [+ b]) x / |x|`` (``normalize=True``) or
    ``f(|x| [+ b]) x``; ``f`` is *not* normalized (as e3nn).

    Parameters
    ----------
    irreps_in : str or Irreps
    scalar_nonlinearity : callable
    normalize : bool
        Divide by the norm. Then norms below ``epsilon`` are clamped to ``epsilon``
        (default 1e-8), which keeps the gradient finite at 0.
    epsilon : float, optional
        Only with ``normalize=True``; must be > 0.
    bias : bool
        A learnable bias per irrep (``biases``, zeros, ``num_irreps``), added to the
        norm before ``f``.

    Examples
    --------
    >>> import torch
    >>> n = NormActivation("2x1e", torch.sigmoid)
    >>> feats = torch.ones(1, 6, dtype=torch.float64)
    >>> n(feats).reshape(1, 2, 3).norm(dim=-1)
    tensor([[0.8497, 0.8497]], dtype=torch.float64)
    """

    def __init__(self, irreps_in, scalar_nonlinearity, normalize: bool = True, epsilon=None, bias: bool = False) -> None:
        super().__init__()
        irreps_in = as_irreps(irreps_in, "NormActivation: irreps_in")
        if not callable(scalar_nonlinearity):
            raise TypeError(f"NormActivation: scalar_nonlinearity {scalar_nonlinearity!r} is not callable")
        if epsilon is None and normalize:
            epsilon = 1e-8
        elif epsilon is not None and not normalize:
            raise ValueError("NormActivation: epsilon and normalize = False don't make sense together")
        elif epsilon is not None and not epsilon > 0:
            raise ValueError(f"NormActivation: epsilon {epsilon} is invalid, must be strictly positive.")
        self.irreps_in = irreps_in
        self.irreps_out = irreps_in
        self.epsilon = epsilon
        self._eps_squared = epsilon * epsilon if epsilon is not None else 0.0
        self.scalar_nonlinearity = scalar_nonlinearity
        self.normalize = bool(normalize)
        self.bias = bool(bias)
        simple = irreps_in.simplify()
        self._norm_pieces = [(o, m.mul, m.ir.dim) for o, m in zip(offsets(simple), simple)]
        self._scalar_irreps = Irreps([(m.mul, "0e") for m in simple]).simplify()
        params = (ParamSpec("biases", (irreps_in.num_irreps,), "zeros"),) if self.bias else ()
        self.layer_spec = LayerSpec("NormActivation", (irreps_in,), irreps_in, None, params)
        for p in params:
            setattr(self, p.name, make_parameter(p))
        # e3nn's state_dict keys of its internal Norm and ElementwiseTensorProduct
        self.norm = torch.nn.Module()
        self.norm.tp = E3nnProductKeys(irreps_in.num_irreps)
        self.scalar_multiplier = E3nnProductKeys(irreps_in.dim)

    def forward(self, features):
        t, as_array = unwrap(features, self.irreps_in, "NormActivation")
        lead = t.shape[:-1]
        sq = [t.narrow(-1, o, mul * d).reshape(lead + (mul, d)).pow(2).sum(-1) for o, mul, d in self._norm_pieces]
        norms = torch.cat(sq, dim=-1) if sq else t.new_zeros(lead + (0,))
        if self._eps_squared > 0:
            norms = torch.where(norms < self._eps_squared, torch.full_like(norms, self._eps_squared), norms).sqrt()
        else:
            norms = norms.relu().sqrt()
        arg = norms + self.biases if self.bias else norms
        scalings = self.scalar_nonlinearity(arg)
        if self.normalize:
            scalings = scalings / norms
        if self.irreps_in.dim == 0:
            return wrap(torch.zeros_like(t), self.irreps_out, as_array)
        out = elementwise_tensor_product(
            IrrepsArray(self._scalar_irreps, scalings), IrrepsArray(self.irreps_in, t), irrep_normalization="component"
        ).array
        return wrap(out, self.irreps_out, as_array)

    def extra_repr(self) -> str:
        return f"{self.irreps_in}, {_name(self.scalar_nonlinearity)}, normalize={self.normalize}, bias={self.bias}"
