"""The framework modules' rows of ``python -m e3xp validate``: ``e3xp.torch`` and ``e3xp.flax``.

For each module, on small float64 inputs:

* ``equivariance``: :func:`e3xp.testing.equivariance_error` (relative) over random
  O(3) elements with parity; ``-`` for modules on scalars only (an MLP);
* ``vs reference``: max relative difference to the reference library's module with
  the same parameters (e3nn (torch) for ``e3xp.torch``, e3nn-jax for ``e3xp.flax``),
  when that library is installed; ``-`` otherwise;
* ``gradient``: autodiff against central finite differences (relative), of the sum
  of the outputs weighted by fixed random numbers, with respect to the first input.

The conformance suite tests the same modules in more detail; this table is the
quick cross-check a user runs after installing.
"""

from __future__ import annotations

import contextlib
import importlib.util
from dataclasses import dataclass

import numpy as np

from .core.irreps import Irreps
from .irreps_array import IrrepsArray
from .testing import equivariance_error

__all__ = ["ModuleResult", "run_module_checks", "format_module_table", "TOLERANCE"]

# float64 relative tolerances: equivariance, agreement with the reference, gradient
TOLERANCE = {"equivariance": 1e-10, "reference": 1e-12, "gradient": 1e-6}


@dataclass
class ModuleResult:
    framework: str
    module: str
    equivariance: float | None
    reference: float | None
    gradient: float | None
    error: str | None = None

    @property
    def passed(self) -> bool:
        if self.error is not None:
            return False
        checks = (
            (self.equivariance, TOLERANCE["equivariance"]),
            (self.reference, TOLERANCE["reference"]),
            (self.gradient, TOLERANCE["gradient"]),
        )
        return all(v is None or v <= tol for v, tol in checks)


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


# --------------------------------------------------------------------------- torch


@contextlib.contextmanager
def _torch_float64():
    import torch

    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # e3nn keeps its constants in the default dtype
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def _torch_cases():
    """``(name, build(lib), input irreps (or dims for plain tensors))``; ``lib`` is e3xp.torch or e3nn."""
    import torch

    silu, sigmoid = torch.nn.functional.silu, torch.sigmoid
    return [
        ("Linear", lambda m: m.o3.Linear("3x0e + 2x1o + 1e", "2x0e + 1o + 2x1e", biases=True) if m.e3nn
         else m.Linear("3x0e + 2x1o + 1e", "2x0e + 1o + 2x1e", biases=True), ["3x0e + 2x1o + 1e"]),
        ("TensorProduct uvu", lambda m: (m.o3 if m.e3nn else m).TensorProduct(
            "2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o + 2x1e",
            [(0, 0, 0, "uvu", True), (1, 1, 0, "uvu", True), (1, 0, 1, "uvu", True), (1, 1, 2, "uvu", True)]),
         ["2x0e + 2x1o", "0e + 1o"]),
        ("FullyConnectedTensorProduct", lambda m: (m.o3 if m.e3nn else m).FullyConnectedTensorProduct(
            "2x0e + 1o", "0e + 1o", "3x0e + 1o + 1e"), ["2x0e + 1o", "0e + 1o"]),
        ("ElementwiseTensorProduct", lambda m: (m.o3 if m.e3nn else m).ElementwiseTensorProduct(
            "2x0e + 1o", "0e + 1e + 1o"), ["2x0e + 1o", "0e + 1e + 1o"]),
        ("FullTensorProduct", lambda m: (m.o3 if m.e3nn else m).FullTensorProduct("0e + 1o", "1o + 2e"),
         ["0e + 1o", "1o + 2e"]),
        ("TensorSquare", lambda m: (m.o3 if m.e3nn else m).TensorSquare("0e + 2x1o"), ["0e + 2x1o"]),
        ("SphericalHarmonics", lambda m: (m.o3 if m.e3nn else m).SphericalHarmonics(
            "0e + 1o + 2e + 3o", True, "component"), ["1o"]),
        ("Gate", lambda m: (m.nn if m.e3nn else m).Gate("2x0e", [silu], "2x0e", [sigmoid], "1o + 1e"),
         ["4x0e + 1o + 1e"]),
        ("NormActivation", lambda m: (m.nn if m.e3nn else m).NormActivation("0e + 2x1o + 2e", sigmoid),
         ["0e + 2x1o + 2e"]),
        ("BatchNorm (eval)", lambda m: (m.nn if m.e3nn else m).BatchNorm("2x0e + 1o + 2e").eval(),
         ["2x0e + 1o + 2e"]),
        ("FullyConnectedNet", lambda m: (m.nn if m.e3nn else m).FullyConnectedNet([4, 8, 3], silu), [4]),
    ]


class _Lib:
    def __init__(self, module, e3nn: bool):
        self.e3nn = e3nn
        if e3nn:
            self.o3, self.nn = module.o3, module.nn
        else:
            self._m = module

    def __getattr__(self, name):
        return getattr(self._m, name)


def _torch_inputs(specs, rng, torch):
    out = []
    for s in specs:
        dim = s if isinstance(s, int) else Irreps(s).dim
        out.append(torch.as_tensor(rng.standard_normal((5, dim))))
    return out


