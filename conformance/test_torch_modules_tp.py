"""Conformance of the ``e3xp.torch`` tensor-product and linear modules, and of the
plan modes they added ("uvv", "uuw", "u<vw", unweighted "uvu", weighted
"uvuv_triu") on every backend.

For each module: O(3) equivariance under random rotations times parity (D matrices
from numpy), agreement with the float64 reference executors of the plans
(:func:`~e3xp.core.plans.execute_plan_reference`, written with ``numpy.einsum``
from the plans' module docstring, independent of the schedules and kernels), and
input / weight gradients against central finite differences in float64. For the
plan modes: every ``xp`` backend variant against the reference executor.
"""

from __future__ import annotations

import numpy as np
import pytest

from e3xp.core.irreps import Irreps
from e3xp.core.plans import TensorProductPlan, TPPath, execute_linear_reference, execute_plan_reference
from e3xp.core.rotations import rand_matrix

# (irreps_in1, irreps_in2, irreps_out, plan mode, weight shape or None): one plan path each
PLAN_MODE_CASES = [
    ("3x1o", "2x1o", "2x1e", "uvv", (3, 2)),
    ("3x2e", "2x1o", "2x2o", "uvv", None),
    ("3x1o", "3x1e", "4x1o", "uuw", (3, 4)),
    ("3x1o", "3x2e", "1x1o", "uuw", None),
    ("3x1o", "3x1o", "3x0e", "uvuv_triu", (3,)),
    ("4x1o", "4x1o", "5x1e", "u<vw", (6, 5)),
    ("3x1o", "2x2e", "3x1o", "uvu", None),
]


def _plan(i1, i2, out, mode, wshape):
    weighted = wshape is not None
    path = TPPath(0, 0, 0, mode, 0.7, 0 if weighted else -1, tuple(wshape) if weighted else ())
    return TensorProductPlan(Irreps(i1), Irreps(i2), Irreps(out), (path,), int(np.prod(wshape)) if weighted else 0)


@pytest.mark.parametrize("case", PLAN_MODE_CASES, ids=[f"{c[3]}-{i}" for i, c in enumerate(PLAN_MODE_CASES)])
def test_new_plan_modes_on_every_backend(xp, case):
    plan = _plan(*case)
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((3, plan.irreps_in1.dim))
    x2 = rng.standard_normal((3, plan.irreps_in2.dim))
    tol = {"float64": 1e-12, "float32": 2e-5}[xp.dtype]
    for w in ([None] if not plan.weight_numel else [rng.standard_normal(plan.weight_numel),
                                                     rng.standard_normal((3, plan.weight_numel))]):
        ref = execute_plan_reference(plan, x1, x2, w)
        args = (xp.asarray(x1), xp.asarray(x2)) + ((xp.asarray(w),) if w is not None else (None,))
        out = xp.to_numpy(xp.backend.tensor_product(plan, *args))
        assert np.abs(out - ref).max() <= tol * max(np.abs(ref).max(), 1.0)


# --------------------------------------------------------------------------- torch modules

torch = pytest.importorskip("torch")
import e3xp.torch as et  # noqa: E402


def _modules():
    return {
        "TensorProduct": lambda: et.TensorProduct(
            "2x1o + 2x2e + 3x0e", "1o + 1e + 2x0e", "2x1e + 2x2o + 2x0o + 3x1o + 2x1o",
            [(0, 0, 0, "uvu", True), (1, 0, 1, "uvu", True), (0, 1, 2, "uvu", True),
             (1, 0, 3, "uvw", True), (0, 1, 3, "uvw", True), (2, 0, 4, "uvw", True), (0, 2, 4, "uvv", False)],
            in1_var=[1.0, 2.0, 0.5], out_var=[1.0, 1.0, 2.0, 1.0, 1.0]),
        "TensorProduct-uuw-u<vw": lambda: et.TensorProduct(
            "3x1o + 3x2e", "3x1o + 3x1e", "2x1e + 2x2o", [(0, 0, 0, "u<vw", True), (1, 1, 0, "uuw", True),
                                                         (1, 0, 1, "uuw", True), (0, 1, 1, "u<vw", True)]),
        "FullyConnectedTensorProduct": lambda: et.FullyConnectedTensorProduct("2x0e + 1o + 2e", "0e + 1o", "2x0e + 1e + 2x1o"),
        "FullTensorProduct": lambda: et.FullTensorProduct("2x0e + 1o", "1o + 2e"),
        "ElementwiseTensorProduct": lambda: et.ElementwiseTensorProduct("2x0e + 1o", "1o + 2x1e"),
        "TensorSquare": lambda: et.TensorSquare("2x0e + 2x1o + 2e"),
        "TensorSquare-weighted": lambda: et.TensorSquare("2x0e + 2x1o", "0e + 2x1e + 2e"),
    }


MODULES = _modules()


pytestmark = pytest.mark.usefixtures("torch_float64")  # root conftest.py


