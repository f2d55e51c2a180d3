"""e3nn-jax's module-level functions (issue 15, slice "ops") on every backend.

Each function is checked against e3nn-jax 0.21 on random inputs (skipped without
it) and by a property that needs no reference (equivariance under random O(3)
elements, exact identities).
"""

import importlib.util

import numpy as np
import pytest

import e3xp
from e3xp.irreps_array import IrrepsArray
from e3xp.testing import assert_equivariant

HAS_E3NN_JAX = importlib.util.find_spec("e3nn_jax") is not None


def _tol(xp):
    return 1e-10 if xp.dtype == "float64" else 2e-5


def _data(irreps, seed, leading=(4,)):
    dim = e3xp.Irreps(irreps).dim
    return np.random.default_rng(seed).standard_normal(tuple(leading) + (dim,))


def _ref(fn_name, *args, **kwargs):
    """e3nn-jax's result (float64) for numpy data; args are (irreps, ndarray) pairs or plain values."""
    if not HAS_E3NN_JAX:
        pytest.skip("e3nn_jax is not installed")
    import jax

    jax.config.update("jax_enable_x64", True)
    import e3nn_jax

    def conv(a):
        if isinstance(a, tuple) and len(a) == 2 and isinstance(a[1], np.ndarray):
            return e3nn_jax.IrrepsArray(a[0], jax.numpy.asarray(a[1]))
        if isinstance(a, np.ndarray):
            return jax.numpy.asarray(a)
        return a

    out = getattr(e3nn_jax, fn_name)(*[conv(a) for a in args], **kwargs)
    irreps = "" if len(out.irreps) == 0 else str(out.irreps)  # e3nn-jax prints "Irreps()"
    return irreps, np.asarray(out.array, dtype=np.float64)


def _same(xp, ours, ref):
    irreps, array = ref
    assert str(ours.irreps) == irreps
    np.testing.assert_allclose(xp.to_numpy(ours), array, rtol=_tol(xp), atol=_tol(xp))


IRREPS = "2x0e + 1o + 0o + 2x2e"


# --------------------------------------------------------------------------- creation


def test_as_irreps_array_from_chunks_like(xp):
    a = _data("3x0e", 0)
    x = e3xp.as_irreps_array(xp.asarray(a))
    assert str(x.irreps) == "3x0e" and x.backend.name == xp.backend.name
    np.testing.assert_array_equal(xp.to_numpy(x), xp.to_numpy(xp.asarray(a)))
    assert e3xp.as_irreps_array(x) is x

    irreps = e3xp.Irreps(IRREPS)
    full = IrrepsArray(irreps, xp.asarray(_data(IRREPS, 1)))
    chunks = full.chunks
    # round trip: from_chunks(chunks) == the array; None chunks are zeros
    back = e3xp.from_chunks(irreps, chunks, (4,))
    np.testing.assert_array_equal(xp.to_numpy(back), xp.to_numpy(full))
    holes = e3xp.from_chunks(irreps, [None] + chunks[1:], (4,))
    expect = xp.to_numpy(full).copy()
    expect[:, :2] = 0.0
    np.testing.assert_array_equal(xp.to_numpy(holes), expect)
    empty = e3xp.from_chunks("", [], (2,), dtype=full.dtype, backend=xp.backend)
    assert empty.shape == (2, 0)

    z, o = e3xp.zeros_like(full), e3xp.ones_like(full)
    assert z.irreps == irreps and z.dtype == full.dtype and z.shape == full.shape
    assert float(np.abs(xp.to_numpy(z)).max()) == 0.0 and float(xp.to_numpy(o).min()) == 1.0


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), (0, 1)])
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_sum_mean_against_e3nn_jax(xp, op, axis):
    a = np.random.default_rng(2).standard_normal((3, 2, e3xp.Irreps(IRREPS).dim))
    ours = getattr(e3xp, op)(IrrepsArray(IRREPS, xp.asarray(a)), axis=axis)
    _same(xp, ours, _ref(op, (IRREPS, a), axis=axis))
    kept = getattr(e3xp, op)(IrrepsArray(IRREPS, xp.asarray(a)), axis=0, keepdims=True)
    assert kept.shape == (1, 2, e3xp.Irreps(IRREPS).dim)


