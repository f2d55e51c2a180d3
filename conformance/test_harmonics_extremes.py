"""Spherical harmonics of huge, tiny and subnormal vectors (issue 13).

With ``normalize=True`` the harmonics depend only on the direction ``x / |x|``,
which is representable for every finite nonzero ``x``; computing ``|x|^2`` first
overflowed at ``|x| ~ 1e154`` (``1e19`` in float32) and underflowed at ``1e-162``
(``1e-23`` in float32), giving the zero vector's harmonics. The expected values
come from the same direction at unit length, and the gradients from homogeneity:
``Y(c x) = Y(x)`` for ``c > 0``, so ``grad Y(c x) = grad Y(x) / c``.
"""

import numpy as np
import pytest

import e3xp
from e3xp.core.irreps import Irreps

# lmax 1 and 3 run the explicit polynomials or the sparse recursion, lmax 8 the dense
# recursion (the in-place blocks on numpy and torch): every kernel's normalisation.
IRREPS = ["0e + 1o", str(Irreps.spherical_harmonics(3)), str(Irreps.spherical_harmonics(8))]
DIRECTIONS = np.array([[1.0, 0.0, 0.0], [0.3, -0.5, 0.8], [-2.0, 1.0, 0.5]])


def _reference(irreps):
    return e3xp.spherical_harmonics(irreps, DIRECTIONS).array


@pytest.mark.parametrize("irreps", IRREPS)
@pytest.mark.parametrize("scale", [1e200, 1e-170])
def test_huge_and_tiny_vectors(xp, irreps, scale):
    if xp.dtype == "float32":
        scale = 1e20 if scale > 1 else 1e-23
    out = xp.to_numpy(e3xp.spherical_harmonics(irreps, xp.asarray(DIRECTIONS * scale)).array)
    tol = 1e-5 if xp.dtype == "float32" else 1e-12
    np.testing.assert_allclose(out, _reference(irreps), rtol=tol, atol=tol)


@pytest.mark.parametrize("irreps", IRREPS)
@pytest.mark.parametrize("scale", [1e20, 1e-23])
def test_huge_and_tiny_vectors_float32(xp32, irreps, scale):
    out = xp32.to_numpy(e3xp.spherical_harmonics(irreps, xp32.asarray(DIRECTIONS * scale)).array)
    np.testing.assert_allclose(out, _reference(irreps), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("irreps", IRREPS[1:])
def test_subnormal_vectors(xp, irreps):
    """Subnormal components: (0, 3, 4) times the smallest subnormal has direction (0, 0.6, 0.8).

    XLA's CPU runtime flushes subnormals to zero, so JAX sees the zero vector: a
    property of the framework that e3xp cannot undo (documented in
    ``e3xp.spherical_harmonics``).
    """
    if xp.backend.name == "jax":
        pytest.skip("XLA flushes subnormal numbers to zero on CPU")
    if xp.dtype == "float32":
        pytest.skip("float32 variant: the subnormal float64 input is not representable")
    tiny = np.nextafter(0.0, 1.0)
    v = np.array([[0.0, 3 * tiny, 4 * tiny]])
    out = xp.to_numpy(e3xp.spherical_harmonics(irreps, xp.asarray(v)).array)
    ref = e3xp.spherical_harmonics(irreps, np.array([[0.0, 0.6, 0.8]])).array
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


def _gradient(xp_ad, irreps, x):
    """d(sum_i r_i Y_i(x)) / dx for a fixed random cotangent r, on torch or JAX."""
    r = np.random.default_rng(0).normal(size=(x.shape[0], Irreps(irreps).dim))
    if xp_ad.backend.name == "torch":
        import torch

        t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        y = e3xp.spherical_harmonics(irreps, t).array
        (g,) = torch.autograd.grad((y * torch.tensor(r)).sum(), t)
        return g.numpy()
    import jax
    import jax.numpy as jnp

    def f(a):
        return jnp.sum(e3xp.spherical_harmonics(irreps, a).array * r)

    return np.asarray(jax.grad(f)(jnp.asarray(x)))


@pytest.mark.parametrize("irreps", IRREPS)
@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_gradient_of_huge_and_tiny_vectors(xp_ad, irreps, scale):
    ref = _gradient(xp_ad, irreps, DIRECTIONS)
    g = _gradient(xp_ad, irreps, DIRECTIONS * scale)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g * scale, ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())


@pytest.mark.parametrize("irreps", IRREPS)
def test_gradient_at_zero_stays_finite(xp_ad, irreps):
    g = _gradient(xp_ad, irreps, np.zeros((2, 3)))
    assert np.all(np.isfinite(g))
