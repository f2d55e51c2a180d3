"""Tests of e3xp.ops.weighted: e3nn comparisons (same flat weights), hand derivations,
and second derivatives (forces, then gradients of a force loss) on torch and jax."""

import math

import numpy as np
import pytest

from e3xp.core.irreps import Irreps
from e3xp.irreps_array import IrrepsArray
from e3xp.ops.weighted import ChannelwiseTensorProduct, FullyConnectedTensorProduct

FCTP_CASES = [
    ("2x0e + 3x1o + 1x2e", "0e + 1o + 1e", "3x0e + 2x1o + 1x1e + 2x2e", "component", "element"),
    ("1o + 2x0e + 1o", "1o + 0e", "0e + 1e + 1o + 2x0e", "norm", "element"),
    ("1o + 2x0e + 1o", "1o + 0e", "0e + 1e + 1o + 2x0e", "component", "path"),
    ("8x0e + 8x1o + 8x2e", "0e + 1o + 2e + 3o", "8x0e + 8x1o + 8x2e + 8x3o", "component", "element"),
]
CW_CASES = [
    ("8x0e + 8x1o + 8x2e", "0e + 1o + 2e + 3o", "0e + 1o + 2e + 3o"),  # MACE-like
    ("3x0e + 2x1o + 2x1e", "0e + 1o + 2e", None),  # both parities at l = 1, 2
    ("4x0e + 3x1o", "2x0e + 1o", "0e + 1o + 1e"),  # mul2 > 1: (mul1, mul2) blocks
]


def _rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def _e3xp_sort_key(ir):
    # e3nn-jax order 0e, 0o, 1o, 1e, 2e, 2o: parity (-1)^l first
    return (ir.l, 0 if ir.p == (-1) ** ir.l else 1)


def _mace_instructions(o3, irreps_in1, irreps_in2, filter_ir_out):
    """MACE's tp_out_irreps_with_instructions, with e3xp's (e3nn-jax) irrep order."""
    irreps_in1, irreps_in2 = o3.Irreps(irreps_in1), o3.Irreps(irreps_in2)
    keep = None if filter_ir_out is None else [ir for _, ir in o3.Irreps(filter_ir_out)]
    out, instr = [], []
    for i, (mul, ir1) in enumerate(irreps_in1):
        for j, (_, ir2) in enumerate(irreps_in2):
            for ir_out in ir1 * ir2:
                if keep is None or ir_out in keep:
                    instr.append((i, j, len(out), "uvu", True))
                    out.append((mul, ir_out))
    order = sorted(range(len(out)), key=lambda k: _e3xp_sort_key(out[k][1]))
    new_index = {old: new for new, old in enumerate(order)}
    instr = sorted([(i, j, new_index[k], m, t) for i, j, k, m, t in instr], key=lambda t: t[2])
    return o3.Irreps([out[k] for k in order]), instr


@pytest.fixture(scope="module")
def e3nn_o3():
    torch = pytest.importorskip("torch")
    pytest.importorskip("e3nn")
    from e3nn import o3

    torch.set_default_dtype(torch.float64)
    yield o3
    torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize("i1,i2,io,inorm,pnorm", FCTP_CASES)