@pytest.mark.parametrize("op", ["sum", "mean"])
def test_sum_mean_equivariant_and_exact(xp, op):
    x = IrrepsArray(IRREPS, xp.asarray(_data(IRREPS, 3, (5,))))
    assert_equivariant(lambda v: getattr(e3xp, op)(v, axis=-1), x)
    assert_equivariant(lambda v: getattr(e3xp, op)(v), x)
    # summing over everything of the regrouped scalars is the plain total
    s = IrrepsArray("4x0e", xp.asarray(np.arange(8.0).reshape(2, 4)))
    assert xp.to_numpy(e3xp.sum(s)).tolist() == [28.0]
    assert xp.to_numpy(e3xp.mean(s)).tolist() == [3.5]


@pytest.mark.parametrize("per_irrep", [False, True])
def test_dot_against_e3nn_jax_and_invariant(xp, per_irrep):
    irreps = "0e + 2x1o + 1o + 2e"  # simplifies to 0e + 3x1o + 2e on both sides
    a, b = _data(irreps, 4), _data("0e + 1o + 2x1o + 2e", 5)
    x, y = IrrepsArray(irreps, xp.asarray(a)), IrrepsArray("0e + 1o + 2x1o + 2e", xp.asarray(b))
    ours = e3xp.dot(x, y, per_irrep=per_irrep)
    _same(xp, ours, _ref("dot", (irreps, a), ("0e + 1o + 2x1o + 2e", b), per_irrep=per_irrep))
    assert_equivariant(lambda u, v: e3xp.dot(u, v, per_irrep=per_irrep), x, y)
    if not per_irrep:  # exact identity: dot(x, x) = |x|^2
        np.testing.assert_allclose(
            xp.to_numpy(e3xp.dot(x, x)), xp.to_numpy(e3xp.norm(x, squared=True, per_irrep=False)), rtol=_tol(xp)
        )


def test_cross_against_e3nn_jax_and_equivariant(xp):
    ia, ib = "2x1o + 1e", "1e + 2x1o"
    a, b = _data(ia, 6), _data(ib, 7)
    x, y = IrrepsArray(ia, xp.asarray(a)), IrrepsArray(ib, xp.asarray(b))
    ours = e3xp.cross(x, y)
    _same(xp, ours, _ref("cross", (ia, a), (ib, b)))
    assert_equivariant(e3xp.cross, x, y)
    # exact identity: x cross x = 0
    assert float(np.abs(xp.to_numpy(e3xp.cross(x, x))).max()) == 0.0


def test_where_against_e3nn_jax_and_equivariant(xp):
    a, b = _data(IRREPS, 8), _data(IRREPS, 9)
    mask = np.array([[True], [False], [True], [False]])
    x, y = IrrepsArray(IRREPS, xp.asarray(a)), IrrepsArray(IRREPS, xp.asarray(b))
    m = xp.backend.asarray(mask, device=xp.device)
    ours = e3xp.where(m, x, y)
    _same(xp, ours, _ref("where", mask, (IRREPS, a), (IRREPS, b)))
    assert_equivariant(lambda u, v: e3xp.where(m, u, v), x, y)
    # one flag per irrep (an e3xp extension): picks irrep by irrep
    n = e3xp.Irreps(IRREPS).num_irreps
    per = np.arange(4 * n).reshape(4, n) % 3 == 0
    got = xp.to_numpy(e3xp.where(xp.backend.asarray(per, device=xp.device), x, y))
    comp = np.repeat(per, [ir.dim for mul, ir in e3xp.Irreps(IRREPS) for _ in range(mul)], axis=1)
    np.testing.assert_array_equal(got, np.where(comp, xp.to_numpy(x), xp.to_numpy(y)))


def test_soft_functions_against_e3nn_jax(xp):
    t = np.linspace(-3.0, 3.0, 13)
    got = xp.backend.to_numpy(e3xp.soft_odd(xp.asarray(t)))
    np.testing.assert_allclose(got, (1 - np.exp(-(t**2))) * t, rtol=_tol(xp), atol=_tol(xp))
    a = 5.0 * _data(IRREPS, 10)
    x = IrrepsArray(IRREPS, xp.asarray(a))
    ours = e3xp.soft_normalization(x, 2.0)
    _same(xp, ours, _ref("soft_normalization", (IRREPS, a), 2.0))
    assert_equivariant(lambda v: e3xp.soft_normalization(v, 2.0), x)


