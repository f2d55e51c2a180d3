"""Backend-neutral *plans* for tensor products and linear maps.

A plan is a frozen, hashable description of an equivariant bilinear (or linear)
map: which input blocks meet, with which Clebsch-Gordan block, with which
normalization coefficient, where the weights of each path live in a flat weight
vector, and which output blocks they produce. Backends only execute plans; all
irreps semantics are decided here, once, in float64.

Execution semantics of a :class:`TensorProductPlan` (every backend must give these
numbers). For a path ``p`` let ``a = x1[..., s1].reshape(..., mul1, d1)`` be the
block ``p.i_in1`` of the first input, ``b = x2[..., s2].reshape(..., mul2, d2)``
the block ``p.i_in2`` of the second, ``C = clebsch_gordan(l1, l2, l_out)`` of
shape ``(d1, d2, d_out)``, ``c = p.path_weight`` and, for weighted paths,
``W = weights[..., off:off + size].reshape(..., *p.weight_shape)`` where
``weights`` is the flat weight array, shared ``(weight_numel,)`` or per sample
``(..., weight_numel)``. Then, summing over repeated indices ``i, j``:

=================  ================  ==========================================
mode               weight_shape      contribution to out block ``p.i_out``
=================  ================  ==========================================
``"uvw"``          (mul1, mul2, mo)  ``out[w, k] += c W[u, v, w] a[u, i] b[v, j] C[i, j, k]``
``"uvu"``          (mul1, mul2)      ``out[u, k] += c W[u, v] a[u, i] b[v, j] C[i, j, k]``
``"uuu"``          (mul1,) or ()     ``out[u, k] += c (W[u]) a[u, i] b[u, j] C[i, j, k]``
``"uvuv"``         (mul1, mul2) or   ``out[u * mul2 + v, k] += c (W[u, v]) a[u, i] b[v, j] C``
                   ()
``"uvu"``          ()                ``out[u, k] += c a[u, i] b[v, j] C[i, j, k]`` (sum over v)
``"uvv"``          (mul1, mul2) or   ``out[v, k] += c (W[u, v]) a[u, i] b[v, j] C[i, j, k]``
                   ()
``"uuw"``          (mul1, mo) or ()  ``out[w, k] += c W[u, w] a[u, i] b[u, j] C[i, j, k]``;
                                     without weight ``mo == 1`` and ``W = 1``
``"uvuv_triu"``    (npairs,) or ()   ``out[t(u, v), k] += c (W[t]) a[u, i] b[v, j] C[i, j, k]``
                                     for ``u < v`` only, ``t`` the row-major index of the pair
                                     among the ``npairs = mul1 (mul1 - 1) / 2`` pairs
                                     (``mul1 == mul2``; e3nn's ``"uvu<v"``)
``"u<vw"``         (npairs, mo)      ``out[w, k] += c W[t(u, v), w] a[u, i] b[v, j] C[i, j, k]``
                                     summed over the pairs ``u < v`` (``mul1 == mul2``)
=================  ================  ==========================================

``(W[...])`` means the factor is there only when the path has weights. ``"uvv"``,
``"uuw"``, ``"u<vw"`` and the unweighted ``"uvu"`` exist for e3nn's ``o3.TensorProduct``
instructions (``e3xp.torch.TensorProduct``); the plan builders of e3xp's own layers
do not use them.

Output blocks that no path reaches are zero. The output is the concatenation of
the blocks of ``irreps_out`` in order (each block laid out ``(mul, dim)``
row-major), so the output's layout is exactly ``irreps_out``.
"""


from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from e3xp.core.clebsch_gordan import clebsch_gordan
from e3xp.core.irreps import Irrep, Irreps, selected_irreps

__all__ = [
    "TPPath",
    "TensorProductPlan",
    "LinearPath",
    "LinearPlan",
    "MODES",
    "IRREP_NORMALIZATIONS",
    "PATH_NORMALIZATIONS",
    "full_tensor_product_plan",
    "elementwise_tensor_product_plan",
    "tensor_square_plan",
    "fully_connected_tensor_product_plan",
    "channelwise_tensor_product_plan",
    "linear_plan",
    "execute_plan_reference",
    "execute_linear_reference",
]

MODES = ("uvw", "uvu", "uvv", "uuw", "uuu", "uvuv", "uvuv_triu", "u<vw")
IRREP_NORMALIZATIONS = ("component", "norm", "none")
PATH_NORMALIZATIONS = ("element", "path", "none")


@dataclass(frozen=True)
class TPPath:
    """One path (instruction) of a tensor product plan; see the module docstring."""

    i_in1: int
    i_in2: int
    i_out: int
    mode: str
    path_weight: float
    weight_offset: int  # start in the flat weights; -1 when the path has no weight
    weight_shape: tuple  # () when the path has no weight

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"unknown tensor product mode {self.mode!r}: expected one of {MODES}")
        if not self.has_weight and self.weight_shape != ():
            raise ValueError(
                f"a path without weight (weight_offset={self.weight_offset}) must have "
                f"weight_shape=(), got {self.weight_shape!r}"
            )

    @property
    def has_weight(self) -> bool:
        return self.weight_offset >= 0

    @property
    def weight_size(self) -> int:
        return int(np.prod(self.weight_shape)) if self.has_weight else 0


def _expected_weight_shapes(mode: str, mul1: int, mul2: int, mul_out: int) -> tuple:
    # The shapes the module docstring allows for each mode; () means "no weight".
    npairs = mul1 * (mul1 - 1) // 2
    return {
        "uvw": ((mul1, mul2, mul_out),),
        "uvu": ((mul1, mul2), ()),
        "uvv": ((mul1, mul2), ()),
        "uuw": ((mul1, mul_out), ()),
        "uuu": ((mul1,), ()),
        "uvuv": ((mul1, mul2), ()),
        "uvuv_triu": ((npairs,), ()),
        "u<vw": ((npairs, mul_out),),
    }[mode]


