"""Gated nonlinearities (e3nn-jax ``gate``) and norm activations, on any backend.

Activations are given as callables on the backend's arrays (``torch.tanh``,
``jax.nn.silu``, ``np.tanh``, ...) or as names of the array-API implementations
below, which run unchanged on every backend. Normalization to unit second moment
under ``N(0, 1)`` (e3nn-jax's ``normalize_act``) is delegated to
:func:`e3xp.ops.activations.scalar_activation`, which computes the constant once
per function in float64.
"""

from __future__ import annotations

import math

from ..core.irreps import Irrep, Irreps
from ..irreps_array import IrrepsArray
from ._common import as_irreps_array
from .activations import activation_parity, scalar_activation

__all__ = ["gate", "norm_activation", "get_activation", "ACTIVATIONS"]


# --------------------------------------------------------------------------- array-API activations
# Module-level function objects (not lambdas built per call) so that the per-function
# caches of normalization constants hit every time.


def _ns(x):
    import array_api_compat

    return array_api_compat.array_namespace(x)


def _tanh(x):
    return _ns(x).tanh(x)


def _sigmoid(x):
    # 1/2 (1 + tanh(x/2)) equals the logistic function and never overflows
    return 0.5 * (1.0 + _ns(x).tanh(0.5 * x))


def _silu(x):
    return x * _sigmoid(x)


