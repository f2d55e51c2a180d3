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
``"uvuv_triu"``    ()                ``out[t(u, v), k] += c a[u, i] b[v, j] C[i, j, k]`` for
                                     ``u < v`` only, ``t`` the row-major index of the pair
                                     among the ``mul1 (mul1 - 1) / 2`` pairs (``mul1 == mul2``)
=================  ================  ==========================================

Output blocks that no path reaches are zero. The output is the concatenation of
the blocks of ``irreps_out`` in order (each block laid out ``(mul, dim)``
row-major), so the output's layout is exactly ``irreps_out``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .clebsch_gordan import clebsch_gordan
from .irreps import Irreps

__all__ = [
    "TPPath",
    "TensorProductPlan",
    "LinearPath",
    "LinearPlan",
]

MODES = ("uvw", "uvu", "uuu", "uvuv", "uvuv_triu")


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

    @property
    def has_weight(self) -> bool:
        return self.weight_offset >= 0

    @property
    def weight_size(self) -> int:
        return int(np.prod(self.weight_shape)) if self.has_weight else 0


@dataclass(frozen=True)
class TensorProductPlan:
    """A bilinear equivariant map ``(x1, x2) -> out``: inputs, paths, outputs, weights."""

    irreps_in1: Irreps
    irreps_in2: Irreps
    irreps_out: Irreps
    paths: tuple  # tuple[TPPath, ...]
    weight_numel: int

    def cg(self, path: TPPath) -> np.ndarray:
        """The (read-only, float64) Clebsch-Gordan block of a path."""
        return clebsch_gordan(
            self.irreps_in1[path.i_in1].ir.l,
            self.irreps_in2[path.i_in2].ir.l,
            self.irreps_out[path.i_out].ir.l,
        )


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