# --------------------------------------------------------------------------- semantics (item 6)


@pytest.mark.parametrize(
    "op, kwargs",
    [
        ("tensor_product", {"filter_ir_out": "2o"}),
        ("elementwise_tensor_product", {"filter_ir_out": ["0o", "3e"]}),
    ],
)
def test_filter_leaving_nothing_gives_empty_irreps(xp, op, kwargs):
    a = _data("1o", 11)
    x = IrrepsArray("1o", xp.asarray(a))
    ours = getattr(e3xp, op)(x, x, **kwargs)
    assert ours.shape == (4, 0) and ours.backend.name == xp.backend.name
    irreps, _ = _ref(op, ("1o", a), ("1o", a), **kwargs)
    assert str(ours.irreps) == irreps


def test_linear_unreachable_output_is_zero_like_e3nn_jax(xp):
    a = _data("1o + 0e", 12)
    x = IrrepsArray("1o + 0e", xp.asarray(a))
    lin = e3xp.Linear("2e + 1o + 0o")
    params = lin.init(0, x)
    y = xp.to_numpy(lin.apply(params, x))
    assert params["weight"].shape == (1,)  # only 1o -> 1o has weights
    np.testing.assert_array_equal(y[:, :5], 0.0)
    np.testing.assert_array_equal(y[:, 8:], 0.0)
    w = float(xp.to_numpy(params["weight"])[0])
    np.testing.assert_allclose(y[:, 5:8], w * a[:, :3], rtol=_tol(xp))
    assert_equivariant(lambda v: lin.apply(params, v), x)
    fc = e3xp.FullyConnectedTensorProduct("1e", "0e", "0e")  # no path at all
    s = IrrepsArray("0e", xp.asarray(_data("0e", 13)))
    out = fc.apply(fc.init(0, s, s), s, s)
    assert out.shape == (4, 3) and fc.weight_numel == 0
    assert float(np.abs(xp.to_numpy(out)).max()) == 0.0
    if HAS_E3NN_JAX:
        import jax
        import e3nn_jax

        jlin = e3nn_jax.FunctionalLinear("1o + 0e", "2e + 1o + 0o")
        assert jlin.num_weights == 1
        ws = jax.numpy.asarray([w])
        ref = [np.asarray(jlin(ws, e3nn_jax.IrrepsArray("1o + 0e", jax.numpy.asarray(row))).array) for row in a]
        np.testing.assert_allclose(np.stack(ref), y, rtol=_tol(xp), atol=_tol(xp))


@pytest.mark.parametrize(
    "irreps_out, p", [("3x1o + 2e + 2x4e", "1o"), ("2x0e + 0x1o + 7o", "1o"), ("0e + 1e + 2x3e", "1e")]
)
def test_spherical_harmonics_multiplicities_any_l(xp, irreps_out, p):
    a = _data("1o", 14)
    v = IrrepsArray(p, xp.asarray(a))
    ours = e3xp.spherical_harmonics(irreps_out, v, algorithm=("recursive", "dense"))
    _same(xp, ours, _ref("spherical_harmonics", irreps_out, (p, a), True))
    assert_equivariant(lambda u: e3xp.spherical_harmonics(irreps_out, u), v)
    # each copy of a harmonic equals the single harmonic of that degree
    for (mul, ir), chunk in zip(ours.irreps, ours.chunks):
        one = xp.to_numpy(e3xp.spherical_harmonics(ir.l, v))
        for u in range(mul):
            np.testing.assert_allclose(xp.to_numpy(chunk[..., u, :]), one, rtol=_tol(xp), atol=_tol(xp))


# --------------------------------------------------------------------------- item 3