def test_fully_connected_matches_e3nn(e3nn_o3, i1, i2, io, inorm, pnorm):
    import torch

    ref = e3nn_o3.FullyConnectedTensorProduct(
        i1, i2, io, irrep_normalization=inorm, path_normalization=pnorm, internal_weights=False, shared_weights=False
    )
    tp = FullyConnectedTensorProduct(io, irrep_normalization=inorm, path_normalization=pnorm)
    x, y = _rand((6, Irreps(i1).dim), 0), _rand((6, Irreps(i2).dim), 1)
    w0 = tp.init(3, IrrepsArray(i1, x), IrrepsArray(i2, y))["weight"]
    assert ref.weight_numel == w0.shape[0]
    w = _rand((6, ref.weight_numel), 2)
    got = tp.apply({"weight": w}, IrrepsArray(i1, x), IrrepsArray(i2, y))
    assert got.irreps == Irreps(io)
    expected = ref(torch.tensor(x), torch.tensor(y), torch.tensor(w)).detach().numpy()
    np.testing.assert_allclose(got.array, expected, rtol=0, atol=1e-12)
    # shared weights: the same as repeating them per sample
    got = tp.apply({"weight": w0}, IrrepsArray(i1, x), IrrepsArray(i2, y)).array
    expected = ref(torch.tensor(x), torch.tensor(y), torch.tensor(np.broadcast_to(w0, w.shape).copy()))
    np.testing.assert_allclose(got, expected.detach().numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("i1,i2,filt", CW_CASES)
def test_channelwise_matches_e3nn(e3nn_o3, i1, i2, filt):
    import torch

    irreps_out, instr = _mace_instructions(e3nn_o3, i1, i2, filt)
    ref = e3nn_o3.TensorProduct(i1, i2, irreps_out, instr, shared_weights=False, internal_weights=False)
    tp = ChannelwiseTensorProduct(i1, i2, filter_ir_out=filt)
    assert str(tp.irreps_out) == str(irreps_out).replace(" ", "")
    assert tp.weight_numel == ref.weight_numel
    x, y, w = _rand((7, Irreps(i1).dim), 4), _rand((7, Irreps(i2).dim), 5), _rand((7, tp.weight_numel), 6)
    got = tp.apply(w, IrrepsArray(i1, x), IrrepsArray(i2, y)).array
    expected = ref(torch.tensor(x), torch.tensor(y), torch.tensor(w)).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_fully_connected_by_hand():
    # 2x0e x 3x0e -> 2x0e, one path, fan_in = 2*3: out[w] = sum_uv W[u, v, w] x_u y_v / sqrt(6)
    tp = FullyConnectedTensorProduct("2x0e", "2x0e", "3x0e")
    x, y = np.array([1.0, -2.0]), np.array([0.5, 3.0, -1.0])
    W = np.arange(12.0).reshape(2, 3, 2)
    got = tp.apply({"weight": W.reshape(-1)}, IrrepsArray("2x0e", x), IrrepsArray("3x0e", y)).array
    np.testing.assert_allclose(got, np.einsum("uvw,u,v->w", W, x, y) / math.sqrt(6), rtol=1e-15)
    # 1o x 1o -> 0e + 1e with unit weights: x.y / sqrt(3) and (x cross y) / sqrt(2)
    tp = FullyConnectedTensorProduct("0e + 1e", "1o", "1o")
    a, b = np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.5, 2.0])
    got = tp.apply({"weight": np.ones(2)}, IrrepsArray("1o", a), IrrepsArray("1o", b)).array
    np.testing.assert_allclose(got[0], a @ b / math.sqrt(3), rtol=1e-15)
    np.testing.assert_allclose(got[1:], np.cross(a, b) / math.sqrt(2), rtol=1e-14)


def test_channelwise_by_hand():
    # 2x1o x 1x0e -> 2x1o ("uvu", fan_in = mul2 = 1): out[u] = W[u] y x_u
    tp = ChannelwiseTensorProduct("2x1o", "0e")
    x, y, w = np.arange(6.0), np.array([1.5]), np.array([2.0, -1.0])
    got = tp.apply(w, IrrepsArray("2x1o", x), IrrepsArray("0e", y)).array
    np.testing.assert_allclose(got, np.concatenate([2.0 * 1.5 * x[:3], -1.0 * 1.5 * x[3:]]), rtol=1e-15)


