"""Benchmark workloads (design.md section 8, issue 5): shapes, inputs, FLOP and byte counts.

Every implementation (anchors and e3xp) receives the same float32 numpy arrays made
here, converted once per framework outside the timed region.

How the work is counted
-----------------------
FLOPs are an *algorithmic* count of the equivariant contraction, independent of how
any library executes it, so that GFLOP/s compares implementations on equal terms:

* One multiply-add = 2 FLOPs.  Normalisation constants are folded into the CG
  blocks / weights, so they cost nothing.
* A path (l1, l2 -> l3) with multiplicities (m1, m2) and sparse Clebsch-Gordan block C
  (nnz = number of entries with |C| > 1e-10 in the e3nn real basis) is counted with
  the cheaper of two contraction orders, i.e. what a well-planned kernel needs:
    - "sparse":        out[u,v,k] = sum_ij C[i,j,k] x[u,i] y[v,j]    2 * nnz * m1 * m2
    - "operand-first": Cy[v,i,k] = sum_j C[i,j,k] y[v,j]             2 * nnz * m2
                       out[u,v,k] = sum_i x[u,i] Cy[v,i,k]            2 * m1 * m2 * d1 * d3
* Weights: "uvw" (fully connected) adds the mixing 2 * m1 * m2 * m3 * d3 (or, when
  the weights are applied to x first, 2 * m1 * m2 * m3 * d1 with the CG step on m3
  channels; the cheaper plan is taken); "uvu" (channelwise, per-edge weights) adds one
  multiply per output element, m1 * d3.
* Linear: 2 * m_in * m_out * d per irrep.
* Spherical harmonics (normalize=True): 9 FLOPs to normalise the vector, then the
  recursion Y_l = CG(l-1, 1, l) . (Y_{l-1} x r) at 2 * nnz(C(l-1,1,l)) FLOPs for each
  l >= 2 (Y_0, Y_1 are a constant and a scaled copy).
* Backward: the gradient with respect to each of the two operands of a bilinear
  contraction costs one forward, so forward+backward = 3 x forward.  The double
  backward of (c) (forward, grad w.r.t. y with create_graph, then the gradient of
  |grad|^2 w.r.t. the weights and x) is counted as 4 x forward.

Bytes are the *floor*: what must cross memory at least once, float32 (4 bytes):
* forward:          read every input (weights included) + write the output;
* forward+backward: forward + read the cotangent + re-read the inputs + write one
  gradient per input  = 3 * inputs + 2 * output;
* double backward:  counted like forward+backward (read inputs and cotangent twice,
  write the gradients) = 3 * inputs + 2 * output, a lower bound.
Achieved GB/s = floor bytes / time, so a value far below the copy rate means the
implementation moves (or recomputes) much more than the floor, e.g. per-path
intermediates.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import numpy as np

F32 = 4  # bytes per float32 element


# --------------------------------------------------------------------------- irreps
_TERM = re.compile(r"^\s*(?:(\d+)\s*x\s*)?(\d+)([eoy])\s*$")


def parse_irreps(s: str) -> list[tuple[int, int, int]]:
    """'32x0e+1o' -> [(32, 0, 1), (1, 1, -1)] as (mul, l, parity).

    A tiny parser so this module does not depend on any of the benchmarked libraries.
    """
    out = []
    for term in s.split("+"):
        m = _TERM.match(term)
        if not m:
            raise ValueError(f"cannot parse irreps term {term!r} in {s!r}; expected e.g. '32x1o'")
        mul = int(m.group(1) or 1)
        l = int(m.group(2))
        p = {"e": 1, "o": -1, "y": (-1) ** l}[m.group(3)]
        out.append((mul, l, p))
    return out


def irreps_dim(s: str) -> int:
    return sum(mul * (2 * l + 1) for mul, l, _ in parse_irreps(s))


def fmt_irreps(terms) -> str:
    return "+".join(f"{mul}x{l}{'e' if p == 1 else 'o'}" for mul, l, p in terms)


def _products(l1, p1, l2, p2):
    return [(l3, p1 * p2) for l3 in range(abs(l1 - l2), l1 + l2 + 1)]


# --------------------------------------------------------------------------- CG nnz
@functools.lru_cache(maxsize=None)
def cg_nnz(l1: int, l2: int, l3: int) -> int:
    """Non-zeros of the real CG block (e3nn basis); basis-dependent, so use e3nn's."""
    C = None
    try:
        import e3nn_jax

        C = np.asarray(e3nn_jax.clebsch_gordan(l1, l2, l3))
    except Exception:  # pragma: no cover - fallbacks when e3nn-jax is absent
        try:
            from e3nn import o3

            C = o3.wigner_3j(l1, l2, l3).numpy()
        except Exception:
            import e3xp

            C = np.asarray(e3xp.clebsch_gordan(l1, l2, l3))
    return int(np.count_nonzero(np.abs(C) > 1e-10))


