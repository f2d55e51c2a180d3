"""Typed *schedules*: what the backends' kernels execute for a plan.

A plan (:mod:`e3xp.core.plans`, :mod:`e3xp.core.spherical_harmonics`) says what to
compute; its schedule says how, in the units the kernels run: runs of paths that
one batched matmul handles, the column maps of the stacked Clebsch-Gordan matrix,
the contraction order of each remaining path. Every piece is a frozen, hashable
dataclass with named fields (a kernel never indexes a segment by position), built
once per plan, in NumPy and float64 (:func:`prepare`), together with a tuple of
read-only float64 constants that the schedule refers to by index (fields named
``const`` / ``call``). Backends materialise the constants per dtype and device.

Contraction order (per path, decided from the sizes): one operand is multiplied
by its CG matrix first, e.g. ``x2 (..., mul2, d2) @ C (d2, d1 d3) -> (..., mul2,
d1, d3)``, then one batched matmul with the other operand's block gives ``(...,
mul2, mul1, d3)``; whichever operand makes that cheaper goes first
(:attr:`PathEntry.first`). The ``"uvw"`` paths into one output block are
contracted with their weights in a single matmul.

Weighted paths whose second operand has multiplicity 1 (channelwise ``"uvu"`` paths
of MACE / NequIP convolutions, fully connected ``"uvw"`` paths with spherical
harmonics or single-channel inputs) and unweighted ones with one ``x2`` channel
(full products) are regrouped (:class:`GroupedSchedule`): one matmul ``x2 @ Call``
gives every path's ``b @ C``, consecutive channelwise output blocks from one ``x1``
block run as one batched matmul, and fully connected blocks mix all their paths
with one matmul. Segment kinds (:attr:`kind`): ``"grp"``
(:class:`ChannelwiseSegment`), ``"cg"`` (:class:`FullSegment`), ``"uvw"``
(:class:`FullyConnectedSegment`), ``"blk"`` (:class:`BlockSegment`, an output block
left to the per-path executor). A backend without a kernel for a kind runs the
generic executor (:mod:`e3xp.backends.array_api`), which handles them all.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import ClassVar, Optional, Union

import numpy as np

from e3xp.core.plans import LinearPlan, TensorProductPlan
from e3xp.core.spherical_harmonics import spherical_harmonics_plan

__all__ = [
    "PathEntry",
    "OutputBlock",
    "FullSegment",
    "ChannelwiseSegment",
    "FullyConnectedEntry",
    "FullyConnectedSegment",
    "BlockSegment",
    "X1Block",
    "GroupedSchedule",
    "TensorProductSchedule",
    "LinearPath",
    "LinearBias",
    "LinearBlock",
    "LinearSchedule",
    "HarmonicsSchedule",
    "prepare",
    "tensor_product_schedule",
    "linear_schedule",
    "harmonics_schedule",
]


# ---------------------------------------------------------------------------
# tensor products: the per-path form
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PathEntry:
    """One path of the per-path executor.

    ``first``: 1 when ``x1``'s block is multiplied by the CG matrix first
    (``consts[const]`` is then ``(d1, d2 d3)``), 2 when ``x2``'s is (``(d2, d1
    d3)``). ``weight_shape`` is None for an unweighted path.
    """

    mode: str
    first: int
    start1: int
    mul1: int
    d1: int
    start2: int
    mul2: int
    d2: int
    const: int
    weight_offset: int
    weight_shape: Optional[tuple]
    weight_size: int

    @property
    def has_weight(self) -> bool:
        return self.weight_shape is not None


@dataclass(frozen=True)
class OutputBlock:
    """One output block ``(mul, dim)`` and the paths writing into it (none: zeros)."""

    mul: int
    dim: int
    paths: tuple


# ---------------------------------------------------------------------------
# tensor products: grouped segments
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    """``n`` consecutive output blocks ``(mul1, d3)``, each from one path of the ``x1``
    block ``(start1, mul1, d1)`` and one ``x2`` channel: ``out[j, u, k] = sum_i a[u, i]
    B_j[i, k]`` with ``B_j`` the ``(d1, d3)`` columns ``col + j d1 d3`` of ``x2 @ Call``."""

    start1: int
    mul1: int
    d1: int
    d3: int
    n: int
    col: int

    @property
    def width(self) -> int:
        """Columns of ``Call`` (and numbers of the output) the run spans per ``d1`` or ``mul1``."""
        return self.n * self.d3


@dataclass(frozen=True)
class FullSegment(_Run):
    """Unweighted paths with one ``x2`` channel (full tensor products), ``"cg"``."""

    kind: ClassVar[str] = "cg"
    weight_offset: ClassVar[None] = None


@dataclass(frozen=True)
class ChannelwiseSegment(_Run):
    """Weighted ``"uvu"`` paths with ``mul2 == 1`` (MACE / NequIP convolutions), ``"grp"``.

    Path ``j`` scales channel ``u`` by ``w[weight_offset + j mul1 + u]``; the weights go
    on ``x1``'s block before the matmul when ``weights_first`` (``d1 <= d3``), on the
    result after it otherwise: whichever is smaller.
    """

    kind: ClassVar[str] = "grp"
    weight_offset: int
    weights_first: bool


@dataclass(frozen=True)
class FullyConnectedEntry:
    """One path of a :class:`FullyConnectedSegment`: ``x1`` block ``(start1, mul1, d1)``,
    ``Call`` columns ``col .. col + d1 d3`` (``(d1, d3)`` row-major), weights ``(mul1,
    mul_o)`` at ``weight_offset``."""

    start1: int
    mul1: int
    d1: int
    col: int
    weight_offset: int


@dataclass(frozen=True)
class FullyConnectedSegment:
    """An output block ``(mul_o, d3)`` of weighted ``"uvw"`` paths with ``mul2 == 1``, ``"uvw"``.

    ``out[w, k] = sum_p W_p[u, w] (a_p[u, i] B_p[i, k])``. ``columns``: the entries'
    ``Call`` columns reordered ``(k, then K)``, ``K`` running over the entries' ``i``
    in order, so that ``x2 @ Call[:, columns]`` is the ``(..., d3, K)`` operand
    directly.
    """

    kind: ClassVar[str] = "uvw"
    mul_o: int
    d3: int
    entries: tuple
    columns: tuple

    @property
    def k(self) -> int:
        """``K``, the sum of the entries' ``d1``."""
        return sum(e.d1 for e in self.entries)