def _expected_out_mul(mode: str, mul1: int, mul2: int, mul_out: int) -> int:
    return {
        "uvw": mul_out,
        "uvu": mul1,
        "uvv": mul2,
        "uuw": mul_out,
        "u<vw": mul_out,
        "uuu": mul1,
        "uvuv": mul1 * mul2,
        "uvuv_triu": mul1 * (mul1 - 1) // 2,
    }[mode]


@dataclass(frozen=True)
class TensorProductPlan:
    """A bilinear equivariant map ``(x1, x2) -> out``: inputs, paths, outputs, weights.

    Construction checks that every path is consistent (indices in range, selection
    rule, multiplicities and weight shapes of its mode), so a backend can trust it.
    """

    irreps_in1: Irreps
    irreps_in2: Irreps
    irreps_out: Irreps
    paths: tuple  # tuple[TPPath, ...]
    weight_numel: int

    def __post_init__(self):
        for name in ("irreps_in1", "irreps_in2", "irreps_out"):
            if not isinstance(getattr(self, name), Irreps):
                raise TypeError(f"TensorProductPlan.{name} must be Irreps, got {getattr(self, name)!r}")
        for p in self.paths:
            _check_tp_path(self, p)

    def cg(self, path: TPPath) -> np.ndarray:
        """The (read-only, float64) Clebsch-Gordan block of a path."""
        return clebsch_gordan(
            self.irreps_in1[path.i_in1].ir.l,
            self.irreps_in2[path.i_in2].ir.l,
            self.irreps_out[path.i_out].ir.l,
        )

    @property
    def has_weights(self) -> bool:
        """True when some path takes weights (``weight_numel > 0``)."""
        return self.weight_numel > 0


def _check_tp_path(plan: TensorProductPlan, p: TPPath) -> None:
    for idx, irreps, name in (
        (p.i_in1, plan.irreps_in1, "i_in1"),
        (p.i_in2, plan.irreps_in2, "i_in2"),
        (p.i_out, plan.irreps_out, "i_out"),
    ):
        if not 0 <= idx < len(irreps):
            raise ValueError(f"path {p!r}: {name}={idx} is out of range for irreps {irreps}")
    (mul1, ir1), (mul2, ir2), (mul_out, ir_out) = (
        plan.irreps_in1[p.i_in1],
        plan.irreps_in2[p.i_in2],
        plan.irreps_out[p.i_out],
    )
    if ir_out not in list(ir1 * ir2):
        raise ValueError(f"path {p!r}: {ir_out} is not in {ir1} x {ir2} (selection rule)")
    if p.mode in ("uuu", "uuw", "uvuv_triu", "u<vw") and mul1 != mul2:
        raise ValueError(f"path {p!r}: mode {p.mode!r} needs mul1 == mul2, got {mul1} and {mul2}")
    want = _expected_out_mul(p.mode, mul1, mul2, mul_out)
    if mul_out != want:
        raise ValueError(
            f"path {p!r}: mode {p.mode!r} with inputs {mul1}x{ir1}, {mul2}x{ir2} writes "
            f"{want} copies of {ir_out}, but output block {p.i_out} is {mul_out}x{ir_out}"
        )
    if p.mode == "uuw" and not p.has_weight and mul_out != 1:
        raise ValueError(f"path {p!r}: mode 'uuw' without weights sums the channels into one: needs mul_out == 1, got {mul_out}")
    shapes = _expected_weight_shapes(p.mode, mul1, mul2, mul_out)
    if tuple(p.weight_shape) not in shapes:
        raise ValueError(
            f"path {p!r}: weight_shape {p.weight_shape!r} does not fit mode {p.mode!r}; "
            f"expected one of {shapes}"
        )
    if p.has_weight and p.weight_offset + p.weight_size > plan.weight_numel:
        raise ValueError(f"path {p!r}: weights run past weight_numel={plan.weight_numel}")


@dataclass(frozen=True)
class LinearPath:
    """One block of a linear map: ``out[i_out][w] += path_weight * W[u, w] x[i_in][u]``."""

    i_in: int
    i_out: int
    path_weight: float
    weight_offset: int
    weight_shape: tuple  # (mul_in, mul_out)


@dataclass(frozen=True)
class LinearPlan:
    """An equivariant linear map (Schur's lemma: only equal irreps are connected).

    ``out[..., block i_out] = sum over paths into i_out of
    path_weight * einsum("...ui,uw->...wi", x_block(i_in), W)`` plus, when
    ``biases`` has an entry ``(i_out, offset, mul)``, ``bias[offset:offset+mul]``
    added to that (necessarily ``0e``) output block. Blocks with no path are zero.
    """

    irreps_in: Irreps
    irreps_out: Irreps
    paths: tuple  # tuple[LinearPath, ...]
    weight_numel: int
    biases: tuple  # tuple[(i_out, offset, mul), ...]
    bias_numel: int

    def __post_init__(self):
        for p in self.paths:
            if not (0 <= p.i_in < len(self.irreps_in) and 0 <= p.i_out < len(self.irreps_out)):
                raise ValueError(
                    f"linear path {p!r} is out of range for {self.irreps_in} -> {self.irreps_out}"
                )
            (mul_in, ir_in), (mul_out, ir_out) = self.irreps_in[p.i_in], self.irreps_out[p.i_out]
            if ir_in != ir_out:
                raise ValueError(f"linear path {p!r} connects {ir_in} to {ir_out}: irreps must be equal")
            if tuple(p.weight_shape) != (mul_in, mul_out):
                raise ValueError(
                    f"linear path {p!r}: weight_shape must be {(mul_in, mul_out)}, got {p.weight_shape!r}"
                )
            if p.weight_offset < 0 or p.weight_offset + mul_in * mul_out > self.weight_numel:
                raise ValueError(f"linear path {p!r}: weights outside [0, {self.weight_numel})")
        for i_out, offset, mul in self.biases:
            if not 0 <= i_out < len(self.irreps_out) or not self.irreps_out[i_out].ir.is_scalar():
                raise ValueError(
                    f"bias on output block {i_out} of {self.irreps_out}: only 0e blocks take biases"
                )
            if mul != self.irreps_out[i_out].mul or offset < 0 or offset + mul > self.bias_numel:
                raise ValueError(f"bias entry {(i_out, offset, mul)!r} does not fit {self.irreps_out}")


