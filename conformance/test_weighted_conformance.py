"""Conformance of the network toolkit on every backend: FullyConnectedTensorProduct,
ChannelwiseTensorProduct, gate, norm_activation, soft_one_hot_linspace, scatter_sum.

For each backend of the ``xp`` fixture: O(3) equivariance (D matrices computed in
numpy, so only the operation runs on the backend), agreement with numpy, gradients
against central finite differences (torch, jax), jit / vmap / torch.compile equal
to eager, and the documented errors on bad input.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import pytest

from e3xp.backends import Backend, get_backend
from e3xp.core.irreps import Irreps
from e3xp.core.rotations import rand_matrix
from e3xp.irreps_array import IrrepsArray
from e3xp.ops.gate import gate, norm_activation
from e3xp.ops.linear import Linear
from e3xp.ops.radial import soft_one_hot_linspace
from e3xp.ops.weighted import ChannelwiseTensorProduct, FullyConnectedTensorProduct

BATCH = 4


# --------------------------------------------------------------------------- helpers


class Ctx(NamedTuple):
    be: Backend
    to: Callable  # numpy values -> array of the target (its dtype and device)
    eq_tol: float  # equivariance
    agree_tol: float  # agreement with float64 numpy


def _setup(xp) -> Ctx:
    """The ``xp`` fixture's Target (backend, dtype, device) as a Ctx."""
    eq_tol, agree_tol = {"float64": (1e-10, 1e-12), "float32": (2e-5, 2e-5)}[xp.dtype]

    def to(a, dtype=None):
        return xp.asarray(np.asarray(a), dtype=dtype)

    return Ctx(xp.backend, to, eq_tol, agree_tol)


def _numpy_ctx() -> Ctx:
    be = get_backend("numpy")
    return Ctx(be, lambda a, dtype=None: np.asarray(a, dtype=dtype or np.float64), 1e-10, 1e-12)


def _family(be: Backend) -> str:
    for name in ("torch", "jax", "numpy", "cupy"):
        if be.name == name or be.name.startswith(name + ":"):
            return name
    return be.name


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


def _case_fc(ctx, x, y, w=None):
    w = ctx.to(W_FC) if w is None else w
    return FC.apply({"weight": w}, IrrepsArray(FC.irreps_in1, x), IrrepsArray(FC.irreps_in2, y))


def _case_cw(ctx, x, y, w=None):
    w = ctx.to(W_CW) if w is None else w
    return CW.apply(w, IrrepsArray(CW.irreps_in1, x), IrrepsArray(CW.irreps_in2, y))


def _case_gate(ctx, x):
    return gate(IrrepsArray("6x0e + 2x0o + 2x1o + 1x1e + 1x2e", x))


def _case_norm_act(ctx, x):
    return norm_activation(IrrepsArray("2x0e + 2x1o + 1x2e", x), [None, "tanh", "sigmoid"])


def _case_scatter(ctx, x):
    data = IrrepsArray("2x0e + 1x1o + 1x2e", x)
    return IrrepsArray(data.irreps, ctx.be.scatter_sum(data.array, ctx.to(SEG, "int64"), N_SEG))


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
    ctx = _setup(xp)
    f, irreps_in, irreps_out = CASES[op]
    R = _g(sign, 7)
    xs = _inputs(irreps_in, 10)
    xs_rot = [x @ Irreps(ir).D_from_matrix(R).T for x, ir in zip(xs, irreps_in)]
    out = f(ctx, *[ctx.to(x) for x in xs])
    out_rot = f(ctx, *[ctx.to(x) for x in xs_rot])
    assert out.irreps == irreps_out
    expected = _np(ctx.be, out) @ Irreps(irreps_out).D_from_matrix(R).T
    np.testing.assert_allclose(_np(ctx.be, out_rot), expected, atol=ctx.eq_tol * max(1.0, np.abs(expected).max()))


@pytest.mark.parametrize("op", sorted(CASES))
def test_agrees_with_numpy(xp, op):
    ctx = _setup(xp)
    f, irreps_in, _ = CASES[op]
    xs = _inputs(irreps_in, 20)
    ref = f(_numpy_ctx(), *xs)
    got = f(ctx, *[ctx.to(x) for x in xs])
    assert got.irreps == ref.irreps
    np.testing.assert_allclose(_np(ctx.be, got), ref.array, rtol=ctx.agree_tol, atol=ctx.agree_tol)


