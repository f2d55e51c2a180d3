"""Irrep / MulIrrep / Irreps: parsing, algebra and e3nn-jax semantics."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e3xp.core.irreps import Irrep, Irreps, MulIrrep

# --- parsing ------------------------------------------------------------------


def test_irrep_parse_forms():
    assert Irrep("1o") == Irrep(1, -1) == Irrep((1, -1)) == Irrep(Irrep("1o"))
    assert Irrep("1y") == Irrep("1o")
    assert Irrep("0y") == Irrep("0e")
    assert Irrep("2y") == Irrep("2e")
    assert Irrep("1o").dim == 3 and Irrep("1o").l == 1 and Irrep("1o").p == -1
    assert Irrep("0e").is_scalar() and not Irrep("0o").is_scalar() and not Irrep("1e").is_scalar()
    assert Irrep(" 3 e ") == Irrep(3, 1)


def test_irreps_parse_forms():
    assert Irreps("3x0e + 1o") == Irreps([(3, "0e"), (1, "1o")])
    assert str(Irreps("3x0e + 1o")) == "3x0e+1x1o"
    assert Irreps("16x1e + 32 x 2o") == Irreps([(16, (1, 1)), (32, (2, -1))])
    assert Irreps("3x0e + 1o").dim == 6
    assert Irreps("3x0e + 1o").num_irreps == 4
    assert Irreps("") == Irreps([]) == Irreps()
    assert len(Irreps("")) == 0 and Irreps("").dim == 0
    assert Irreps(Irrep("1o")) == "1x1o"
    assert Irreps(MulIrrep(2, "1o")) == "2x1o"
    assert Irreps(["1o", "2x0e"]) == "1o + 2x0e"
    assert Irreps("1x1e") == Irreps("1e")
    assert Irreps("0x1e").dim == 0 and len(Irreps("0x1e")) == 1


@pytest.mark.parametrize("bad", ["1x", "2q", "-1e", "1.5e", "x1e", "1e +", "+1e", "1e ++ 2o", "e", "1"])
def test_irreps_parse_errors_quote_input(bad):
    with pytest.raises(ValueError) as err:
        Irreps(bad)
    assert repr(bad) in str(err.value) or repr(bad.strip()) in str(err.value)


@pytest.mark.parametrize("bad", ["1x", "2q", "-1e", "1.5e", "x1e", "1e+0e"])
def test_irrep_parse_errors(bad):
    with pytest.raises(ValueError, match="cannot parse irrep"):
        Irrep(bad)


def test_bad_values():
    with pytest.raises(ValueError, match="multiplicity -1"):
        Irreps([(-1, "1e")])
    with pytest.raises(ValueError, match="parity p=2"):
        Irrep(1, 2)
    with pytest.raises(ValueError, match="l=-1"):
        Irrep(-1, 1)
    with pytest.raises(TypeError):
        Irrep(1.5, 1)
    with pytest.raises(TypeError):
        Irreps(3.0)
    with pytest.raises(TypeError):
        MulIrrep(1.0, "1e")


# --- algebra --------------------------------------------------------------------


def test_selection_rule():
    assert list(Irrep("1o") * Irrep("1o")) == ["0e", "1e", "2e"]
    assert list(Irrep("2e") * Irrep("1o")) == ["1o", "2o", "3o"]
    assert list(Irrep("0o") * Irrep("3e")) == ["3o"]
    # size check: dims of the product add up to the product of dims
    for a in Irrep.iterator(4):
        for b in Irrep.iterator(4):
            assert sum(ir.dim for ir in a * b) == a.dim * b.dim


def test_sort_order_is_e3nn_jax():
    assert list(Irrep.iterator(2)) == ["0e", "0o", "1o", "1e", "2e", "2o"]
    irs = [Irrep(x) for x in ["2o", "1e", "0o", "2e", "1o", "0e"]]
    assert sorted(irs) == ["0e", "0o", "1o", "1e", "2e", "2o"]


def test_irreps_properties():
    x = Irreps("2x0e + 1o + 3x2e")
    assert x.ls == [0, 0, 1, 2, 2, 2]
    assert x.lmax == 2
    assert x.slices() == [slice(0, 2), slice(2, 5), slice(5, 20)]
    assert x.count("2e") == 3 and x.count("2o") == 0
    assert "1o" in x and "1e" not in x and Irrep("0e") in x
    with pytest.raises(ValueError):
        Irreps("").lmax


def test_mul_add_repeat():
    assert Irreps("1e + 0e") * 2 == "2x1e + 2x0e"
    assert 2 * Irreps("1e + 0e") == "2x1e + 2x0e"
    assert Irreps("1e + 0e").repeat(2) == "1e + 0e + 1e + 0e"
    assert Irreps("1e") + "0e" == "1e + 0e"
    assert "0e" + Irreps("1e") == "0e + 1e"
    assert Irrep("1e") + Irrep("0e") == "1e + 0e"
    assert 3 * Irrep("1o") == "3x1o"
    with pytest.raises(TypeError, match="ambiguous"):
        Irreps("1e") * Irreps("1e")


def test_simplify_regroup_sort():
    assert Irreps("1e + 1e + 0e").simplify() == "2x1e + 0e"
    assert Irreps("1e + 0e + 1e").simplify() == "1e + 0e + 1e"
    assert Irreps("0x1e + 2x0e").simplify() == "2x0e"
    assert Irreps("0x1e + 2x0e").remove_zero_multiplicities() == "2x0e"
    assert Irreps("1o + 0e + 1o + 0o").regroup() == "0e + 0o + 2x1o"
    s = Irreps("2e + 1o + 1e + 0e").sort()
    assert s.irreps == "0e + 1o + 1e + 2e"
    assert s.inv == (3, 1, 2, 0)
    assert s.p == (3, 1, 2, 0)


def test_filter():
    x = Irreps("1e + 2e + 0e")
    # the e3nn 0.6.0 bug returned an empty Irreps here; the intended answer:
    assert x.filter(keep="2e + 2x1e") == "1e + 2e"
    assert x.filter(keep=["0e", "2e"]) == "2e + 0e"
    assert x.filter(keep=Irrep("0e")) == "0e"
    assert x.filter(drop="0e") == "1e + 2e"
    assert x.filter(lmax=1) == "1e + 0e"
    assert x.filter(keep=lambda m: m.ir.l > 0) == "1e + 2e"
    assert x.filter() == x
    with pytest.raises(ValueError):
        x.filter(keep="0e", drop="1e")


def test_immutable_hashable():
    x = Irreps("1o + 0e")
    assert hash(x) == hash(Irreps("1x1o+1x0e"))
    assert {x: 1}[Irreps("1o+0e")] == 1
    with pytest.raises(AttributeError):
        Irrep("1o").l = 2
    with pytest.raises(AttributeError):
        MulIrrep(1, "1o").mul = 2
    assert Irreps.spherical_harmonics(3) == "0e + 1o + 2e + 3o"
    assert Irreps.spherical_harmonics(2, p=1) == "0e + 1e + 2e"


# --- properties (hypothesis) ---------------------------------------------------

mul_irreps = st.tuples(
    st.integers(0, 5), st.integers(0, 6), st.sampled_from([1, -1])
).map(lambda t: (t[0], (t[1], t[2])))
irreps_st = st.lists(mul_irreps, max_size=8).map(Irreps)


@settings(max_examples=200, deadline=None)
@given(irreps_st)
def test_parse_str_roundtrip(x):
    assert Irreps(str(x)) == x
    assert Irreps(repr(x)) == x


@settings(max_examples=200, deadline=None)
@given(irreps_st)
def test_simplify_idempotent_and_dim_preserving(x):
    s = x.simplify()
    assert s.simplify() == s
    assert s.dim == x.dim and s.num_irreps == x.num_irreps
    assert all(m.mul > 0 for m in s)
    assert all(a.ir != b.ir for a, b in zip(s, s[1:]))


@settings(max_examples=200, deadline=None)
@given(irreps_st)
def test_sort_permutation_consistent(x):
    s = x.sort()
    assert [s.irreps[s.p[i]] for i in range(len(x))] == list(x)
    assert [x[s.inv[j]] for j in range(len(x))] == list(s.irreps)
    assert list(s.irreps) == sorted(x, key=lambda m: m.ir) or all(
        a.ir <= b.ir for a, b in zip(s.irreps, s.irreps[1:])
    )
    assert all(a.ir <= b.ir for a, b in zip(s.irreps, s.irreps[1:]))
    r = x.regroup()
    assert r.dim == x.dim and r == r.regroup()


# --- against e3nn-jax ------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(irreps_st)
def test_against_e3nn_jax(x):
    e3nn_jax = pytest.importorskip("e3nn_jax")

    def conv(irreps):
        return Irreps([(m.mul, (m.ir.l, m.ir.p)) for m in irreps])

    ref = e3nn_jax.Irreps([(m.mul, (m.ir.l, m.ir.p)) for m in x])
    assert conv(ref) == x
    assert x.simplify() == conv(ref.simplify())
    assert x.regroup() == conv(ref.regroup())
    s, rs = x.sort(), ref.sort()
    assert s.irreps == conv(rs.irreps)
    assert tuple(s.p) == tuple(rs.p) and tuple(s.inv) == tuple(rs.inv)
    assert x.dim == ref.dim and x.num_irreps == ref.num_irreps
    assert x * 3 == conv(ref * 3)
    assert x.filter(lmax=2) == conv(ref.filter(lmax=2))


def test_irreps_from_e3nn_and_e3nn_jax_objects():
    # e3nn's Irrep is an (l, p) tuple whose len() raises and whose iteration gives the
    # two ints; e3nn-jax's are plain objects: both convert by their l, p (and mul)
    o3 = pytest.importorskip("e3nn.o3")
    assert Irreps(o3.Irreps("2x0e + 1o + 0x2e")) == Irreps("2x0e + 1o + 0x2e")
    assert Irrep(o3.Irrep("1o")) == Irrep("1o")
    assert Irreps(o3.Irrep("2e")) == Irreps("2e")  # one irrep, not its (l, p) read as two
    assert Irreps([o3.Irrep("1o"), (2, o3.Irrep("0e"))]) == Irreps("1o + 2x0e")
    ej = pytest.importorskip("e3nn_jax")
    assert Irreps(ej.Irreps("2x0e + 1o")) == Irreps("2x0e + 1o")
    assert Irreps(ej.Irrep("2o")) == Irreps("2o") and Irrep(ej.Irrep("1e")) == Irrep("1e")
