"""Native fast paths of the backends against the float64 NumPy references.

The fast paths regroup the channelwise ("uvu", ``mul2 == 1``) paths of a plan
(``e3xp.core.schedule``: ``GroupedSchedule``) and run them with framework-specific code:
``torch.split`` + transposed batched matmuls on torch, fused multiply-adds
written in place with a ``custom_jvp`` on JAX, the standard grouped matmuls
elsewhere. Every one is checked against ``execute_plan_reference`` (``np.einsum``
path by path), and the derivatives against central finite differences of that
reference, so nothing here trusts the executors it tests.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from e3xp.backends import available_backends, get_backend
from e3xp.core.schedule import prepare
from e3xp.core import plans as P

HAS = {name: importlib.util.find_spec(name) is not None for name in ("torch", "jax")}
BACKENDS = [name for name in ("numpy", "array_api_strict", "torch", "jax") if name in available_backends()]


# JAX in float64 for this whole module (fixture in tests/conftest.py).
pytestmark = pytest.mark.usefixtures("jax_x64")


def _plans():
    return {
        # MACE / NequIP: every path grouped; l = 1 and 2 blocks receive two paths in a row
        "mace": P.channelwise_tensor_product_plan("3x0e+2x1o+2x2e", "0e+1o+2e+3o", "0e+1o+2e+3o"),
        # x2 blocks with multiplicity 2 are left to the per-path executor ("blk" segments)
        "mixed": P.channelwise_tensor_product_plan("2x0e+3x1o", "0e+2x1o+2e"),
        # no filter, odd parities, d1 > d3 (weights applied after the matmul)
        "odd": P.channelwise_tensor_product_plan("2x1e+2x2o", "1o+2e"),
        # fully connected with mul2 == 1: "uvw" segments, several paths into each output block
        "fc": P.fully_connected_tensor_product_plan("3x0e+2x1o+2x2e", "0e+1o+2e", "2x0e+3x1o+2x2e"),
    }


def _err(out, ref) -> float:
    return float(np.max(np.abs(out - ref), initial=0.0) / max(1.0, float(np.max(np.abs(ref), initial=0.0))))


def test_grouping_of_channelwise_plans():
    """All MACE paths are grouped, in output order, and adjacent paths share a group."""
    plan = _plans()["mace"]
    schedule, _ = prepare("tp", plan)
    segs = schedule.grouped.segments
    assert schedule.grouped.kinds == {"grp"}
    assert sum(seg.n for seg in segs) == len(plan.paths)
    assert any(seg.n > 1 for seg in segs)  # e.g. 1o x 0e -> 1o and 1o x 2e -> 1o
    assert prepare("tp", _plans()["mixed"])[0].grouped.kinds == {"grp", "blk"}
    fc = _plans()["fc"]
    segs = prepare("tp", fc)[0].grouped.segments
    assert [seg.kind for seg in segs] == ["uvw"] * len(fc.irreps_out)
    assert sum(len(seg.entries) for seg in segs) == len(fc.paths)
    full = P.full_tensor_product_plan("2x0e+1o", "0e+1o")  # unweighted, one x2 channel: "cg" groups
    assert prepare("tp", full)[0].grouped.kinds == {"cg"}
    full2 = P.full_tensor_product_plan("2x0e+1o", "2x1o")  # two x2 channels: nothing grouped
    assert prepare("tp", full2)[0].grouped is None


@pytest.mark.parametrize("name", BACKENDS)
def test_unweighted_groups_match_reference(name):
    """Full products grouped as "cg" segments give the per-path reference numbers."""
    be = get_backend(name)
    rng = np.random.default_rng(5)
    plans = [
        P.full_tensor_product_plan("3x0e+2x1o+2x2e", "0e+1o+2e+3o"),
        P.full_tensor_product_plan("2x0e+1o", "0e+1o+2x1e"),  # "cg" and "blk" segments mixed
        P.full_tensor_product_plan("4x2e", "2e", filter_ir_out="0e+2e+4e"),
    ]
    for plan in plans:
        assert prepare("tp", plan)[0].grouped is not None
        for shapes in (((6, plan.irreps_in1.dim), (6, plan.irreps_in2.dim)),
                       ((3, 1, plan.irreps_in1.dim), (4, plan.irreps_in2.dim))):
            x1, x2 = (rng.normal(size=s) for s in shapes)
            ref = P.execute_plan_reference(plan, x1, x2)
            out = be.tensor_product(plan, *(be.asarray(a, dtype="float64") for a in (x1, x2)))
            assert tuple(out.shape) == ref.shape
            assert _err(be.to_numpy(out), ref) < 1e-12


@pytest.mark.parametrize("name", BACKENDS)
def test_grouped_paths_match_reference(name):
    be = get_backend(name)
    rng = np.random.default_rng(11)
    errs = {}
    for key, plan in _plans().items():
        for case, shapes in {
            "per-edge": ((6, plan.irreps_in1.dim), (6, plan.irreps_in2.dim), (6, plan.weight_numel)),
            "broadcast": ((3, 1, plan.irreps_in1.dim), (4, plan.irreps_in2.dim), (4, plan.weight_numel)),
            "shared": ((5, plan.irreps_in1.dim), (5, plan.irreps_in2.dim), (plan.weight_numel,)),
        }.items():
            x1, x2, w = (rng.normal(size=s) for s in shapes)
            ref = P.execute_plan_reference(plan, x1, x2, w)
            out = be.tensor_product(plan, *(be.asarray(a, dtype="float64") for a in (x1, x2, w)))
            assert tuple(out.shape) == ref.shape
            errs[key, case] = _err(be.to_numpy(out), ref)
    assert max(errs.values()) < 1e-12, errs


def _fd_directional(plan, args, dirs, h=1e-5):
    """Central difference of the reference along ``dirs`` (exact for a trilinear map up to h^2)."""
    plus = [a + h * d for a, d in zip(args, dirs)]
    minus = [a - h * d for a, d in zip(args, dirs)]
    return (P.execute_plan_reference(plan, *plus) - P.execute_plan_reference(plan, *minus)) / (2 * h)


def _torch_vjp_matches_fd(plan, f, args, gen):
    """Vector-Jacobian products of ``f`` against the reference's finite differences,
    ``<J^T r, d> = <r, J d>``; returns ``(r, the gradients)``."""
    import torch

    dirs = [torch.randn(a.shape, dtype=torch.float64, generator=gen) for a in args]
    batch = torch.broadcast_shapes(*(a.shape[:-1] for a in args[:2]))
    r = torch.randn(*batch, plan.irreps_out.dim, dtype=torch.float64, generator=gen)
    grads = torch.autograd.grad(f(*args), args, r)
    fd = _fd_directional(plan, [a.detach().numpy() for a in args], [d.numpy() for d in dirs])
    lhs = sum(float((g * d).sum()) for g, d in zip(grads, dirs))
    assert abs(lhs - float((r.numpy() * fd).sum())) < 1e-7 * max(1.0, abs(lhs))
    return r, grads


@pytest.mark.skipif(not HAS["torch"], reason="torch is not installed")
def test_torch_fast_path_autograd_and_compile():
    import torch

    be = get_backend("torch")
    gen = torch.Generator().manual_seed(3)
    for key, wshape in (("fc", ()), ("mace", (3,))):
        plan = _plans()[key]
        args = [
            torch.randn(*s, dtype=torch.float64, generator=gen, requires_grad=True)
            for s in ((3, plan.irreps_in1.dim), (3, plan.irreps_in2.dim), wshape + (plan.weight_numel,))
        ]
        f = lambda a, b, c: be.tensor_product(plan, a, b, c)  # noqa: E731
        r, grads = _torch_vjp_matches_fd(plan, f, args, gen)
    tiny = P.channelwise_tensor_product_plan("2x0e+1x1o", "0e+1o")  # grouped too, cheap to check
    small = [
        torch.randn(2, n, dtype=torch.float64, generator=gen, requires_grad=True)
        for n in (tiny.irreps_in1.dim, tiny.irreps_in2.dim, tiny.weight_numel)
    ]
    assert torch.autograd.gradgradcheck(lambda a, b, c: be.tensor_product(tiny, a, b, c), small)
    torch._dynamo.reset()
    cf = torch.compile(f, fullgraph=True, backend="eager")
    assert torch.allclose(cf(*args), f(*args), rtol=1e-12, atol=1e-12)
    for a, b in zip(torch.autograd.grad(cf(*args), args, r), grads):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(not HAS["torch"], reason="torch is not installed")
def test_torch_unweighted_groups_autograd():
    """Full products ("cg" segments, also mixed with "blk" ones) on the torch grouped path:
    vector-Jacobian products against the reference's differences, second derivatives
    (gradgradcheck) and torch.compile against eager."""
    import torch

    be = get_backend("torch")
    gen = torch.Generator().manual_seed(8)
    for plan in (P.full_tensor_product_plan("3x0e+2x1o+2x2e", "0e+1o+2e+3o"),
                 P.full_tensor_product_plan("2x0e+1o", "0e+1o+2x1e")):
        assert "cg" in prepare("tp", plan)[0].grouped.kinds
        args = [torch.randn(3, n, dtype=torch.float64, generator=gen, requires_grad=True)
                for n in (plan.irreps_in1.dim, plan.irreps_in2.dim)]
        f = lambda a, b: be.tensor_product(plan, a, b)  # noqa: E731
        _torch_vjp_matches_fd(plan, f, args, gen)
        with torch.no_grad():  # the forward-only path gives the same numbers
            assert _err(f(*args).numpy(), P.execute_plan_reference(plan, *(a.detach().numpy() for a in args))) < 1e-12
        torch._dynamo.reset()
        cf = torch.compile(f, fullgraph=True, backend="eager")
        assert torch.allclose(cf(*args), f(*args), rtol=1e-12, atol=1e-12)
    tiny = P.full_tensor_product_plan("2x0e+1x1o", "0e+1o")
    small = [torch.randn(2, n, dtype=torch.float64, generator=gen, requires_grad=True)
             for n in (tiny.irreps_in1.dim, tiny.irreps_in2.dim)]
    assert torch.autograd.gradgradcheck(lambda a, b: be.tensor_product(tiny, a, b), small)


_JAX_DERIVATIVE_SHAPES = {  # leading shapes of (x1, x2, weights)
    "per-edge": ((3,), (3,), (3,)),
    "broadcast": ((2, 1), (3,), (3,)),
    "shared": ((3,), (3,), ()),
}


@pytest.mark.skipif(not HAS["jax"], reason="jax is not installed")
@pytest.mark.parametrize("case", sorted(_JAX_DERIVATIVE_SHAPES))
def test_jax_fast_path_derivatives(case):
    import jax
    import jax.numpy as jnp

    be = get_backend("jax")
    plan = _plans()["mace"]
    rng = np.random.default_rng(4)
    dims = (plan.irreps_in1.dim, plan.irreps_in2.dim, plan.weight_numel)
    np_args = [rng.normal(size=lead + (n,)) for lead, n in zip(_JAX_DERIVATIVE_SHAPES[case], dims)]
    _check_jax_derivatives(be, plan, np_args, rng, vmap=case == "per-edge")


@pytest.mark.skipif(not HAS["jax"], reason="jax is not installed")
@pytest.mark.parametrize("case", ["per-edge", "broadcast"])
def test_jax_unweighted_fast_path_derivatives(case):
    """Full products ("cg" segments) take the same custom_jvp path, without weights."""
    be = get_backend("jax")
    plan = P.full_tensor_product_plan("3x0e+2x1o+2x2e", "0e+1o+2e+3o")
    assert prepare("tp", plan)[0].grouped.kinds == {"cg"}
    rng = np.random.default_rng(6)
    lead = _JAX_DERIVATIVE_SHAPES[case]
    np_args = [rng.normal(size=lead[0] + (plan.irreps_in1.dim,)), rng.normal(size=lead[1] + (plan.irreps_in2.dim,))]
    _check_jax_derivatives(be, plan, np_args, rng, vmap=case == "per-edge")


def _check_jax_derivatives(be, plan, np_args, rng, vmap):
    """jvp, grad and grad of grad of ``be.tensor_product(plan, ...)`` against the reference's differences."""
    import jax
    import jax.numpy as jnp

    n = len(np_args)  # (x1, x2) or (x1, x2, w)
    batch = np.broadcast_shapes(*(a.shape[:-1] for a in np_args[:2]))
    dirs = [rng.normal(size=a.shape) for a in np_args]
    r = rng.normal(size=batch + (plan.irreps_out.dim,))
    args = [jnp.asarray(a) for a in np_args]
    f = lambda *a: be.tensor_product(plan, *a)  # noqa: E731
    fd = _fd_directional(plan, np_args, dirs)
    # forward mode, reverse mode and their agreement with the reference
    _, tangent = jax.jvp(f, tuple(args), tuple(jnp.asarray(d) for d in dirs))
    assert _err(np.asarray(tangent), fd) < 1e-8
    grads = jax.grad(lambda *a: jnp.sum(f(*a) * r), argnums=tuple(range(n)))(*args)
    lhs = sum(float(np.sum(np.asarray(g) * d)) for g, d in zip(grads, dirs))
    assert abs(lhs - float(np.sum(r * fd))) < 1e-7 * max(1.0, abs(lhs))
    # grad of grad (what force training needs): the gradient along x2 is again
    # multilinear, so its derivative along the other inputs is checked against
    # central differences of the jitted function itself
    others = [k for k in range(n) if k != 1]

    def h(*rest):
        full = list(args)
        for k, v in zip(others, rest):
            full[k] = v
        gx2 = jax.grad(lambda b: jnp.sum(f(*full[:1], b, *full[2:]) * r))(full[1])
        return jnp.sum(gx2**2)

    h = jax.jit(h)
    rest = [args[k] for k in others]
    g2 = jax.grad(h, argnums=tuple(range(len(rest))))(*rest)
    eps = 1e-5
    ds = [rng.normal(size=a.shape) for a in rest]
    num = (h(*(a + eps * d for a, d in zip(rest, ds))) - h(*(a - eps * d for a, d in zip(rest, ds)))) / (2 * eps)
    lhs2 = sum(float(np.sum(np.asarray(g) * d)) for g, d in zip(g2, ds))
    assert abs(lhs2 - float(num)) < 1e-6 * max(1.0, abs(float(num)))
    if vmap:  # vmap over a leading axis equals the batched call
        v = jax.vmap(lambda *a: f(*(x[None] for x in a))[0])(*args)
        assert _err(np.asarray(v), P.execute_plan_reference(plan, *np_args)) < 1e-12