def test_output_second_moment_is_one():
    # with N(0, 1) weights and component-normalized N(0, 1) inputs, E[out^2] ~ 1
    i1, i2, io = "4x0e + 4x1o + 2x2e", "0e + 1o + 2e", "4x0e + 4x1o + 4x2e"
    tp = FullyConnectedTensorProduct(io, i1, i2)
    x, y = _rand((4000, Irreps(i1).dim), 7), _rand((4000, Irreps(i2).dim), 8)
    w = _rand((4000, tp.weight_numel), 9)  # fresh weights per sample: exact expectation 1
    out = tp.apply({"weight": w}, IrrepsArray(i1, x), IrrepsArray(i2, y)).array
    assert abs(np.mean(out**2) - 1.0) < 0.05


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_equivariance_numpy(sign):
    from e3xp.core.rotations import rand_matrix

    R = sign * np.asarray(rand_matrix(11))
    i1, i2 = "3x0e + 2x1o + 1x2e", "0e + 1o + 2e + 3o"
    x, y = IrrepsArray(i1, _rand((4, Irreps(i1).dim), 12)), IrrepsArray(i2, _rand((4, Irreps(i2).dim), 13))
    tp = ChannelwiseTensorProduct(i1, i2, "0e + 1o + 2e + 1e")
    w = _rand((4, tp.weight_numel), 14)
    lhs = tp.apply(w, x.transform_by_matrix(R), y.transform_by_matrix(R)).array
    rhs = tp.apply(w, x, y).transform_by_matrix(R).array
    np.testing.assert_allclose(lhs, rhs, atol=1e-12)
    fc = FullyConnectedTensorProduct("2x0e + 2x1o + 1x1e + 2x2o", i1, i2)
    w = fc.init(0, x, y)
    np.testing.assert_allclose(
        fc.apply(w, x.transform_by_matrix(R), y.transform_by_matrix(R)).array,
        fc.apply(w, x, y).transform_by_matrix(R).array,
        atol=1e-12,
    )


def test_broadcasting_and_per_sample_weights():
    tp = ChannelwiseTensorProduct("2x0e + 1o", "0e + 1o")
    x, y = _rand((5, 5), 15), _rand((4,), 16)
    w = _rand((5, tp.weight_numel), 17)
    got = tp.apply(w, IrrepsArray(tp.irreps_in1, x), IrrepsArray(tp.irreps_in2, y)).array
    for n in range(5):
        row = tp.apply(w[n], IrrepsArray(tp.irreps_in1, x[n]), IrrepsArray(tp.irreps_in2, y)).array
        np.testing.assert_allclose(got[n], row, rtol=1e-15)


