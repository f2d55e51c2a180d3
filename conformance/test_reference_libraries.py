"""The operations against e3nn-jax 0.21 (and e3nn 0.6 for the Linear weight layout).

Skipped when the reference libraries are not installed; the other conformance
files check the same operations without them (equivariance, closed forms).
"""

import numpy as np
import pytest

from e3xp.irreps_array import IrrepsArray
from e3xp.ops import (
    Linear,
    elementwise_tensor_product,
    norm,
    scalar_activation,
    spherical_harmonics,
    tensor_product,
    tensor_square,
)

e3nn = pytest.importorskip("e3nn_jax")
jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy


def _pair(irreps, seed, leading=(3,)):
    """The same random features as an e3xp (numpy) and an e3nn-jax IrrepsArray."""
    dim = e3nn.Irreps(irreps).dim
    a = np.random.default_rng(seed).standard_normal(leading + (dim,))
    return IrrepsArray(irreps, a), e3nn.IrrepsArray(irreps, jnp.asarray(a))


def _same(ours, theirs, tol=1e-12):
    assert str(ours.irreps) == str(theirs.irreps)
    np.testing.assert_allclose(ours.array, np.asarray(theirs.array), rtol=tol, atol=tol)


@pytest.mark.parametrize("regroup_output", [True, False])
@pytest.mark.parametrize("irrep_normalization", [None, "norm"])
def test_tensor_product(regroup_output, irrep_normalization):
    x, xj = _pair("2x0e + 1o + 0e", 0)
    y, yj = _pair("1o + 2e + 0o", 1)
    kw = dict(irrep_normalization=irrep_normalization, regroup_output=regroup_output)
    _same(tensor_product(x, y, **kw), e3nn.tensor_product(xj, yj, **kw))
    kw["filter_ir_out"] = ["0e", "1o", "2e"]
    _same(tensor_product(x, y, **kw), e3nn.tensor_product(xj, yj, **kw))


def test_elementwise_tensor_product():
    x, xj = _pair("2x0e + 1o + 2e", 2)
    y, yj = _pair("1e + 0o + 2x1o", 3)
    _same(elementwise_tensor_product(x, y), e3nn.elementwise_tensor_product(xj, yj))
    _same(
        elementwise_tensor_product(x, y, filter_ir_out=["1o", "2o"], irrep_normalization="norm"),
        e3nn.elementwise_tensor_product(xj, yj, filter_ir_out=["1o", "2o"], irrep_normalization="norm"),
    )


@pytest.mark.parametrize("irrep_normalization", [None, "norm"])
def test_tensor_square(irrep_normalization):
    x, xj = _pair("2x0e + 1o + 3x1o + 2e", 4)
    _same(
        tensor_square(x, irrep_normalization=irrep_normalization),
        e3nn.tensor_square(xj, irrep_normalization=irrep_normalization),
    )


@pytest.mark.parametrize("normalization", ["component", "norm", "integral"])
@pytest.mark.parametrize("normalize", [True, False])
def test_spherical_harmonics(normalization, normalize):
    x, xj = _pair("1o", 5, (7,))
    for request in ([0, 1, 2, 3, 4], 3, "1o + 3o", [4, 0]):
        _same(
            spherical_harmonics(request, x, normalize, normalization),
            e3nn.spherical_harmonics(request, xj, normalize, normalization),
        )
    x, xj = _pair("1e", 6, (7,))
    _same(
        spherical_harmonics([0, 1, 2, 3], x, normalize, normalization),
        e3nn.spherical_harmonics([0, 1, 2, 3], xj, normalize, normalization),
    )


def test_irreps_array_manipulation():
    x, xj = _pair("1o + 0e + 2x1o + 0e + 2e", 7)
    _same(x.sort(), xj.sort())
    _same(x.regroup(), xj.regroup())
    _same(x.simplify(), xj.simplify())
    _same(x.filter(keep="0e + 2e"), xj.filter(keep="0e + 2e"))
    _same(x.filter(drop="1o"), xj.filter(drop="1o"))
    _same(x.filter(lmax=1), xj.filter(lmax=1))
    _same(2.0 * x - x / 4.0, 2.0 * xj - xj / 4.0)
    _same(x[1:], xj[1:])
    _same(x.reshape(3, 1, -1), xj.reshape((3, 1, -1)))


def test_norm():
    x, xj = _pair("2x0e + 1o + 2e", 8)
    _same(norm(x), e3nn.norm(xj))
    _same(norm(x, squared=True), e3nn.norm(xj, squared=True))
    _same(norm(x, per_irrep=False), e3nn.norm(xj, per_irrep=False))


def test_scalar_activation():
    x, xj = _pair("2x0e + 0o + 0o + 1o", 9)
    ours = scalar_activation(x, [np.tanh, np.tanh, np.cos, None])
    theirs = e3nn.scalar_activation(xj, [jnp.tanh, jnp.tanh, jnp.cos, None])
    # e3nn-jax estimates sqrt(E[f(z)^2]) from 1e6 Gaussian quantiles; e3xp integrates
    # it by quadrature, so the two agree to the accuracy of that estimate.
    _same(ours, theirs, tol=1e-5)


def test_linear_weight_layout_equals_e3nn_torch():
    """params["weight"] / ["bias"] are e3nn's o3.Linear weight / bias for (regrouped input, simplified output)."""
    o3 = pytest.importorskip("e3nn.o3")
    torch = pytest.importorskip("torch")
    x = IrrepsArray("8x0e + 4x1o + 3x0e + 1e", np.random.default_rng(10).standard_normal((5, 26)))
    lin = Linear("5x0e + 2x1o + 1o + 3x1e", biases=True)
    params = lin.init(3, x)
    params["bias"] = np.linspace(-1.0, 1.0, params["bias"].shape[0])
    ours = lin.apply(params, x)
    ref = o3.Linear(str(x.irreps.regroup()), str(lin.irreps_out), biases=True).to(torch.float64)
    assert ref.weight_numel == params["weight"].shape[0] and ref.bias_numel == params["bias"].shape[0]
    with torch.no_grad():
        ref.weight.copy_(torch.as_tensor(params["weight"]))
        ref.bias.copy_(torch.as_tensor(params["bias"]))
        theirs = ref(torch.as_tensor(np.asarray(x.regroup().array))).numpy()
    np.testing.assert_allclose(ours.array, theirs, rtol=1e-12, atol=1e-12)