@pytest.mark.parametrize("name", ["torch", "numpy"])
def test_spherical_harmonics_blocks(monkeypatch, name):
    """The blocked harmonics equal the NumPy procedure across block edges: the in-place
    form (no autograd: ``harmonics.spherical_harmonics_in_place``) and, on torch, the
    differentiable one; empty batches too."""
    import importlib

    from e3xp.core.spherical_harmonics import evaluate_plan_numpy, spherical_harmonics_plan

    if not HAS.get(name, True):
        pytest.skip(f"{name} is not installed")
    be = get_backend(name)
    module = {"torch": "e3xp.backends.torch.harmonics", "numpy": "e3xp.backends.numpy"}[name]
    monkeypatch.setattr(importlib.import_module(module), "SH_CHUNK", 4)  # 15 rows: 4 blocks
    rng = np.random.default_rng(8)
    v = rng.normal(size=(3, 5, 3))
    v[1, 2] = 0.0  # the zero vector goes through the guarded branch
    shp = spherical_harmonics_plan(4)
    grads = (False, True) if name == "torch" else (False,)
    for ls, normalize, normalization in (([0, 3, 1, 4], True, "component"), (2, False, "norm"), ([3], True, "integral")):
        for vs in (v, v[:0]):
            ref = evaluate_plan_numpy(shp, vs, ls, normalize=normalize, normalization=normalization)
            for grad in grads:
                x = be.asarray(vs)
                if grad:
                    x.requires_grad_(True)
                out = be.to_numpy(be.spherical_harmonics(shp, x, ls, normalize, normalization))
                assert out.shape == ref.shape and out.dtype == np.float64
                assert vs.size == 0 or _err(out, ref) < 1e-12, (ls, normalize, grad)
    if name == "torch":
        import torch

        x = torch.tensor(rng.normal(size=(6, 3)), requires_grad=True)
        assert torch.autograd.gradgradcheck(lambda x: be.spherical_harmonics(shp, x, [1, 2]), (x,))