@pytest.mark.parametrize("irreps, p, degree", [("1o + 0e + 2x1o + 2e", "1o", 2), ("3x0e + 1e", "1e", 3), ("2o", "1o", 0)])
def test_tensor_product_with_spherical_harmonics(xp, irreps, p, degree):
    a, v = _data(irreps, 15), _data("1o", 16)
    v[0] = [0.0, 2.0, 0.0]  # on the polar axis (e3nn-jax's gimbal-lock branch)
    x, vec = IrrepsArray(irreps, xp.asarray(a)), IrrepsArray(p, xp.asarray(v))
    ours = e3xp.tensor_product_with_spherical_harmonics(x, vec, degree)
    _same(xp, ours, _ref("tensor_product_with_spherical_harmonics", (irreps, a), (p, v), degree))
    assert_equivariant(lambda u, w: e3xp.tensor_product_with_spherical_harmonics(u, w, degree), x, vec)
    # identity: for a regrouped input it is the tensor product with the harmonics
    xr = x.regroup()
    direct = e3xp.tensor_product(xr, e3xp.spherical_harmonics(list(range(degree + 1)), vec))
    got = e3xp.tensor_product_with_spherical_harmonics(xr, vec, degree)
    assert got.irreps == direct.irreps
    np.testing.assert_allclose(xp.to_numpy(got), xp.to_numpy(direct), rtol=_tol(xp), atol=_tol(xp))


# --------------------------------------------------------------------------- graphs (item 2)


def _ids(xp, values):
    return xp.backend.asarray(np.asarray(values), device=xp.device)


