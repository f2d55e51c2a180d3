"""The checks shared by ``python -m e3xp validate`` and the ``conformance/`` pytest suite.

One catalogue of cases (:data:`CASES`: every public operation on small inputs) and
one implementation of each check, so the command-line table and the test suite
measure the same numbers:

* :func:`equivariance` -- ``f(D x) - D f(x)`` over random O(3) elements with parity;
* :func:`disagreement` -- distance to the float64 NumPy result for the same inputs
  and parameters;
* :func:`gradient_error` -- autodiff gradient (torch / JAX) against central finite
  differences of the float64 NumPy function.

All errors are relative: divided by ``max(1, max |reference|)``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .backends import available_backends, get_backend
from .core.irreps import Irreps
from .irreps_array import IrrepsArray
from .ops import (
    Linear,
    concatenate,
    elementwise_tensor_product,
    norm,
    normal,
    ones,
    scalar_activation,
    spherical_harmonics,
    stack,
    tensor_product,
    tensor_square,
    zeros,
)
from .ops.gate import gate, norm_activation
from .ops.scatter import scatter_sum
from .ops.weighted import ChannelwiseTensorProduct, FullyConnectedTensorProduct
from .testing import _outputs, equivariance_error

__all__ = [
    "Target",
    "Case",
    "CASES",
    "TOLERANCES",
    "make_target",
    "make_function",
    "target_names",
    "case_inputs",
    "evaluate",
    "equivariance",
    "disagreement",
    "autodiff_gradients",
    "finite_difference_gradients",
    "gradient_error",
    "CheckResult",
    "run_checks",
]

# Relative tolerances per dtype: equivariance, disagreement with float64 NumPy, gradient.
TOLERANCES = {
    "float64": {"equivariance": 1e-10, "disagreement": 1e-12, "gradient": 1e-6},
    "float32": {"equivariance": 1e-5, "disagreement": 1e-5, "gradient": 1e-6},
}


# --------------------------------------------------------------------------- targets


@dataclass
class Target:
    """Where a check runs: a backend, a dtype and optionally a device.

    ``target.asarray(values)`` makes an array there (this is what the conformance
    suite's ``xp`` fixture hands to tests).
    """

    name: str
    backend_name: str
    dtype: str = "float64"
    device: object = None
    # JAX evaluates op by op (compiling every primitive for every new shape) unless
    # jitted; the checks jit, and the conformance suite compares jit with eager.
    jit: bool = True

    @property
    def backend(self):
        return get_backend(self.backend_name)

    @property
    def xp(self):
        return self.backend.xp

    def asarray(self, values, dtype=None):
        host = np.asarray(values, dtype=np.float64)
        return self.backend.asarray(host, dtype=dtype or self.dtype, device=self.device)

    def irreps_array(self, irreps, values) -> IrrepsArray:
        return IrrepsArray(irreps, self.asarray(values))

    def to_numpy(self, x) -> np.ndarray:
        if isinstance(x, IrrepsArray):
            x = x.array
        return np.asarray(self.backend.to_numpy(x), dtype=np.float64)

    @property
    def has_autodiff(self) -> bool:
        return self.backend_name in ("torch", "jax")

    def __repr__(self) -> str:
        return f"Target({self.name})"


def target_names() -> list:
    """Names understood by :func:`make_target`."""
    return [
        "numpy",
        "array_api_strict",
        "array_api_strict-device1",
        "array_api_strict-float32",
        "torch",
        "torch-cuda",
        "jax",
        "cupy",
    ]


def make_target(name: str, dtype: str | None = None) -> Target:
    """A :class:`Target` by name (``"torch"``, ``"array_api_strict-device1"``, ...).

    ``"<backend>-float32"`` runs in float32; ``array_api_strict-device1`` puts every
    input on ``array_api_strict.Device("device1")`` (a non-default device);
    ``torch-cuda`` puts every input on the first CUDA device.

    >>> t = make_target("numpy-float32")
    >>> t.backend_name, t.dtype, t.asarray([1.0, 2.0]).dtype
    ('numpy', 'float32', dtype('float32'))
    """
    base, _, variant = name.partition("-")
    device = None
    if variant == "float32":
        dtype = "float32"
    elif variant == "device1":
        import array_api_strict

        device = array_api_strict.Device("device1")
    elif variant == "cuda" and base == "torch":
        import torch

        device = torch.device("cuda")
    elif variant:
        raise ValueError(f"unknown target variant {name!r}: expected one of {target_names()}")
    return Target(name, base, dtype or "float64", device)


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One public operation on small inputs.

    ``make(target)`` returns ``f(*irreps_arrays)`` (it may close over parameters
    created on the target, e.g. a Linear's weights from an int seed).
    """

    name: str
    irreps_in: tuple
    make: Callable
    leading: tuple = (2,)
    equivariant: bool = True
    differentiable: bool = True
    tags: tuple = field(default=())


def _sh(target):
    return lambda x: spherical_harmonics(Irreps.spherical_harmonics(4), x)


def _sh_poly(target):
    return lambda x: spherical_harmonics([3, 0, 2, 1], x, normalize=False, normalization="norm")


def _sh_even(target):
    return lambda x: spherical_harmonics("0e + 1e + 2e + 3e", x, normalization="integral")


def _tp(target):
    return lambda x, y: tensor_product(x, y)


def _tp_options(target):
    return lambda x, y: tensor_product(
        x, y, filter_ir_out="0e + 1o + 2e", irrep_normalization="norm", regroup_output=False
    )


def _etp(target):
    return lambda x, y: elementwise_tensor_product(x, y)


def _square(target):
    return lambda x: tensor_square(x)


def _linear(target):
    lin = Linear("1o + 3x0e + 1o + 1e", biases=True)
    like = target.irreps_array("3x0e + 2x1o + 1e", np.zeros((1, 12)))
    params = lin.init(0, like)
    # Non-zero biases so that the bias path is compared too.
    params["bias"] = target.asarray(np.linspace(-1.0, 1.0, int(params["bias"].shape[0])))
    return lambda x: lin.apply(params, x)


def _norm(target):
    return lambda x: [norm(x), norm(x, squared=True, per_irrep=False)]


def _silu(xp):
    return lambda v: v / (1.0 + xp.exp(-v))


_ACTS: dict = {}


def _scalar_activation(target):
    # One set of activation objects per namespace, so the cached normalization
    # constants are computed once.
    xp = target.xp
    if id(xp) not in _ACTS:
        _ACTS[id(xp)] = (xp, [_silu(xp), xp.tanh, lambda v: v * v, None])
    acts = _ACTS[id(xp)][1]
    return lambda x: scalar_activation(x, acts)


def _arithmetic(target):
    s = target.asarray(np.array([[0.5], [-2.0]]))  # one factor per row: (rows, 1)
    per_irrep = target.asarray(np.arange(1.0, 1.0 + 2 * 4).reshape(2, 4) / 4.0)

    def f(x, y):
        return [
            2.0 * x - y / 3.0 + (-x) * 0.25,
            x * s,
            x / per_irrep,
            x.sort(),
            x.regroup().filter(lmax=1),
            x.filter(drop="2e").simplify(),
            x[1],
            x.reshape(1, 2, -1),
        ]

    return f


def _combine(target):
    return lambda x, y: [concatenate([x, y]), stack([x, x], axis=0), concatenate([x, x], axis=0)]


def _creation(target):
    be = target.backend

    def f():
        return [
            normal("0e + 1o + 2e", 0, (3,), backend=be, dtype=target.dtype),
            ones("2x0e + 1o", (2,), backend=be, dtype=target.dtype),
            zeros("1o", (2,), backend=be, dtype=target.dtype),
        ]

    return f


def _fc_tp(target):
    tp = FullyConnectedTensorProduct("2x0e + 1o + 1e + 2e", "2x0e + 1o", "0e + 1o + 2e")
    x_like = target.irreps_array("2x0e + 1o", np.zeros((1, 5)))
    y_like = target.irreps_array("0e + 1o + 2e", np.zeros((1, 9)))
    params = tp.init(0, x_like, y_like)
    return lambda x, y: tp.apply(params, x, y)


def _channelwise_tp(target):
    tp = ChannelwiseTensorProduct("3x0e + 2x1o + 1x2e", "0e + 1o + 2e", filter_ir_out="0e + 1o + 2e")
    # Shared weights keep the case vmappable; per-edge weights are covered by
    # conformance/test_weighted_conformance.py.
    weights = target.asarray(np.random.default_rng(1).standard_normal(tp.weight_numel))
    return lambda x, y: tp.apply(weights, x, y)


def _gate(target):
    return lambda x: gate(x)


def _norm_activation(target):
    return lambda x: norm_activation(x, [None, "tanh", "sigmoid"])


def _scatter_sum(target):
    dst = target.backend.asarray(np.array([2, 0, 2, 1]), dtype="int64", device=target.device)
    # Checks that take fewer samples (gradcheck uses one) get the first ids.
    return lambda x: scatter_sum(x, dst[: x.shape[0]], 3)


CASES = [
    Case("spherical_harmonics", ("1o",), _sh, leading=(3,)),
    Case("spherical_harmonics(normalize=False)", ("1o",), _sh_poly, leading=(3,)),
    Case("spherical_harmonics(1e)", ("1e",), _sh_even, leading=(3,)),
    Case("tensor_product", ("2x0e + 1o + 2e", "0o + 1o + 1e"), _tp),
    Case("tensor_product(options)", ("1o + 0e + 1o", "1o + 2e"), _tp_options),
    Case("elementwise_tensor_product", ("2x0e + 1o + 2e", "1e + 0o + 1o + 1o"), _etp),
    Case("tensor_square", ("2x0e + 2x1o + 1e",), _square),
    Case("Linear", ("3x0e + 2x1o + 1e",), _linear),
    Case("norm", ("2x0e + 1o + 2e",), _norm),
    Case("scalar_activation", ("2x0e + 0o + 0o + 1o",), _scalar_activation),
    Case("IrrepsArray arithmetic", ("0e + 1o + 2e + 0e", "0e + 1o + 2e + 0e"), _arithmetic),
    Case("concatenate/stack", ("0e + 1o", "2e + 1o"), _combine),
    Case("zeros/ones/normal", (), _creation, equivariant=False, differentiable=False),
    Case("FullyConnectedTensorProduct", ("2x0e + 1o", "0e + 1o + 2e"), _fc_tp),
    Case("ChannelwiseTensorProduct", ("3x0e + 2x1o + 1x2e", "0e + 1o + 2e"), _channelwise_tp),
    Case("gate", ("6x0e + 2x0o + 2x1o + 1x1e + 1x2e",), _gate),
    Case("norm_activation", ("2x0e + 1o + 2e",), _norm_activation),
    Case("scatter_sum", ("2x0e + 1o",), _scatter_sum, leading=(4,)),
]


def get_case(name: str) -> Case:
    for case in CASES:
        if case.name == name:
            return case
    raise ValueError(f"unknown case {name!r}: expected one of {[c.name for c in CASES]}")


def case_inputs(case: Case, seed: int = 0) -> list:
    """The case's inputs as float64 numpy arrays (Gaussian, fixed by ``seed``).

    >>> [x.shape for x in case_inputs(get_case("tensor_product"))]
    [(2, 10), (2, 7)]
    """
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(case.leading + (Irreps(ir).dim,)) for ir in case.irreps_in]