# ---------------------------------------------------------------------------
# argument checking
# ---------------------------------------------------------------------------


def _check_choice(value, allowed: tuple, name: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name}={value!r} is not supported: expected one of {allowed}")
    return value


def _irrep_normalization(value) -> str:
    # None means the library default, as in e3nn / e3nn-jax.
    return _check_choice("component" if value is None else value, IRREP_NORMALIZATIONS, "irrep_normalization")


def _path_normalization(value) -> str:
    return _check_choice("element" if value is None else value, PATH_NORMALIZATIONS, "path_normalization")


def _filter_key(filter_ir_out):
    """Canonical hashable form of ``filter_ir_out``: None or a sorted tuple of Irrep."""
    if filter_ir_out is None:
        return None
    try:
        irs = selected_irreps(filter_ir_out, "filter_ir_out")
    except ValueError as e:
        # An unparseable irreps string stays a ValueError that quotes the bad term.
        raise ValueError(f"filter_ir_out={filter_ir_out!r}: {e}") from e
    except TypeError as e:
        raise TypeError(
            f"filter_ir_out={filter_ir_out!r} is not understood: expected None, an irreps "
            f"string such as '0e + 1o', an Irrep, Irreps or a list of irreps ({e})"
        ) from e
    return tuple(sorted(irs))


def _keep(ir: Irrep, filter_key) -> bool:
    return filter_key is None or ir in filter_key


def _alpha(irrep_normalization: str, ir1: Irrep, ir2: Irrep, ir_out: Irrep) -> float:
    """The squared path coefficient before path normalization (e3nn's ``alpha``)."""
    if irrep_normalization == "component":
        return float(ir_out.dim)
    if irrep_normalization == "norm":
        return float(ir1.dim * ir2.dim)
    return 1.0


# ---------------------------------------------------------------------------
# plan builders
# ---------------------------------------------------------------------------


def _sorted_plan(irreps_in1, irreps_in2, out_list, path_list, weight_numel) -> TensorProductPlan:
    """Stably sort the output blocks by irrep and remap the paths' ``i_out``."""
    irreps_out, perm, _ = Irreps(out_list).sort()
    paths = tuple(
        TPPath(i1, i2, perm[k], mode, c, off, shape) for (i1, i2, k, mode, c, off, shape) in path_list
    )
    return TensorProductPlan(irreps_in1, irreps_in2, irreps_out, paths, weight_numel)


def full_tensor_product_plan(
    irreps_in1, irreps_in2, filter_ir_out=None, irrep_normalization="component", regroup_output=True
) -> TensorProductPlan:
    """Plan of the full (unweighted) tensor product, as ``e3nn_jax.tensor_product``.

    One ``"uvuv"`` path per ``(block of in1, block of in2, ir_out in ir1 x ir2)``
    kept by ``filter_ir_out``, writing a ``(mul1 * mul2, ir_out)`` output block
    with coefficient ``sqrt(ir_out.dim)`` ("component"), ``sqrt(ir1.dim * ir2.dim)``
    ("norm") or 1 ("none"). The output blocks are stably sorted by irrep, which is
    e3nn-jax's layout before its final simplification: ``plan.irreps_out.simplify()``
    is e3nn-jax's output irreps when ``regroup_output=True`` and ``plan.irreps_out``
    itself when False. The inputs are used as given; regrouping them (e3nn-jax does
    so when ``regroup_output=True``) is the caller's job.

    Parameters
    ----------
    irreps_in1, irreps_in2 : anything :class:`Irreps` accepts
    filter_ir_out : None, str, Irrep, Irreps or list of irreps
        Keep only these output irreps (multiplicities ignored).
    irrep_normalization : {"component", "norm", "none"}
    regroup_output : bool
        Accepted for symmetry with the operation. e3nn-jax 0.21 stably sorts the
        output blocks whatever this flag is (measured), so the plan's layout does
        not depend on it; only the caller's final ``simplify`` does.

    Returns
    -------
    TensorProductPlan
        Frozen and cached: equal arguments return the same object. When no path
        survives the filter, ``irreps_out`` is empty (e3nn-jax returns an empty
        array, not an error).

    Examples
    --------
    >>> plan = full_tensor_product_plan("2x0e + 1o", "1o + 2e")
    >>> plan.irreps_out
    1x0e+2x1o+1x1o+1x1e+2x2e+1x2e+1x2o+1x3o
    >>> plan.irreps_out.simplify()
    1x0e+3x1o+1x1e+3x2e+1x2o+1x3o
    >>> x, y = np.array([0.0, 0.0, 1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0] + 5 * [0.0])
    >>> z = execute_plan_reference(full_tensor_product_plan("1o", "1o"), x[2:], y[:3])
    >>> print(np.round(z[0] * np.sqrt(3), 10), np.round(z[1:4] * np.sqrt(2), 10))
    32.0 [-3.  6. -3.]
    """
    if not isinstance(regroup_output, (bool, np.bool_)):
        raise TypeError(f"regroup_output={regroup_output!r} must be a bool")
    return _full_tp_cached(
        Irreps(irreps_in1),
        Irreps(irreps_in2),
        _filter_key(filter_ir_out),
        _irrep_normalization(irrep_normalization),
    )