@pytest.mark.parametrize("op", ["scatter_sum", "scatter_mean", "scatter_max"])
@pytest.mark.parametrize("how", ["dst", "nel", "dst_map_back", "nel_map_back"])
def test_scatter_against_e3nn_jax(xp, op, how):
    irreps = "3x0e" if op == "scatter_max" else IRREPS
    a = _data(irreps, 17, (6,))
    dst, nel = np.array([3, 0, 3, 1, 0, 3]), np.array([2, 0, 3, 1])
    x = IrrepsArray(irreps, xp.asarray(a))
    kwargs = {"nel": nel} if how.startswith("nel") else {"dst": dst}
    if how.endswith("map_back"):
        kwargs["map_back"] = True
    elif how == "dst":
        kwargs["output_size"] = 5
    ours_kwargs = {k: (_ids(xp, v) if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}
    if op == "scatter_max" and xp.backend.name not in ("numpy", "torch", "jax", "cupy"):
        with pytest.raises(TypeError, match="no native scatter-max"):
            getattr(e3xp, op)(x, **ours_kwargs)
        return
    ours = getattr(e3xp, op)(x, **ours_kwargs)
    if op == "scatter_mean" and how == "nel_map_back":
        # e3nn-jax 0.21 fails there with this jax (it calls the removed jax.tree_map):
        # its per-segment means, repeated per slice, are what it computes
        irreps_ref, ref = _ref(op, (irreps, a), nel=nel)
        ref = np.repeat(ref, nel, axis=0)
    else:
        irreps_ref, ref = _ref(op, (irreps, a), **kwargs)
    assert str(ours.irreps) == irreps_ref
    np.testing.assert_allclose(xp.to_numpy(ours), ref, rtol=_tol(xp), atol=_tol(xp))
    if op != "scatter_max":  # a rotation commutes with sums and means over segments
        assert_equivariant(lambda v: getattr(e3xp, op)(v, **ours_kwargs), x)


def test_scatter_identities(xp):
    a = _data("0e + 1o", 18, (5,))
    x = IrrepsArray("0e + 1o", xp.asarray(a))
    dst = _ids(xp, [1, 1, 0, 2, 1])
    total = e3xp.scatter_sum(x, dst, 3)
    mean = e3xp.scatter_mean(x, dst=dst, output_size=3)
    counts = np.array([1.0, 3.0, 1.0])[:, None]
    np.testing.assert_allclose(xp.to_numpy(mean) * counts, xp.to_numpy(total), rtol=_tol(xp), atol=_tol(xp))
    # the mapped-back sums are the segment sums at each slice
    back = e3xp.scatter_sum(x, dst=dst, map_back=True)
    np.testing.assert_allclose(xp.to_numpy(back), xp.to_numpy(total)[[1, 1, 0, 2, 1]], rtol=_tol(xp), atol=_tol(xp))
    # a 2-D dst sums over the first two axes (e3nn-jax)
    d2 = e3xp.scatter_sum(xp.asarray(np.ones((2, 3, 4))), dst=_ids(xp, [[0, 1, 0], [1, 1, 0]]), output_size=2)
    np.testing.assert_allclose(xp.to_numpy(d2), np.full((2, 4), 3.0))
    # index_add is scatter_sum with e3nn-jax's argument names
    np.testing.assert_allclose(xp.to_numpy(e3xp.index_add(dst, x, 3)), xp.to_numpy(total))
    np.testing.assert_allclose(
        xp.to_numpy(e3xp.index_add(input=x, n_elements=_ids(xp, [2, 3]))),
        xp.to_numpy(e3xp.scatter_sum(x, _ids(xp, [0, 0, 1, 1, 1]), 2)),
    )


@pytest.mark.parametrize("loop", [False, True])
@pytest.mark.parametrize("with_batch", [False, True])
def test_radius_graph_against_e3nn_jax(xp, loop, with_batch):
    if xp.backend.name not in ("numpy", "torch", "jax"):
        pytest.skip("radius_graph has a data-dependent output shape: numpy / torch / jax only")
    pos = np.random.default_rng(19).standard_normal((20, 3))
    pos[5] = pos[4]  # coincident points: excluded without loop, as in e3nn-jax
    batch = (np.arange(20) < 10).astype(np.int64)
    kwargs = {"loop": loop}
    ours_batch = {"batch": _ids(xp, batch)} if with_batch else {}
    src, dst = e3xp.radius_graph(IrrepsArray("1o", xp.asarray(pos)), 0.9, **kwargs, **ours_batch)
    src, dst = xp.backend.to_numpy(src), xp.backend.to_numpy(dst)
    # independent: the pairs are exactly those within r_max (and same graph)
    r = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    m = (r < 0.9) & ((r > 0) | loop)
    if with_batch:
        m &= batch[:, None] == batch[None]
    np.testing.assert_array_equal(np.stack(np.nonzero(m)), np.stack([src, dst]))
    if HAS_E3NN_JAX:
        import jax
        import e3nn_jax

        jb = {"batch": jax.numpy.asarray(batch)} if with_batch else {}
        rs, rd = e3nn_jax.radius_graph(jax.numpy.asarray(pos), 0.9, **kwargs, **jb)
        np.testing.assert_array_equal(src, np.asarray(rs))
        np.testing.assert_array_equal(dst, np.asarray(rd))
    # size pads with the fill values, as in e3nn-jax
    n = len(src)
    s2, d2 = e3xp.radius_graph(xp.asarray(pos), 0.9, size=n + 3, loop=loop, fill_src=20, **ours_batch)
    s2, d2 = xp.backend.to_numpy(s2), xp.backend.to_numpy(d2)
    assert s2.tolist() == src.tolist() + [20] * 3 and d2.tolist() == dst.tolist() + [-1] * 3


# --------------------------------------------------------------------------- missing arguments (item 5)


def test_e3nn_jax_keyword_names(xp):
    a, b = _data(IRREPS, 20), _data("0e + 1o", 21)
    x, y = IrrepsArray(IRREPS, xp.asarray(a)), IrrepsArray("0e + 1o", xp.asarray(b))
    pairs = [
        (e3xp.tensor_product(input1=x, input2=y, filter_ir_out="1o"), _ref("tensor_product", (IRREPS, a), ("0e + 1o", b), filter_ir_out="1o")),
        (e3xp.tensor_square(input=y), _ref("tensor_square", ("0e + 1o", b))),
        (e3xp.norm(array=x, squared=True), _ref("norm", (IRREPS, a), squared=True)),
        (e3xp.norm_activation(input=y, acts=[None, "tanh"]), None),
    ]
    for ours, ref in pairs:
        if ref is not None:
            _same(xp, ours, ref)
    # gate: e3nn-jax's activation constants are quantile averages, ~1e-6 off the exact ones
    gate_irreps, gate_ref = _ref("gate", (IRREPS, a))
    ours = e3xp.gate(input=x)
    assert str(ours.irreps) == gate_irreps
    np.testing.assert_allclose(xp.to_numpy(ours), gate_ref, rtol=1e-5, atol=1e-5)
    z = IrrepsArray("1o + 0e", xp.asarray(_data("1o + 0e", 22)))
    w = IrrepsArray("0e + 1o", xp.asarray(_data("0e + 1o", 23)))
    ew = e3xp.elementwise_tensor_product(input1=z, input2=w)
    assert ew.irreps == e3xp.Irreps("1o+1o")


def test_scalar_activation_default_acts_against_e3nn_jax(xp):
    irreps = "2x0e + 0o + 1o + 0e"
    a = _data(irreps, 24)
    x = IrrepsArray(irreps, xp.asarray(a))
    ours = e3xp.scalar_activation(input=x)  # even_act gelu, odd_act soft_odd, normalized
    # e3nn-jax normalizes with a quantile average (~1e-5 off the exact constant e3xp uses)
    irreps_ref, ref = _ref("scalar_activation", (irreps, a))
    assert str(ours.irreps) == irreps_ref
    np.testing.assert_allclose(xp.to_numpy(ours), ref, rtol=1e-4, atol=1e-4)
    assert_equivariant(e3xp.scalar_activation, x)
    # explicit even_act / odd_act: the same as passing them as acts
    from e3xp.ops.gate import get_activation

    tanh = get_activation("tanh")
    odd = e3xp.scalar_activation(x, even_act=tanh, odd_act=tanh)
    explicit = e3xp.scalar_activation(x, [tanh, tanh, None, tanh])
    np.testing.assert_allclose(xp.to_numpy(odd), xp.to_numpy(explicit), rtol=_tol(xp))


@pytest.mark.parametrize("basis", ["gaussian", "cosine", "smooth_finite", "fourier"])
@pytest.mark.parametrize("start_zero, end_zero", [(True, False), (False, True), (True, True), (False, False)])
def test_soft_one_hot_linspace_start_end_zero(xp, basis, start_zero, end_zero):
    t = np.linspace(-0.5, 2.5, 31)
    kwargs = dict(start=0.0, end=2.0, number=5, basis=basis, start_zero=start_zero, end_zero=end_zero)
    if basis == "fourier" and start_zero != end_zero:
        with pytest.raises(ValueError, match="start_zero == end_zero"):
            e3xp.soft_one_hot_linspace(xp.asarray(t), **kwargs)
        return
    ours = xp.backend.to_numpy(e3xp.soft_one_hot_linspace(input=xp.asarray(t), **kwargs))
    if HAS_E3NN_JAX:
        import jax
        import e3nn_jax

        jax.config.update("jax_enable_x64", True)
        ref = np.asarray(e3nn_jax.soft_one_hot_linspace(jax.numpy.asarray(t), **kwargs))
        np.testing.assert_allclose(ours, ref, rtol=_tol(xp), atol=_tol(xp))
    # independent: a zero end leaves the first / last function zero there (bar the gaussian)
    at_ends = xp.backend.to_numpy(e3xp.soft_one_hot_linspace(xp.asarray(np.array([0.0, 2.0])), **kwargs))
    if basis != "gaussian":
        if start_zero:
            assert abs(at_ends[0, 0]) < 1e-6
        if end_zero:
            assert abs(at_ends[1, -1]) < 1e-6
    # cutoff=c is start_zero=end_zero=c
    if start_zero == end_zero:
        same = e3xp.soft_one_hot_linspace(xp.asarray(t), 0.0, 2.0, 5, basis=basis, cutoff=start_zero)
        np.testing.assert_array_equal(xp.backend.to_numpy(same), ours)


def test_normal_normalize_and_normalization(xp):
    irreps = "0e + 3x1o + 5e"
    x = e3xp.normal(irreps, key=0, leading_shape=(2000,), backend=xp.backend, dtype=xp.dtype, normalize=True)
    np.testing.assert_allclose(xp.to_numpy(e3xp.norm(x, squared=True)), 1.0, rtol=_tol(xp) * 10)
    y = e3xp.normal(irreps, 1, (4000,), backend=xp.backend, dtype=xp.dtype, normalization="norm")
    second = xp.to_numpy(e3xp.norm(y, squared=True)).mean(axis=0)
    np.testing.assert_allclose(second, 1.0, atol=0.1)
    # the same draws as without normalization, scaled per irrep
    z = e3xp.normal(irreps, 1, (4000,), backend=xp.backend, dtype=xp.dtype)
    scale = np.repeat([1.0] + [3**-0.5] * 3 + [11**-0.5], [1, 3, 3, 3, 11])
    np.testing.assert_allclose(xp.to_numpy(y), xp.to_numpy(z) * scale, rtol=_tol(xp), atol=_tol(xp))
    with pytest.raises(TypeError, match="seed or key"):
        e3xp.normal(irreps, 0, key=1)
    with pytest.warns(UserWarning, match="no seed"):
        e3xp.normal("1o", backend=xp.backend, dtype=xp.dtype)


# --------------------------------------------------------------------------- item 4


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"biases": True}, {"path_normalization": "path"}, {"gradient_normalization": "element", "biases": [True, False, False]}],
)
def test_functional_linear_against_e3nn_jax(xp, kwargs):
    irreps_in, irreps_out = "2x0e + 1o + 3x0e + 0x2e", "3x0e + 2x1o + 2e"
    lin = e3xp.FunctionalLinear(irreps_in, irreps_out, **kwargs)
    ws = np.random.default_rng(25).standard_normal(lin.num_weights)
    a = _data(irreps_in, 26)
    x = IrrepsArray(irreps_in, xp.asarray(a))
    ours = lin(xp.asarray(ws), x)
    assert_equivariant(lambda v: lin(xp.asarray(ws), v), x)
    # the matrix is the map on the basis vectors (biases left out)
    m = xp.backend.to_numpy(lin.matrix(xp.asarray(ws)))
    nob = e3xp.FunctionalLinear(irreps_in, irreps_out, **{k: v for k, v in kwargs.items() if k != "biases"})
    np.testing.assert_allclose(
        a @ m, xp.to_numpy(nob(xp.asarray(ws[: nob.num_weights]), x)), rtol=_tol(xp), atol=_tol(xp)
    )
    if not HAS_E3NN_JAX:
        return
    import jax
    import e3nn_jax

    ref = e3nn_jax.FunctionalLinear(irreps_in, irreps_out, **kwargs)
    assert ref.num_weights == lin.num_weights
    rows = [np.asarray(ref(jax.numpy.asarray(ws), e3nn_jax.IrrepsArray(irreps_in, jax.numpy.asarray(r))).array) for r in a]
    assert str(ours.irreps) == str(ref.irreps_out)
    np.testing.assert_allclose(xp.to_numpy(ours), np.stack(rows), rtol=_tol(xp), atol=_tol(xp))


