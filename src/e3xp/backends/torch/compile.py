"""``torch.compile`` glue: trace-time constants and the opaque custom ops.

While Dynamo traces, the plan's schedule and constants (and the harmonics' term
tables) come from :func:`e3xp._static.static_call`, the trace-constant store the
rest of e3xp uses: Dynamo runs the lookup once and reads the result back as a
guarded Python object, instead of tracing the NumPy code that builds it (which
would break the graph). The store keeps what it is given for the process's
lifetime; here that is one schedule and one tuple of constants per (plan, dtype,
device) that compiled code used, small next to the compiled graphs themselves.

Compiled calls that need no autograd graph run the eager forward-only kernels as
opaque custom ops (``e3xp::grouped_forward``, ``e3xp::sh_forward``): Inductor's
own loops over the same computations measured slower (benchmarks/RESULTS.md).
"""

from __future__ import annotations

from typing import Optional

import torch

from e3xp._static import static_call, static_function
from e3xp.core.schedule import prepare

from ..harmonics import sh_polynomial_terms, sparse_sh_terms
from .harmonics import harmonics_forward
from .kernels import fully_connected_forward, grouped_forward

__all__ = ["prepared", "schedule", "plan_id", "sh_terms", "sh_polynomial", "grouped_forward_op", "sh_forward_op"]


@static_function
def _schedule(kind, key):
    return prepare(kind, key)[0]


@static_function
def _constants(kind, key, dtype, device):
    from . import make_backend

    like = torch.empty((), dtype=dtype, device=device)
    return make_backend()._constants(prepare(kind, key)[1], like)


def schedule(kind, key):
    """The schedule of ``prepare(kind, key)``, a trace-time constant."""
    return static_call(_schedule, kind, key)


def prepared(kind, key, like):
    """``(schedule, constants)`` of ``prepare(kind, key)`` in ``like``'s dtype and device, trace-time constants."""
    return schedule(kind, key), static_call(_constants, kind, key, like.dtype, like.device)


_PLAN_IDS, _PLANS = {}, []  # plans seen by grouped_forward_op under torch.compile


@static_function
def _plan_id(plan) -> int:
    if plan not in _PLAN_IDS:
        _PLAN_IDS[plan] = len(_PLANS)
        _PLANS.append(plan)
    return _PLAN_IDS[plan]


def plan_id(plan) -> int:
    """An integer for ``plan`` (custom ops take tensors and plain numbers only), a trace-time constant."""
    return static_call(_plan_id, plan)


@static_function
def _sh_terms(key):
    return sparse_sh_terms(key)


def sh_terms(key):
    """:func:`e3xp.backends.harmonics.sparse_sh_terms`, a trace-time constant."""
    return static_call(_sh_terms, key)


@static_function
def _sh_poly(key):
    return sh_polynomial_terms(key)


def sh_polynomial(key):
    """:func:`e3xp.backends.harmonics.sh_polynomial_terms`, a trace-time constant."""
    return static_call(_sh_poly, key)


@torch.library.custom_op("e3xp::grouped_forward", mutates_args=())
def grouped_forward_op(x1: torch.Tensor, x2: torch.Tensor, w: Optional[torch.Tensor], plan_id: int,
                       batch: list[int]) -> torch.Tensor:
    """``e3xp::grouped_forward``: the eager forward-only tensor-product kernels as one opaque op.

    Under ``torch.compile`` without autograd, Inductor would otherwise trace the
    forward into its own loops, which measured about 2x slower than the eager
    kernels. Inside the compiled graph the op runs
    :func:`~e3xp.backends.torch.kernels.grouped_forward` (channelwise and full
    products) or :func:`~e3xp.backends.torch.kernels.fully_connected_forward` (fully
    connected, shared weights). The plan travels as an integer id (:func:`plan_id`).
    """
    from . import make_backend

    schedule, consts = make_backend()._prepared("tp", _PLANS[plan_id], x1)
    if schedule.grouped.kinds <= {"grp", "cg"}:
        return grouped_forward(schedule, consts, x1, x2, w, tuple(batch))
    return fully_connected_forward(schedule, consts, x1, x2, w, tuple(batch))


@grouped_forward_op.register_fake
def _(x1, x2, w, plan_id, batch):
    return x1.new_empty(tuple(batch) + (_PLANS[plan_id].irreps_out.dim,))


@torch.library.custom_op("e3xp::sh_forward", mutates_args=())
def sh_forward_op(vectors: torch.Tensor, lmax: int, ls: list[int], normalization: str,
                  normalize: bool) -> torch.Tensor:
    """``e3xp::sh_forward``: :func:`~e3xp.backends.torch.harmonics.harmonics_forward` as an opaque op.

    For ``torch.compile`` without autograd above ``SH_POLYNOMIAL_LMAX``, where the
    eager in-place kernel ran faster than Inductor's loops over the sparse
    recursion, and compiled sooner. Up to lmax 3 the compiled polynomials stay
    faster than the eager kernel.
    """
    from . import make_backend

    schedule, mats = make_backend()._prepared("sh", (lmax, tuple(ls), normalization), vectors)
    return harmonics_forward(vectors, schedule, mats, normalize)


@sh_forward_op.register_fake
def _(vectors, lmax, ls, normalization, normalize):
    return vectors.new_empty(tuple(vectors.shape[:-1]) + (sum(2 * l + 1 for l in ls),))