@functools.lru_cache(maxsize=256)
def _full_tp_cached(irreps_in1, irreps_in2, filter_key, irrep_normalization):
    out_list, path_list = [], []
    for i1, (mul1, ir1) in enumerate(irreps_in1):
        for i2, (mul2, ir2) in enumerate(irreps_in2):
            for ir_out in ir1 * ir2:
                if not _keep(ir_out, filter_key):
                    continue
                k = len(out_list)
                out_list.append((mul1 * mul2, ir_out))
                if mul1 * mul2 > 0:  # an empty block needs no path
                    c = math.sqrt(_alpha(irrep_normalization, ir1, ir2, ir_out))
                    path_list.append((i1, i2, k, "uvuv", c, -1, ()))
    return _sorted_plan(irreps_in1, irreps_in2, out_list, path_list, 0)


def _common_refinement(irreps1: Irreps, irreps2: Irreps) -> tuple[Irreps, Irreps]:
    """Split entries so both irreps have the same multiplicity sequence (e3nn-jax's rule)."""
    a, b = [tuple(m) for m in irreps1], [tuple(m) for m in irreps2]
    i = 0
    while i < min(len(a), len(b)):
        (m1, ir1), (m2, ir2) = a[i], b[i]
        if m1 < m2:
            b[i : i + 1] = [(m1, ir2), (m2 - m1, ir2)]
        elif m2 < m1:
            a[i : i + 1] = [(m2, ir1), (m1 - m2, ir1)]
        i += 1
    # Equal num_irreps leaves only zero-multiplicity entries unmatched at the end;
    # they hold no data, so dropping them keeps the layout.
    n = min(len(a), len(b))
    return Irreps(a[:n]), Irreps(b[:n])


def elementwise_tensor_product_plan(
    irreps_in1, irreps_in2, filter_ir_out=None, irrep_normalization="component"
) -> TensorProductPlan:
    """Plan of the elementwise tensor product, as ``e3nn_jax.elementwise_tensor_product``.

    Both inputs must have the same number of irreps; the ``n``-th irrep of ``x1``
    meets only the ``n``-th irrep of ``x2``. ``plan.irreps_in1`` and
    ``plan.irreps_in2`` are the inputs split into their common refinement (same data
    layout as the inputs), paths are ``"uuu"`` without weights, and the output is
    neither sorted nor simplified (loop order), as in e3nn-jax.

    Raises
    ------
    ValueError
        If the numbers of irreps differ.

    Examples
    --------
    >>> plan = elementwise_tensor_product_plan("2x0e + 1o", "1e + 0o + 0o")
    >>> plan.irreps_in1, plan.irreps_in2, plan.irreps_out
    (1x0e+1x0e+1x1o, 1x1e+1x0o+1x0o, 1x1e+1x0o+1x1e)
    >>> print(execute_plan_reference(plan, np.arange(5.0), np.arange(5.0)))
    [ 0.  0.  0.  3.  8. 12. 16.]
    """
    return _elementwise_cached(
        Irreps(irreps_in1),
        Irreps(irreps_in2),
        _filter_key(filter_ir_out),
        _irrep_normalization(irrep_normalization),
    )


@functools.lru_cache(maxsize=256)
def _elementwise_cached(irreps_in1, irreps_in2, filter_key, irrep_normalization):
    if irreps_in1.num_irreps != irreps_in2.num_irreps:
        raise ValueError(
            f"elementwise tensor product needs inputs with the same number of irreps, got "
            f"{irreps_in1} ({irreps_in1.num_irreps} irreps) and {irreps_in2} "
            f"({irreps_in2.num_irreps} irreps)"
        )
    in1, in2 = _common_refinement(irreps_in1, irreps_in2)
    out_list, paths = [], []
    for i, ((mul, ir1), (_, ir2)) in enumerate(zip(in1, in2)):
        for ir_out in ir1 * ir2:
            if not _keep(ir_out, filter_key):
                continue
            if mul > 0:
                c = math.sqrt(_alpha(irrep_normalization, ir1, ir2, ir_out))
                paths.append(TPPath(i, i, len(out_list), "uuu", c, -1, ()))
            out_list.append((mul, ir_out))
    return TensorProductPlan(in1, in2, Irreps(out_list), tuple(paths), 0)


def _square_symmetric_alpha(irrep_normalization: str, ir: Irrep, ir_out: Irrep) -> float:
    # For x with i.i.d. unit-variance components and a symmetric C (even l_out),
    # Isserlis gives E|sum_ij C_ijk x_i x_j|^2 summed over k = 2 + d * [l_out == 0]
    # (|C| = 1; the trace of C(l, l, 0) is +-sqrt(d)). These constants undo that,
    # which is e3nn-jax's normalized_input=False choice.
    d = ir.dim
    denom = d + 2 if ir_out.l == 0 else 2
    if irrep_normalization == "component":
        return ir_out.dim / denom
    if irrep_normalization == "norm":
        return d * d / denom
    return 1.0


def tensor_square_plan(irreps_in, filter_ir_out=None, irrep_normalization="component") -> TensorProductPlan:
    """Plan of ``x (x) x`` without redundant terms, as ``e3nn_jax.tensor_square``.

    For blocks ``i < j``: ``"uvuv"`` paths as in the full product. For a block with
    itself: ``"uvuv_triu"`` (channel pairs ``u < v``, when ``mul > 1``), then, for
    even ``l_out``, ``"uuu"`` (the symmetric same-channel part). Coefficients are
    e3nn-jax's defaults (``normalized_input=False``): unit second moment of every
    output component ("component") or irrep ("norm") for Gaussian inputs. Output
    blocks stably sorted by irrep; call ``x`` with ``plan.irreps_in1`` for both
    operands (``plan.irreps_in1 == plan.irreps_in2``). e3nn-jax has no
    ``filter_ir_out``; here it drops the output irreps not listed.

    Examples
    --------
    >>> plan = tensor_square_plan("0e + 1o")
    >>> plan.irreps_out, plan.irreps_out.simplify()
    (1x0e+1x0e+1x1o+1x2e, 2x0e+1x1o+1x2e)
    >>> x = np.array([10.0, 1.0, 2.0, 3.0])
    >>> print(np.round(execute_plan_reference(plan, x, x), 2))
    [57.74  3.61 10.   20.   30.    3.    2.   -0.58  6.    4.  ]
    """
    irreps_in = Irreps(irreps_in)
    return _square_cached(irreps_in, _filter_key(filter_ir_out), _irrep_normalization(irrep_normalization))


