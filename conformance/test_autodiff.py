"""Gradients: torch.autograd.gradcheck, and torch and JAX giving the same gradients.

(Autodiff against finite differences of the float64 NumPy function, for torch and
JAX, is ``test_checks.py::test_gradient_vs_finite_differences``.)
"""

import numpy as np
import pytest

from e3xp.conformance_checks import CASES, autodiff_gradients, case_inputs, make_function, make_target
from e3xp.irreps_array import IrrepsArray
from e3xp.testing import _outputs

DIFF_CASES = [c for c in CASES if c.differentiable]
IDS = [c.name for c in DIFF_CASES]


@pytest.mark.parametrize("case", DIFF_CASES, ids=IDS)
def test_torch_gradcheck(torch, case):
    target = make_target("torch")
    f = make_function(case, target)
    # One sample keeps gradcheck's numerical Jacobian small.
    inputs = tuple(
        target.asarray(x[:1]).detach().clone().requires_grad_(True) for x in case_inputs(case)
    )
    if case.name == "IrrepsArray arithmetic":
        inputs = tuple(target.asarray(x).detach().clone().requires_grad_(True) for x in case_inputs(case))

    def fn(*arrays):
        outs = _outputs(f(*[IrrepsArray(ir, a) for ir, a in zip(case.irreps_in, arrays)]), case.name)
        return tuple(o.array for o in outs)

    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("case", DIFF_CASES, ids=IDS)
def test_torch_and_jax_gradients_agree(torch, jax, case):
    g_torch = autodiff_gradients(case, make_target("torch"))
    g_jax = autodiff_gradients(case, make_target("jax"))
    scale = max([1.0] + [float(np.max(np.abs(g))) for g in g_torch if g.size])
    for a, b in zip(g_torch, g_jax):
        assert a.shape == b.shape
        assert np.max(np.abs(a - b), initial=0.0) <= 1e-12 * scale


def test_jax_second_derivative_of_norm_is_finite_at_zero(jax):
    """The double-where in norm keeps even the Hessian finite at the zero vector."""
    from e3xp.ops import norm

    def f(a):
        return norm(IrrepsArray("1o", a)).array[0]

    zero = jax.numpy.zeros(3)
    assert np.all(np.isfinite(np.asarray(jax.grad(f)(zero))))
    assert np.all(np.isfinite(np.asarray(jax.hessian(f)(zero))))


def test_torch_gradient_of_spherical_harmonics_is_finite_at_zero(torch):
    from e3xp.ops import spherical_harmonics

    x = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    y = spherical_harmonics([0, 1, 2, 3], x)
    (g,) = torch.autograd.grad(y.array.sum(), x)
    assert torch.isfinite(g).all()