@pytest.mark.parametrize("irrep_normalization", [None, "norm", "none"])
def test_tensor_square_normalized_input(xp, irrep_normalization):
    irreps = "0e + 2x1o + 2e"
    a = _data(irreps, 27)
    x = IrrepsArray(irreps, xp.asarray(a))
    ours = e3xp.tensor_square(input=x, irrep_normalization=irrep_normalization, normalized_input=True)
    _same(xp, ours, _ref("tensor_square", (irreps, a), irrep_normalization=irrep_normalization, normalized_input=True))
    assert_equivariant(lambda v: e3xp.tensor_square(v, normalized_input=True), x)
    # exact: a single 1o has only symmetric same-channel terms, all scaled by
    # sqrt(d (d + 2)) = sqrt(15) ("component") or sqrt((d + 2) / d) ("norm")
    v = IrrepsArray("1o", xp.asarray(_data("1o", 28)))
    factor = {None: 15.0**0.5, "norm": (5 / 3) ** 0.5, "none": 1.0}[irrep_normalization]
    np.testing.assert_allclose(
        xp.to_numpy(e3xp.tensor_square(v, irrep_normalization, normalized_input=True)),
        factor * xp.to_numpy(e3xp.tensor_square(v, irrep_normalization)),
        rtol=_tol(xp),
        atol=_tol(xp),
    )
    with pytest.raises(NotImplementedError, match="regroup_output"):
        e3xp.tensor_square(x, regroup_output=False)