@dataclass(frozen=True)
class BlockSegment:
    """Output block ``index`` (of :attr:`TensorProductSchedule.blocks`), left to the per-path executor, ``"blk"``."""

    kind: ClassVar[str] = "blk"
    index: int


Segment = Union[FullSegment, ChannelwiseSegment, FullyConnectedSegment, BlockSegment]


@dataclass(frozen=True)
class X1Block:
    """The ``"grp"`` / ``"cg"`` segments reading one ``x1`` block, with ``Call``'s columns reordered.

    ``segments``: their indices in :attr:`GroupedSchedule.segments`, in order.
    ``columns_by_path``: per path (segments in order, then ``j``), ``k``-major then
    ``i``: ``x2 @ Call[:, columns_by_path]`` is every path's ``B^T`` side by side,
    ``(..., sum d3, d1)`` flat. ``columns_by_i``: ``i``-major, then the paths, then
    ``k``: ``(..., d1, sum d3)`` flat, what ``a (mul1, d1) @`` it needs.
    """

    start1: int
    mul1: int
    d1: int
    segments: tuple
    columns_by_path: tuple
    columns_by_i: tuple


@dataclass(frozen=True)
class GroupedSchedule:
    """Output blocks in order as segments, and ``Call = consts[call]`` ``(dim2, sum d1 d3)``."""

    call: int
    segments: tuple
    x1_blocks: tuple

    @property
    def kinds(self) -> frozenset:
        """The segment kinds present, e.g. ``frozenset({"grp", "blk"})``."""
        return frozenset(seg.kind for seg in self.segments)