def _call(tp, x, y):
    return tp(x) if isinstance(tp, et.TensorSquare) else tp(x, y)


def _inputs(tp, seed=0, batch=3):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, tp.irreps_in1.dim, generator=g)
    y = torch.randn(batch, tp.irreps_in2.dim, generator=g)
    return x, y


@pytest.mark.parametrize("name", list(MODULES))
def test_module_equivariance_o3(name):
    torch.manual_seed(1)
    tp = MODULES[name]()
    x, y = _inputs(tp)
    for seed in (0, 1):
        R = rand_matrix(seed=seed)
        R = -R if seed == 1 else R  # a rotation, then a rotation times parity
        D1, D2, Do = (torch.as_tensor(i.D_from_matrix(R)) for i in (tp.irreps_in1, tp.irreps_in2, tp.irreps_out))
        y_rot = x @ D1.T if isinstance(tp, et.TensorSquare) else y @ D2.T
        a = _call(tp, x @ D1.T, y_rot)
        b = _call(tp, x, y) @ Do.T
        assert float((a - b).abs().max()) <= 1e-10 * max(float(b.abs().max()), 1.0)


@pytest.mark.parametrize("name", list(MODULES))
def test_module_agrees_with_reference_executor(name):
    tp = MODULES[name]()
    x, y = _inputs(tp)
    y = x if isinstance(tp, et.TensorSquare) else y
    w = tp.weight.detach().numpy() if tp.weight_numel else None
    ref = execute_plan_reference(tp.plan, x.numpy(), y.numpy(), w)
    out = _call(tp, x, y).detach().numpy()
    assert np.abs(out - ref).max() <= 1e-12 * max(np.abs(ref).max(), 1.0)


def _fd_check(f, leaves, eps=1e-6, tol=1e-7):
    """Autograd against central finite differences of ``sum(f() * ct)`` for every leaf entry."""
    ct = torch.randn(f().shape, generator=torch.Generator().manual_seed(9))
    grads = torch.autograd.grad((f() * ct).sum(), leaves)
    for leaf, grad in zip(leaves, grads):
        flat = leaf.data.view(-1)
        for i in range(0, flat.numel(), max(1, flat.numel() // 12)):  # a dozen entries per leaf
            old = float(flat[i])
            flat[i] = old + eps
            up = float((f() * ct).sum())
            flat[i] = old - eps
            down = float((f() * ct).sum())
            flat[i] = old
            fd = (up - down) / (2 * eps)
            assert abs(fd - float(grad.view(-1)[i])) <= tol * max(1.0, abs(fd)), (i, fd, float(grad.view(-1)[i]))


@pytest.mark.parametrize("name", list(MODULES))
def test_module_gradients_finite_differences(name):
    torch.manual_seed(2)
    tp = MODULES[name]()
    x, y = _inputs(tp, seed=3, batch=2)
    x.requires_grad_(True)
    y.requires_grad_(True)
    leaves = [x] if isinstance(tp, et.TensorSquare) else [x, y]
    if tp.weight_numel:
        leaves.append(tp.weight)
    _fd_check(lambda: _call(tp, x, y), leaves)


def test_per_sample_weights_gradients_finite_differences():
    tp = et.TensorProduct("2x0e + 2x1o", "0e + 1o", "2x0e + 2x1o + 2x1e",
                          [(0, 0, 0, "uvu", True), (1, 1, 0, "uvu", True), (1, 0, 1, "uvu", True),
                           (1, 1, 2, "uvu", True)], shared_weights=False)
    x, y = _inputs(tp, batch=2)
    w = torch.randn(2, tp.weight_numel, requires_grad=True)
    x.requires_grad_(True)
    _fd_check(lambda: tp(x, y, w), [x, w])
    ref = execute_plan_reference(tp.plan, x.detach().numpy(), y.numpy(), w.detach().numpy())
    assert np.abs(tp(x, y, w).detach().numpy() - ref).max() <= 1e-12 * np.abs(ref).max()


def test_linear_module():
    torch.manual_seed(3)
    lin = et.Linear("3x0e + 2x1o + 2e + 1e", "2x0e + 3x1o + 2e + 0o", biases=True)
    with torch.no_grad():
        lin.bias.normal_()
    x = torch.randn(3, lin.irreps_in.dim, requires_grad=True)
    ref = execute_linear_reference(lin.plan, x.detach().numpy(), lin.weight.detach().numpy(), lin.bias.detach().numpy())
    assert np.abs(lin(x).detach().numpy() - ref).max() <= 1e-12 * np.abs(ref).max()
    R = -rand_matrix(seed=5)
    D_in, D_out = torch.as_tensor(lin.irreps_in.D_from_matrix(R)), torch.as_tensor(lin.irreps_out.D_from_matrix(R))
    assert float((lin(x @ D_in.T) - lin(x) @ D_out.T).abs().max()) <= 1e-10
    _fd_check(lambda: lin(x), [x, lin.weight, lin.bias])