# --------------------------------------------------------------------------- drop-in


def _message_passing(e3nn, pos, feats, src, dst, ws, xp_asarray):
    """A small e3nn-jax-style layer, written once against the e3nn-jax API."""
    n = pos.shape[0]
    x = e3nn.IrrepsArray("4x0e + 2x1o", feats)
    vec = e3nn.IrrepsArray("1o", pos[dst] - pos[src])
    sh = e3nn.spherical_harmonics([0, 1, 2], vec, normalize=True, normalization="component")
    msg = e3nn.tensor_product(x[src], sh, filter_ir_out="0e + 1o + 1e + 2e")
    msg = e3nn.concatenate([msg, e3nn.tensor_product_with_spherical_harmonics(x[src], vec, 1)])
    node = e3nn.scatter_sum(msg, dst=dst, output_size=n) + 0.0 * e3nn.scatter_mean(msg, dst=dst, output_size=n)
    lin = e3nn.FunctionalLinear(node.irreps, "6x0e + 2x1o + 1x1e")
    out = lin(xp_asarray(ws[: lin.num_weights]), node[0])  # FunctionalLinear takes one sample in e3nn-jax
    gated = e3nn.gate(e3nn.concatenate([out, e3nn.as_irreps_array(out.array[:2] * 0.0 + 1.0)]))
    exact = e3nn.concatenate([e3nn.dot(node, node, per_irrep=True)[0], e3nn.sum(node, axis=0), out])
    return e3nn.norm(gated), exact