@pytest.mark.parametrize("basis", ["gaussian", "cosine", "smooth_finite", "fourier", "bessel"])
def test_soft_one_hot_linspace_agrees_with_numpy(xp, basis):
    ctx = _setup(xp)
    r = np.concatenate([np.linspace(-0.3, 2.3, 27), [0.0, 2.0]])
    ref = soft_one_hot_linspace(r, 0.0, 2.0, 5, basis=basis, cutoff=True)
    got = soft_one_hot_linspace(ctx.to(r), 0.0, 2.0, 5, basis=basis, cutoff=True)
    np.testing.assert_allclose(_np(ctx.be, got), ref, rtol=ctx.agree_tol, atol=ctx.agree_tol)
    # invariance: the basis of |g v| equals the basis of |v| (|.| computed on the backend)
    v = _rand((6, 3), 30)
    R = _g(-1.0, 31)
    xpn = ctx.be.xp
    norm = lambda a: xpn.sqrt(xpn.sum(a * a, axis=-1))  # noqa: E731
    a = soft_one_hot_linspace(norm(ctx.to(v)), 0.0, 2.0, 5, basis=basis, cutoff=True)
    b = soft_one_hot_linspace(norm(ctx.to(v @ R.T)), 0.0, 2.0, 5, basis=basis, cutoff=True)
    np.testing.assert_allclose(_np(ctx.be, a), _np(ctx.be, b), atol=ctx.eq_tol * 10)


def test_scatter_sum_accumulates_repeated_indices(xp):
    ctx = _setup(xp)
    data = _rand((7, 4), 40)
    idx = np.array([1, 1, 1, 0, 3, 1, 3])
    expected = np.zeros((5, 4))
    np.add.at(expected, idx, data)  # independent: numpy's unbuffered accumulation
    got = ctx.be.scatter_sum(ctx.to(data), ctx.to(idx, "int64"), 5)
    np.testing.assert_allclose(_np(ctx.be, got), expected, rtol=ctx.agree_tol, atol=ctx.agree_tol)
    assert np.all(_np(ctx.be, got)[[2, 4]] == 0.0)


# --------------------------------------------------------------------------- gradients


def _loss_numpy(f, xs, c):
    return float(np.sum(c * f(_numpy_ctx(), *xs).array))


def _autodiff_grads(ctx, f, xs, c):
    """Gradients of sum(c * f(xs)) with the target's autodiff (float64)."""
    family = _family(ctx.be)
    if family == "torch":
        import torch

        ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
        loss = torch.sum(torch.tensor(c) * f(ctx, *ts).array)
        return [g.numpy() for g in torch.autograd.grad(loss, ts)]
    import jax
    import jax.numpy as jnp

    def loss(*arrs):
        return jnp.sum(jnp.asarray(c) * f(ctx, *arrs).array)

    # jit: one compilation of the whole graph is faster than eager op-by-op dispatch
    grads = jax.jit(jax.grad(loss, argnums=tuple(range(len(xs)))))(*[jnp.asarray(x) for x in xs])
    return [np.asarray(g) for g in grads]


@pytest.mark.parametrize("op", sorted(CASES))
def test_gradients_match_finite_differences(xp_ad, op):
    ctx = _setup(xp_ad)
    f, irreps_in, irreps_out = CASES[op]
    xs = _inputs(irreps_in, 50)
    n_out = N_SEG if op == "scatter_sum" else BATCH
    c = _rand((n_out, Irreps(irreps_out).dim), 51)
    grads = _autodiff_grads(ctx, f, xs, c)
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


