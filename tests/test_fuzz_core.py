"""Fuzzing the core entry points with hypothesis (issue 13).

Random irreps strings (valid and not), arbitrary Python values, random shapes and
selectors go into ``Irreps``, ``IrrepsArray`` and ``tensor_product`` (numpy). The
only outcomes allowed are a correct result, checked against invariants (dim,
``str`` round trip, the selection rule), or a ValueError/TypeError whose message
names the offending value. Bounded: at most 200 examples a test, no deadline.
"""

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from e3xp import Irreps
from e3xp.core.irreps import Irrep, MulIrrep, selected_irreps
from e3xp.irreps_array import IrrepsArray
from e3xp.ops import tensor_product

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- strategies ------------------------------------------------------------------------

_space = st.sampled_from(["", "", " ", "  ", "\t"])


@st.composite
def irreps_text(draw):
    """Mostly well-formed irreps strings, with random spacing and optional multiplicities."""
    terms = []
    for _ in range(draw(st.integers(0, 4))):
        mul = draw(st.one_of(st.none(), st.integers(0, 12)))
        l = draw(st.integers(0, 7))
        par = draw(st.sampled_from("eoy"))
        s = f"{draw(_space)}{l}{draw(_space)}{par}{draw(_space)}"
        if mul is not None:
            s = f"{draw(_space)}{mul}{draw(_space)}x{s}"
        terms.append(s)
    return "+".join(terms)


# Strings near the grammar: its own characters, plus a few that must be refused.
_near_text = st.text(alphabet="0123456789xeoy +-.,*()X\n", max_size=14)
_any_text = st.text(max_size=10)
_mutated = st.tuples(irreps_text(), st.integers(0, 30), _near_text).map(
    lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :]
)
irreps_strings = st.one_of(irreps_text(), _near_text, _any_text, _mutated)

_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 5),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    irreps_strings,
    st.binary(max_size=4),
    st.sampled_from([Irrep("1o"), MulIrrep(2, "0e"), Irreps("0e + 1o")]),
)
irreps_like = st.recursive(
    _leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.sampled_from(["0e", "1o", "2e"]), st.integers(0, 3), max_size=2),
        st.frozensets(st.sampled_from(["0e", "1o", "2e"]), max_size=2),
    ),
    max_leaves=6,
)

small_irreps = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 2), st.sampled_from([1, -1])), max_size=3
).map(lambda ts: Irreps([(m, (l, p)) for m, l, p in ts]))
lead_shapes = st.lists(st.integers(1, 3), max_size=2).map(tuple)

# --- helpers -----------------------------------------------------------------------------


def _expected_dim(s: str) -> int:
    """The dim of a string the grammar accepts, computed without e3xp."""
    dim = 0
    for term in s.split("+"):
        m = re.fullmatch(r"\s*(?:(\d+)\s*x\s*)?(\d+)\s*[eoy]\s*", term, flags=re.ASCII)
        dim += int(m.group(1) or 1) * (2 * int(m.group(2)) + 1)
    return dim


def _names_the_input(msg: str, value) -> bool:
    """The message quotes the value, or a part of it (a term, an element)."""
    if repr(value) in msg or (isinstance(value, str) and value.strip() and repr(value.strip()) in msg):
        return True
    if isinstance(value, str):
        return any(repr(t.strip()) in msg for t in value.split("+"))
    if isinstance(value, (list, tuple)):
        return any(_names_the_input(msg, v) for v in value) or any(repr(v) in msg for v in value)
    return False


# --- Irreps --------------------------------------------------------------------------------


@FUZZ
@given(irreps_strings)
def test_irreps_from_strings(s):
    try:
        irreps = Irreps(s)
    except ValueError as e:
        assert _names_the_input(str(e), s), (s, str(e))
        assert "expected" in str(e) or "is not of the form" in str(e), str(e)
        return
    assert irreps.dim == (_expected_dim(s) if s.strip() else 0)
    assert Irreps(str(irreps)) == irreps
    assert Irreps(repr(irreps)) == irreps
    assert str(irreps).isascii()


@FUZZ
@given(irreps_like)
def test_irreps_from_anything(value):
    try:
        irreps = Irreps(value)
    except (TypeError, ValueError) as e:
        assert _names_the_input(str(e), value), (value, str(e))
        return
    assert not isinstance(value, (set, frozenset, dict, bytes, float, bool))
    assert Irreps(str(irreps)) == irreps
    assert irreps.dim == sum(m.mul * (2 * m.ir.l + 1) for m in irreps)