def _gelu(x):
    # tanh approximation: the default of jax.nn.gelu (e3nn-jax's default even_act)
    xp = _ns(x)
    return 0.5 * x * (1.0 + xp.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _relu(x):
    xp = _ns(x)
    return xp.where(x > 0, x, xp.zeros_like(x))


def _abs(x):
    return _ns(x).abs(x)


def _soft_odd(x):
    # e3nn-jax's default odd activation: (1 - exp(-x^2)) x
    return (1.0 - _ns(x).exp(-(x**2))) * x


def _identity(x):
    return x


ACTIVATIONS = {
    "tanh": _tanh,
    "sigmoid": _sigmoid,
    "silu": _silu,
    "swish": _silu,
    "gelu": _gelu,
    "relu": _relu,
    "abs": _abs,
    "soft_odd": _soft_odd,
    "identity": _identity,
}


def get_activation(act):
    """Resolve an activation: a name in :data:`ACTIVATIONS`, a callable, or None.

    Names map to array-API implementations that run on every backend. ``"gelu"`` is
    the tanh approximation (as ``jax.nn.gelu`` by default; ``torch.nn.functional.gelu``
    needs ``approximate="tanh"`` to match).

    Examples
    --------
    >>> import numpy as np
    >>> print(np.round(get_activation("silu")(np.array([-1.0, 0.0, 2.0])), 4))
    [-0.2689  0.      1.7616]
    >>> get_activation(None) is None
    True
    """
    if act is None or callable(act):
        return act
    if isinstance(act, str) and act in ACTIVATIONS:
        return ACTIVATIONS[act]
    raise ValueError(f"activation {act!r} is neither a callable nor one of {sorted(ACTIVATIONS)}")


# --------------------------------------------------------------------------- gate


def _take_channels(irreps: Irreps, start: int, stop: int) -> Irreps:
    """The entries of a scalar ``irreps`` covering channels ``[start, stop)``, split by mul."""
    out, pos = [], 0
    for mul, ir in irreps:
        lo, hi = max(start, pos), min(stop, pos + mul)
        if hi > lo:
            out.append((hi - lo, ir))
        pos += mul
    return Irreps(out)


def _gated_irreps(gates: Irreps, vectors: Irreps) -> list:
    """Walk gates and vectors together: ``[(mul, gate_parity, ir_vector), ...]`` pieces."""
    gate_list = [(mul, ir.p) for mul, ir in gates]
    pieces, gi, used = [], 0, 0
    for mul, ir in vectors:
        left = mul
        while left > 0:
            gmul, gp = gate_list[gi]
            take = min(left, gmul - used)
            pieces.append((take, gp, ir))
            left -= take
            used += take
            if used == gmul:
                gi, used = gi + 1, 0
    return pieces


def _acts_for(irreps: Irreps, even, odd):
    return [even if ir.p == 1 else odd for _, ir in irreps]


def _activated_irreps(irreps: Irreps, even, odd) -> Irreps:
    out = []
    for mul, ir in irreps:
        act = even if ir.p == 1 else odd
        p = ir.p
        if act is not None and ir.p == -1:
            p = activation_parity(act)
            if p == 0:
                raise ValueError(
                    f"gate: the activation {getattr(act, '__name__', act)!r} on the odd scalars "
                    f"{mul}x{ir} is neither even nor odd, so the result has no parity"
                )
        out.append((mul, Irrep(0, p)))
    return Irreps(out)


def gate(input, even_act=None, odd_act=None, even_gate_act=None, odd_gate_act=None, normalize_act=True):  # noqa: A002
    r"""Gate activation (e3nn-jax semantics): scalars are activated, non-scalars are gated.

    The scalars (``0e`` and ``0o`` entries, in order) are split into two parts: the
    last ``n`` scalar channels, where ``n`` is the number of non-scalar irreps, become
    gates; the others are activated and come first in the output. The gates are
    activated and multiply the non-scalar irreps in order (channel ``i`` of the gates
    scales the ``i``-th non-scalar irrep). A ``0o`` gate flips the parity of what it
    gates. Without non-scalars, all scalars are activated.

    Parameters
    ----------
    input : IrrepsArray, Irreps or str
        Given irreps only, the output irreps are returned (e3nn-jax's argument name).
    even_act, odd_act : callable, str or None
        Activations of the ``0e`` / ``0o`` scalars that are not gates. Defaults:
        ``"gelu"`` (tanh approximation, as ``jax.nn.gelu``) and ``"soft_odd"``
        (:math:`(1 - e^{-x^2}) x`), as e3nn-jax. ``odd_act`` must be odd or even.
    even_gate_act, odd_gate_act : callable, str or None
        Activations of the ``0e`` / ``0o`` gates. Defaults: ``"sigmoid"`` and
        ``"tanh"``, as e3nn-jax.
    normalize_act : bool
        Divide every activation by :math:`\sqrt{E[f(z)^2]}`, :math:`z \sim N(0, 1)`.

    Returns
    -------
    IrrepsArray or Irreps
        Irreps ``activated scalars + gated non-scalars`` (not simplified, as e3nn-jax).

    Raises
    ------
    ValueError
        Fewer scalar channels than non-scalar irreps; an activation of odd scalars
        that is neither even nor odd; an unknown activation name.

    Examples
    --------
    >>> gate("6x0e + 2x0o + 2x1o + 1x1e + 1x2e")
    4x0e+2x1o+1x1o+1x2o
    >>> import numpy as np
    >>> x = IrrepsArray("0e + 0e + 1o", np.array([0.3, 0.0, 1.0, 2.0, 2.0]))
    >>> y = gate(x, normalize_act=False)
    >>> y.irreps
    1x0e+1x1o
    >>> print(np.round(y.array, 4))  # gelu(0.3), sigmoid(0) * [1, 2, 2]
    [0.1854 0.5    1.     1.    ]
    """
    x = input
    even_act = get_activation("gelu" if even_act is None else even_act)
    odd_act = get_activation("soft_odd" if odd_act is None else odd_act)
    even_gate_act = get_activation("sigmoid" if even_gate_act is None else even_gate_act)
    odd_gate_act = get_activation("tanh" if odd_gate_act is None else odd_gate_act)

    irreps_only = isinstance(x, (str, Irreps))
    irreps = Irreps(x) if irreps_only else as_irreps_array(x, "gate: input").irreps
    scalar_idx = [i for i, (_, ir) in enumerate(irreps) if ir.l == 0]
    vector_idx = [i for i, (_, ir) in enumerate(irreps) if ir.l > 0]
    scalars = Irreps([irreps[i] for i in scalar_idx])
    vectors = Irreps([irreps[i] for i in vector_idx])
    n_gates = vectors.num_irreps
    if scalars.dim < n_gates:
        raise ValueError(
            f"gate: {irreps} has {scalars.dim} scalar channels but {n_gates} non-scalar irreps to "
            f"gate; the input needs at least one scalar per non-scalar irrep (the last {n_gates} "
            "scalars are the gates)"
        )
    k = scalars.dim - n_gates
    extra = _take_channels(scalars, 0, k)
    gates = _take_channels(scalars, k, scalars.dim)
    pieces = _gated_irreps(gates, vectors) if n_gates else []

    if irreps_only:
        extra_out = _activated_irreps(extra, even_act, odd_act)
        gate_out = _activated_irreps(gates, even_gate_act, odd_gate_act)
        return extra_out + _gated_output_irreps(pieces, gate_out)

    x = as_irreps_array(x, "gate: x")
    xp = x.backend.xp
    lead = x.shape[:-1]
    slices = irreps.slices()
    # Fewer array ops (each one is a node of every derivative's graph): scalars adjacent
    # in the array are one slice, adjacent non-scalars of one dimension one product
    if scalar_idx and scalar_idx == list(range(scalar_idx[0], scalar_idx[-1] + 1)):
        s = x.array[..., slices[scalar_idx[0]].start : slices[scalar_idx[-1]].stop]
    elif scalar_idx:
        sc = [xp.reshape(x.array[..., slices[i]], lead + (irreps[i].mul,)) for i in scalar_idx]
        s = sc[0] if len(sc) == 1 else xp.concat(sc, axis=-1)
    else:
        s = xp.zeros(lead + (0,), dtype=x.dtype, device=x.device)
    out, extra_out, gate_out = [], Irreps([]), Irreps([])
    if k > 0:
        y = scalar_activation(
            IrrepsArray(extra, s[..., :k]), _acts_for(extra, even_act, odd_act), normalize_act
        )
        extra_out = y.irreps
        out.append(y.array)
    if n_gates:
        g = scalar_activation(
            IrrepsArray(gates, s[..., k:]), _acts_for(gates, even_gate_act, odd_gate_act), normalize_act
        )
        gate_out, g = g.irreps, g.array
        runs = []  # [start, stop, mul, dim] of adjacent non-scalars with one dimension
        for i in vector_idx:
            mul, ir = irreps[i]
            sl = slices[i]
            if runs and runs[-1][1] == sl.start and runs[-1][3] == ir.dim:
                runs[-1][1], runs[-1][2] = sl.stop, runs[-1][2] + mul
            else:
                runs.append([sl.start, sl.stop, mul, ir.dim])
        pos = 0
        for start, stop, mul, dim in runs:
            gm = g if mul == g.shape[-1] else g[..., pos : pos + mul]
            c = xp.reshape(x.array[..., start:stop], lead + (mul, dim)) * gm[..., None]
            out.append(xp.reshape(c, lead + (mul * dim,)))
            pos += mul
    irreps_out = extra_out + _gated_output_irreps(pieces, gate_out)
    if not out:
        return IrrepsArray(irreps_out, xp.zeros(lead + (0,), dtype=x.dtype, device=x.device))
    return IrrepsArray(irreps_out, out[0] if len(out) == 1 else xp.concat(out, axis=-1))


def _gated_output_irreps(pieces, gate_out: Irreps) -> Irreps:
    gate_parity = [ir.p for mul, ir in gate_out for _ in range(mul)]
    out, pos = [], 0
    for mul, _, ir in pieces:
        out.append((mul, Irrep(ir.l, ir.p * gate_parity[pos])))
        pos += mul
    return Irreps(out)


# --------------------------------------------------------------------------- norm activation


def norm_activation(input, acts, normalization="component"):  # noqa: A002 - e3nn-jax's name
    r"""Scale each irrep by an activation of its norm (e3nn-jax ``norm_activation``).

    For every entry ``mul x ir`` with activation ``f``, each of the ``mul`` irreps
    ``v`` becomes ``v * f(n)`` with ``n = |v|`` (``"norm"``) or
    ``n = |v| / sqrt(2l + 1)`` (``"component"``). ``n`` is taken as 1 where ``v = 0``
    so the gradient stays finite. Activations are not normalized (as e3nn-jax).

    Parameters
    ----------
    input : IrrepsArray
    acts : list of (callable, str or None)
        One per entry of ``input.irreps``; None leaves the entry unchanged.
    normalization : {"component", "norm"}

    Returns
    -------
    IrrepsArray
        Same irreps as ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> x = IrrepsArray("0e + 1o", np.array([1.0, 1.0, 1.0, 2.0]))
    >>> print(np.round(norm_activation(x, [None, np.tanh]).array, 4))
    [1.     0.8884 0.8884 1.7768]
    """
    x = as_irreps_array(input, "norm_activation: input")
    if normalization not in ("component", "norm"):
        raise ValueError(f"norm_activation: normalization={normalization!r}, expected 'component' or 'norm'")
    acts = list(acts)
    if len(acts) != len(x.irreps):
        raise ValueError(
            f"norm_activation: got {len(acts)} activations for the {len(x.irreps)} entries of "
            f"{x.irreps}; pass one callable, name or None per entry"
        )
    acts = [get_activation(a) for a in acts]
    xp = x.backend.xp
    out = []
    for c, act, (mul, ir) in zip(x._dense_chunks(), acts, x.irreps):
        if act is not None:
            n2 = xp.sum(c * c, axis=-1, keepdims=True)
            if normalization == "component":
                n2 = n2 / ir.dim
            positive = n2 > 0.0
            ones = xp.ones_like(n2)
            n = xp.where(positive, xp.sqrt(xp.where(positive, n2, ones)), ones)
            c = c * act(n)
        out.append(c)
    return x._from_chunks(x.irreps, out)
