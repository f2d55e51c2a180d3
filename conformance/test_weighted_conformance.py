"""Conformance of the network toolkit on every backend: FullyConnectedTensorProduct,
ChannelwiseTensorProduct, gate, norm_activation, soft_one_hot_linspace, scatter_sum.

For each backend of the ``xp`` fixture: O(3) equivariance (D matrices computed in
numpy, so only the operation runs on the backend), agreement with numpy, gradients
against central finite differences (torch, jax), jit / vmap / torch.compile equal
to eager, and the documented errors on bad input.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from e3xp.backends import Backend, get_backend
from e3xp.core.irreps import Irreps
from e3xp.core.rotations import rand_matrix
from e3xp.irreps_array import IrrepsArray
from e3xp.ops.gate import gate, norm_activation
from e3xp.ops.radial import soft_one_hot_linspace
from e3xp.ops.weighted import ChannelwiseTensorProduct, FullyConnectedTensorProduct

BATCH = 4


# --------------------------------------------------------------------------- helpers


def _backend(xp) -> Backend:
    if isinstance(xp, Backend):
        return xp
    if isinstance(xp, str):
        return get_backend(xp)
    for attr in ("backend", "name"):
        value = getattr(xp, attr, None)
        if isinstance(value, Backend):
            return value
        if isinstance(value, str):
            return get_backend(value)
    raise TypeError(f"cannot resolve the xp fixture value {xp!r} into an e3xp Backend")


def _family(be: Backend) -> str:
    for name in ("torch", "jax", "numpy", "cupy"):
        if be.name == name or be.name.startswith(name + ":"):
            return name
    return be.name


def _float(be: Backend):
    """(dtype name, tolerance scale): float64 where the backend holds it."""
    if _family(be) == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
    try:
        be.float_dtype("float64")
        return "float64", 1.0
    except (TypeError, ValueError):
        return "float32", 1e5


def _to(be, a, dtype="float64"):
    return be.asarray(np.asarray(a), dtype=dtype)


def _np(be, a) -> np.ndarray:
    if isinstance(a, IrrepsArray):
        a = a.array
    return np.asarray(be.to_numpy(a), dtype=np.float64)


def _rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def _g(sign, seed):
    return sign * np.asarray(rand_matrix(seed))


# Each case: inputs (irreps, numpy array) and a function of backend arrays -> IrrepsArray.
FC = FullyConnectedTensorProduct("2x0e + 1x1o + 1x1e + 1x2o", "3x0e + 2x1o + 1x1e", "0e + 1o + 2e")
CW = ChannelwiseTensorProduct("3x0e + 2x1o + 2x2e", "0e + 1o + 2e + 3o", "0e + 1o + 2e + 3o")
W_FC = _rand((FC.weight_numel,), 100)
W_CW = _rand((BATCH, CW.weight_numel), 101)
SEG = np.array([0, 2, 2, 1, 0, 2][:BATCH] + [2] * max(0, BATCH - 6))
N_SEG = 3


def _case_fc(be, dtype, x, y, w=None):
    w = _to(be, W_FC, dtype) if w is None else w
    return FC.apply(w, IrrepsArray(FC.irreps_in1, x), IrrepsArray(FC.irreps_in2, y))


def _case_cw(be, dtype, x, y, w=None):
    w = _to(be, W_CW, dtype) if w is None else w
    return CW.apply(w, IrrepsArray(CW.irreps_in1, x), IrrepsArray(CW.irreps_in2, y))


def _case_gate(be, dtype, x):
    return gate(IrrepsArray("6x0e + 2x0o + 2x1o + 1x1e + 1x2e", x))


def _case_norm_act(be, dtype, x):
    return norm_activation(IrrepsArray("2x0e + 2x1o + 1x2e", x), [None, "tanh", "sigmoid"])


def _case_scatter(be, dtype, x):
    data = IrrepsArray("2x0e + 1x1o + 1x2e", x)
    return IrrepsArray(data.irreps, be.scatter_sum(data.array, _to(be, SEG, "int64"), N_SEG))


CASES = {
    "FullyConnectedTensorProduct": (_case_fc, [FC.irreps_in1, FC.irreps_in2], FC.irreps_out),
    "ChannelwiseTensorProduct": (_case_cw, [CW.irreps_in1, CW.irreps_in2], CW.irreps_out),
    "gate": (_case_gate, [Irreps("6x0e + 2x0o + 2x1o + 1x1e + 1x2e")], gate("6x0e + 2x0o + 2x1o + 1x1e + 1x2e")),
    "norm_activation": (_case_norm_act, [Irreps("2x0e + 2x1o + 1x2e")], Irreps("2x0e + 2x1o + 1x2e")),
    "scatter_sum": (_case_scatter, [Irreps("2x0e + 1x1o + 1x2e")], Irreps("2x0e + 1x1o + 1x2e")),
}


def _inputs(irreps_list, seed):
    return [_rand((BATCH, Irreps(ir).dim), seed + k) for k, ir in enumerate(irreps_list)]


# --------------------------------------------------------------------------- equivariance + agreement


@pytest.mark.parametrize("op", sorted(CASES))
@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["rotation", "rotation_x_inversion"])
def test_equivariance(xp, op, sign):
    be = _backend(xp)
    dtype, scale = _float(be)
    f, irreps_in, irreps_out = CASES[op]
    R = _g(sign, 7)
    xs = _inputs(irreps_in, 10)
    xs_rot = [x @ Irreps(ir).D_from_matrix(R).T for x, ir in zip(xs, irreps_in)]
    out = f(be, dtype, *[_to(be, x, dtype) for x in xs])
    out_rot = f(be, dtype, *[_to(be, x, dtype) for x in xs_rot])
    assert out.irreps == irreps_out
    expected = _np(be, out) @ Irreps(irreps_out).D_from_matrix(R).T
    np.testing.assert_allclose(_np(be, out_rot), expected, atol=1e-10 * scale)


@pytest.mark.parametrize("op", sorted(CASES))
def test_agrees_with_numpy(xp, op):
    be = _backend(xp)
    dtype, scale = _float(be)
    f, irreps_in, _ = CASES[op]
    xs = _inputs(irreps_in, 20)
    ref = f(get_backend("numpy"), "float64", *xs)
    got = f(be, dtype, *[_to(be, x, dtype) for x in xs])
    assert got.irreps == ref.irreps
    np.testing.assert_allclose(_np(be, got), ref.array, rtol=1e-12 * scale, atol=1e-12 * scale)


@pytest.mark.parametrize("basis", ["gaussian", "cosine", "smooth_finite", "fourier", "bessel"])
def test_soft_one_hot_linspace_agrees_with_numpy(xp, basis):
    be = _backend(xp)
    dtype, scale = _float(be)
    r = np.concatenate([np.linspace(-0.3, 2.3, 27), [0.0, 2.0]])
    ref = soft_one_hot_linspace(r, 0.0, 2.0, 5, basis=basis, cutoff=True)
    got = soft_one_hot_linspace(_to(be, r, dtype), 0.0, 2.0, 5, basis=basis, cutoff=True)
    np.testing.assert_allclose(_np(be, got), ref, atol=1e-12 * scale)
    # invariance: the basis of |R v| equals the basis of |v| (|.| computed on the backend)
    v = _rand((6, 3), 30)
    R = _g(-1.0, 31)
    xpn = be.xp
    norm = lambda a: xpn.sqrt(xpn.sum(a * a, axis=-1))  # noqa: E731
    a = soft_one_hot_linspace(norm(_to(be, v, dtype)), 0.0, 2.0, 5, basis=basis, cutoff=True)
    b = soft_one_hot_linspace(norm(_to(be, v @ R.T, dtype)), 0.0, 2.0, 5, basis=basis, cutoff=True)
    np.testing.assert_allclose(_np(be, a), _np(be, b), atol=1e-12 * scale)


def test_scatter_sum_accumulates_repeated_indices(xp):
    be = _backend(xp)
    dtype, scale = _float(be)
    data = _rand((7, 4), 40)
    idx = np.array([1, 1, 1, 0, 3, 1, 3])
    expected = np.zeros((5, 4))
    np.add.at(expected, idx, data)  # independent: numpy's unbuffered accumulation
    got = be.scatter_sum(_to(be, data, dtype), _to(be, idx, "int64"), 5)
    np.testing.assert_allclose(_np(be, got), expected, atol=1e-12 * scale)
    assert np.all(_np(be, got)[[2, 4]] == 0.0)


# --------------------------------------------------------------------------- gradients


def _loss_numpy(f, xs, c):
    return float(np.sum(c * f(get_backend("numpy"), "float64", *xs).array))


def _autodiff_grads(be, f, xs, c):
    family = _family(be)
    if family == "torch":
        import torch

        ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
        loss = torch.sum(torch.tensor(c) * f(be, "float64", *ts).array)
        return [g.numpy() for g in torch.autograd.grad(loss, ts)]
    if family == "jax":
        import jax
        import jax.numpy as jnp

        def loss(*arrs):
            return jnp.sum(jnp.asarray(c) * f(be, "float64", *arrs).array)

        grads = jax.grad(loss, argnums=tuple(range(len(xs))))(*[jnp.asarray(x) for x in xs])
        return [np.asarray(g) for g in grads]
    pytest.skip(f"backend {be.name!r} has no autodiff")


@pytest.mark.parametrize("op", sorted(CASES))
def test_gradients_match_finite_differences(xp, op):
    be = _backend(xp)
    if _family(be) not in ("torch", "jax"):
        pytest.skip(f"backend {be.name!r} has no autodiff")
    _float(be)
    f, irreps_in, irreps_out = CASES[op]
    xs = _inputs(irreps_in, 50)
    n_out = N_SEG if op == "scatter_sum" else BATCH
    c = _rand((n_out, Irreps(irreps_out).dim), 51)
    grads = _autodiff_grads(be, f, xs, c)
    h = 1e-6
    rng = np.random.default_rng(52)
    for k, x in enumerate(xs):
        for _ in range(6):
            idx = tuple(rng.integers(0, s) for s in x.shape)
            plus = [a.copy() for a in xs]
            minus = [a.copy() for a in xs]
            plus[k][idx] += h
            minus[k][idx] -= h
            fd = (_loss_numpy(f, plus, c) - _loss_numpy(f, minus, c)) / (2 * h)
            assert abs(fd - grads[k][idx]) < 1e-6 * max(1.0, abs(fd)), (op, k, idx, fd, grads[k][idx])


def test_weight_gradients_match_finite_differences(xp):
    be = _backend(xp)
    if _family(be) not in ("torch", "jax"):
        pytest.skip(f"backend {be.name!r} has no autodiff")
    _float(be)
    x, y = _inputs(CW.irreps_in1 + CW.irreps_in2 and [CW.irreps_in1, CW.irreps_in2], 60)
    c = _rand((BATCH, CW.irreps_out.dim), 61)

    def f(be_, dtype, w):
        xx, yy = _to(be_, x, dtype), _to(be_, y, dtype)
        if _family(be_) == "torch":
            xx, yy = xx.to(w.dtype), yy.to(w.dtype)
        return _case_cw(be_, dtype, xx, yy, w)

    (g,) = _autodiff_grads(be, f, [W_CW], c)
    h = 1e-6
    for idx in [(0, 0), (1, 5), (3, CW.weight_numel - 1)]:
        wp, wm = W_CW.copy(), W_CW.copy()
        wp[idx] += h
        wm[idx] -= h
        fd = (_loss_numpy(f, [wp], c) - _loss_numpy(f, [wm], c)) / (2 * h)
        assert abs(fd - g[idx]) < 1e-6 * max(1.0, abs(fd))


# --------------------------------------------------------------------------- jit / vmap / compile


def test_jax_jit_and_vmap(xp):
    be = _backend(xp)
    if _family(be) != "jax":
        pytest.skip("jax only")
    import jax
    import jax.numpy as jnp

    _float(be)
    for op in ("ChannelwiseTensorProduct", "gate", "scatter_sum"):
        f, irreps_in, _ = CASES[op]
        xs = [jnp.asarray(x) for x in _inputs(irreps_in, 70)]
        eager = f(be, "float64", *xs).array
        jitted = jax.jit(lambda *a, f=f: f(be, "float64", *a).array)(*xs)
        np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), atol=1e-13)
    # vmap over samples with per-sample weights == the batched call
    x, y = (jnp.asarray(a) for a in _inputs([CW.irreps_in1, CW.irreps_in2], 71))
    w = jnp.asarray(W_CW)

    def one(w1, x1, y1):
        return CW.apply(w1, IrrepsArray(CW.irreps_in1, x1), IrrepsArray(CW.irreps_in2, y1)).array

    np.testing.assert_allclose(
        np.asarray(jax.vmap(one)(w, x, y)), np.asarray(one(w, x, y)), atol=1e-13
    )
    # vmap of the radial basis and of the gate
    r = jnp.linspace(0.0, 2.0, 9)
    np.testing.assert_allclose(
        np.asarray(jax.vmap(lambda t: soft_one_hot_linspace(t, 0.0, 2.0, 4, basis="bessel", cutoff=True))(r)),
        np.asarray(soft_one_hot_linspace(r, 0.0, 2.0, 4, basis="bessel", cutoff=True)),
        atol=1e-14,
    )


def test_torch_compile_fullgraph_equals_eager(xp):
    be = _backend(xp)
    if _family(be) != "torch":
        pytest.skip("torch only")
    import torch

    tp = ChannelwiseTensorProduct("2x0e + 1x1o", "0e + 1o", "0e + 1o")
    x, y = _rand((3, 5), 80), _rand((3, 4), 81)
    w = _rand((3, tp.weight_numel), 82)
    r = np.array([0.3, 1.1, 1.9])
    seg = torch.tensor([0, 1, 0])

    def f(x, y, w, r):
        m = tp.apply(w, IrrepsArray(tp.irreps_in1, x), IrrepsArray(tp.irreps_in2, y))
        g = gate(IrrepsArray(m.irreps, m.array * soft_one_hot_linspace(r, 0.0, 2.0, 1, "smooth_finite", True)))
        return be.scatter_sum(g.array, seg, 2)

    args = [torch.tensor(a) for a in (x, y, w, r)]
    eager = f(*args)
    compiled = torch.compile(f, fullgraph=True)(*args)
    np.testing.assert_allclose(compiled.numpy(), eager.numpy(), atol=1e-13)


# --------------------------------------------------------------------------- bad input


def test_bad_input(xp):
    be = _backend(xp)
    dtype, _ = _float(be)
    x = IrrepsArray(FC.irreps_in1, _to(be, _rand((2, FC.irreps_in1.dim), 90), dtype))
    y = IrrepsArray(FC.irreps_in2, _to(be, _rand((2, FC.irreps_in2.dim), 91), dtype))
    with pytest.raises(ValueError, match=rf"do not match weight_numel={FC.weight_numel}"):
        FC.apply(_to(be, np.ones(FC.weight_numel + 1), dtype), x, y)
    with pytest.raises(TypeError):
        FC.apply(_to(be, np.ones(FC.weight_numel, dtype=np.int64), "int64"), x, y)
    with pytest.raises(ValueError, match="but this layer was built for"):
        FC.apply(_to(be, W_FC, dtype), y, x)
    with pytest.raises(ValueError, match="but this layer was built for"):
        CW.apply(_to(be, W_CW, dtype), x, y)
    z = IrrepsArray(CW.irreps_in1, _to(be, _rand((2, CW.irreps_in1.dim), 92), dtype))
    s = IrrepsArray(CW.irreps_in2, _to(be, _rand((2, CW.irreps_in2.dim), 93), dtype))
    with pytest.raises(ValueError, match=rf"do not match weight_numel={CW.weight_numel}"):
        CW.apply(_to(be, np.ones((2, CW.weight_numel - 1)), dtype), z, s)
    if _family(be) != "numpy":
        with pytest.raises((TypeError, ValueError)):  # numpy weights with another framework's inputs
            CW.apply(np.ones((2, CW.weight_numel)), z, s)
    with pytest.raises(ValueError, match="scalar channels but"):
        gate(IrrepsArray("1x0e + 2x1o", _to(be, np.ones(7), dtype)))
    with pytest.raises(ValueError, match="activations for the"):
        norm_activation(IrrepsArray("0e + 1o", _to(be, np.ones(4), dtype)), ["tanh"])
    with pytest.raises(TypeError, match="real floating-point"):
        soft_one_hot_linspace(_to(be, np.arange(3), "int64"), 0.0, 1.0, 3, basis="gaussian", cutoff=True)
    with pytest.raises(ValueError, match="out of range"):
        be.scatter_sum(_to(be, np.ones((3, 2)), dtype), _to(be, np.array([0, 3, 1]), "int64"), 3)
    with pytest.raises(ValueError, match="out of range"):
        be.scatter_sum(_to(be, np.ones((3, 2)), dtype), _to(be, np.array([0, -1, 1]), "int64"), 3)