def test_bad_input():
    x, y = IrrepsArray("2x0e + 3x1o", _rand(11, 0)), IrrepsArray("0e + 1o", _rand(4, 1))
    tp = FullyConnectedTensorProduct("1x0e + 1x1o")
    w = tp.init(0, x, y)
    n = w["weight"].shape[0]  # 2*1*1 + 2*1*1 + 3*1*1 + 3*1*1: the layout follows the inputs
    assert n == 10
    with pytest.raises(
        ValueError,
        match=rf"shape \(5,\) do not match weight_numel={n} of inputs 2x0e\+3x1o x 1x0e\+1x1o.*\[0:2\] 2x0e x 1x0e -> 1x0e",
    ):
        tp.apply({"weight": np.ones(5)}, x, y)
    with pytest.raises(ValueError, match=rf"\({n}, 1\) do not match"):
        tp.apply({"weight": np.ones((n, 1))}, x, y)
    with pytest.raises(TypeError, match=r"got a bare ndarray; pass \{'weight': weights\}"):
        tp.apply(w["weight"], x, y)
    # the layer does not remember the irreps of init: params that do not fit the inputs are refused
    with pytest.raises(ValueError, match=r"shape \(10,\) do not match weight_numel=7 of inputs 2x0e\+3x1e x 1x0e\+1x1o"):
        tp.apply(w, IrrepsArray("2x0e + 3x1e", _rand(11, 0)), y)
    declared = FullyConnectedTensorProduct("1x0e + 1x1o", x.irreps, y.irreps)
    with pytest.raises(ValueError, match=r"x has irreps 2x0e\+3x1e, but this layer was built for 2x0e\+3x1o"):
        declared.apply(w, IrrepsArray("2x0e + 3x1e", _rand(11, 0)), y)
    with pytest.raises(ValueError, match=r"x has irreps 1x1o, but this layer was built for 1x0e"):
        FullyConnectedTensorProduct("0e", "0e", "0e").init(0, IrrepsArray("1o", np.ones(3)), y)
    # no path at all: zero output and no weights, as in e3nn / e3nn-jax (not an error)
    assert FullyConnectedTensorProduct("1e", "0e", "0e").weight_numel == 0
    with pytest.raises(ValueError, match="not known yet"):
        FullyConnectedTensorProduct("0e").weight_numel
    with pytest.raises(ValueError, match="no channelwise tensor product path"):
        ChannelwiseTensorProduct("0e", "0e", filter_ir_out="1o")
    cw = ChannelwiseTensorProduct("2x0e", "0e")
    with pytest.raises(ValueError, match=r"weight_numel=2 of inputs 2x0e x 1x0e; expected \(2,\) shared or \(\.\.\., 2\) per sample"):
        cw.apply(np.ones(3), IrrepsArray("2x0e", np.ones(2)), IrrepsArray("0e", np.ones(1)))
    with pytest.raises(ValueError, match=r"y has irreps 1x0o"):
        cw.apply(np.ones(2), IrrepsArray("2x0e", np.ones(2)), IrrepsArray("0o", np.ones(1)))
    with pytest.raises(TypeError):
        cw.apply(np.ones(2, dtype=np.int64), IrrepsArray("2x0e", np.ones(2)), IrrepsArray("0e", np.ones(1)))
    with pytest.raises(ValueError, match="do not broadcast"):
        cw.apply(np.ones((3, 2)), IrrepsArray("2x0e", np.ones((4, 2))), IrrepsArray("0e", np.ones(1)))


# --------------------------------------------------------------------------- second derivatives

# small enough that jax compiles grad-of-grad quickly; the MACE-sized product is
# compared with e3nn above
IRREPS_NODE = "4x0e + 3x1o"
SH_IRREPS = "0e + 1o + 2e"
N_BASIS, R_CUT = 6, 3.0


def _system():
    rng = np.random.default_rng(20)
    pos = rng.uniform(-1.2, 1.2, (5, 3))
    src, dst = np.nonzero(~np.eye(5, dtype=bool))
    feats = rng.standard_normal((5, Irreps(IRREPS_NODE).dim))
    tp = ChannelwiseTensorProduct(IRREPS_NODE, SH_IRREPS, SH_IRREPS)
    w_rad = rng.standard_normal((N_BASIS, tp.weight_numel))
    head = rng.standard_normal(IrrepsArray(tp.irreps_out, np.zeros(tp.irreps_out.dim)).filter("0e").shape[-1])
    f_target = rng.standard_normal((5, 3))
    return pos, src, dst, feats, tp, w_rad, head, f_target


def _energy(pos, w_rad, feats, src, dst, tp, head):
    from e3xp.backends import backend_of
    from e3xp.ops.radial import bessel, poly_envelope
    from e3xp.ops.spherical_harmonics import spherical_harmonics

    backend = backend_of(pos)
    xp = backend.xp
    vec = xp.take(pos, dst, axis=0) - xp.take(pos, src, axis=0)
    r = xp.sqrt(xp.sum(vec**2, axis=-1))
    radial = bessel(r, N_BASIS, R_CUT) * poly_envelope(5, 2, R_CUT)(r)[:, None]
    weights = xp.matmul(radial, w_rad) / math.sqrt(N_BASIS)
    sh = spherical_harmonics(SH_IRREPS, vec)
    msg = tp.apply(weights, IrrepsArray(IRREPS_NODE, xp.take(feats, src, axis=0)), sh)
    node = backend.scatter_sum(msg.array, dst, pos.shape[0])
    scalars = IrrepsArray(msg.irreps, node).filter("0e").array
    return xp.sum(scalars * head) + 0.1 * xp.sum(scalars**2) + 0.05 * xp.sum(node**2)