def _path_flops(m1, d1, m2, d2, m3, d3, nnz, mode):
    """Per-row FLOPs of one path; see the module docstring."""
    cg = min(2 * nnz * m1 * m2, 2 * nnz * m2 + 2 * m1 * m2 * d1 * d3)
    if mode == "full":
        return cg
    if mode == "uvu":
        return cg + m1 * d3
    if mode == "uvw":
        w_after = cg + 2 * m1 * m2 * m3 * d3
        # weights applied to x first: x'[v,w,i] then the CG step on m3 * m2 channels
        w_before = 2 * m1 * m2 * m3 * d1 + min(2 * nnz * m3 * m2, 2 * nnz * m2 + 2 * m3 * m2 * d1 * d3)
        return min(w_after, w_before)
    raise ValueError(mode)


# --------------------------------------------------------------------------- workloads
@dataclass
class Workload:
    key: str  # "a", "b", "c", "d", "e3", "e8"
    kind: str  # "full_tp" | "fctp" | "channelwise" | "linear" | "sh"
    title: str
    rows: int
    quick_rows: int
    irreps_in1: str = ""
    irreps_in2: str = ""
    irreps_out: str = ""  # fctp/linear: the output; channelwise: the filter
    lmax: int = 0
    modes: tuple = ("fwd", "fwd+bwd")
    extra: dict = field(default_factory=dict)

    # ---- structure
    def paths(self):
        """[(i1, i2, (m1,l1,p1), (m2,l2,p2), (l3,p3))] in e3nn instruction order."""
        a, b = parse_irreps(self.irreps_in1), parse_irreps(self.irreps_in2)
        filt = None
        if self.kind in ("channelwise", "fctp"):
            filt = {(l, p) for _, l, p in parse_irreps(self.irreps_out)}
        out = []
        for i1, (m1, l1, p1) in enumerate(a):
            for i2, (m2, l2, p2) in enumerate(b):
                for l3, p3 in _products(l1, p1, l2, p2):
                    if filt is None or (l3, p3) in filt:
                        out.append((i1, i2, (m1, l1, p1), (m2, l2, p2), (l3, p3)))
        return out

    def channelwise_out_irreps(self) -> str:
        """e3nn 'uvu' output irreps: one m1 x l3 block per path, in path order."""
        return fmt_irreps([(m1, l3, p3) for _, _, (m1, _, _), _, (l3, p3) in self.paths()])

    def weight_numel(self) -> int:
        if self.kind == "channelwise":
            return sum(m1 for _, _, (m1, _, _), _, _ in self.paths())
        if self.kind == "fctp":
            outs = parse_irreps(self.irreps_out)
            n = 0
            for _, _, (m1, _, _), (m2, _, _), (l3, p3) in self.paths():
                n += sum(m1 * m2 * m3 for m3, l, p in outs if (l, p) == (l3, p3))
            return n
        if self.kind == "linear":
            a, b = parse_irreps(self.irreps_in1), parse_irreps(self.irreps_out)
            return sum(mi * mo for mi, li, pi in a for mo, lo, po in b if (li, pi) == (lo, po))
        return 0

    def out_dim(self) -> int:
        if self.kind == "full_tp":
            return sum(m1 * m2 * (2 * l3 + 1) for _, _, (m1, _, _), (m2, _, _), (l3, _) in self.paths())
        if self.kind == "channelwise":
            return irreps_dim(self.channelwise_out_irreps())
        if self.kind in ("fctp", "linear"):
            return irreps_dim(self.irreps_out)
        if self.kind == "sh":
            return (self.lmax + 1) ** 2
        raise ValueError(self.kind)

    # ---- counting (per call, `rows` rows)
    def fwd_flops_per_row(self) -> int:
        if self.kind == "sh":
            return 9 + sum(2 * cg_nnz(l - 1, 1, l) for l in range(2, self.lmax + 1))
        if self.kind == "linear":
            a, b = parse_irreps(self.irreps_in1), parse_irreps(self.irreps_out)
            return sum(
                2 * mi * mo * (2 * li + 1) for mi, li, pi in a for mo, lo, po in b if (li, pi) == (lo, po)
            )
        total = 0
        outs = parse_irreps(self.irreps_out) if self.kind == "fctp" else []
        for _, _, (m1, l1, _), (m2, l2, _), (l3, p3) in self.paths():
            nnz = cg_nnz(l1, l2, l3)
            d1, d2, d3 = 2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1
            if self.kind == "full_tp":
                total += _path_flops(m1, d1, m2, d2, 1, d3, nnz, "full")
            elif self.kind == "channelwise":
                total += _path_flops(m1, d1, m2, d2, 1, d3, nnz, "uvu")
            elif self.kind == "fctp":
                for m3, l, p in outs:
                    if (l, p) == (l3, p3):
                        total += _path_flops(m1, d1, m2, d2, m3, d3, nnz, "uvw")
        return total

    def flops(self, mode: str, rows: int) -> float:
        f = self.fwd_flops_per_row() * rows
        return {"fwd": 1, "fwd+bwd": 3, "dbl-bwd": 4}[mode] * f

    def input_bytes(self, rows: int) -> int:
        n = 0
        for name, shape in self.input_shapes(rows).items():
            n += int(np.prod(shape))
        return n * F32

    def output_bytes(self, rows: int) -> int:
        return rows * self.out_dim() * F32

    def bytes(self, mode: str, rows: int) -> float:
        i, o = self.input_bytes(rows), self.output_bytes(rows)
        return i + o if mode == "fwd" else 3 * i + 2 * o

    # ---- inputs
    def input_shapes(self, rows: int) -> dict:
        if self.kind == "sh":
            return {"vectors": (rows, 3)}
        if self.kind == "linear":
            return {"w": (self.weight_numel(),), "x": (rows, irreps_dim(self.irreps_in1))}
        if self.kind == "full_tp":
            return {"x": (rows, irreps_dim(self.irreps_in1)), "y": (rows, irreps_dim(self.irreps_in2))}
        if self.kind == "fctp":
            return {
                "w": (self.weight_numel(),),
                "x": (rows, irreps_dim(self.irreps_in1)),
                "y": (rows, irreps_dim(self.irreps_in2)),
            }
        if self.kind == "channelwise":
            return {
                "w": (rows, self.weight_numel()),
                "x": (rows, irreps_dim(self.irreps_in1)),
                "y": (rows, irreps_dim(self.irreps_in2)),
            }
        raise ValueError(self.kind)

    def make_inputs(self, rows: int, seed: int = 0) -> dict:
        """float32 numpy inputs; `y` of (c) are true spherical harmonics of random edges."""
        rng = np.random.default_rng(seed)
        data = {k: rng.standard_normal(s).astype(np.float32) for k, s in self.input_shapes(rows).items()}
        if self.kind == "channelwise":
            data["y"] = _sh_numpy(rng.standard_normal((rows, 3)), self.lmax).astype(np.float32)
        return data

    def cotangent(self, rows: int, seed: int = 1) -> np.ndarray:
        return np.random.default_rng(seed).standard_normal((rows, self.out_dim())).astype(np.float32)