@pytest.mark.skipif(not HAS["torch"], reason="torch is not installed")
@pytest.mark.parametrize("chunk", [4, 16384])
def test_torch_spherical_harmonics_hand_written_gradient(monkeypatch, chunk):
    """The eager harmonics under autograd (``SphericalHarmonics``: in-place blocks and
    ``harmonics_vjp``) have the differentiable form's gradient, at the zero
    vector, across block edges and for empty batches; degree 0 alone has a zero
    gradient; gradcheck and gradgradcheck (the double backward recomputes the graph)."""
    import torch

    import e3xp.backends.torch.harmonics as th
    from e3xp.core.spherical_harmonics import spherical_harmonics_plan

    monkeypatch.setattr(th, "SH_CHUNK", chunk)
    be = get_backend("torch")
    gen = torch.Generator().manual_seed(12)
    cases = ((0, [0], "component", True), (1, [0, 1], "norm", True), (3, [0, 1, 2, 3], "component", True),
             (4, [3, 1, 4], "integral", False), (6, [6, 2], "component", True))
    for lmax, ls, normalization, normalize in cases:
        shp = spherical_harmonics_plan(lmax)
        for shape in ((0, 3), (3, 5, 3)):
            v = torch.randn(*shape, dtype=torch.float64, generator=gen)
            if v.numel():
                v.view(-1, 3)[1] = 0.0  # the guarded zero vector
            v.requires_grad_(True)
            out = be.spherical_harmonics(shp, v, ls, normalize, normalization)
            assert type(out.grad_fn).__name__ == "SphericalHarmonicsBackward"
            schedule, mats = be._prepared("sh", (lmax, tuple(ls), normalization), v)
            ref = th.harmonics_graph(v, schedule, mats, normalize)
            assert _err(out.detach().numpy(), ref.detach().numpy()) < 1e-12
            g = torch.randn(out.shape, dtype=torch.float64, generator=gen)
            (got,) = torch.autograd.grad(out, v, g)
            want = torch.autograd.grad(ref, v, g)[0] if ref.requires_grad else torch.zeros_like(v)
            assert got.shape == v.shape and _err(got.numpy(), want.numpy()) < 1e-12, (lmax, shape)
        x = torch.randn(6, 3, dtype=torch.float64, generator=gen, requires_grad=True)
        f = lambda x: be.spherical_harmonics(shp, x, ls, normalize, normalization)  # noqa: E731
        assert torch.autograd.gradcheck(f, (x,)) and torch.autograd.gradgradcheck(f, (x,)), lmax