@FUZZ
@given(st.text(alphabet="0123456789", min_size=1, max_size=3), st.sampled_from("eo"))
def test_non_ascii_digits_are_refused(digits, parity):
    # "\\d" in a str pattern matches any Unicode digit; "٣e" must not parse as 3e.
    arabic = digits.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    with pytest.raises(ValueError, match=re.escape(repr(arabic + parity))):
        Irreps(arabic + parity)
    assert Irreps(digits + parity).dim == 2 * int(digits) + 1


# --- IrrepsArray ----------------------------------------------------------------------------


@FUZZ
@given(st.one_of(irreps_text(), _near_text), st.lists(st.integers(0, 12), max_size=3).map(tuple))
def test_irreps_array_shapes(s, shape):
    try:
        irreps = Irreps(s)
    except ValueError:
        with pytest.raises(ValueError, match=re.escape(repr(s.strip())) + "|" + re.escape(repr(s))):
            IrrepsArray(s, np.zeros(shape))
        return
    if shape and shape[-1] == irreps.dim:
        x = IrrepsArray(s, np.zeros(shape))
        assert x.irreps == irreps and x.shape == shape
        return
    with pytest.raises(ValueError) as err:
        IrrepsArray(s, np.zeros(shape))
    msg = str(err.value)
    assert ("has no last axis" in msg) if not shape else (f"(..., {shape[-1]})" in msg and f"dim {irreps.dim}" in msg)


# --- tensor_product (numpy) --------------------------------------------------------------------


def _selection_rule(x: Irreps, y: Irreps, keep) -> Irreps:
    """What tensor_product must return: every allowed ir_out, mul1 * mul2 times, regrouped."""
    out = [
        (m1.mul * m2.mul, ir)
        for m1 in x.regroup()
        for m2 in y.regroup()
        for ir in m1.ir * m2.ir
        if keep is None or ir in keep
    ]
    return Irreps(out).regroup()


_filters = st.one_of(
    st.none(),
    st.lists(st.sampled_from(["0e", "0o", "1o", "1e", "2e", "2o", "3o"]), max_size=3),
    st.frozensets(st.sampled_from(["0e", "1o", "1e", "2e"]), max_size=3),
    st.sampled_from(["0e + 1e", "2e", Irrep("1o"), Irreps("1o + 1e")]),
)


@FUZZ
@given(small_irreps, small_irreps, lead_shapes, lead_shapes, _filters)
def test_tensor_product(ix, iy, sx, sy, filter_ir_out):
    rng = np.random.default_rng(0)
    x = IrrepsArray(ix, rng.standard_normal(sx + (ix.dim,)))
    y = IrrepsArray(iy, rng.standard_normal(sy + (iy.dim,)))
    keep = None if filter_ir_out is None else {m.ir for m in Irreps(list(filter_ir_out) if isinstance(filter_ir_out, frozenset) else filter_ir_out)}
    expected = _selection_rule(ix, iy, keep)
    errors = []  # a filter that leaves nothing is not an error: empty irreps (e3nn-jax)
    try:
        lead = np.broadcast_shapes(sx, sy)
    except ValueError:
        errors.append(re.escape(f"leading shapes {sx} and {sy}"))
    if errors:  # either error may come first when both apply
        with pytest.raises(ValueError, match="|".join(errors)):
            tensor_product(x, y, filter_ir_out=filter_ir_out)
        return
    z = tensor_product(x, y, filter_ir_out=filter_ir_out)
    assert z.irreps == expected
    assert z.array.shape == tuple(lead) + (expected.dim,)
    assert np.all(np.isfinite(z.array))


@FUZZ
@given(irreps_like)
def test_tensor_product_filter_anything(filter_ir_out):
    x = IrrepsArray("0e + 1o", np.arange(4.0))
    try:
        keep = None if filter_ir_out is None else selected_irreps(filter_ir_out, "filter_ir_out")
    except (TypeError, ValueError):
        # An error from tensor_product too, naming the argument (with several bad
        # elements, which one is reported first may differ).
        with pytest.raises((TypeError, ValueError), match=re.escape("filter_ir_out=")):
            tensor_product(x, x, filter_ir_out=filter_ir_out)
        return
    expected = _selection_rule(x.irreps, x.irreps, keep)  # may be empty: empty irreps, as e3nn-jax
    z = tensor_product(x, x, filter_ir_out=filter_ir_out)
    assert z.irreps == expected and z.array.shape == (expected.dim,)


# --- regressions found by the fuzzers above ------------------------------------------------------


