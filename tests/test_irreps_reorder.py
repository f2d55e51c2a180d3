"""Public reordering of irreps entries with their data: sort(convention), select, permute.

Derivations: the e3nn convention against ``e3nn.o3.Irreps.sort`` (irreps, p, inv),
the default against e3nn-jax's ``Irreps.sort`` / ``IrrepsArray.sort``; the data of
every result against blocks cut by hand from a numpy array; permute followed by
the inverse permutation is the identity. On numpy, torch and jax (jitted).
"""

import numpy as np
import pytest

from e3xp import Irreps, IrrepsArray

IRREPS = [
    "2e + 1o + 0e + 1e + 0o",
    "0e + 0o + 2e + 2o + 1o + 1e + 0o",
    "3x0e + 2x1o + 2x1e + 0o + 3x0e + 1x2o + 2e",
    "1o",
    "2x3e + 0x1o + 3o + 0e",  # zero multiplicity entries move too
]
BACKENDS = ["numpy", "torch", "jax"]


def _blocks(irreps, a):
    out, at = [], 0
    for mul, ir in Irreps(irreps):
        out.append(a[..., at : at + mul * ir.dim])
        at += mul * ir.dim
    return out


def _by_hand(irreps, a, order):
    """Entries ``order`` of ``a`` concatenated (numpy, the independent derivation)."""
    blocks = _blocks(irreps, a)
    return np.concatenate([blocks[i] for i in order] + [a[..., :0]], axis=-1)


def _to(backend, a):
    if backend == "torch":
        torch = pytest.importorskip("torch")
        return torch.as_tensor(a)
    if backend == "jax":
        jnp = pytest.importorskip("jax.numpy")
        return jnp.asarray(a)
    return a


def _np(a):
    return np.asarray(a.detach().numpy() if hasattr(a, "detach") else a)


def _apply(backend, irreps, a, fn):
    """``fn(IrrepsArray)`` on ``backend``, jitted on jax; returns (irreps, numpy array)."""
    if backend == "jax":
        import jax

        box = {}

        def f(arr):
            y = fn(IrrepsArray(irreps, arr))
            box["irreps"] = y.irreps
            return y.array

        arr = jax.jit(f)(_to("jax", a))
        return box["irreps"], _np(arr)
    y = fn(IrrepsArray(irreps, _to(backend, a)))
    return y.irreps, _np(y.array)


def _data(irreps, seed=0):
    return np.random.default_rng(seed).standard_normal((2, 3, Irreps(irreps).dim))


@pytest.mark.parametrize("irreps", IRREPS)
def test_e3nn_convention_equals_e3nn_sort(irreps):
    o3 = pytest.importorskip("e3nn.o3")
    ref = o3.Irreps(irreps).sort()
    got = Irreps(irreps).sort(convention="e3nn")
    assert str(got.irreps) == str(ref.irreps)
    assert tuple(got.p) == tuple(ref.p) and tuple(got.inv) == tuple(ref.inv)
    assert str(Irreps(irreps).regroup(convention="e3nn")) == str(ref.irreps.simplify())


@pytest.mark.parametrize("irreps", IRREPS)
def test_default_convention_equals_e3nnjax_sort(irreps):
    e3nn_jax = pytest.importorskip("e3nn_jax")
    ref = e3nn_jax.Irreps(irreps).sort()
    got = Irreps(irreps).sort()
    assert got == Irreps(irreps).sort(convention="e3nn-jax")
    assert str(got.irreps) == str(ref.irreps) and tuple(got.p) == tuple(ref.p) and tuple(got.inv) == tuple(ref.inv)


def test_conventions_differ_exactly_on_the_parity_order():
    s = Irreps("0e + 0o + 1o + 1e + 2e + 2o + 3o + 3e")
    assert str(s.sort().irreps) == "1x0e+1x0o+1x1o+1x1e+1x2e+1x2o+1x3o+1x3e"
    assert str(s.sort(convention="e3nn").irreps) == "1x0o+1x0e+1x1o+1x1e+1x2o+1x2e+1x3o+1x3e"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("convention", ["e3nn-jax", "e3nn"])