def _sh_numpy(v: np.ndarray, lmax: int) -> np.ndarray:
    """Edge harmonics for (c); any library's SH works, the values only need to be realistic."""
    try:
        import e3nn_jax
        import jax.numpy as jnp

        irreps = "+".join(f"{l}{'e' if l % 2 == 0 else 'o'}" for l in range(lmax + 1))
        return np.asarray(e3nn_jax.spherical_harmonics(irreps, jnp.asarray(v), normalize=True).array)
    except Exception:  # pragma: no cover - unit-norm vectors are a fine stand-in
        rng = np.random.default_rng(2)
        return rng.standard_normal((v.shape[0], (lmax + 1) ** 2))


WORKLOADS = {
    "a": Workload(
        "a", "full_tp", "(a) full TP 32x0e+32x1o+32x2e x 0e+1o+2e+3o, 1,000 rows",
        rows=1_000, quick_rows=50,
        irreps_in1="32x0e+32x1o+32x2e", irreps_in2="0e+1o+2e+3o",
    ),
    "b": Workload(
        "b", "fctp", "(b) FullyConnectedTP 32x0e+32x1o+32x2e x 0e+1o+2e -> 32x0e+32x1o+32x2e, 10,000 rows",
        rows=10_000, quick_rows=200,
        irreps_in1="32x0e+32x1o+32x2e", irreps_in2="0e+1o+2e", irreps_out="32x0e+32x1o+32x2e",
    ),
    "c": Workload(
        "c", "channelwise",
        "(c) channelwise TP 64x0e+64x1o+64x2e x SH(lmax 3), filter 0e+1o+2e+3o, per-edge weights, 10,000 edges",
        rows=10_000, quick_rows=200,
        irreps_in1="64x0e+64x1o+64x2e", irreps_in2="0e+1o+2e+3o", irreps_out="0e+1o+2e+3o", lmax=3,
        modes=("fwd", "fwd+bwd", "dbl-bwd"),
    ),
    "d": Workload(
        "d", "linear", "(d) Linear 128x0e+128x1o+128x2e -> same, 10,000 rows",
        rows=10_000, quick_rows=200,
        irreps_in1="128x0e+128x1o+128x2e", irreps_out="128x0e+128x1o+128x2e",
    ),
    "e3": Workload(
        "e3", "sh", "(e) spherical harmonics lmax 3, 1,000,000 vectors",
        rows=1_000_000, quick_rows=10_000, lmax=3,
    ),
    "e8": Workload(
        "e8", "sh", "(e) spherical harmonics lmax 8, 1,000,000 vectors",
        rows=1_000_000, quick_rows=10_000, lmax=8,
    ),
}


def select(keys: str | None) -> list[Workload]:
    """'a,c,e' -> workloads; 'e' means both e3 and e8."""
    if not keys:
        return list(WORKLOADS.values())
    out = []
    for k in keys.split(","):
        k = k.strip()
        if k == "e":
            out += [WORKLOADS["e3"], WORKLOADS["e8"]]
        elif k in WORKLOADS:
            out.append(WORKLOADS[k])
        else:
            raise ValueError(f"unknown workload {k!r}; expected a subset of a,b,c,d,e (or e3, e8)")
    return out


def sh_irreps(lmax: int) -> str:
    return "+".join(f"1x{l}{'e' if l % 2 == 0 else 'o'}" for l in range(lmax + 1))