@dataclass(frozen=True)
class TensorProductSchedule:
    """The schedule of a :class:`~e3xp.core.plans.TensorProductPlan`.

    ``blocks`` (one :class:`OutputBlock` per output block) is always there, for the
    per-path executor; ``grouped`` is None when no path qualifies for grouping.

    Examples
    --------
    >>> from e3xp.core.plans import channelwise_tensor_product_plan
    >>> schedule, consts = prepare("tp", channelwise_tensor_product_plan("2x0e+1o", "0e+1o"))
    >>> print(schedule.dim1, schedule.dim2, schedule.weight_numel, sorted(schedule.grouped.kinds))
    5 4 8 ['grp']
    >>> seg = schedule.grouped.segments[0]
    >>> print(seg.kind, seg.start1, seg.mul1, seg.n, seg.weight_offset, consts[schedule.grouped.call].shape)
    grp 0 2 1 0 (4, 40)
    """

    dim1: int
    dim2: int
    weight_numel: int
    blocks: tuple
    grouped: Optional[GroupedSchedule]

    @property
    def dim_out(self) -> int:
        return sum(b.mul * b.dim for b in self.blocks)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float64)
    a.setflags(write=False)
    return a


def _order_cost(mode: str, mul1: int, mul2: int, d1: int, d2: int, d3: int) -> tuple[int, int]:
    """Multiply-adds per sample with x1 first and with x2 first."""
    if mode == "uvu":
        return (
            mul1 * d1 * d2 * d3 + mul1 * mul2 * d2 + mul1 * d2 * d3,
            mul2 * d2 * d1 * d3 + mul1 * mul2 * d1 * d3 + mul1 * d1 * d3,
        )
    if mode == "uvv":  # "uvu" with the roles of the operands exchanged
        return (
            mul1 * d1 * d2 * d3 + mul1 * mul2 * d2 * d3 + mul2 * d2 * d3,
            mul2 * d2 * d1 * d3 + mul1 * mul2 * d1 + mul2 * d1 * d3,
        )
    if mode in ("uuu", "uuw"):  # "uuw" mixes the channels afterwards, whatever the order
        return mul1 * d1 * d2 * d3 + mul1 * d2 * d3, mul1 * d2 * d1 * d3 + mul1 * d1 * d3
    return (
        mul1 * d1 * d2 * d3 + mul1 * mul2 * d2 * d3,
        mul2 * d2 * d1 * d3 + mul1 * mul2 * d1 * d3,
    )


@functools.lru_cache(maxsize=256)
def tensor_product_schedule(plan: TensorProductPlan) -> tuple:
    """``(TensorProductSchedule, float64 constants)`` of a plan (cached).

    The constants are the CG blocks with the path coefficients folded in, reshaped
    into the matrices the contraction multiplies by (one per path, at
    :attr:`PathEntry.const`), then ``Call`` when paths are grouped.
    """
    if not isinstance(plan, TensorProductPlan):
        raise TypeError(f"plan must be a TensorProductPlan, got {type(plan).__name__}")
    s1, s2 = plan.irreps_in1.slices(), plan.irreps_in2.slices()
    per_out = [[] for _ in plan.irreps_out]
    consts = []
    for p in plan.paths:
        mul1, ir1 = plan.irreps_in1[p.i_in1]
        mul2, ir2 = plan.irreps_in2[p.i_in2]
        d1, d2, d3 = ir1.dim, ir2.dim, plan.irreps_out[p.i_out].ir.dim
        if mul1 * mul2 == 0 or (p.mode in ("uvuv_triu", "u<vw") and mul1 < 2) or plan.irreps_out[p.i_out].mul == 0:
            continue  # writes nothing
        cost1, cost2 = _order_cost(p.mode, mul1, mul2, d1, d2, d3)
        # Ties go to x1 first: that yields (u, v) order, which uvuv wants as is.
        first = 1 if cost1 <= cost2 else 2
        c = float(p.path_weight) * np.asarray(plan.cg(p), dtype=np.float64)
        if first == 1:
            mat = c.reshape(d1, d2 * d3)
        else:
            mat = np.transpose(c, (1, 0, 2)).reshape(d2, d1 * d3)
        consts.append(_readonly(mat))
        per_out[p.i_out].append(
            PathEntry(
                mode=p.mode,
                first=first,
                start1=s1[p.i_in1].start,
                mul1=mul1,
                d1=d1,
                start2=s2[p.i_in2].start,
                mul2=mul2,
                d2=d2,
                const=len(consts) - 1,
                weight_offset=int(p.weight_offset) if p.has_weight else -1,
                weight_shape=tuple(int(s) for s in p.weight_shape) if p.has_weight else None,
                weight_size=math.prod(p.weight_shape) if p.has_weight else 0,
            )
        )
    blocks = tuple(OutputBlock(mul_o, ir_o.dim, tuple(per_out[i])) for i, (mul_o, ir_o) in enumerate(plan.irreps_out))
    grouped = _group_channelwise(plan, len(consts))
    if grouped is not None:
        grouped, call = grouped
        consts.append(call)
    schedule = TensorProductSchedule(plan.irreps_in1.dim, plan.irreps_in2.dim, int(plan.weight_numel), blocks, grouped)
    return schedule, tuple(consts)