def _torch_rows() -> list:
    import torch

    import e3xp.torch as et

    e3nn = None
    if importlib.util.find_spec("e3nn") is not None:
        import e3nn
        import e3nn.nn
        import e3nn.o3
    rows = []
    with _torch_float64():
        for name, build, specs in _torch_cases():
            try:
                torch.manual_seed(0)
                module = build(_Lib(et, False))
                rng = np.random.default_rng(1)
                xs = _torch_inputs(specs, rng, torch)
                plain = isinstance(specs[0], int)
                equi = None
                if not plain:
                    # the module's own irreps lists (e3nn splits some, e.g. the elementwise product)
                    own = [getattr(module, a) for a in ("irreps_in1", "irreps_in2") if hasattr(module, a)]
                    own = own or [getattr(module, "irreps_in", None) or module.irreps]
                    arrays = [IrrepsArray(Irreps(s), x) for s, x in zip(own, xs)]
                    equi = equivariance_error(lambda *a: module(*a), *arrays, relative=True)
                ref = None
                if e3nn is not None:
                    torch.manual_seed(0)
                    reference = build(_Lib(e3nn, True))
                    module.load_state_dict(reference.state_dict(), strict=False)
                    ref = _rel(module(*xs).detach().numpy(), reference(*xs).detach().numpy())
                grad = _torch_gradient_error(module, xs, rng, torch)
                rows.append(ModuleResult("torch", name, equi, ref, grad))
            except Exception as e:  # a row, not a crash: the table reports it
                rows.append(ModuleResult("torch", name, None, None, None, f"{type(e).__name__}: {e}"))
    return rows


def _torch_gradient_error(module, xs, rng, torch, eps=1e-6) -> float:
    x0 = xs[0].clone().requires_grad_(True)
    c = torch.as_tensor(rng.standard_normal(tuple(module(x0, *xs[1:]).shape)))
    (g,) = torch.autograd.grad((c * module(x0, *xs[1:])).sum(), x0)
    fd = np.zeros(x0.shape)
    base = xs[0].detach().numpy()
    with torch.no_grad():
        for idx in np.ndindex(*base.shape[-1:]):  # every component of the first sample
            for sign in (1.0, -1.0):
                x = base.copy()
                x[(0,) + idx] += sign * eps
                fd[(0,) + idx] += sign * float((c * module(torch.as_tensor(x), *xs[1:])).sum()) / (2 * eps)
    return _rel(g.numpy()[0], fd[0])


# --------------------------------------------------------------------------- flax


def _flax_rows() -> list:
    import jax
    import jax.numpy as jnp

    import e3xp.flax as ef

    have_ref = importlib.util.find_spec("e3nn_jax") is not None
    rows = []
    with _x64(jax):
        cases = [
            ("Linear", lambda lib: lib.Linear("2x0e + 1o + 2x1e", biases=True), "3x0e + 2x1o + 1e"),
            ("MultiLayerPerceptron", lambda lib: lib.MultiLayerPerceptron([8, 3], jax.nn.silu), "4x0e"),
        ]
        for name, build, irreps in cases:
            try:
                module = build(ef)
                rng = np.random.default_rng(1)
                x = IrrepsArray(irreps, jnp.asarray(rng.standard_normal((5, Irreps(irreps).dim))))
                params = module.init(jax.random.PRNGKey(0), x)
                equi = equivariance_error(lambda v: module.apply(params, v), x, relative=True)
                ref = None
                if have_ref:
                    import e3nn_jax

                    reference = build(e3nn_jax.flax)
                    y_ref = reference.apply(params, e3nn_jax.IrrepsArray(irreps, x.array))
                    ref = _rel(module.apply(params, x).array, y_ref.array)
                c = jnp.asarray(rng.standard_normal(module.apply(params, x).shape))

                def loss(a):
                    return jnp.sum(c * module.apply(params, IrrepsArray(irreps, a)).array)

                g = np.asarray(jax.grad(loss)(x.array))[0]
                fd = np.zeros(g.shape)
                base = np.asarray(x.array)
                for i in range(base.shape[-1]):
                    for sign in (1.0, -1.0):
                        b = base.copy()
                        b[0, i] += sign * 1e-6
                        fd[i] += sign * float(loss(jnp.asarray(b))) / 2e-6
                rows.append(ModuleResult("flax", name, equi, ref, _rel(g, fd)))
            except Exception as e:
                rows.append(ModuleResult("flax", name, None, None, None, f"{type(e).__name__}: {e}"))
    return rows


@contextlib.contextmanager
def _x64(jax):
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", old)


# --------------------------------------------------------------------------- entry points


def run_module_checks(frameworks=("torch", "flax")) -> tuple:
    """``(results, skipped)``: the rows of the installed front-ends, and why others were skipped."""
    results, skipped = [], {}
    needs = {"torch": ("torch",), "flax": ("flax", "jax")}
    for fw in frameworks:
        missing = [n for n in needs[fw] if importlib.util.find_spec(n) is None]
        if missing:
            skipped[f"e3xp.{fw}"] = f"{', '.join(missing)} not installed"
            continue
        results += _torch_rows() if fw == "torch" else _flax_rows()
    return results, skipped


def format_module_table(results) -> str:
    def cell(v):
        return "-" if v is None else f"{v:.1e}"

    head = f"{'front-end':<12}{'module':<30}{'equivariance':>13}{'vs reference':>14}{'gradient':>10}  result"
    lines = [head]
    for r in results:
        status = "pass" if r.passed else ("FAIL" if r.error is None else f"ERROR {r.error}")
        lines.append(
            f"{'e3xp.' + r.framework:<12}{r.module:<30}{cell(r.equivariance):>13}{cell(r.reference):>14}"
            f"{cell(r.gradient):>10}  {status}"
        )
    return "\n".join(lines)
