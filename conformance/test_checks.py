"""Every public operation on every backend: equivariance, agreement with NumPy, gradients.

The checks themselves live in :mod:`e3xp.conformance_checks` and are the ones
``python -m e3xp validate`` runs; the tolerances are ``TOLERANCES`` there
(relative to ``max(1, max |reference|)``): float64 equivariance 1e-10 and
agreement 1e-12, float32 1e-5 for both, gradients 1e-6 (finite differences with
h = 1e-5 have a truncation error near 1e-10).
"""

import pytest

from e3xp.conformance_checks import CASES, TOLERANCES, disagreement, equivariance, gradient_error

CASE_IDS = [c.name for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_equivariance(xp, case):
    err = equivariance(case, xp)
    if err is None:
        pytest.skip(f"{case.name} creates arrays; it has no input to rotate")
    assert err <= TOLERANCES[xp.dtype]["equivariance"], f"{case.name} on {xp.name}: {err:.3g}"


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_equivariance_float32(xp32, case):
    err = equivariance(case, xp32)
    if err is None:
        pytest.skip(f"{case.name} creates arrays; it has no input to rotate")
    assert err <= TOLERANCES["float32"]["equivariance"], f"{case.name} on {xp32.name}: {err:.3g}"


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_agreement_with_numpy(xp, case):
    if xp.name == "numpy":
        pytest.skip("numpy float64 is the reference")
    err = disagreement(case, xp)
    assert err <= TOLERANCES[xp.dtype]["disagreement"], f"{case.name} on {xp.name}: {err:.3g}"


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_agreement_float32(xp32, case):
    err = disagreement(case, xp32)
    assert err <= TOLERANCES["float32"]["disagreement"], f"{case.name} on {xp32.name}: {err:.3g}"


@pytest.mark.parametrize("case", [c for c in CASES if c.differentiable], ids=[c.name for c in CASES if c.differentiable])
def test_gradient_vs_finite_differences(xp_ad, case):
    err = gradient_error(case, xp_ad)
    assert err <= TOLERANCES["float64"]["gradient"], f"{case.name} on {xp_ad.name}: {err:.3g}"