def test_weight_gradients_match_finite_differences(xp_ad):
    ctx = _setup(xp_ad)
    x, y = _inputs([CW.irreps_in1, CW.irreps_in2], 60)
    c = _rand((BATCH, CW.irreps_out.dim), 61)

    def f(ctx_, w):
        return _case_cw(ctx_, ctx_.to(x), ctx_.to(y), w)

    (g,) = _autodiff_grads(ctx, f, [W_CW], c)
    h = 1e-6
    for idx in [(0, 0), (1, 5), (3, CW.weight_numel - 1)]:
        wp, wm = W_CW.copy(), W_CW.copy()
        wp[idx] += h
        wm[idx] -= h
        fd = (_loss_numpy(f, [wp], c) - _loss_numpy(f, [wm], c)) / (2 * h)
        assert abs(fd - g[idx]) < 1e-6 * max(1.0, abs(fd))


# --------------------------------------------------------------------------- jit / vmap / compile


def test_jax_jit_and_vmap(xp_ad):
    ctx = _setup(xp_ad)
    if _family(ctx.be) != "jax":
        pytest.skip("jax only")
    import jax
    import jax.numpy as jnp

    for op in ("ChannelwiseTensorProduct", "gate", "scatter_sum"):
        f, irreps_in, _ = CASES[op]
        xs = [jnp.asarray(x) for x in _inputs(irreps_in, 70)]
        eager = f(ctx, *xs).array
        jitted = jax.jit(lambda *a, f=f: f(ctx, *a).array)(*xs)
        np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), atol=1e-13)
    # vmap over samples with per-sample weights == the batched call
    x, y = (jnp.asarray(a) for a in _inputs([CW.irreps_in1, CW.irreps_in2], 71))
    w = jnp.asarray(W_CW)

    def one(w1, x1, y1):
        return CW.apply(w1, IrrepsArray(CW.irreps_in1, x1), IrrepsArray(CW.irreps_in2, y1)).array

    np.testing.assert_allclose(np.asarray(jax.vmap(one)(w, x, y)), np.asarray(one(w, x, y)), atol=1e-13)
    r = jnp.linspace(0.0, 2.0, 9)
    np.testing.assert_allclose(
        np.asarray(jax.vmap(lambda t: soft_one_hot_linspace(t, 0.0, 2.0, 4, basis="bessel", cutoff=True))(r)),
        np.asarray(soft_one_hot_linspace(r, 0.0, 2.0, 4, basis="bessel", cutoff=True)),
        atol=1e-14,
    )


def test_torch_compile_fullgraph_equals_eager(xp_ad):
    ctx = _setup(xp_ad)
    if _family(ctx.be) != "torch":
        pytest.skip("torch only")
    import torch

    tp = ChannelwiseTensorProduct("2x0e + 1x1o", "0e + 1o", "0e + 1o")
    x, y = _rand((3, 5), 80), _rand((3, 4), 81)
    w = _rand((3, tp.weight_numel), 82)
    r = np.array([0.3, 1.1, 1.9])
    seg = torch.tensor([0, 1, 0])
    be = ctx.be

    def f(x, y, w, r):
        m = tp.apply(w, IrrepsArray(tp.irreps_in1, x), IrrepsArray(tp.irreps_in2, y))
        g = gate(IrrepsArray(m.irreps, m.array * soft_one_hot_linspace(r, 0.0, 2.0, 1, "smooth_finite", True)))
        return be.scatter_sum(g.array, seg, 2)

    args = [torch.tensor(a) for a in (x, y, w, r)]
    eager = f(*args)
    compiled = torch.compile(f, fullgraph=True)(*args)
    np.testing.assert_allclose(compiled.numpy(), eager.numpy(), atol=1e-13)


# --------------------------------------------------------------------------- parameters