_FUNCTIONS: dict = {}


def make_function(case: Case, target: Target):
    """The case's function on the target (jitted on JAX when ``target.jit``), cached.

    Caching keeps one jitted function (hence one compilation) per case and target.
    """
    key = (case.name, target.name, target.backend_name, target.dtype, str(target.device), target.jit)
    f = _FUNCTIONS.get(key)
    if f is None:
        f = case.make(target)
        if target.backend_name == "jax" and target.jit and case.irreps_in:
            import jax

            f = jax.jit(f)
        _FUNCTIONS[key] = f
    return f


def _wrap(case: Case, target: Target, arrays) -> list:
    return [IrrepsArray(ir, a) for ir, a in zip(case.irreps_in, arrays)]


def evaluate(case: Case, target: Target, inputs=None) -> list:
    """The case's outputs on ``target`` as float64 numpy arrays."""
    inputs = case_inputs(case) if inputs is None else inputs
    f = make_function(case, target)
    xs = _wrap(case, target, [target.asarray(x) for x in inputs])
    return [target.to_numpy(y) for y in _outputs(f(*xs), case.name)]


def _scale(arrays) -> float:
    return max([1.0] + [float(np.max(np.abs(a))) for a in arrays if a.size])


def equivariance(case: Case, target: Target, seed: int = 0, n: int = 4):
    """Relative equivariance error of the case on the target (None when not applicable).

    >>> equivariance(get_case("tensor_product"), make_target("numpy")) < 1e-12
    True
    """
    if not case.equivariant:
        return None
    f = make_function(case, target)
    xs = _wrap(case, target, [target.asarray(x) for x in case_inputs(case, seed)])
    return equivariance_error(f, *xs, seed=seed, n=n, relative=True)


