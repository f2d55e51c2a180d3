"""Unweighted tensor products of IrrepsArrays (e3nn-jax semantics, any backend).

The irreps bookkeeping is a cached plan from :mod:`e3xp.core.plans`; the backend
of the inputs executes it. Output layouts equal e3nn-jax's: ``tensor_product`` and
``tensor_square`` regroup their inputs and sort (then, by default, simplify) their
outputs; ``elementwise_tensor_product`` keeps the loop order.
"""

from __future__ import annotations

from ..core.irreps import Irreps
from ..core.plans import (
    elementwise_tensor_product_plan,
    full_tensor_product_plan,
    tensor_square_plan,
)
from ..e3nn_config import config
from .._static import irreps_from_key, irreps_key, selector_from_key, selector_key, static_call, static_function
from ..irreps_array import IrrepsArray
from ._common import as_irreps_array, broadcast_pair

__all__ = ["tensor_product", "elementwise_tensor_product", "tensor_square"]


# The plan builders run through static_call (plain-data arguments), which keeps
# them out of torch.compile's trace; see e3xp.irreps_array.static_call.


@static_function
def _full_plan(k1, k2, filter_key, irrep_normalization, regroup_output):
    x, y = irreps_from_key(k1), irreps_from_key(k2)
    filter_ir_out = selector_from_key(filter_key)
    plan = full_tensor_product_plan(x, y, filter_ir_out, irrep_normalization, regroup_output)
    return plan, (plan.irreps_out.simplify() if regroup_output else plan.irreps_out)


@static_function
def _elementwise_plan(k1, k2, filter_key, irrep_normalization):
    x, y = irreps_from_key(k1), irreps_from_key(k2)
    filter_ir_out = selector_from_key(filter_key)
    plan = elementwise_tensor_product_plan(x, y, filter_ir_out, irrep_normalization)
    return plan


@static_function
def _square_plan(k, filter_key, irrep_normalization, normalized_input=False):
    x = irreps_from_key(k)
    filter_ir_out = selector_from_key(filter_key)
    plan = tensor_square_plan(x, filter_ir_out, irrep_normalization)
    scale = _normalized_input_scale(plan, irrep_normalization) if normalized_input else None
    return plan, plan.irreps_out.simplify(), scale


def _normalized_input_scale(plan, irrep_normalization):
    """Per-component factors turning the plan's coefficients into e3nn-jax's ``normalized_input=True`` ones.

    Every output block of a tensor-square plan comes from one path, so the change
    of ``alpha`` (e3nn-jax's table for unit-norm inputs over its table for Gaussian
    inputs) is one factor per block: ``d1 d2`` for the cross terms with
    "component", ``d1 (d1 + 2)`` ("component") or ``(d1 + 2) / d1`` ("norm") for the
    symmetric same-channel terms, 1 otherwise. None when every factor is 1.
    """
    ratio = [1.0] * len(plan.irreps_out)
    for p in plan.paths:
        d1 = plan.irreps_in1[p.i_in1].ir.dim
        d2 = plan.irreps_in2[p.i_in2].ir.dim
        if p.mode == "uuu":
            r2 = {"component": d1 * (d1 + 2.0), "norm": (d1 + 2.0) / d1}.get(irrep_normalization or "component", 1.0)
        else:
            r2 = float(d1 * d2) if (irrep_normalization or "component") == "component" else 1.0
        ratio[p.i_out] = r2**0.5
    if all(r == 1.0 for r in ratio):
        return None
    # (start, stop, factor) runs of the last axis, applied with Python floats: no
    # numpy constant enters torch.compile's trace
    return _runs(ratio, [mul * ir.dim for mul, ir in plan.irreps_out])


def _runs(factors, sizes) -> tuple:
    """Merge consecutive equal factors into ``(start, stop, factor)`` runs."""
    runs, start = [], 0
    for f, n in zip(factors, sizes):
        if runs and runs[-1][2] == f:
            runs[-1][1] += n
        else:
            runs.append([start, start + n, f])
        start += n
    return tuple(tuple(r) for r in runs)


def scale_runs(xp, a, runs):
    """``a`` with ``a[..., start:stop] *= factor`` for each run (a new array)."""
    pieces = [a[..., start:stop] * factor if factor != 1.0 else a[..., start:stop] for start, stop, factor in runs]
    return pieces[0] if len(pieces) == 1 else xp.concat(pieces, axis=-1)