@pytest.mark.parametrize("s", ["٣e", "1x٢o", "２e", "0e + ３x1o"])
def test_regression_unicode_digits_are_not_degrees(s):
    with pytest.raises(ValueError, match="cannot parse irreps"):
        Irreps(s)
    with pytest.raises(ValueError, match="cannot parse irrep"):
        Irrep(s.replace("1x", ""))


@pytest.mark.parametrize("bad", ["5y-", ["0e", "2q"], ("1o", "x1e")])
def test_regression_unparseable_filter_ir_out_is_a_value_error(bad):
    # It was a TypeError "filter_ir_out=... is not understood" that hid the parse error.
    x = IrrepsArray("0e + 1o", np.arange(4.0))
    term = bad if isinstance(bad, str) else bad[-1]
    with pytest.raises(ValueError, match=re.escape("filter_ir_out=") + ".*" + re.escape(repr(term))):
        tensor_product(x, x, filter_ir_out=bad)


@pytest.mark.parametrize("irreps_out", ["0x0e", "0x1o + 0x2e"])
def test_regression_zero_multiplicity_harmonics_request(irreps_out):
    # Once "max() arg is an empty sequence"; multiplicities are allowed now (e3nn-jax),
    # so zero multiplicities give an empty result, as e3nn-jax does.
    from e3xp.ops import spherical_harmonics

    y = spherical_harmonics(irreps_out, np.array([0.3, -0.4, 0.5]))
    assert y.irreps == Irreps(irreps_out) and y.shape == (0,)


# --- spherical_harmonics requests ------------------------------------------------------------------

_degrees = st.one_of(
    st.integers(-2, 6),
    st.integers(0, 6).map(np.int64),
    st.integers(0, 6).map(np.array),
    st.floats(0, 6).map(lambda f: round(f * 2) / 2),
    st.booleans(),
)
sh_requests = st.one_of(
    _degrees,
    st.lists(_degrees, max_size=3),
    st.lists(_degrees, max_size=3).map(tuple),
    irreps_text(),
    _near_text,
    st.frozensets(st.integers(0, 3), max_size=2),
)


@FUZZ
@given(sh_requests)
def test_spherical_harmonics_requests(irreps_out):
    from e3xp.ops import spherical_harmonics

    v = np.array([[0.3, -0.4, 0.5]])
    outcomes = []
    for _ in range(2):  # the second call meets a warm store: same outcome
        try:
            y = spherical_harmonics(irreps_out, v)
            outcomes.append(("ok", str(y.irreps)))
        except (TypeError, ValueError) as e:
            msg = str(e)
            assert msg.startswith("spherical_harmonics") or "cannot parse irreps" in msg, msg
            outcomes.append((type(e).__name__, msg))
    assert outcomes[0] == outcomes[1]
    if outcomes[0][0] != "ok":
        return
    irreps = Irreps(outcomes[0][1])
    assert all(m.ir.p == (-1) ** m.ir.l for m in irreps)  # any multiplicity (e3nn-jax)
    assert y.array.shape == (1, irreps.dim)
    if isinstance(irreps_out, (list, tuple)) and irreps_out and not isinstance(irreps_out[0], str):
        assert irreps.ls == [int(l) for l in irreps_out]


def test_regression_selectors_mean_the_same_through_the_store():
    # The store key turned tuples into lists, and inside a selector a tuple is one
    # irrep while a list is irreps: [("0", None)] gave a TypeError directly and a
    # ValueError through tensor_product; [1, -1] was 1o for tensor_product only.
    from e3xp._static import selector_from_key, selector_key

    for sel in (["2e", ["1o"]], ("1o", ["0e", (1, 1)]), [[1, -1]], {"0e", (1, -1)}):
        assert selected_irreps(selector_from_key(selector_key(sel))) == selected_irreps(sel)
    assert selector_from_key(selector_key(("1o", ["0e", (1, 1)]))) == ("1o", ["0e", Irrep(1, 1)])
    x = IrrepsArray("0e + 1o", np.arange(4.0))
    for sel in ([1, -1], [[1, -1]], (1, -1), [(1, -1)]):
        assert tensor_product(x, x, filter_ir_out=sel).irreps == "2x1o"
        assert Irreps("0e + 1o + 1e").filter(keep=sel) == "1o"
        assert x.filter(keep=sel).irreps == "1o"
    for sel in ([("0", None)], [(2, "1o")]):
        with pytest.raises((TypeError, ValueError)) as direct:
            selected_irreps(sel)
        with pytest.raises(type(direct.value)):
            tensor_product(x, x, filter_ir_out=sel)
