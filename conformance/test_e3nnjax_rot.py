"""Issue 15, rotations slice, on every backend: ``IrrepsArray.transform_by_log_coordinates``.

The rotation functions themselves live in ``e3xp.core`` (NumPy float64 by design);
what runs on every backend is the action of a rotation given by log coordinates on
an IrrepsArray of that backend. Checked against NumPy's ``transform_by_matrix``
(agreement), by group properties (inverse, composition, parity), under jit / grad /
autograd, and against e3nn-jax when installed.
"""

import numpy as np
import pytest

import e3xp
from e3xp import IrrepsArray

IRREPS = "2x0e + 1o + 0o + 2x2e + 1e + 3o"


def _tol(xp):
    return {"float64": 1e-12, "float32": 2e-5}[xp.dtype]


def _inputs(seed=0, batch=(4,)):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(batch + (e3xp.Irreps(IRREPS).dim,))
    v = e3xp.rand_log_coordinates(seed + 1, batch)
    v[0] *= 1e-9  # near the identity
    v[-1] *= (np.pi - 1e-6) / np.linalg.norm(v[-1])  # near a half turn
    return x, v


def test_transform_by_log_coordinates_agrees_with_numpy(xp):
    x, v = _inputs()
    xa = xp.irreps_array(IRREPS, x)
    expected = IrrepsArray(IRREPS, x).transform_by_matrix(e3xp.log_coordinates_to_matrix(v)).array
    for log in (v, xp.asarray(v)):  # the rotation as NumPy or as an array of the backend
        y = xa.transform_by_log_coordinates(log)
        assert y.backend.name == xa.backend.name and y.dtype == xa.dtype and y.irreps == xa.irreps
        np.testing.assert_allclose(xp.to_numpy(y), expected, atol=_tol(xp))
    # parity: k = 1 is the rotation times the inversion
    y = xa.transform_by_log_coordinates(v, k=1)
    expected = IrrepsArray(IRREPS, x).transform_by_matrix(-e3xp.log_coordinates_to_matrix(v)).array
    np.testing.assert_allclose(xp.to_numpy(y), expected, atol=_tol(xp))


def test_transform_by_log_coordinates_group_properties(xp):
    x, v = _inputs(2)
    _, w = _inputs(3)
    xa = xp.irreps_array(IRREPS, x)
    tol = _tol(xp)
    back = xa.transform_by_log_coordinates(v).transform_by_log_coordinates(e3xp.inverse_log_coordinates(v))
    np.testing.assert_allclose(xp.to_numpy(back), x, atol=10 * tol)
    twice = xa.transform_by_log_coordinates(w).transform_by_log_coordinates(v)
    once = xa.transform_by_log_coordinates(e3xp.compose_log_coordinates(v, w))
    np.testing.assert_allclose(xp.to_numpy(twice), xp.to_numpy(once), atol=10 * tol)
    # one rotation broadcasts over the leading axes
    one = xa.transform_by_log_coordinates(v[1])
    np.testing.assert_allclose(xp.to_numpy(one)[1], xp.to_numpy(xa.transform_by_log_coordinates(v))[1], atol=tol)
    with pytest.raises(ValueError, match=r"transform_by_log_coordinates: log_coordinates must have shape"):
        xa.transform_by_log_coordinates(np.zeros((4, 2)))


def test_transform_by_log_coordinates_under_jax(jax):
    import jax.numpy as jnp

    x, v = _inputs(4)
    f = lambda a: IrrepsArray(IRREPS, a).transform_by_log_coordinates(v).array  # noqa: E731
    eager = np.asarray(f(jnp.asarray(x)))
    np.testing.assert_allclose(np.asarray(jax.jit(f)(jnp.asarray(x))), eager, atol=1e-12)
    # vmap over rows, one rotation for all of them
    row = lambda a: IrrepsArray(IRREPS, a).transform_by_log_coordinates(v[0]).array  # noqa: E731
    expected = IrrepsArray(IRREPS, x).transform_by_log_coordinates(v[0]).array
    np.testing.assert_allclose(np.asarray(jax.vmap(row)(jnp.asarray(x))), expected, atol=1e-12)
    # the gradient of sum(D x) with respect to x is D^T 1
    g = jax.grad(lambda a: f(a).sum())(jnp.asarray(x))
    D = e3xp.Irreps(IRREPS).D_from_log_coordinates(v)
    np.testing.assert_allclose(np.asarray(g), np.einsum("bij,bi->bj", D, np.ones_like(x)), atol=1e-12)
    # the rotation itself must be concrete: a traced one is refused by name
    with pytest.raises(TypeError, match="transform_by_log_coordinates: log_coordinates is a JAX tracer"):
        jax.jit(lambda w: IrrepsArray(IRREPS, jnp.asarray(x)).transform_by_log_coordinates(w).array)(jnp.asarray(v))


def test_transform_by_log_coordinates_under_torch_autograd(torch):
    x, v = _inputs(5)
    xt = torch.tensor(x, requires_grad=True)
    y = IrrepsArray(IRREPS, xt).transform_by_log_coordinates(v).array
    y.sum().backward()
    D = e3xp.Irreps(IRREPS).D_from_log_coordinates(v)
    np.testing.assert_allclose(xt.grad.numpy(), np.einsum("bij,bi->bj", D, np.ones_like(x)), atol=1e-12)
    vt = torch.tensor(v, requires_grad=True)
    with pytest.raises(TypeError, match="transform_by_log_coordinates: log_coordinates requires grad"):
        IrrepsArray(IRREPS, xt).transform_by_log_coordinates(vt)


def test_transform_by_log_coordinates_matches_e3nnjax(xp):
    ej = pytest.importorskip("e3nn_jax")
    import jax.numpy as jnp

    x, v = _inputs(6)
    y = xp.to_numpy(xp.irreps_array(IRREPS, x).transform_by_log_coordinates(v, k=1))
    for i in range(len(v)):  # e3nn-jax's version takes one rotation at a time
        ref = ej.IrrepsArray(IRREPS, jnp.asarray(x[i])).transform_by_log_coordinates(jnp.asarray(v[i]), 1)
        np.testing.assert_allclose(y[i], np.asarray(ref.array, dtype=np.float64), atol=_tol(xp))