def tensor_product(input1, input2, filter_ir_out=None, irrep_normalization=None, regroup_output=True):
    r"""Full tensor product of two IrrepsArrays, reduced into irreps.

    Every block of ``x`` meets every block of ``y``; each allowed ``ir_out`` gives a
    ``(mul_x * mul_y, ir_out)`` block with value ``sqrt(2 l_out + 1) * CG . (x (x) y)``
    ("component") or ``sqrt(dim_x dim_y) * CG . (x (x) y)`` ("norm").

    Parameters
    ----------
    input1, input2 : IrrepsArray
        Same backend; leading axes broadcast (e3nn-jax's argument names).
    filter_ir_out : None, str, Irreps or list of irreps
        Keep only these output irreps.
    irrep_normalization : {None, "component", "norm", "none"}
        None: ``e3xp.config("irrep_normalization")`` ("component" unless set).
    regroup_output : bool
        Regroup the inputs first and simplify the (sorted) output, as e3nn-jax.

    Returns
    -------
    IrrepsArray
        On the backend of the inputs.

    Notes
    -----
    When ``filter_ir_out`` leaves no output irreps, the result has empty irreps
    (shape ``lead + (0,)``), as in e3nn-jax; it is not an error.

    Examples
    --------
    >>> import numpy as np
    >>> x = IrrepsArray("1o", np.array([1.0, 1.0, 2.0]))
    >>> y = IrrepsArray("1o", np.array([0.0, 0.0, 2.0]))
    >>> z = tensor_product(x, y)
    >>> z.irreps
    1x0e+1x1e+1x2e
    >>> bool(np.isclose(z.array[0], 4.0 / np.sqrt(3)))  # x . y / sqrt(3)
    True
    >>> bool(np.allclose(z.array[1:4], np.cross([1, 1, 2], [0, 0, 2]) / np.sqrt(2)))
    True
    """
    irrep_normalization = config("irrep_normalization") if irrep_normalization is None else irrep_normalization
    x = as_irreps_array(input1, "tensor_product: input1")
    y = as_irreps_array(input2, "tensor_product: input2")
    if not isinstance(regroup_output, bool):
        raise TypeError(f"tensor_product: regroup_output={regroup_output!r} must be a bool")
    if regroup_output:
        x, y = x.regroup(), y.regroup()
    plan, irreps_out = static_call(
        _full_plan,
        irreps_key(x.irreps),
        irreps_key(y.irreps),
        selector_key(filter_ir_out, "filter_ir_out"),
        irrep_normalization,
        regroup_output,
    )
    backend, a, b = broadcast_pair(x, y, "tensor_product")
    return IrrepsArray(irreps_out, backend.tensor_product(plan, a, b))


def elementwise_tensor_product(input1, input2, filter_ir_out=None, irrep_normalization=None):
    r"""Tensor product of the ``n``-th irrep of ``x`` with the ``n``-th irrep of ``y``.

    Parameters
    ----------
    input1, input2 : IrrepsArray
        With the same number of irreps (``irreps.num_irreps``); e3nn-jax's names.
    filter_ir_out : None, str, Irreps or list of irreps
    irrep_normalization : {None, "component", "norm", "none"}
        None: ``e3xp.config("irrep_normalization")``.

    Returns
    -------
    IrrepsArray
        Output irreps in loop order, neither sorted nor simplified (as e3nn-jax).

    Raises
    ------
    ValueError
        Different numbers of irreps. (No output irreps left by ``filter_ir_out`` is
        not an error: the result has empty irreps, as in e3nn-jax.)

    Examples
    --------
    >>> import numpy as np
    >>> x = IrrepsArray("2x0e + 1o", np.arange(5.0))
    >>> y = IrrepsArray("1e + 0o + 0o", np.arange(5.0))
    >>> elementwise_tensor_product(x, y)
    1x1e+1x0o+1x1e [ 0.  0.  0.  3.  8. 12. 16.]
    """
    irrep_normalization = config("irrep_normalization") if irrep_normalization is None else irrep_normalization
    x = as_irreps_array(input1, "elementwise_tensor_product: input1")
    y = as_irreps_array(input2, "elementwise_tensor_product: input2")
    plan = static_call(
        _elementwise_plan,
        irreps_key(x.irreps),
        irreps_key(y.irreps),
        selector_key(filter_ir_out, "filter_ir_out"),
        irrep_normalization,
    )
    backend, a, b = broadcast_pair(x, y, "elementwise_tensor_product")
    return IrrepsArray(plan.irreps_out, backend.tensor_product(plan, a, b))


def tensor_square(input, irrep_normalization=None, filter_ir_out=None, *, normalized_input=False, regroup_output=True):  # noqa: A002
    r"""``x (x) x`` without its redundant (symmetric-duplicate) terms, as e3nn-jax.

    The input is regrouped first and the output sorted and simplified (e3nn-jax's
    ``regroup_output=True``). With Gaussian inputs every output component has unit
    second moment ("component").

    Parameters
    ----------
    input : IrrepsArray
    irrep_normalization : {None, "component", "norm", "none"}
        None: ``e3xp.config("irrep_normalization")``.
    filter_ir_out : None, str, Irreps or list of irreps
        Keep only these output irreps (an e3xp addition).

    normalized_input : bool
        e3nn-jax's coefficients for inputs whose irreps have unit norm (instead of
        Gaussian components).
    regroup_output : bool
        Only True (the default) is implemented: e3nn-jax's ``regroup_output=False``
        (unsorted output of the unregrouped input) raises NotImplementedError.

    Returns
    -------
    IrrepsArray

    Examples
    --------
    >>> import numpy as np
    >>> y = tensor_square(IrrepsArray("0e + 1o", np.array([10.0, 1.0, 2.0, 3.0])))
    >>> y.irreps
    2x0e+1x1o+1x2e
    >>> np.round(y.array, 2)
    array([57.74,  3.61, 10.  , 20.  , 30.  ,  3.  ,  2.  , -0.58,  6.  ,  4.  ])
    """
    if not isinstance(normalized_input, bool):
        raise TypeError(f"tensor_square: normalized_input={normalized_input!r} must be a bool")
    if regroup_output is not True:
        raise NotImplementedError(
            f"tensor_square: regroup_output={regroup_output!r}; only True (e3nn-jax's default) is implemented"
        )
    irrep_normalization = config("irrep_normalization") if irrep_normalization is None else irrep_normalization
    x = as_irreps_array(input, "tensor_square: input").regroup()
    plan, irreps_out, scale = static_call(
        _square_plan,
        irreps_key(x.irreps),
        selector_key(filter_ir_out, "filter_ir_out"),
        irrep_normalization,
        normalized_input,
    )
    out = x.backend.tensor_product(plan, x.array, x.array)
    if scale is not None:
        out = scale_runs(x.backend.xp, out, scale)
    return IrrepsArray(irreps_out, out)