_NUMPY_REFERENCE: dict = {}


def _reference(case: Case) -> list:
    if case.name not in _NUMPY_REFERENCE:
        _NUMPY_REFERENCE[case.name] = evaluate(case, Target("numpy", "numpy", "float64"))
    return _NUMPY_REFERENCE[case.name]


def disagreement(case: Case, target: Target) -> float:
    """Relative distance between the target's outputs and float64 NumPy's.

    >>> disagreement(get_case("norm"), make_target("numpy-float32")) < 1e-6
    True
    """
    ref = _reference(case)
    got = evaluate(case, target)
    if len(got) != len(ref):
        raise AssertionError(f"{case.name}: {len(got)} outputs on {target.name}, {len(ref)} on numpy")
    err = 0.0
    for a, b in zip(got, ref):
        if a.shape != b.shape:
            raise AssertionError(f"{case.name}: output shape {a.shape} on {target.name}, {b.shape} on numpy")
        if a.size:
            err = max(err, float(np.max(np.abs(a - b))))
    return err / _scale(ref)


def _cotangents(case: Case, seed: int = 1) -> list:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(a.shape) for a in _reference(case)]


def autodiff_gradients(case: Case, target: Target, inputs=None) -> list:
    """Gradient of ``sum_k <cot_k, f(x)_k>`` w.r.t. each input, by the target's autodiff."""
    inputs = case_inputs(case) if inputs is None else inputs
    cots = _cotangents(case)
    f = make_function(case, target)
    if target.backend_name == "torch":
        import torch

        xs = [target.asarray(x).detach().clone().requires_grad_(True) for x in inputs]
        outs = _outputs(f(*_wrap(case, target, xs)), case.name)
        loss = sum((o.array * target.asarray(c)).sum() for o, c in zip(outs, cots))
        grads = torch.autograd.grad(loss, xs, allow_unused=True)
        return [np.zeros(x.shape) if g is None else target.to_numpy(g) for x, g in zip(inputs, grads)]
    if target.backend_name == "jax":
        import jax

        jcots = [target.asarray(c) for c in cots]

        def loss(*arrays):
            outs = _outputs(f(*_wrap(case, target, arrays)), case.name)
            return sum((o.array * c).sum() for o, c in zip(outs, jcots))

        xs = [target.asarray(x) for x in inputs]
        grads = jax.grad(loss, argnums=tuple(range(len(xs))))(*xs)
        return [target.to_numpy(g) for g in grads]
    raise ValueError(f"backend {target.backend_name!r} has no autodiff")


