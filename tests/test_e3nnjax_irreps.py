"""Issue 15 (drop-in for e3nn-jax): the Irreps / Irrep methods, against e3nn-jax 0.21 and by properties.

Each method is compared with e3nn-jax on random irreps (zero multiplicities
included), then checked by a property that does not need e3nn-jax.
"""

import math
import warnings

import numpy as np
import pytest

from e3xp import Irrep, Irreps, IrrepsArray
from e3xp.core.irreps import SliceIndexError, SliceStepError


def _e3nn():
    pytest.importorskip("jax")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytest.importorskip("e3nn_jax")


def random_irreps(rng, n_max: int = 5, mul_max: int = 3, l_max: int = 2) -> Irreps:
    """Random irreps, zero multiplicities and repeated adjacent irreps included."""
    n = int(rng.integers(0, n_max + 1))
    muls, ls = rng.integers(0, mul_max + 1, size=n), rng.integers(0, l_max + 1, size=n)
    return Irreps([(int(m), (int(l), int(rng.choice([-1, 1])))) for m, l in zip(muls, ls)])


def _from_ref(ref) -> Irreps:
    return Irreps([(mul, (ir.l, ir.p)) for mul, ir in ref])


def _ref_or_error(fn):
    """``fn()``'s result, or the exception it raised (e3nn-jax raises assorted types)."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - any error of the reference is compared as "an error"
        return e


SEEDS = range(40)


# --- against e3nn-jax ---------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_irreps_methods_equal_e3nn_jax(seed):
    e3nn = _e3nn()
    rng = np.random.default_rng(seed)
    ours = random_irreps(rng)
    ref = e3nn.Irreps(str(ours)) if len(ours) else e3nn.Irreps("")
    assert _from_ref(ref) == ours
    assert ours.mul_gcd == ref.mul_gcd
    assert ours.is_scalar() == ref.is_scalar()
    assert ours.num_irreps == ref.num_irreps and ours.ls == ref.ls and ours.dim == ref.dim
    lmax = _ref_or_error(lambda: ref.lmax)
    if isinstance(lmax, Exception):
        with pytest.raises(ValueError, match="no irrep of nonzero multiplicity"):
            ours.lmax
    else:
        assert ours.lmax == lmax
    assert ours.unify() == _from_ref(ref.unify())
    assert ours.simplify() == _from_ref(ref.simplify())
    assert ours.remove_zero_multiplicities() == _from_ref(ref.remove_zero_multiplicities())
    m = int(rng.integers(0, 4))
    assert ours.set_mul(m) == _from_ref(ref.set_mul(m))
    d = int(rng.integers(1, 4))
    assert ours // d == _from_ref(ref // d)
    for ir in ["0e", "1o", "2e"]:
        assert ours.count(ir) == ref.count(ir)
    for _ in range(6):
        a, b = (int(v) for v in rng.integers(-1, ours.num_irreps + 2, size=2))
        expected = _ref_or_error(lambda: ref.slice_by_mul[a:b])
        if isinstance(expected, Exception):
            with pytest.raises(ValueError):
                ours.slice_by_mul[a:b]
        else:
            assert ours.slice_by_mul[a:b] == _from_ref(expected), (ours, a, b)
        assert ours.slice_by_mul[a:] == _from_ref(ref.slice_by_mul[a:])
        a, b = sorted(int(v) for v in rng.integers(0, len(ours) + 2, size=2))
        assert ours.slice_by_chunk[a:b] == _from_ref(ref.slice_by_chunk[a:b])
        a, b = (int(v) for v in rng.integers(0, ours.dim + 1, size=2))
        expected = _ref_or_error(lambda: ref.slice_by_dim[a:b])
        if isinstance(expected, Exception):
            with pytest.raises(ValueError, match="inside an irrep" if a <= b else None):
                ours.slice_by_dim[a:b]
        else:
            assert ours.slice_by_dim[a:b] == _from_ref(expected), (ours, a, b)


def test_int_entries_and_documented_examples_equal_e3nn_jax():
    e3nn = _e3nn()
    # An int is the degree of an even irrep in e3nn-jax, not the harmonics' parity.
    for entries in ([1, 2], [0], [3, "1o", (2, (1, -1))]):
        assert Irreps(entries) == _from_ref(e3nn.Irreps(entries))
    assert Irreps([1, 2]) == "1x1e + 1x2e"
    assert Irreps("0e + 0x1e + 0e").unify() == _from_ref(e3nn.Irreps("0e + 0x1e + 0e").unify())
    assert Irreps("1e + 0x2e + 3x0e").slice_by_mul[1:2] == _from_ref(e3nn.Irreps("1e + 0x2e + 3x0e").slice_by_mul[1:2])
    assert Irreps("100x0e + 50x1e + 0x2e").lmax == e3nn.Irreps("100x0e + 50x1e + 0x2e").lmax == 1


# Another slice of issue 15 adds these (rotations: log coordinates, Irreps.generators).
OTHER_SLICES = {"D_from_log_coordinates", "generators"}


def test_irrep_api_matches_e3nn_jax():
    e3nn = _e3nn()
    for ours, ref in ((Irrep, e3nn.Irrep), (Irreps, e3nn.Irreps)):
        public = {n for n in dir(ref) if not n.startswith("_")} - OTHER_SLICES
        missing = public - {n for n in dir(ours) if not n.startswith("_")}
        assert not missing, f"{ours.__name__} lacks e3nn-jax's {sorted(missing)}"


# --- properties -----------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_irreps_slices_partition(seed):
    rng = np.random.default_rng(seed)
    irreps = random_irreps(rng)
    for k in range(irreps.num_irreps + 1):
        left, right = irreps.slice_by_mul[:k], irreps.slice_by_mul[k:]
        assert left.num_irreps == k and right.num_irreps == irreps.num_irreps - k
        assert (left + right).simplify() == irreps.simplify()
    # cut at every irrep border: the two halves add up to the whole
    for k in range(len(irreps) + 1):
        cut = irreps[:k].dim
        assert (irreps.slice_by_dim[:cut] + irreps.slice_by_dim[cut:]).simplify() == irreps.simplify()
        assert irreps.slice_by_chunk[:k] + irreps.slice_by_chunk[k:] == irreps
    assert irreps.slice_by_chunk[::-1] == Irreps(list(irreps)[::-1])


@pytest.mark.parametrize("seed", SEEDS)
def test_irreps_unify_mul_gcd_set_mul_properties(seed):
    rng = np.random.default_rng(seed)
    irreps = random_irreps(rng)
    u = irreps.unify()
    assert u.dim == irreps.dim and u.simplify() == irreps.simplify()
    assert all(a.ir != b.ir for a, b in zip(u, u[1:]))  # no two adjacent equal irreps left
    g = irreps.mul_gcd
    assert g == math.gcd(*irreps.muls)
    if g:
        assert all(mul % g == 0 for mul in irreps.muls) and (irreps // g) * g == irreps
    assert irreps.set_mul(2).muls == (2,) * len(irreps)
    nonzero = [mul_ir.ir.l for mul_ir in irreps if mul_ir.mul]
    if nonzero:
        assert irreps.lmax == max(nonzero) == max(irreps.ls)
    assert irreps.is_scalar() == (len(irreps) > 0 and all(ir == "0e" for _, ir in irreps))


def test_irreps_bad_input_names_the_argument():
    irreps = Irreps("2x0e + 1o")
    with pytest.raises(TypeError, match=r"set_mul\(mul=1.5\)"):
        irreps.set_mul(1.5)
    with pytest.raises(ValueError, match=r"set_mul\(mul=-1\)"):
        irreps.set_mul(-1)
    with pytest.raises(ValueError, match="divisor must be an int > 0"):
        irreps // 0
    with pytest.raises(TypeError):
        irreps // 1.5
    with pytest.raises(SliceIndexError, match=r"slice_by_mul\[1\]: expected a slice") as e:
        irreps.slice_by_mul[1]
    assert isinstance(e.value, IndexError)  # what e3nn-jax raises, too
    with pytest.raises(SliceStepError, match="step other than 1") as e:
        irreps.slice_by_dim[::2]
    assert isinstance(e.value, NotImplementedError)
    with pytest.raises(ValueError, match=r"slice_by_dim\[1:3\] of 2x0e\+1x1o cuts the entry 1x1o"):
        irreps.slice_by_dim[1:3]
    with pytest.raises(TypeError, match="an int degree l"):
        Irreps([True])
    with pytest.raises(ValueError, match="must be >= 0"):
        Irreps([-1])
    with pytest.raises(ValueError, match="no irrep of nonzero multiplicity"):
        Irreps("0x1o").lmax


def test_scalar_irreps_array_plus_number_still_works_for_empty_irreps():
    # Irreps("").is_scalar() is now False (e3nn-jax), but adding a number to an
    # IrrepsArray with no irreps stays allowed, as in e3nn-jax's __add__.
    x = IrrepsArray("", np.zeros((2, 0)))
    assert (x + 1.0).shape == (2, 0)
    y = IrrepsArray("0e + 0x1o", np.ones(1))
    with pytest.raises(ValueError, match="not equivariant"):
        y + 1.0