def _torch_force_loss_grad(system, w_rad=None, create_graph=True):
    import torch

    pos, src, dst, feats, tp, w0, head, f_target = system
    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    W = t(w0 if w_rad is None else w_rad).requires_grad_(True)
    P = t(pos).requires_grad_(True)
    E = _energy(P, W, t(feats), torch.tensor(src), torch.tensor(dst), tp, t(head))
    (dE,) = torch.autograd.grad(E, P, create_graph=create_graph)
    loss = torch.sum((-dE - t(f_target)) ** 2)
    if not create_graph:
        return float(loss), -dE.numpy()
    (g,) = torch.autograd.grad(loss, W)
    return float(loss.detach()), -dE.detach().numpy(), g.numpy()


def test_force_training_second_derivatives_torch_jax_fd():
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    system = _system()
    pos, src, dst, feats, tp, w0, head, f_target = system
    loss_t, forces_t, grad_t = _torch_force_loss_grad(system)

    src_j, dst_j = jnp.asarray(src), jnp.asarray(dst)

    def energy_j(P, W):
        return _energy(P, W, jnp.asarray(feats), src_j, dst_j, tp, jnp.asarray(head))

    def loss_j(W):
        forces = -jax.grad(energy_j)(jnp.asarray(pos), W)
        return jnp.sum((forces - jnp.asarray(f_target)) ** 2), forces

    (loss_jv, forces_j), grad_j = jax.jit(jax.value_and_grad(loss_j, has_aux=True))(jnp.asarray(w0))
    scale = np.max(np.abs(grad_t))
    dev_forces = np.max(np.abs(forces_t - np.asarray(forces_j)))
    dev_grad = np.max(np.abs(grad_t - np.asarray(grad_j))) / scale
    assert abs(loss_t - float(loss_jv)) < 1e-12 * max(1.0, loss_t)
    assert dev_forces < 1e-12, dev_forces
    assert dev_grad < 1e-12, dev_grad

    # central finite differences of the loss (forces by first-order autograd only)
    rng = np.random.default_rng(21)
    picks = [tuple(rng.integers(0, s) for s in w0.shape) for _ in range(2)]
    picks.append(np.unravel_index(np.argmax(np.abs(grad_t)), w0.shape))
    h = 1e-5
    for idx in picks:
        wp, wm = w0.copy(), w0.copy()
        wp[idx] += h
        wm[idx] -= h
        fd = (_torch_force_loss_grad(system, wp, False)[0] - _torch_force_loss_grad(system, wm, False)[0]) / (2 * h)
        assert abs(fd - grad_t[idx]) < 1e-9 * scale, (idx, fd, grad_t[idx])
    # forces themselves against finite differences of the energy (numpy backend)
    e = lambda p: float(_energy(p, w0, feats, src, dst, tp, head))  # noqa: E731
    k = (2, 1)
    pp, pm = pos.copy(), pos.copy()
    pp[k] += h
    pm[k] -= h
    assert abs(-(e(pp) - e(pm)) / (2 * h) - forces_t[k]) < 1e-6 * np.max(np.abs(forces_t))
    assert torch is not None


def test_nequip_example_runs_on_numpy():
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "examples" / "nequip_block.py"
    spec = importlib.util.spec_from_file_location("nequip_block", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = mod.main(backends=["numpy"], verbose=False)
    assert len(rows) == 1 and rows[0]["backend"] == "numpy"
    # numpy has no autodiff: the example's forces are central differences (h = 1e-5)
    assert rows[0]["energy_invariance"] < 1e-12 and rows[0]["force_equivariance"] < 1e-7