@pytest.mark.parametrize("irreps", IRREPS)
def test_sort_moves_the_data_with_the_entries(jax_x64, backend, convention, irreps):
    a = _data(irreps)
    _, _, inv = Irreps(irreps).sort(convention)
    got_irreps, got = _apply(backend, irreps, a, lambda x: x.sort(convention=convention))
    assert got_irreps == Irreps(irreps).sort(convention).irreps
    np.testing.assert_array_equal(got, _by_hand(irreps, a, inv))
    # the same through permute(p) and select(inv)
    _, via_p = _apply(backend, irreps, a, lambda x: x.permute(Irreps(irreps).sort(convention).p))
    _, via_inv = _apply(backend, irreps, a, lambda x: x.select(inv))
    np.testing.assert_array_equal(via_p, got)
    np.testing.assert_array_equal(via_inv, got)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sort_default_equals_e3nnjax_irrepsarray_sort(jax_x64, backend):
    e3nn_jax = pytest.importorskip("e3nn_jax")
    irreps = IRREPS[2]
    a = _data(irreps)
    ref = e3nn_jax.IrrepsArray(irreps, a).sort()
    got_irreps, got = _apply(backend, irreps, a, lambda x: x.sort())
    assert str(got_irreps) == str(ref.irreps)
    np.testing.assert_array_equal(got, np.asarray(ref.array))
    _, regrouped = _apply(backend, irreps, a, lambda x: x.regroup())
    np.testing.assert_array_equal(regrouped, np.asarray(e3nn_jax.IrrepsArray(irreps, a).regroup().array))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("irreps", IRREPS)
def test_permute_then_inverse_is_the_identity(jax_x64, backend, irreps):
    n = len(Irreps(irreps))
    p = [int(i) for i in np.random.default_rng(n).permutation(n)]
    q = [0] * n
    for i, j in enumerate(p):
        q[j] = i
    a = _data(irreps, seed=1)
    moved_irreps, moved = _apply(backend, irreps, a, lambda x: x.permute(p))
    # entry i lands at p[i]
    assert [moved_irreps[p[i]] for i in range(n)] == list(Irreps(irreps))
    np.testing.assert_array_equal(moved, _by_hand(irreps, a, q))
    back_irreps, back = _apply(backend, irreps, a, lambda x: x.permute(p).permute(q))
    assert back_irreps == Irreps(irreps)
    np.testing.assert_array_equal(back, a)


@pytest.mark.parametrize("backend", BACKENDS)
def test_select_negative_and_duplicate_indices(jax_x64, backend):
    irreps = "0e + 2x1o + 2e"
    a = _data(irreps, seed=2)
    got_irreps, got = _apply(backend, irreps, a, lambda x: x.select([-1, 0, 0, 1]))
    assert got_irreps == Irreps("2e + 0e + 0e + 2x1o")
    np.testing.assert_array_equal(got, _by_hand(irreps, a, [2, 0, 0, 1]))
    empty_irreps, empty = _apply(backend, irreps, a, lambda x: x.select([]))
    assert empty_irreps == Irreps("") and empty.shape == (2, 3, 0)
    _, as_array = _apply(backend, irreps, a, lambda x: x.select(np.array([1, -3])))
    np.testing.assert_array_equal(as_array, _by_hand(irreps, a, [1, 0]))


def test_select_keeps_zero_flags():
    x = IrrepsArray("0e + 1o", np.ones(4)).extend_with_zeros("0e + 2e + 1o")
    assert x.select([1, 0]).zero_flags == (x.zero_flags[1], x.zero_flags[0])


def test_torch_gradients_follow_the_entries():
    torch = pytest.importorskip("torch")
    a = torch.randn(5, dtype=torch.float64, requires_grad=True)
    x = IrrepsArray("1o + 0e + 0e", a)
    w = torch.arange(1.0, 5.0, dtype=torch.float64)
    (x.select([1, 0]).array * w).sum().backward()
    # entry 1 (a[3]) got w[0]; entry 0 (a[0:3]) got w[1:4]; entry 2 (a[4]) nothing
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 3.0, 4.0, 1.0, 0.0])


@pytest.mark.parametrize(
    "call, err, match",
    [
        (lambda x: x.select([3]), IndexError, "entry index 3 is out of range for 3"),
        (lambda x: x.select([-4]), IndexError, "entry index -4 is out of range"),
        (lambda x: x.select([1.0]), TypeError, "entry indices must be ints"),
        (lambda x: x.select([True]), TypeError, "entry indices must be ints"),
        (lambda x: x.select(1), TypeError, "expected a sequence of entry indices"),
        (lambda x: x.select("01"), TypeError, "expected a sequence of entry indices"),
        (lambda x: x.select(np.zeros((1, 1), int)), TypeError, "1-d sequence"),
        (lambda x: x.permute([0, 1]), ValueError, r"2 positions for 3 entries"),
        (lambda x: x.permute([0, 1, -1]), ValueError, r"position -1 is outside \[0, 3\)"),
        (lambda x: x.permute([0, 2, 2]), ValueError, "position 2 appears twice, 1 never"),
        (lambda x: x.permute([0, 1, 2.0]), TypeError, "positions must be ints"),
        (lambda x: x.sort(convention="torch"), ValueError, "sort convention 'torch' is not supported"),
        (lambda x: x.irreps.sort(convention=None), ValueError, "sort convention None is not supported"),
    ],
)
def test_bad_arguments_name_the_problem(call, err, match):
    with pytest.raises(err, match=match):
        call(IrrepsArray("0e + 1o + 2e", np.arange(9.0)))