def _group_channelwise(plan: TensorProductPlan, call_index: int):
    """Batch the paths with one ``x2`` channel into segments (see the module docstring).

    A channelwise path is ``out[u, k] = W[u] a[u, i] B[i, k]`` with ``B = b @ C`` a
    small ``(d1, d3)`` matrix per sample. All the ``B`` of the plan come from one
    matmul ``x2 @ Call`` (``Call`` stacks the CG blocks, coefficients folded in, on
    the rows of their ``x2`` block). Runs of consecutive output blocks written by one
    such path each, from the same ``x1`` block, with the same ``d3`` and adjacent
    weights, then become one batched matmul ``(..., n, mul1, d1) @ (..., n, d1, d3)``
    whose result is already those blocks in output order. Fully connected blocks use
    the same ``B``; unweighted paths with one ``x2`` channel are the same product
    without ``W``.

    Returns ``(GroupedSchedule, Call)`` or None when no path qualifies.
    """
    s1, s2 = plan.irreps_in1.slices(), plan.irreps_in2.slices()
    by_out = [[] for _ in plan.irreps_out]
    for p in plan.paths:
        by_out[p.i_out].append(p)

    def eligible(ps):
        if len(ps) != 1:
            return None
        p = ps[0]
        mul1 = plan.irreps_in1[p.i_in1].mul
        if plan.irreps_in2[p.i_in2].mul != 1 or mul1 == 0:
            return None
        if p.mode == "uvu" and p.has_weight:
            return p
        # unweighted, one x2 channel: "uvu" and "uvuv" (full products) are both out[u, k]
        if p.mode in ("uvu", "uvuv") and not p.has_weight:
            return p
        return None

    def cg_columns(p, d1, d3):
        c = float(p.path_weight) * np.asarray(plan.cg(p), dtype=np.float64)  # (d1, d2, d3)
        return s2[p.i_in2], np.transpose(c, (1, 0, 2)).reshape(c.shape[1], d1 * d3)

    segs, cols, col = [], [], 0
    for i_out, ps in enumerate(by_out):
        p = eligible(ps)
        mul_o, ir_o = plan.irreps_out[i_out]
        if p is None and ps and mul_o > 0 and all(
            q.mode == "uvw" and q.has_weight and plan.irreps_in2[q.i_in2].mul == 1 for q in ps
        ):
            entries = []
            for q in ps:
                mul1, ir1 = plan.irreps_in1[q.i_in1]
                entries.append(FullyConnectedEntry(s1[q.i_in1].start, mul1, ir1.dim, col, int(q.weight_offset)))
                cols.append(cg_columns(q, ir1.dim, ir_o.dim))
                col += ir1.dim * ir_o.dim
            segs.append(FullyConnectedSegment(mul_o, ir_o.dim, tuple(entries), _fc_columns(entries, ir_o.dim)))
            continue
        if p is None:
            segs.append(BlockSegment(i_out))
            continue
        mul1, ir1 = plan.irreps_in1[p.i_in1]
        start1, d1, d3 = s1[p.i_in1].start, ir1.dim, ir_o.dim
        prev = segs[-1] if segs else None
        cols.append(cg_columns(p, d1, d3))
        if not p.has_weight:
            if isinstance(prev, FullSegment) and prev.start1 == start1 and prev.d3 == d3:
                segs[-1] = dataclasses.replace(prev, n=prev.n + 1)
            else:
                segs.append(FullSegment(start1, mul1, d1, d3, 1, col))
        elif (
            isinstance(prev, ChannelwiseSegment)
            and prev.start1 == start1
            and prev.d3 == d3
            and prev.weight_offset + prev.n * mul1 == p.weight_offset
        ):
            segs[-1] = dataclasses.replace(prev, n=prev.n + 1)
        else:
            segs.append(ChannelwiseSegment(start1, mul1, d1, d3, 1, col, int(p.weight_offset), d1 <= d3))
        col += d1 * d3
    if not cols:
        return None
    call = np.zeros((plan.irreps_in2.dim, col))
    at = 0
    for sl, block in cols:
        call[sl, at : at + block.shape[1]] = block
        at += block.shape[1]
    segs = tuple(segs)
    return GroupedSchedule(call_index, segs, _x1_blocks(segs)), _readonly(call)