@pytest.mark.skipif(not HAS["torch"], reason="torch is not installed")
@pytest.mark.parametrize("dense_max", [0, None])
def test_torch_grouped_forward_only_and_second_derivatives(monkeypatch, dense_max):
    """The no-grad forward (stacked matmuls written in place) equals the differentiable
    path, and the hand-written derivatives (``Assemble``, ``SmallL``/``SmallR``) pass
    ``gradgradcheck`` with broadcast batch shapes, shared weights and every segment kind.
    ``dense_max=0`` turns the dense kernel off (every plan takes the grouped graph);
    ``None`` keeps the default, where the small channelwise plans take ``"dense"``."""
    import torch

    import e3xp.backends.torch.kernels as tk

    if dense_max is not None:
        monkeypatch.setattr(tk, "DENSE_MAX", dense_max)
    be = get_backend("torch")
    gen = torch.Generator().manual_seed(5)
    for key, plan in _plans().items():
        for shapes in (
            ((3, 1, plan.irreps_in1.dim), (4, plan.irreps_in2.dim), (4, plan.weight_numel)),
            ((2, plan.irreps_in1.dim), (2, plan.irreps_in2.dim), (plan.weight_numel,)),
            ((0, plan.irreps_in1.dim), (0, plan.irreps_in2.dim), (plan.weight_numel,)),  # an empty batch
        ):
            args = [torch.randn(*s, dtype=torch.float64, generator=gen) for s in shapes]
            ref = P.execute_plan_reference(plan, *(a.numpy() for a in args))
            with torch.no_grad():
                fast = be.tensor_product(plan, *args)
            leaves = [a.clone().requires_grad_(True) for a in args]
            slow = be.tensor_product(plan, *leaves)
            assert tuple(fast.shape) == tuple(slow.shape) == ref.shape, key
            assert _err(fast.numpy(), ref) < 1e-12, key
            assert _err(slow.detach().numpy(), ref) < 1e-12, key
    for key, plan in _plans().items():  # small batches: gradgradcheck is numerical
        for shapes in (((2, 1, plan.irreps_in1.dim), (2, plan.irreps_in2.dim), (2, plan.weight_numel)),
                       ((1, plan.irreps_in1.dim), (1, plan.irreps_in2.dim), (plan.weight_numel,))):
            leaves = [torch.randn(*s, dtype=torch.float64, generator=gen, requires_grad=True) for s in shapes]
            f = lambda a, b, c: be.tensor_product(plan, a, b, c)  # noqa: E731
            assert torch.autograd.gradgradcheck(f, leaves, fast_mode=True), key
    plan = _plans()["mace"]
    args = [torch.randn(3, n, dtype=torch.float32, generator=gen) for n in (plan.irreps_in1.dim, plan.irreps_in2.dim, plan.weight_numel)]
    with torch.no_grad():
        fast = be.tensor_product(plan, *args)
        torch._dynamo.reset()
        compiled = torch.compile(lambda a, b, c: be.tensor_product(plan, a, b, c), fullgraph=True, backend="eager")
        assert torch.allclose(compiled(*args), fast, rtol=1e-5, atol=1e-5)
    ref = P.execute_plan_reference(plan, *(a.double().numpy() for a in args))
    assert fast.dtype == torch.float32 and _err(fast.double().numpy(), ref) < 1e-5