def test_params_convention(xp):
    """init returns {"weight": ...} (plus "bias" for Linear with biases) on the inputs' backend,
    dtype and device, with numpy's numbers for the same seed; apply takes that dict (the
    channelwise product also the bare per-sample array); the old forms are TypeErrors."""
    ctx = _setup(xp)
    values = {name: _rand((2, ir.dim), 94 + k) for k, (name, ir) in enumerate(
        [("x", FC.irreps_in1), ("y", FC.irreps_in2), ("z", CW.irreps_in1), ("s", CW.irreps_in2)]
    )}
    irreps = {"x": FC.irreps_in1, "y": FC.irreps_in2, "z": CW.irreps_in1, "s": CW.irreps_in2}
    cases = [
        (Linear("2x0e + 1o + 1e", biases=True), "x", ["bias", "weight"]),
        (Linear("3x1o"), "x", ["weight"]),
        (FC, "xy", ["weight"]),
        (FullyConnectedTensorProduct("0e + 2x1o"), "xy", ["weight"]),  # layout from the inputs
        (CW, "zs", ["weight"]),
    ]
    for layer, names, keys in cases:
        here = [IrrepsArray(irreps[n], ctx.to(values[n])) for n in names]
        ref_inputs = [IrrepsArray(irreps[n], values[n]) for n in names]
        params, ref = layer.init(3, *here), layer.init(3, *ref_inputs)
        assert sorted(params) == keys, layer
        for k in keys:
            assert ctx.be.is_array(params[k]) and params[k].dtype == here[0].dtype
            assert str(ctx.be.device(params[k])) == str(here[0].device)
            np.testing.assert_allclose(_np(ctx.be, params[k]), ref[k], rtol=ctx.agree_tol, atol=ctx.agree_tol)
        expected = layer.apply(ref, *ref_inputs).array
        for p in (params, params["weight"]) if layer is CW else (params,):
            got = _np(ctx.be, layer.apply(p, *here))
            np.testing.assert_allclose(got, expected, rtol=ctx.agree_tol, atol=ctx.agree_tol)
        old = {"w": params["weight"], **({"b": params["bias"]} if "bias" in params else {})}
        with pytest.raises(TypeError, match="old keys 'w'"):
            layer.apply(old, *here)
        if layer is not CW:
            with pytest.raises(TypeError, match="got a bare"):
                layer.apply(params["weight"], *here)


# --------------------------------------------------------------------------- bad input


def test_bad_input(xp):
    ctx = _setup(xp)
    be, to = ctx.be, ctx.to
    x = IrrepsArray(FC.irreps_in1, to(_rand((2, FC.irreps_in1.dim), 90)))
    y = IrrepsArray(FC.irreps_in2, to(_rand((2, FC.irreps_in2.dim), 91)))
    with pytest.raises(ValueError, match=rf"do not match weight_numel={FC.weight_numel}"):
        FC.apply({"weight": to(np.ones(FC.weight_numel + 1))}, x, y)
    with pytest.raises(TypeError):
        FC.apply({"weight": to(np.ones(FC.weight_numel), "int64")}, x, y)
    with pytest.raises(ValueError, match="but this layer was built for"):
        FC.apply({"weight": to(W_FC)}, y, x)
    with pytest.raises(ValueError, match="but this layer was built for"):
        CW.apply(to(W_CW), x, y)
    z = IrrepsArray(CW.irreps_in1, to(_rand((2, CW.irreps_in1.dim), 92)))
    s = IrrepsArray(CW.irreps_in2, to(_rand((2, CW.irreps_in2.dim), 93)))
    with pytest.raises(ValueError, match=rf"do not match weight_numel={CW.weight_numel}"):
        CW.apply(to(np.ones((2, CW.weight_numel - 1))), z, s)
    if _family(be) != "numpy":
        with pytest.raises((TypeError, ValueError)):  # numpy weights with another framework's inputs
            CW.apply(np.ones((2, CW.weight_numel)), z, s)
    with pytest.raises(ValueError, match="scalar channels but"):
        gate(IrrepsArray("1x0e + 2x1o", to(np.ones(7))))
    with pytest.raises(ValueError, match="activations for the"):
        norm_activation(IrrepsArray("0e + 1o", to(np.ones(4))), ["tanh"])
    with pytest.raises(TypeError, match="real floating-point"):
        soft_one_hot_linspace(to(np.arange(3), "int64"), 0.0, 1.0, 3, basis="gaussian", cutoff=True)
    with pytest.raises(ValueError, match="out of range"):
        be.scatter_sum(to(np.ones((3, 2))), to(np.array([0, 3, 1]), "int64"), 3)
    with pytest.raises(ValueError, match="out of range"):
        be.scatter_sum(to(np.ones((3, 2))), to(np.array([0, -1, 1]), "int64"), 3)