def _fc_columns(entries, d3: int) -> tuple:
    """:attr:`FullyConnectedSegment.columns`: the entries' columns ``(k, then K)``."""
    per_k = [[] for _ in range(d3)]
    for e in entries:
        for i in range(e.d1):
            for k in range(d3):
                per_k[k].append(e.col + i * d3 + k)
    return tuple(c for cols in per_k for c in cols)


def _x1_blocks(segs: tuple) -> tuple:
    """:class:`X1Block` per ``x1`` block read by ``"grp"`` / ``"cg"`` segments, in order of first use."""
    by_x1 = {}
    for si, seg in enumerate(segs):
        if isinstance(seg, _Run):
            by_x1.setdefault(seg.start1, []).append(si)
    out = []
    for start1, sis in by_x1.items():
        runs = [segs[si] for si in sis]
        mul1, d1 = runs[0].mul1, runs[0].d1
        paths = [(r.col + j * d1 * r.d3, r.d3) for r in runs for j in range(r.n)]
        by_path = tuple(c + i * d3 + k for c, d3 in paths for k in range(d3) for i in range(d1))
        by_i = tuple(c + i * d3 + k for i in range(d1) for c, d3 in paths for k in range(d3))
        out.append(X1Block(start1, mul1, d1, tuple(sis), by_path, by_i))
    return tuple(out)


# ---------------------------------------------------------------------------
# linear
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearPath:
    """One weighted path of a linear block: ``x`` block ``(start, mul_in, dim)``, weights
    ``(mul_in, mul)`` at ``weight_offset``, times ``coefficient``."""

    start: int
    mul_in: int
    weight_offset: int
    coefficient: float


@dataclass(frozen=True)
class LinearBias:
    """The biases of a (scalar) output block: ``mul`` numbers at ``offset``."""

    offset: int
    mul: int


@dataclass(frozen=True)
class LinearBlock:
    """One output block ``(mul, dim)``: the sum of its paths, plus its bias (None: no bias)."""

    mul: int
    dim: int
    paths: tuple
    bias: Optional[LinearBias]


@dataclass(frozen=True)
class LinearSchedule:
    """The schedule of a :class:`~e3xp.core.plans.LinearPlan` (it has no constants).

    Examples
    --------
    >>> from e3xp.core.plans import linear_plan
    >>> schedule, consts = prepare("linear", linear_plan("2x0e+1o", "3x0e", biases=True))
    >>> block = schedule.blocks[0]
    >>> print(schedule.dim_in, schedule.weight_numel, block.mul, block.paths[0].mul_in, block.bias, consts)
    5 6 3 2 LinearBias(offset=0, mul=3) ()
    """

    dim_in: int
    weight_numel: int
    bias_numel: int
    blocks: tuple

    @property
    def dim_out(self) -> int:
        return sum(b.mul * b.dim for b in self.blocks)