@pytest.mark.skipif(not HAS["torch"], reason="torch is not installed")
def test_torch_dense_product_with_graph(monkeypatch):
    """Small channelwise products with an autograd graph run as one dense matmul
    (``dense_product``): only plans whose every output element has one weight
    qualify, up to ``DENSE_MAX`` floats; the values equal the reference, and the
    first and second derivatives (a force loss's double backward) equal those of
    the grouped graph, with broadcast batches and shared weights."""
    import torch

    import e3xp.backends.torch.kernels as tk

    plans = _plans()
    plans["nequip"] = P.channelwise_tensor_product_plan("8x0e+8x0o+4x1o+4x1e", "0e+1o", "0e+0o+1o+1e")
    eligible = {key: tk.dense_operands(plan) is not None for key, plan in plans.items()}
    assert eligible == {"mace": True, "mixed": False, "odd": True, "fc": False, "nequip": True}
    assert tk.dense_operands(P.channelwise_tensor_product_plan("32x0e+32x1o", "0e+1o+2e", "0e+1o"))[0].size > tk.DENSE_MAX
    be = get_backend("torch")
    gen = torch.Generator().manual_seed(17)
    for key in ("mace", "odd", "nequip"):
        plan = plans[key]
        for shapes in (((5, plan.irreps_in1.dim), (5, plan.irreps_in2.dim), (5, plan.weight_numel)),
                       ((3, 1, plan.irreps_in1.dim), (4, plan.irreps_in2.dim), (plan.weight_numel,)),
                       ((2, plan.irreps_in1.dim), (3, 1, plan.irreps_in2.dim), (1, plan.weight_numel))):
            leaves = [torch.randn(*s, dtype=torch.float64, generator=gen, requires_grad=True) for s in shapes]
            ref = P.execute_plan_reference(plan, *(a.detach().numpy() for a in leaves))
            results = {}
            for dense_max in (tk.DENSE_MAX, 0):
                monkeypatch.setattr(tk, "DENSE_MAX", dense_max)
                out = be.tensor_product(plan, *leaves)
                assert (type(out.grad_fn).__name__ == "MulBackward0") == (dense_max > 0), (key, out.grad_fn)
                assert tuple(out.shape) == ref.shape and _err(out.detach().numpy(), ref) < 1e-12, key
                r = torch.randn(out.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
                # force-style: the gradient wrt x2 with a graph, then everything's gradient of its square
                (g2,) = torch.autograd.grad((out * r).sum(), leaves[1], create_graph=True)
                grads = torch.autograd.grad((g2 * g2).sum(), leaves, materialize_grads=True)  # none wrt x2: linear in it
                results[dense_max] = (g2.detach(), grads)
            (ga, da), (gb, db) = results.values()
            assert _err(ga.numpy(), gb.numpy()) < 1e-12, key
            for a, b in zip(da, db):
                assert a.shape == b.shape and _err(a.numpy(), b.numpy()) < 1e-12, key
            monkeypatch.setattr(tk, "DENSE_MAX", 1 << 16)
        small = [torch.randn(2, n, dtype=torch.float64, generator=gen, requires_grad=True)
                 for n in (plan.irreps_in1.dim, plan.irreps_in2.dim, plan.weight_numel)]
        assert torch.autograd.gradgradcheck(lambda a, b, c: be.tensor_product(plan, a, b, c), small, fast_mode=True), key


@pytest.mark.skipif(not HAS["torch"], reason="torch is not installed")
@pytest.mark.parametrize("chunk", [1, 200])
def test_torch_forward_only_chunks_of_rows(monkeypatch, chunk):
    """The no-grad channelwise / full products by chunks of rows (``TP_CHUNK`` floats of a
    block's product: 1 gives one row per chunk, 200 a few rows and a short last chunk)
    equal the reference, with broadcast batches and shared weights."""
    import torch

    import e3xp.backends.torch.kernels as tk

    monkeypatch.setattr(tk, "TP_CHUNK", chunk)
    be = get_backend("torch")
    gen = torch.Generator().manual_seed(9)
    for key, plan in _plans().items():
        for shapes in (((7, plan.irreps_in1.dim), (7, plan.irreps_in2.dim), (7, plan.weight_numel)),
                       ((3, 1, plan.irreps_in1.dim), (4, plan.irreps_in2.dim), (plan.weight_numel,))):
            args = [torch.randn(*s, dtype=torch.float64, generator=gen) for s in shapes]
            with torch.no_grad():
                fast = be.tensor_product(plan, *args)
            ref = P.execute_plan_reference(plan, *(a.numpy() for a in args))
            assert tuple(fast.shape) == ref.shape and _err(fast.numpy(), ref) < 1e-12, (key, shapes)


@pytest.mark.skipif(not HAS["torch"], reason="torch is not installed")
def test_torch_fully_connected_hand_written_gradients():
    """Shared-weight fully connected products under autograd (``FullyConnected``): the
    hand-written gradients equal those of the differentiable form, for a random and an
    expanded (``sum()``) cotangent, broadcast batches and a subset of inputs; a double
    backward (recomputed through the differentiable form) equals that form's too."""
    import torch

    from e3xp.backends.torch.autograd import grouped_graph

    be = get_backend("torch")
    plan = _plans()["fc"]
    gen = torch.Generator().manual_seed(11)
    for shapes in (((5, plan.irreps_in1.dim), (5, plan.irreps_in2.dim)), ((3, 1, plan.irreps_in1.dim), (4, plan.irreps_in2.dim))):
        leaves = [torch.randn(*s, dtype=torch.float64, generator=gen, requires_grad=True) for s in shapes]
        leaves.append(torch.randn(plan.weight_numel, dtype=torch.float64, generator=gen, requires_grad=True))
        out = be.tensor_product(plan, *leaves)
        assert type(out.grad_fn).__name__ == "FullyConnectedBackward"
        schedule, consts = be._prepared("tp", plan, leaves[0])
        ref = grouped_graph(be, schedule, consts, *leaves, True, tuple(out.shape[:-1]))
        assert _err(out.detach().numpy(), ref.detach().numpy()) < 1e-12
        for g in (torch.randn(out.shape, dtype=torch.float64, generator=gen), torch.ones(()).expand(out.shape)):
            for inputs in (leaves, leaves[1:]):
                got = torch.autograd.grad(out, inputs, g, retain_graph=True)
                want = torch.autograd.grad(ref, inputs, g, retain_graph=True)
                for a, b in zip(got, want):
                    assert a.shape == b.shape and _err(a.numpy(), b.numpy()) < 1e-12
        g = torch.randn(out.shape, dtype=torch.float64, generator=gen)
        second = []
        for o in (out, ref):
            gs = torch.autograd.grad(o, leaves, g, create_graph=True, retain_graph=True)
            second.append(torch.autograd.grad(sum((q * q).sum() for q in gs), leaves))
        for a, b in zip(*second):
            assert _err(a.numpy(), b.numpy()) < 1e-12


@pytest.mark.skipif(not HAS["jax"], reason="jax is not installed")
def test_jax_fully_connected_fast_path_derivatives():
    """The native fully connected path (shared weights, ``custom_jvp``): forward mode,
    reverse mode, grad of grad and vmap against the reference, with broadcast batches."""
    import jax
    import jax.numpy as jnp

    be = get_backend("jax")
    plan = _plans()["fc"]
    rng = np.random.default_rng(8)
    shapes = ((3, 1, plan.irreps_in1.dim), (4, plan.irreps_in2.dim), (plan.weight_numel,))
    np_args = [rng.normal(size=s) for s in shapes]
    args = [jnp.asarray(a) for a in np_args]
    f = lambda a, b, c: be.tensor_product(plan, a, b, c)  # noqa: E731
    assert _err(np.asarray(f(*args)), P.execute_plan_reference(plan, *np_args)) < 1e-12
    dirs = [rng.normal(size=a.shape) for a in np_args]
    fd = _fd_directional(plan, np_args, dirs)
    _, tangent = jax.jvp(f, tuple(args), tuple(jnp.asarray(d) for d in dirs))
    assert _err(np.asarray(tangent), fd) < 1e-8
    r = rng.normal(size=fd.shape)
    grads = jax.grad(lambda *a: jnp.sum(f(*a) * r), argnums=(0, 1, 2))(*args)
    lhs = sum(float(np.sum(np.asarray(g) * d)) for g, d in zip(grads, dirs))
    assert abs(lhs - float(np.sum(r * fd))) < 1e-7 * max(1.0, abs(lhs))
    h = jax.jit(lambda a, c: jnp.sum(jax.grad(lambda b: jnp.sum(f(a, b, c) * r))(args[1]) ** 2))
    g2 = jax.grad(h, argnums=(0, 1))(args[0], args[2])
    eps = 1e-5
    d0, d2 = rng.normal(size=args[0].shape), rng.normal(size=args[2].shape)
    num = (h(args[0] + eps * d0, args[2] + eps * d2) - h(args[0] - eps * d0, args[2] - eps * d2)) / (2 * eps)
    lhs2 = float(np.sum(np.asarray(g2[0]) * d0) + np.sum(np.asarray(g2[1]) * d2))
    assert abs(lhs2 - float(num)) < 1e-6 * max(1.0, abs(float(num)))
    x1, x2 = np_args[0][:, 0], np_args[1][:3]
    v = jax.vmap(lambda a, b: f(a[None], b[None], args[2])[0])(jnp.asarray(x1), jnp.asarray(x2))
    assert _err(np.asarray(v), P.execute_plan_reference(plan, x1, x2, np_args[2])) < 1e-12


@pytest.mark.skipif(not HAS["jax"], reason="jax is not installed")
@pytest.mark.parametrize("path", ["polynomial", "sparse", "dense"])
def test_jax_spherical_harmonics_fast_paths_match_generic(path):
    """The explicit polynomials (lmax <= SH_POLYNOMIAL_LMAX), the sparse elementwise
    recursion (lmax <= _SH_SPARSE_LMAX) and the dense recursion with its own
    custom_jvp (above) equal the generic recursion, with their derivatives."""
    import jax
    import jax.numpy as jnp

    import e3xp.backends.jax as jb
    from e3xp.backends import array_api
    from e3xp.backends.harmonics import SH_POLYNOMIAL_LMAX
    from e3xp.backends.jax.harmonics import SH_SPARSE_LMAX
    from e3xp.backends.validation import _ls_tuple
    from e3xp.core.spherical_harmonics import evaluate_plan_numpy, spherical_harmonics_plan

    be = get_backend("jax")
    rng = np.random.default_rng(9)
    v = rng.normal(size=(3, 5, 3))
    v[1, 2] = 0.0  # the zero vector goes through the guarded branch
    if path == "dense":  # every case's largest degree above the sparse threshold
        top = SH_SPARSE_LMAX + 3
        shp = spherical_harmonics_plan(top)
        cases = (([0, 3, 1, top], True, "component"), (top, False, "norm"), ([top], True, "integral"),
                 ([top - 2, 0], True, "norm"))
    elif path == "sparse":  # largest degrees between the two thresholds
        top = SH_SPARSE_LMAX
        assert top > SH_POLYNOMIAL_LMAX
        shp = spherical_harmonics_plan(top)
        cases = (([0, 3, 1, top], True, "component"), (top, False, "norm"), ([top, 2], True, "integral"),
                 ([SH_POLYNOMIAL_LMAX + 1, 0], True, "norm"))
    else:
        shp = spherical_harmonics_plan(SH_SPARSE_LMAX)
        top = SH_POLYNOMIAL_LMAX
        cases = (([0, top, 1], True, "component"), (2, False, "norm"), ([top], True, "integral"),
                 (0, True, "norm"))
    for ls, normalize, normalization in cases:
        ref = evaluate_plan_numpy(shp, v, ls, normalize=normalize, normalization=normalization)
        fast = lambda x: jb.spherical_harmonics(be, shp, x, _ls_tuple(ls), normalize, normalization)
        gen = lambda x: array_api.spherical_harmonics(be, shp, x, ls, normalize, normalization)
        out = jax.jit(fast)(jnp.asarray(v))
        assert out.shape == ref.shape
        assert _err(np.asarray(out), ref) < 1e-12, (ls, normalize)
        assert _err(np.asarray(be.spherical_harmonics(shp, jnp.asarray(v), ls, normalize, normalization)), ref) < 1e-12
        r = jnp.asarray(rng.normal(size=ref.shape))
        loss = lambda f: (lambda x: jnp.sum(f(x) * r))
        g_fast, g_gen = jax.grad(loss(fast))(jnp.asarray(v)), jax.grad(loss(gen))(jnp.asarray(v))
        assert np.all(np.isfinite(np.asarray(g_fast)))
        assert _err(np.asarray(g_fast), np.asarray(g_gen)) < 1e-12, (ls, normalize)
        # second derivatives (nested grad) and forward mode
        gg = lambda f: jax.grad(lambda x: jnp.sum(jax.grad(loss(f))(x) ** 2))
        assert _err(np.asarray(gg(fast)(jnp.asarray(v))), np.asarray(gg(gen)(jnp.asarray(v)))) < 1e-10
        t = jnp.asarray(rng.normal(size=v.shape))
        jf, jg = jax.jvp(fast, (jnp.asarray(v),), (t,))[1], jax.jvp(gen, (jnp.asarray(v),), (t,))[1]
        assert _err(np.asarray(jf), np.asarray(jg)) < 1e-12
        vm = jax.vmap(fast)(jnp.asarray(v))
        assert _err(np.asarray(vm), ref) < 1e-12


@pytest.mark.skipif(not HAS["torch"], reason="torch is not installed")
@pytest.mark.parametrize("lmax", [2, 3, 8])
def test_torch_compiled_spherical_harmonics(lmax):
    """Under torch.compile the harmonics run elementwise: explicit polynomials up to
    lmax 3, the sparse recursion above; same values and gradients as the eager dense
    recursion (and the NumPy plan), finite at 0, float32 within its rounding."""
    import torch

    import e3xp

    irreps = "+".join(f"{l}{'e' if l % 2 == 0 else 'o'}" for l in range(lmax + 1))
    f = lambda v: e3xp.spherical_harmonics(irreps, v, normalize=True).array  # noqa: E731
    g = torch.compile(f, fullgraph=True)
    rng = np.random.default_rng(lmax)
    x = torch.tensor(np.vstack([rng.normal(size=(40, 3)), np.zeros((1, 3))]), requires_grad=True)
    a, b = f(x), g(x)
    ref = e3xp.spherical_harmonics(irreps, x.detach().numpy(), normalize=True).array
    assert _err(b.detach().numpy(), ref) < 1e-12
    r = torch.tensor(rng.normal(size=tuple(a.shape)))
    ga = torch.autograd.grad((a * r).sum(), x)[0]
    gb = torch.autograd.grad((b * r).sum(), x)[0]
    assert torch.isfinite(gb).all()
    assert _err(gb.numpy(), ga.numpy()) < 1e-12
    assert _err(g(x.detach().float()).numpy(), ref) < 1e-5


@pytest.mark.parametrize("ls", [(0, 1, 2, 3), (3, 0, 2), (5,), tuple(range(9))])
@pytest.mark.parametrize("normalization", ["component", "norm", "integral"])
def test_sh_polynomials_match_legendre_reference(ls, normalization):
    """The explicit polynomials of ``sh_polynomial_terms`` against the independent
    associated-Legendre reference, on non-unit vectors without normalising (each Y_l
    is then homogeneous of degree l) and on unit vectors."""
    from e3xp.backends.harmonics import sh_polynomial_columns, sh_polynomial_terms
    from e3xp.core.spherical_harmonics import spherical_harmonics_reference

    class _NumpyOps:
        ones_like = staticmethod(np.ones_like)

    poly = sh_polynomial_terms((max(ls), ls, normalization))
    x = np.random.default_rng(len(ls)).normal(size=(50, 3)) * 1.7
    for v, normalize in ((x, False), (x / np.linalg.norm(x, axis=-1, keepdims=True), True)):
        cols = sh_polynomial_columns(_NumpyOps, [v[:, j] for j in range(3)], poly)
        ref = spherical_harmonics_reference(ls, v, normalize=normalize, normalization=normalization)
        assert _err(np.stack(cols, axis=-1), ref) < 1e-12


@pytest.mark.skipif(not HAS["torch"], reason="torch is not installed")
def test_torch_shared_linear_forward_only_autograd_and_compile():
    """The shared-weight torch Linear (``kernels.linear_shared``): two output blocks fed by two
    inputs each, one fed by none (zeros), scalar biases, a 2-D batch; forward-only and
    autograd forms against the reference, vector-Jacobian products against its central
    differences (exact for a map affine in x and in (w, b)), second derivatives, compile."""
    import torch

    be = get_backend("torch")
    plan = P.linear_plan("3x0e+2x1o+2x0e+1x2e+1x1o", "4x0e+3x1o+2x2e+1x1e", biases=True)
    gen = torch.Generator().manual_seed(7)
    shapes = ((2, 3, plan.irreps_in.dim), (plan.weight_numel,), (plan.bias_numel,))
    args = [torch.randn(*s, dtype=torch.float64, generator=gen, requires_grad=True) for s in shapes]
    np_args = [a.detach().numpy() for a in args]
    ref = P.execute_linear_reference(plan, *np_args)
    with torch.no_grad():
        assert _err(be.linear(plan, *args).numpy(), ref) < 1e-12
        assert _err(be.linear(plan, *args[:2]).numpy(), P.execute_linear_reference(plan, *np_args[:2])) < 1e-12
    out = be.linear(plan, *args)
    assert out.requires_grad and _err(out.detach().numpy(), ref) < 1e-12
    r = torch.randn(out.shape, dtype=torch.float64, generator=gen)
    grads = torch.autograd.grad(out, args, r)
    dirs = [torch.randn(a.shape, dtype=torch.float64, generator=gen).numpy() for a in args]
    h = 1e-3
    fd = (P.execute_linear_reference(plan, *(a + h * d for a, d in zip(np_args, dirs)))
          - P.execute_linear_reference(plan, *(a - h * d for a, d in zip(np_args, dirs)))) / (2 * h)
    lhs = sum(float((g.numpy() * d).sum()) for g, d in zip(grads, dirs))
    assert abs(lhs - float((r.numpy() * fd).sum())) < 1e-8 * max(1.0, abs(lhs))
    small = P.linear_plan("2x0e+1x1o", "1x0e+2x1o", biases=True)
    sargs = [torch.randn(2, small.irreps_in.dim, dtype=torch.float64, generator=gen, requires_grad=True)] + [
        torch.randn(n, dtype=torch.float64, generator=gen, requires_grad=True)
        for n in (small.weight_numel, small.bias_numel)
    ]
    # the weights enter bilinearly with x: the second derivatives are not zero
    assert torch.autograd.gradgradcheck(lambda x, w, b: be.linear(small, x, w, b) ** 2, sargs)
    torch._dynamo.reset()
    cf = torch.compile(lambda x, w, b: be.linear(plan, x, w, b), fullgraph=True, backend="eager")
    assert torch.allclose(cf(*args), out, rtol=1e-12, atol=1e-12)
    for a, b in zip(torch.autograd.grad(cf(*args), args, r), grads):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(not HAS["torch"], reason="torch is not installed")
def test_torch_dense_linear_with_graph(monkeypatch):
    """Small shared-weight linear maps without biases, with an autograd graph, run as one
    matmul by the dense weight matrix (``linear_dense``): values against the reference,
    first and second derivatives against the per-block form (``LINEAR_DENSE_MAX = 0``),
    gradgradcheck; maps with biases or above ``LINEAR_DENSE_MAX`` keep the per-block form."""
    import torch

    import e3xp.backends.torch.kernels as tk

    be = get_backend("torch")
    # two inputs into one block, an output block fed by none (zeros), a 2-D batch
    plan = P.linear_plan("3x0e+2x1o+2x0e+1x2e+1x1o", "4x0e+3x1o+2x2e+1x1e")
    schedule = prepare("linear", plan)[0]
    assert tk.linear_dense_operands(schedule) is not None
    assert tk.linear_dense_operands(prepare("linear", P.linear_plan("2x0e", "2x0e", biases=True))[0]) is None
    big = prepare("linear", P.linear_plan("128x0e", "129x0e"))[0]
    assert tk.linear_dense_operands(big)[0].size > tk.LINEAR_DENSE_MAX
    gen = torch.Generator().manual_seed(23)
    args = [torch.randn(*s, dtype=torch.float64, generator=gen, requires_grad=True)
            for s in ((2, 3, plan.irreps_in.dim), (plan.weight_numel,))]
    ref = P.execute_linear_reference(plan, *(a.detach().numpy() for a in args))
    r = torch.randn(ref.shape, dtype=torch.float64, generator=gen)
    results = []
    for dense_max in (tk.LINEAR_DENSE_MAX, 0):
        monkeypatch.setattr(tk, "LINEAR_DENSE_MAX", dense_max)
        out = be.linear(plan, *args)
        first = type(out.grad_fn.next_functions[0][0]).__name__  # dense: one mm; per block: their cat
        assert first == ("MmBackward0" if dense_max else "CatBackward0"), first
        assert _err(out.detach().numpy(), ref) < 1e-12
        (gx,) = torch.autograd.grad((out * r).sum(), args[0], create_graph=True)
        results.append((gx.detach(), torch.autograd.grad((gx * gx).sum(), args[1])[0]))
    for a, b in zip(*results):
        assert _err(a.numpy(), b.numpy()) < 1e-12
    monkeypatch.setattr(tk, "LINEAR_DENSE_MAX", 1 << 14)
    small = P.linear_plan("2x0e+1x1o", "1x0e+2x1o")
    sargs = [torch.randn(2, small.irreps_in.dim, dtype=torch.float64, generator=gen, requires_grad=True),
             torch.randn(small.weight_numel, dtype=torch.float64, generator=gen, requires_grad=True)]
    assert torch.autograd.gradgradcheck(lambda x, w: be.linear(small, x, w) ** 2, sargs)


@pytest.mark.skipif(not HAS["torch"], reason="torch is not installed")
def test_torch_compiled_harmonics_above_lmax_3_use_the_opaque_op():
    """Under torch.compile without autograd, harmonics above ``SH_POLYNOMIAL_LMAX`` run as the
    opaque op ``e3xp::sh_forward`` (the eager in-place kernel) with the reference's numbers;
    up to lmax 3, and with inputs that need gradients, the traced forms stay."""
    import torch

    from e3xp.core.spherical_harmonics import evaluate_plan_numpy, spherical_harmonics_plan

    be = get_backend("torch")
    seen = []

    def recording_backend(gm, example_inputs):
        seen.append({str(n.target) for n in gm.graph.nodes if n.op == "call_function"})
        return gm.forward

    v = torch.tensor(np.random.default_rng(13).normal(size=(2, 7, 3)))
    for lmax, ls, normalization, opaque in ((5, [5, 0, 2], "norm", True), (3, [0, 1, 2, 3], "component", False)):
        shp = spherical_harmonics_plan(lmax)
        ref = evaluate_plan_numpy(shp, v.numpy(), ls, normalize=True, normalization=normalization)
        f = lambda x: be.spherical_harmonics(shp, x, ls, True, normalization)  # noqa: E731
        for grad in (False, True):
            torch._dynamo.reset()
            seen.clear()
            x = v.clone().requires_grad_(grad)
            out = torch.compile(f, fullgraph=True, backend=recording_backend)(x)
            assert tuple(out.shape) == ref.shape and _err(out.detach().numpy(), ref) < 1e-12
            assert any("e3xp.sh_forward" in t for t in seen[-1]) == (opaque and not grad), (lmax, grad)


@pytest.mark.skipif(not HAS["torch"], reason="torch is not installed")
def test_torch_compiled_forward_only_uses_the_opaque_op():
    """Under torch.compile without autograd, channelwise, full and shared-weight fully
    connected products run as the one opaque op ``e3xp::grouped_forward`` (the eager
    forward-only kernels), with the reference's numbers; with inputs that need
    gradients the traced path stays."""
    import torch

    be = get_backend("torch")
    gen = torch.Generator().manual_seed(11)
    seen = []

    def recording_backend(gm, example_inputs):
        seen.append({str(n.target) for n in gm.graph.nodes if n.op == "call_function"})
        return gm.forward

    for key in ("mace", "full", "fc"):
        plan = _plans()[key] if key in _plans() else P.full_tensor_product_plan("2x0e+1x1o", "0e+1o+2e")
        shapes = [(2, 3, plan.irreps_in1.dim), (3, plan.irreps_in2.dim)]
        if plan.weight_numel:
            shapes.append((plan.weight_numel,) if key == "fc" else (2, 3, plan.weight_numel))
        args = [torch.randn(*s, dtype=torch.float64, generator=gen) for s in shapes]
        ref = P.execute_plan_reference(plan, *(a.numpy() for a in args), *([None] if len(args) == 2 else []))
        f = lambda *a: be.tensor_product(plan, *a)  # noqa: E731
        torch._dynamo.reset()
        seen.clear()
        with torch.no_grad():
            out = torch.compile(f, fullgraph=True, backend=recording_backend)(*args)
        assert _err(out.numpy(), ref) < 1e-12
        assert any("e3xp.grouped_forward" in t for t in seen[-1]), seen
        torch._dynamo.reset()
        seen.clear()
        leaves = [a.clone().requires_grad_(True) for a in args]
        out = torch.compile(f, fullgraph=True, backend=recording_backend)(*leaves)
        assert out.requires_grad and _err(out.detach().numpy(), ref) < 1e-12
        assert not any("e3xp.grouped_forward" in t for t in seen[-1])


def test_dispatch_decides_the_kernel():
    """The one dispatch function per backend and operation: which kernel runs for a
    schedule, shared weights or not, with or without an autograd graph, eager or compiled.
    (That the chosen kernel really runs is checked above: grad_fn names, custom ops.)"""
    plans = _plans()
    sched = {key: prepare("tp", plan)[0] for key, plan in plans.items()}
    sched["full"] = prepare("tp", P.full_tensor_product_plan("2x0e+1o", "0e+1o"))[0]
    sched["ungrouped"] = prepare("tp", P.full_tensor_product_plan("2x0e+1o", "2x1o"))[0]
    harm = {lmax: prepare("sh", (8, (0, lmax), "component"))[0] for lmax in (3, 5, 8)}

    from e3xp.backends.numpy import tensor_product_path as numpy_path

    assert {key: numpy_path(s) for key, s in sched.items()} == {
        "mace": "generic", "mixed": "generic", "odd": "generic", "fc": "generic", "full": "per_path", "ungrouped": "generic"}
    if HAS["torch"]:
        from e3xp.backends.torch import harmonics_path, linear_path, tensor_product_path

        # (shared, graph, compiling) -> path, per schedule
        cases = [(False, False, False), (False, True, False), (True, False, False), (True, True, False),
                 (False, False, True), (False, True, True), (True, False, True), (True, True, True)]
        want = {
            # compiled with a graph: built-in ops only ("plain_graph", tests/test_compile_forces.py)
            "mace": ["forward_only", "graph", "forward_only", "graph", "opaque", "plain_graph", "opaque", "plain_graph"],
            "full": ["forward_only", "graph", "forward_only", "graph", "opaque", "plain_graph", "opaque", "plain_graph"],
            "mixed": ["graph"] * 4 + ["plain_graph"] * 4,
            "fc": ["graph", "graph", "fully_connected", "fully_connected_autograd", "plain_graph", "plain_graph", "opaque",
                   "plain_graph"],
            "ungrouped": ["generic"] * 8,
        }
        for key, paths in want.items():
            assert [tensor_product_path(sched[key], *c) for c in cases] == paths, key
        assert [linear_path(*c) for c in cases] == ["generic"] * 2 + ["forward_only", "shared"] + ["generic"] * 2 + ["shared"] * 2
        assert [harmonics_path(harm[l], g, c) for l in (3, 8) for g in (False, True) for c in (False, True)] == [
            "in_place", "polynomial", "autograd", "polynomial", "in_place", "opaque", "autograd", "sparse"]
    if HAS["jax"]:
        from e3xp.backends.jax import harmonics_path, tensor_product_path

        assert [tensor_product_path(sched[k], s) for k in ("mace", "full", "mixed", "fc", "ungrouped") for s in (False, True)] == [
            "grouped", "grouped", "grouped", "grouped", "generic", "generic", "generic", "fully_connected", "generic", "generic"]
        assert [harmonics_path(harm[l]) for l in (3, 5, 8)] == ["polynomial", "sparse", "dense"]


@pytest.mark.parametrize("name", BACKENDS)
def test_prepared_gives_schedule_and_constants_on_the_backend(name):
    """``e3xp.backends.prepared``: the typed schedule and the float64 constants in the
    requested dtype as arrays of the backend (for layers that hold them as buffers)."""
    from e3xp.backends import prepared
    from e3xp.core.schedule import HarmonicsSchedule, LinearSchedule, TensorProductSchedule
    from e3xp.core.spherical_harmonics import spherical_harmonics_plan

    be = get_backend(name)
    plan = _plans()["mace"]
    schedule, consts = prepared(plan, name, dtype="float32")
    want_schedule, want = prepare("tp", plan)
    assert isinstance(schedule, TensorProductSchedule) and schedule == want_schedule
    assert len(consts) == len(want)
    for c, w in zip(consts, want):
        assert be.is_array(c) and c.dtype == be.float_dtype("float32")
        assert np.array_equal(be.to_numpy(c), w.astype(np.float32))
    schedule, consts = prepared(P.linear_plan("2x0e", "3x0e"), be, dtype="float64")
    assert isinstance(schedule, LinearSchedule) and consts == ()
    schedule, mats = prepared(spherical_harmonics_plan(3), be, dtype="float64", ls=[3, 1], normalization="norm")
    assert isinstance(schedule, HarmonicsSchedule) and schedule.ls == (3, 1) and len(mats) == 3
    assert np.array_equal(be.to_numpy(mats[2]), spherical_harmonics_plan(3).matrix(3))
    with pytest.raises(TypeError, match="plan must be"):
        prepared("1o", be)