def finite_difference_gradients(case: Case, inputs=None, h: float = 1e-5) -> list:
    """Central finite differences of ``sum_k <cot_k, f(x)_k>`` with float64 NumPy."""
    inputs = case_inputs(case) if inputs is None else inputs
    cots = _cotangents(case)
    ref = Target("numpy", "numpy", "float64")

    def loss(arrays):
        return sum(float(np.sum(o * c)) for o, c in zip(evaluate(case, ref, arrays), cots))

    grads = []
    for i, x in enumerate(inputs):
        g = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            plus = [a.copy() for a in inputs]
            minus = [a.copy() for a in inputs]
            plus[i][idx] += h
            minus[i][idx] -= h
            g[idx] = (loss(plus) - loss(minus)) / (2 * h)
        grads.append(g)
    return grads


def gradient_error(case: Case, target: Target):
    """Relative distance between autodiff and finite-difference gradients (None if n/a).

    >>> gradient_error(get_case("norm"), make_target("numpy")) is None  # numpy has no autodiff
    True
    """
    if not (case.differentiable and target.has_autodiff and case.irreps_in):
        return None
    ad = autodiff_gradients(case, target)
    fd = finite_difference_gradients(case)
    err = max((float(np.max(np.abs(a - b))) for a, b in zip(ad, fd) if a.size), default=0.0)
    return err / _scale(fd)


# --------------------------------------------------------------------------- runner