@functools.lru_cache(maxsize=256)
def linear_schedule(plan: LinearPlan) -> tuple:
    """``(LinearSchedule, ())`` of a plan (cached)."""
    if not isinstance(plan, LinearPlan):
        raise TypeError(f"plan must be a LinearPlan, got {type(plan).__name__}")
    s_in = plan.irreps_in.slices()
    per_out = [[] for _ in plan.irreps_out]
    for p in plan.paths:
        mul_in, mul_out = (int(s) for s in p.weight_shape)
        if mul_in * mul_out == 0:
            continue
        per_out[p.i_out].append(LinearPath(s_in[p.i_in].start, mul_in, int(p.weight_offset), float(p.path_weight)))
    bias_of = {int(i): LinearBias(int(off), int(mul)) for i, off, mul in plan.biases}
    blocks = tuple(
        LinearBlock(mul_o, ir_o.dim, tuple(per_out[i]), bias_of.get(i)) for i, (mul_o, ir_o) in enumerate(plan.irreps_out)
    )
    return LinearSchedule(plan.irreps_in.dim, int(plan.weight_numel), int(plan.bias_numel), blocks), ()


# ---------------------------------------------------------------------------
# spherical harmonics
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HarmonicsSchedule:
    """The harmonics of degrees ``ls`` (output order), each scaled by its ``factors`` entry.

    The recursion runs up to ``lmax = max(ls)``; its constants are the recursion
    matrices ``M_1 .. M_lmax`` (``M_l`` at index ``l - 1``, ``(3 (2l - 1), 2l + 1)``).

    Examples
    --------
    >>> schedule, mats = prepare("sh", (3, (2, 0), "norm"))
    >>> print(schedule.lmax, schedule.ls, [round(f, 4) for f in schedule.factors], [m.shape for m in mats])
    2 (2, 0) [0.4472, 1.0] [(3, 3), (9, 5)]
    """

    lmax: int
    ls: tuple
    factors: tuple

    @property
    def dim(self) -> int:
        return sum(2 * l + 1 for l in self.ls)


@functools.lru_cache(maxsize=256)
def harmonics_schedule(plan_lmax: int, ls: tuple, normalization: str) -> tuple:
    """``(HarmonicsSchedule, (M_1, .., M_lmax))`` (cached).

    Keyed by the plan's lmax (its matrices are a function of it) and plain values, so
    the key passes through compile-time constant functions.
    """
    plan = spherical_harmonics_plan(plan_lmax)
    lmax = max(ls)
    if lmax > plan.lmax:
        raise ValueError(f"degree {lmax} is above the plan's lmax = {plan.lmax}")
    factors = plan.factors(normalization)
    schedule = HarmonicsSchedule(lmax, tuple(ls), tuple(float(factors[l]) for l in ls))
    return schedule, tuple(plan.matrix(l) for l in range(1, lmax + 1))


def prepare(kind: str, key):
    """``(schedule, float64 constants)`` for a plan; ``kind`` is "tp", "linear" or "sh".

    ``key``: the plan, or ``(plan lmax, degrees, normalization)`` for "sh".

    Examples
    --------
    >>> from e3xp.core.plans import full_tensor_product_plan
    >>> schedule, consts = prepare("tp", full_tensor_product_plan("1o", "1o"))
    >>> print(len(consts), consts[0].dtype)  # a CG block per path, then the stacked ``Call``
    4 float64
    >>> print([seg.kind for seg in schedule.grouped.segments])  # 1o x 1o -> 0e, 1e, 2e: one group per d3
    ['cg', 'cg', 'cg']
    """
    if kind == "tp":
        return tensor_product_schedule(key)
    if kind == "linear":
        return linear_schedule(key)
    if kind == "sh":
        return harmonics_schedule(*key)
    raise ValueError(f"unknown plan kind {kind!r}: expected 'tp', 'linear' or 'sh'")