@functools.lru_cache(maxsize=256)
def _square_cached(irreps_in, filter_key, irrep_normalization):
    out_list, path_list = [], []
    for i1, (mul1, ir1) in enumerate(irreps_in):
        for i2, (mul2, ir2) in enumerate(irreps_in):
            if i1 > i2:
                continue
            for ir_out in ir1 * ir2:
                if not _keep(ir_out, filter_key):
                    continue
                c = math.sqrt(_alpha(irrep_normalization, ir1, ir2, ir_out))
                if i1 < i2:
                    if mul1 * mul2 > 0:
                        path_list.append((i1, i2, len(out_list), "uvuv", c, -1, ()))
                    out_list.append((mul1 * mul2, ir_out))
                    continue
                if mul1 > 1:
                    path_list.append((i1, i1, len(out_list), "uvuv_triu", c, -1, ()))
                    out_list.append((mul1 * (mul1 - 1) // 2, ir_out))
                # C(l, l, l_out) is symmetric in its first two indices iff l_out is
                # even; the antisymmetric ones vanish on x (x) x.
                if ir_out.l % 2 == 0:
                    if mul1 > 0:
                        c = math.sqrt(_square_symmetric_alpha(irrep_normalization, ir1, ir_out))
                        path_list.append((i1, i1, len(out_list), "uuu", c, -1, ()))
                    out_list.append((mul1, ir_out))
    return _sorted_plan(irreps_in, irreps_in, out_list, path_list, 0)


def _fan_in_paths(raw, path_normalization, num_elements):
    """e3nn's normalization denominators for each raw path ``(i1, i2, i_out, ...)``."""
    out = []
    for r in raw:
        into = [q for q in raw if q[2] == r[2]]
        if path_normalization == "element":
            x = sum(num_elements(q) for q in into)
        elif path_normalization == "path":
            x = num_elements(r) * len(into)
        else:
            x = 1
        out.append(x)
    return out


def fully_connected_tensor_product_plan(
    irreps_in1, irreps_in2, irreps_out, irrep_normalization="component", path_normalization="element"
) -> TensorProductPlan:
    """Plan of a fully connected weighted tensor product, e3nn's ``o3.FullyConnectedTensorProduct``.

    One ``"uvw"`` path for every ``(i1, i2, i_out)`` with ``ir_out`` in
    ``ir1 x ir2``, ordered by ``i1``, then ``i2``, then ``i_out``; the flat weights
    are the blocks ``(mul1, mul2, mul_out)`` in that order (e3nn's layout). The path
    coefficient is ``sqrt(alpha / fan_in)``: ``alpha = ir_out.dim`` ("component"),
    ``ir1.dim * ir2.dim`` ("norm") or 1 ("none"); ``fan_in`` is the sum of
    ``mul1 * mul2`` over the paths into the same output ("element"), or
    ``mul1 * mul2`` times the number of those paths ("path"), or 1 ("none").
    Paths with a zero multiplicity are left out (they have no weights and no effect).

    Raises
    ------
    ValueError
        If no output irrep can be reached from the inputs.

    Examples
    --------
    >>> plan = fully_connected_tensor_product_plan("2x0e + 1o", "0e + 1o", "3x0e + 1e")
    >>> plan.weight_numel, [(p.i_in1, p.i_in2, p.i_out) for p in plan.paths]
    (10, [(0, 0, 0), (1, 1, 0), (1, 1, 1)])
    >>> print(round(plan.paths[0].path_weight ** -2, 12))  # 1 / fan_in = 1 / (2 + 1)
    3.0
    """
    return _fctp_cached(
        Irreps(irreps_in1),
        Irreps(irreps_in2),
        Irreps(irreps_out),
        _irrep_normalization(irrep_normalization),
        _path_normalization(path_normalization),
    )


@functools.lru_cache(maxsize=256)
def _fctp_cached(irreps_in1, irreps_in2, irreps_out, irrep_normalization, path_normalization):
    raw = [
        (i1, i2, i_out)
        for i1, (_, ir1) in enumerate(irreps_in1)
        for i2, (_, ir2) in enumerate(irreps_in2)
        for i_out, (_, ir_out) in enumerate(irreps_out)
        if ir_out in list(ir1 * ir2)
    ]
    if not raw:
        raise ValueError(
            f"no tensor product path from {irreps_in1} x {irreps_in2} reaches irreps_out={irreps_out}: "
            "expected an output irrep allowed by the selection rule (|l1 - l2| <= l <= l1 + l2, p = p1 p2)"
        )
    fans = _fan_in_paths(raw, path_normalization, lambda r: irreps_in1[r[0]].mul * irreps_in2[r[1]].mul)
    paths, offset = [], 0
    for (i1, i2, i_out), fan_in in zip(raw, fans):
        (mul1, ir1), (mul2, ir2), (mul_out, ir_out) = irreps_in1[i1], irreps_in2[i2], irreps_out[i_out]
        if mul1 * mul2 * mul_out == 0:
            continue
        alpha = _alpha(irrep_normalization, ir1, ir2, ir_out)
        c = math.sqrt(alpha / fan_in if fan_in > 0 else alpha)
        shape = (mul1, mul2, mul_out)
        paths.append(TPPath(i1, i2, i_out, "uvw", c, offset, shape))
        offset += mul1 * mul2 * mul_out
    return TensorProductPlan(irreps_in1, irreps_in2, irreps_out, tuple(paths), offset)


CHANNELWISE_WEIGHT_ORDERS = ("sorted", "instruction")
CHANNELWISE_SORTS = ("e3nn-jax", "e3nn", None)


def _channelwise_options(weight_order, sort):
    if not isinstance(weight_order, str) or weight_order not in CHANNELWISE_WEIGHT_ORDERS:
        raise ValueError(
            f"weight_order={weight_order!r} is not supported: expected 'sorted' (weight blocks in output "
            "order, MACE) or 'instruction' (weight blocks in enumeration order, NequIP / e3nn)"
        )
    if sort is not None and (not isinstance(sort, str) or sort not in CHANNELWISE_SORTS):
        raise ValueError(
            f"sort={sort!r} is not supported: expected 'e3nn-jax' (0e, 0o, 1o, 1e, 2e, 2o, ...), "
            "'e3nn' (0o, 0e, 1o, 1e, 2o, 2e, ...) or None (outputs in enumeration order)"
        )
    return weight_order, sort


def channelwise_tensor_product_plan(
    irreps_in1,
    irreps_in2,
    filter_ir_out=None,
    irrep_normalization="component",
    path_normalization="element",
    *,
    weight_order="sorted",
    sort="e3nn-jax",
) -> TensorProductPlan:
    """Plan of the channelwise ("uvu") tensor product of MACE / NequIP convolutions.

    Enumeration (MACE's ``tp_out_irreps_with_instructions``, NequIP's
    ``InteractionBlock``): for ``i1`` over in1, ``i2`` over in2, ``ir_out`` in
    ``ir1 x ir2`` kept by ``filter_ir_out`` (all when None), one ``"uvu"`` path
    (instruction ``k``) with weight block ``(mul1, mul2)`` and output block
    ``(mul1, ir_out)``.

    ``sort``: the output blocks are stably sorted by irrep (never simplified) in
    e3nn-jax's order (``"e3nn-jax"``: 0e, 0o, 1o, 1e, 2e, 2o, ...), e3nn's
    (``"e3nn"``: 0o, 0e, 1o, 1e, 2o, 2e, ..., ``o3.Irreps.sort``), or kept in
    enumeration order (None). The orders differ only when both parities of one
    ``l`` are output.

    ``weight_order``: the ``(mul1, mul2)`` blocks of the flat weights in the order
    of the output blocks (``"sorted"``, MACE, which sorts its instructions by
    output) or of the enumeration (``"instruction"``, NequIP / e3nn, which keep
    their instruction order). With ``sort=None`` both orders are the same.

    Coefficients are those of e3nn's ``o3.TensorProduct`` with these instructions:
    ``sqrt(alpha / fan_in)`` with ``fan_in = mul2`` (one path per output block, so
    "element" and "path" agree).

    Raises
    ------
    ValueError
        If no path survives ``filter_ir_out``; unknown ``weight_order`` or ``sort``.

    Examples
    --------
    >>> plan = channelwise_tensor_product_plan("4x0e + 4x1o", "0e + 1o + 2e", "0e + 1o + 2e")
    >>> plan.irreps_out, plan.weight_numel
    (4x0e+4x0e+4x1o+4x1o+4x1o+4x2e+4x2e, 28)
    >>> channelwise_tensor_product_plan("1e + 1o", "0e", sort="e3nn").irreps_out
    1x1o+1x1e
    >>> [p.i_out for p in channelwise_tensor_product_plan("1e + 1o", "0e", sort="e3nn",
    ...                                                     weight_order="instruction").paths]
    [1, 0]
    """
    weight_order, sort = _channelwise_options(weight_order, sort)
    return _channelwise_cached(
        Irreps(irreps_in1),
        Irreps(irreps_in2),
        _filter_key(filter_ir_out),
        _irrep_normalization(irrep_normalization),
        _path_normalization(path_normalization),
        weight_order,
        sort,
    )


@functools.lru_cache(maxsize=256)
def _channelwise_cached(irreps_in1, irreps_in2, filter_key, irrep_normalization, path_normalization,
                        weight_order="sorted", sort="e3nn-jax"):
    raw, out_list = [], []
    for i1, (mul1, ir1) in enumerate(irreps_in1):
        for i2, (_, ir2) in enumerate(irreps_in2):
            for ir_out in ir1 * ir2:
                if _keep(ir_out, filter_key):
                    raw.append((i1, i2, len(out_list), ir_out))
                    out_list.append((mul1, ir_out))
    if not raw:
        raise ValueError(
            f"no channelwise tensor product path from {irreps_in1} x {irreps_in2} survives "
            f"filter_ir_out={None if filter_key is None else Irreps(list(filter_key))}: "
            "expected at least one output irrep allowed by the selection rule"
        )
    fans = _fan_in_paths(raw, path_normalization, lambda r: irreps_in2[r[1]].mul)
    if sort is None:
        irreps_out, perm = Irreps(out_list), tuple(range(len(out_list)))
    else:
        irreps_out, perm, _ = Irreps(out_list).sort(sort)
    order = range(len(raw)) if weight_order == "instruction" else sorted(range(len(raw)), key=lambda n: perm[raw[n][2]])
    paths, offset = [], 0
    for n in order:
        i1, i2, k, ir_out = raw[n]
        (mul1, ir1), (mul2, ir2) = irreps_in1[i1], irreps_in2[i2]
        if mul1 * mul2 == 0:
            continue
        alpha = _alpha(irrep_normalization, ir1, ir2, ir_out)
        c = math.sqrt(alpha / fans[n] if fans[n] > 0 else alpha)
        paths.append(TPPath(i1, i2, perm[k], "uvu", c, offset, (mul1, mul2)))
        offset += mul1 * mul2
    return TensorProductPlan(irreps_in1, irreps_in2, irreps_out, tuple(paths), offset)


def linear_plan(irreps_in, irreps_out, biases=False, path_normalization="element") -> LinearPlan:
    """Plan of an equivariant linear map, e3nn's ``o3.Linear`` layout.

    A path for every ``(i_in, i_out)`` with equal irreps, ``i_in`` major; weight
    blocks ``(mul_in, mul_out)`` row-major, concatenated in path order; coefficient
    ``1 / sqrt(fan_in)`` with ``fan_in`` the sum of ``mul_in`` over the paths into
    that output ("element") or ``mul_in`` times their number ("path"). Output blocks
    that no input reaches are zero.

    Parameters
    ----------
    irreps_in, irreps_out : anything :class:`Irreps` accepts
    biases : bool or sequence of bool
        True puts a bias on every ``0e`` output block (in output order); a sequence
        gives one flag per output block (only ``0e`` blocks may take one).
    path_normalization : {"element", "path"}

    Examples
    --------
    >>> plan = linear_plan("2x0e", "3x0e")
    >>> plan.weight_numel
    6
    >>> print(execute_linear_reference(plan, np.array([1.0, 0.0]), np.arange(6.0)) * np.sqrt(2))
    [0. 1. 2.]
    >>> linear_plan("8x0e + 3x0e + 1o", "5x0e + 2x1o", biases=True).biases
    ((0, 0, 5),)
    """
    irreps_in, irreps_out = Irreps(irreps_in), Irreps(irreps_out)
    if isinstance(biases, (bool, np.bool_)):
        flags = tuple(bool(biases) and ir.is_scalar() for _, ir in irreps_out)
    else:
        try:
            flags = tuple(bool(b) for b in biases)
        except TypeError:
            raise TypeError(f"biases={biases!r} must be a bool or a sequence of bools") from None
        if len(flags) != len(irreps_out):
            raise ValueError(
                f"biases={biases!r} has {len(flags)} flags, expected one per block of {irreps_out}"
            )
        bad = [str(irreps_out[i]) for i, f in enumerate(flags) if f and not irreps_out[i].ir.is_scalar()]
        if bad:
            raise ValueError(f"biases={biases!r} puts a bias on {bad}: only 0e blocks can take a bias")
    pn = _path_normalization(path_normalization)
    if pn == "none":
        raise ValueError(
            f"path_normalization={path_normalization!r} is not supported by linear_plan: "
            "expected one of ('element', 'path')"
        )
    return _linear_cached(irreps_in, irreps_out, flags, pn)


@functools.lru_cache(maxsize=256)
def _linear_cached(irreps_in, irreps_out, flags, path_normalization):
    raw = [
        (i_in, i_out)
        for i_in, (_, ir_in) in enumerate(irreps_in)
        for i_out, (_, ir_out) in enumerate(irreps_out)
        if ir_in == ir_out
    ]
    paths, offset = [], 0
    for i_in, i_out in raw:
        into = [r for r in raw if r[1] == i_out]
        if path_normalization == "element":
            fan_in = sum(irreps_in[r[0]].mul for r in into)
        else:
            fan_in = irreps_in[i_in].mul * len(into)
        mul_in, mul_out = irreps_in[i_in].mul, irreps_out[i_out].mul
        if mul_in * mul_out == 0:
            continue
        paths.append(LinearPath(i_in, i_out, 1.0 / math.sqrt(fan_in), offset, (mul_in, mul_out)))
        offset += mul_in * mul_out
    bias_entries, bias_offset = [], 0
    for i_out, flag in enumerate(flags):
        mul = irreps_out[i_out].mul
        if flag and mul > 0:
            bias_entries.append((i_out, bias_offset, mul))
            bias_offset += mul
    return LinearPlan(irreps_in, irreps_out, tuple(paths), offset, tuple(bias_entries), bias_offset)


# ---------------------------------------------------------------------------
# reference executors
# ---------------------------------------------------------------------------


def _float64_features(x, irreps: Irreps, name: str) -> np.ndarray:
    x = np.asarray(x)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise TypeError(f"{name} has dtype {x.dtype}: expected a real (float or int) array")
    if x.ndim == 0 or x.shape[-1] != irreps.dim:
        raise ValueError(
            f"{name} has shape {x.shape}: expected a last axis of size {irreps.dim} = ({irreps}).dim"
        )
    return x.astype(np.float64)


def _flat_params(w, numel: int, name: str):
    """``(array, shared)`` for flat parameters of size ``numel``: ``(numel,)`` or ``(..., numel)``."""
    if w is None:
        if numel > 0:
            raise ValueError(f"{name} is required: the plan has {numel} of them")
        return None, True
    w = np.asarray(w)
    if not (np.issubdtype(w.dtype, np.floating) or np.issubdtype(w.dtype, np.integer)):
        raise TypeError(f"{name} has dtype {w.dtype}: expected a real array")
    if w.ndim == 0 or w.shape[-1] != numel:
        raise ValueError(f"{name} has shape {w.shape}: expected (..., {numel}) or ({numel},)")
    return w.astype(np.float64), w.ndim == 1


def _blocks(x: np.ndarray, irreps: Irreps) -> list:
    return [x[..., s].reshape(x.shape[:-1] + (mul, ir.dim)) for s, (mul, ir) in zip(irreps.slices(), irreps)]


def _concat_blocks(blocks: list, batch: tuple) -> np.ndarray:
    flat = [b.reshape(batch + (b.shape[-2] * b.shape[-1],)) for b in blocks if b.shape[-1] * b.shape[-2] > 0]
    return np.concatenate(flat, axis=-1) if flat else np.zeros(batch + (0,))


def execute_plan_reference(plan: TensorProductPlan, x1, x2, weights=None) -> np.ndarray:
    """Execute a :class:`TensorProductPlan` with plain float64 NumPy, path by path.

    This is the executable form of the module docstring, against which the backends
    are tested; it favours clarity over speed.

    Parameters
    ----------
    plan : TensorProductPlan
    x1, x2 : array_like, shapes ``(..., irreps_in1.dim)`` and ``(..., irreps_in2.dim)``
        Leading (batch) axes broadcast against each other.
    weights : array_like, optional
        ``(weight_numel,)`` shared by all samples, or ``(..., weight_numel)`` per
        sample (broadcast with the batch axes). Required when ``weight_numel > 0``.

    Returns
    -------
    numpy.ndarray
        float64, shape ``batch + (irreps_out.dim,)``.

    Examples
    --------
    >>> plan = full_tensor_product_plan("1o", "1o", filter_ir_out="0e")
    >>> z = execute_plan_reference(plan, [1.0, 2.0, 3.0], [[1.0, 1.0, 1.0], [0.0, 0.0, 3.0]])
    >>> print(np.round(z * np.sqrt(3), 10))
    [[6.]
     [9.]]
    """
    if not isinstance(plan, TensorProductPlan):
        raise TypeError(f"plan must be a TensorProductPlan, got {type(plan).__name__}")
    x1 = _float64_features(x1, plan.irreps_in1, "x1")
    x2 = _float64_features(x2, plan.irreps_in2, "x2")
    w, shared = _flat_params(weights, plan.weight_numel, "weights")
    batch = np.broadcast_shapes(x1.shape[:-1], x2.shape[:-1])
    if w is not None and not shared:
        batch = np.broadcast_shapes(batch, w.shape[:-1])
    a_blocks, b_blocks = _blocks(x1, plan.irreps_in1), _blocks(x2, plan.irreps_in2)
    out = [np.zeros(batch + (mul, ir.dim)) for mul, ir in plan.irreps_out]
    for p in plan.paths:
        a, b, C = a_blocks[p.i_in1], b_blocks[p.i_in2], plan.cg(p)
        W = None
        if p.has_weight:
            W = w[..., p.weight_offset : p.weight_offset + p.weight_size]
            W = W.reshape(W.shape[:-1] + tuple(p.weight_shape))
        wi = "" if shared else "..."
        if p.mode == "uvw":
            z = np.einsum(f"{wi}uvw,...ui,...vj,ijk->...wk", W, a, b, C)
        elif p.mode in ("uvu", "uvv"):
            z = np.einsum("...ui,...vj,ijk->...uvk", a, b, C)
            if W is not None:
                z = z * W[..., :, :, None]
            z = z.sum(axis=-2 if p.mode == "uvu" else -3)
        elif p.mode == "uuw":
            z = np.einsum("...ui,...uj,ijk->...uk", a, b, C)
            z = z.sum(axis=-2, keepdims=True) if W is None else np.einsum(f"...uk,{wi}uw->...wk", z, W)
        elif p.mode == "u<vw":
            z = np.einsum("...ui,...vj,ijk->...uvk", a, b, C)
            u, v = np.triu_indices(a.shape[-2], k=1)  # row-major pairs u < v
            z = np.einsum(f"...qk,{wi}qw->...wk", z[..., u, v, :], W)
        elif p.mode == "uuu":
            z = np.einsum("...ui,...uj,ijk->...uk", a, b, C)
            if W is not None:
                z = z * W[..., :, None]
        elif p.mode == "uvuv":
            z = np.einsum("...ui,...vj,ijk->...uvk", a, b, C)
            if W is not None:
                z = z * W[..., :, :, None]
            z = z.reshape(z.shape[:-3] + (-1, C.shape[2]))
        else:  # "uvuv_triu", TPPath has validated the mode
            z = np.einsum("...ui,...vj,ijk->...uvk", a, b, C)
            u, v = np.triu_indices(a.shape[-2], k=1)  # row-major pairs u < v
            z = z[..., u, v, :]
            if W is not None:
                z = z * W[..., :, None]
        out[p.i_out] = out[p.i_out] + p.path_weight * z
    return _concat_blocks(out, batch)


def execute_linear_reference(plan: LinearPlan, x, weights, bias=None) -> np.ndarray:
    """Execute a :class:`LinearPlan` with plain float64 NumPy, path by path.

    Parameters
    ----------
    plan : LinearPlan
    x : array_like, shape ``(..., irreps_in.dim)``
    weights : array_like
        ``(weight_numel,)`` shared, or ``(..., weight_numel)`` per sample.
    bias : array_like, optional
        ``(bias_numel,)`` or ``(..., bias_numel)``; None means zero biases.

    Examples
    --------
    >>> plan = linear_plan("8x0e + 3x0e", "5x0e", biases=True)
    >>> y = execute_linear_reference(plan, np.ones(11), np.ones(plan.weight_numel), bias=np.arange(5.0))
    >>> bool(np.allclose(y, np.sqrt(11) + np.arange(5)))
    True
    """
    if not isinstance(plan, LinearPlan):
        raise TypeError(f"plan must be a LinearPlan, got {type(plan).__name__}")
    x = _float64_features(x, plan.irreps_in, "x")
    w, shared = _flat_params(weights, plan.weight_numel, "weights")
    b, b_shared = _flat_params(bias, plan.bias_numel, "bias") if bias is not None else (None, True)
    batch = x.shape[:-1]
    if w is not None and not shared:
        batch = np.broadcast_shapes(batch, w.shape[:-1])
    if b is not None and not b_shared:
        batch = np.broadcast_shapes(batch, b.shape[:-1])
    xs = _blocks(x, plan.irreps_in)
    out = [np.zeros(batch + (mul, ir.dim)) for mul, ir in plan.irreps_out]
    for p in plan.paths:
        W = w[..., p.weight_offset : p.weight_offset + p.weight_shape[0] * p.weight_shape[1]]
        W = W.reshape(W.shape[:-1] + tuple(p.weight_shape))
        wi = "" if shared else "..."
        out[p.i_out] = out[p.i_out] + p.path_weight * np.einsum(f"...ui,{wi}uw->...wi", xs[p.i_in], W)
    if b is not None:
        for i_out, offset, mul in plan.biases:
            out[i_out] = out[i_out] + b[..., offset : offset + mul, None]
    return _concat_blocks(out, batch)