def test_e3nn_jax_code_runs_unchanged(xp):
    """``import e3xp as e3nn``: the same function gives e3nn-jax's numbers on this backend."""
    if not HAS_E3NN_JAX:
        pytest.skip("e3nn_jax is not installed")
    if xp.backend.name == "array_api_strict":
        pytest.skip("the e3nn-jax code indexes with integer arrays (pos[dst]), which array_api_strict refuses")
    import jax
    import e3nn_jax

    rng = np.random.default_rng(29)
    pos, feats = rng.standard_normal((6, 3)), rng.standard_normal((6, 10))
    ws = rng.standard_normal(4000)
    src, dst = (np.asarray(i) for i in e3nn_jax.radius_graph(jax.numpy.asarray(pos), 1.8))
    assert len(src) > 0
    ours = _message_passing(
        e3xp, xp.asarray(pos), xp.asarray(feats), _ids(xp, src), _ids(xp, dst), ws, xp.asarray
    )
    ref = _message_passing(
        e3nn_jax,
        jax.numpy.asarray(pos),
        jax.numpy.asarray(feats),
        jax.numpy.asarray(src),
        jax.numpy.asarray(dst),
        ws,
        jax.numpy.asarray,
    )
    _same(xp, ours[1], (str(ref[1].irreps), np.asarray(ref[1].array)))
    # gate's activation constants: e3nn-jax's are quantile averages, up to ~2e-5 off
    # the exact ones e3xp uses (gelu); everything before the gate agrees to rounding
    assert str(ours[0].irreps) == str(ref[0].irreps)
    np.testing.assert_allclose(xp.to_numpy(ours[0]), np.asarray(ref[0].array), rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- sh


@pytest.mark.parametrize("irreps_out", [2, [0, 1, 3], "0e + 1e + 2e"])
@pytest.mark.parametrize("normalize", [True, False])
def test_sh_plain_arrays_against_e3nn_jax(xp, irreps_out, normalize):
    v = _data("1o", 7, leading=(5,))
    ours = e3xp.sh(irreps_out, xp.asarray(v), normalize=normalize)
    assert not isinstance(ours, IrrepsArray)
    # independent: sh reads the vectors as 1e, so it equals the harmonics of a 1e IrrepsArray
    direct = e3xp.spherical_harmonics(irreps_out, IrrepsArray("1e", v), normalize).array
    np.testing.assert_allclose(np.asarray(xp.to_numpy(ours)), direct, rtol=_tol(xp), atol=_tol(xp))
    if not HAS_E3NN_JAX:
        pytest.skip("e3nn_jax is not installed")
    import jax
    import e3nn_jax

    jax.config.update("jax_enable_x64", True)
    ref = np.asarray(e3nn_jax.sh(irreps_out, jax.numpy.asarray(v), normalize), dtype=np.float64)
    np.testing.assert_allclose(np.asarray(xp.to_numpy(ours)), ref, rtol=_tol(xp), atol=_tol(xp))