@dataclass
class CheckResult:
    """Outcome of every check of one case on one target."""

    target: str
    case: str
    equivariance: float | None = None
    disagreement: float | None = None
    gradient: float | None = None
    error: str | None = None
    tolerances: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        if self.error is not None:
            return False
        for key in ("equivariance", "disagreement", "gradient"):
            value = getattr(self, key)
            if value is not None and not value <= self.tolerances[key]:
                return False
        return True


def check_case(case: Case, target: Target) -> CheckResult:
    """All checks of ``case`` on ``target``; exceptions are recorded, not raised."""
    tol = TOLERANCES["float64" if target.dtype == "float64" else "float32"]
    res = CheckResult(target.name, case.name, tolerances=tol)
    try:
        res.equivariance = equivariance(case, target)
        res.disagreement = disagreement(case, target)
        if target.dtype == "float64":
            res.gradient = gradient_error(case, target)
    except Exception as e:  # noqa: BLE001 - a failing check is a table entry
        res.error = f"{type(e).__name__}: {e}"
    return res


def installed_targets(names=None, dtype: str = "float64") -> tuple[list, dict]:
    """``(targets, skipped)``: the requested backends that work here, and why the others don't."""
    names = list(names) if names else ["numpy", "array_api_strict", "torch", "jax", "cupy"]
    available = set(available_backends())
    targets, skipped = [], {}
    for name in names:
        base = name.partition("-")[0]
        if base not in available:
            skipped[name] = "not installed"
            continue
        try:
            target = make_target(name, dtype)
            if base == "jax" and target.dtype == "float64":
                import jax

                if not jax.config.read("jax_enable_x64"):
                    jax.config.update("jax_enable_x64", True)
            if base == "cupy":
                import cupy

                if cupy.cuda.runtime.getDeviceCount() < 1:
                    raise RuntimeError("no CUDA device")
            target.asarray(np.zeros(1))
        except Exception as e:  # noqa: BLE001 - report why and move on
            skipped[name] = f"{type(e).__name__}: {e}"
            continue
        targets.append(target)
    return targets, skipped


def run_checks(targets, cases=None, progress: Callable | None = None) -> list:
    """Run every case on every target; ``progress(i, n, label)`` is called before each.

    >>> results = run_checks([make_target("numpy")], [get_case("norm")])
    >>> [(r.target, r.case, r.passed) for r in results]
    [('numpy', 'norm', True)]
    >>> print(format_table(results).splitlines()[0])
    backend  operation  equivariance  vs numpy  gradient  result
    """
    cases = CASES if cases is None else cases
    jobs = [(t, c) for t in targets for c in cases]
    results = []
    for i, (t, c) in enumerate(jobs):
        if progress is not None:
            progress(i, len(jobs), f"{t.name}: {c.name}")
        results.append(check_case(c, t))
    if progress is not None:
        progress(len(jobs), len(jobs), "done")
    return results


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.1e}"


def format_table(results) -> str:
    """A plain-text table: one row per (target, case)."""
    header = ("backend", "operation", "equivariance", "vs numpy", "gradient", "result")
    rows = [header]
    for r in results:
        status = "pass" if r.passed else ("FAIL: " + r.error if r.error else "FAIL")
        rows.append((r.target, r.case, _fmt(r.equivariance), _fmt(r.disagreement), _fmt(r.gradient), status))
    widths = [max(len(row[i]) for row in rows[:]) if i < 5 else 0 for i in range(6)]
    lines = []
    for k, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) if w else cell for cell, w in zip(row, widths)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w if w else "------" for w in widths))
    return "\n".join(lines)


def print_progress(i: int, n: int, label: str, stream=None) -> None:
    """A text progress indicator (no tqdm): one rewritten line on a terminal, else a line per target."""
    stream = sys.stderr if stream is None else stream
    if not getattr(stream, "isatty", lambda: False)():
        target = label.split(":")[0]
        if i == n or getattr(print_progress, "_last", None) != target:
            print_progress._last = target
            stream.write(f"[{i}/{n}] {label if i == n else target}\n")
            stream.flush()
        return
    width = 30
    done = int(width * i / n) if n else width
    stream.write(f"\r[{'#' * done}{'.' * (width - done)}] {i}/{n} {label[:50]:<50}")
    if i == n:
        stream.write("\n")
    stream.flush()
