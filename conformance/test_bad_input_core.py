"""Bad input to the core entry points (issue 13), on every backend.

The cases of issue 13 that involve arrays: degrees given as floats, bools or
arrays, selectors given as sets or with a bool parity, and ambiguous containers
as irreps. Each must raise the same error whatever ran before (the static
store's keys are typed), or, where the input is meaningful (a 0-d integer
array as a degree, a set as a membership test), give the same result as the
plain form. Rotation conversions are NumPy-only and tested in
tests/test_core_input_validation.py.
"""

import re

import numpy as np
import pytest

from e3xp import Irreps
from e3xp.irreps_array import IrrepsArray
from e3xp.ops import elementwise_tensor_product, spherical_harmonics, tensor_product, tensor_square


def _vectors(xp):
    return xp.asarray(np.array([[0.3, -0.4, 0.5], [1.0, 0.2, -0.1]]))


def _same(xp, a: IrrepsArray, b: IrrepsArray):
    assert a.irreps == b.irreps
    np.testing.assert_allclose(xp.to_numpy(a), xp.to_numpy(b), rtol=0, atol=0)


def test_integer_arrays_as_degrees(xp):
    v = _vectors(xp)
    two = xp.asarray(np.array(2), dtype="int64")
    _same(xp, spherical_harmonics(two, v), spherical_harmonics(2, v))
    zero = xp.asarray(np.array(0), dtype="int64")
    _same(xp, spherical_harmonics([zero, two], v), spherical_harmonics([0, 2], v))
    _same(xp, spherical_harmonics(np.int32(2), v), spherical_harmonics(2, v))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda xp: xp.asarray(np.array(2.0)), r"array of shape \(\) and dtype"),
        (lambda xp: xp.asarray(np.array([1, 2]), dtype="int64"), r"array of shape \(2,\) and dtype"),
        (lambda xp: xp.asarray(np.array([2]), dtype="int64"), r"array of shape \(1,\) and dtype"),
    ],
    ids=["0d-float", "1d-int", "shape-1-int"],
)
def test_other_arrays_as_degrees(xp, make, match):
    with pytest.raises(TypeError, match=r"spherical_harmonics: irreps_out is an " + match):
        spherical_harmonics(make(xp), _vectors(xp))


@pytest.mark.parametrize(
    "bad, good, match",
    [
        (5.0, 5, "irreps_out=5.0 of type float"),
        (True, 1, "irreps_out=True of type bool"),
        ([0, 2.0], [0, 2], r"contains 2.0, not an int degree"),
        ({0, 2}, [0, 2], "has no order"),
    ],
)
def test_degrees_refused_whatever_ran_before(xp, bad, good, match):
    v = _vectors(xp)
    with pytest.raises(TypeError, match=match):
        spherical_harmonics(bad, v)
    spherical_harmonics(good, v)  # now the store holds the equal-comparing request
    with pytest.raises(TypeError, match=match):
        spherical_harmonics(bad, v)


def test_bool_parity_refused_whatever_ran_before(xp):
    x = IrrepsArray("1o", _vectors(xp))
    msg = re.escape("filter_ir_out=(1, True): Irrep parity p=True")
    for f in (tensor_product, elementwise_tensor_product):
        with pytest.raises(ValueError, match=msg):
            f(x, x, filter_ir_out=(1, True))
        assert f(x, x, filter_ir_out=(1, 1)).irreps == "1e"
        with pytest.raises(ValueError, match=msg):
            f(x, x, filter_ir_out=(1, True))


@pytest.mark.parametrize("sel", [{"2e", "0e"}, frozenset({"0e + 2e"}), {(2, 1), "0e"}])
def test_sets_as_selectors(xp, sel):
    x = IrrepsArray("1o", _vectors(xp))
    _same(xp, tensor_product(x, x, filter_ir_out=sel), tensor_product(x, x, filter_ir_out=["0e", "2e"]))
    _same(xp, tensor_square(x, filter_ir_out=sel), tensor_square(x, filter_ir_out=["0e", "2e"]))
    _same(
        xp,
        elementwise_tensor_product(x, x, filter_ir_out=sel),
        elementwise_tensor_product(x, x, filter_ir_out=["0e", "2e"]),
    )
    y = IrrepsArray("0e + 1o + 2e", xp.asarray(np.arange(18.0).reshape(2, 9)))
    _same(xp, y.filter(keep=sel), y.filter(keep=["0e", "2e"]))
    _same(xp, y.filter(drop=sel), y.filter(drop=["0e", "2e"]))


def test_unparseable_selectors(xp):
    x = IrrepsArray("1o", _vectors(xp))
    with pytest.raises(ValueError, match=r"filter_ir_out=.*'2q'"):
        tensor_product(x, x, filter_ir_out={"0e", "2q"})
    with pytest.raises(ValueError, match=r"filter_ir_out='5y-'.*'5y-'"):
        tensor_product(x, x, filter_ir_out="5y-")
    with pytest.raises(TypeError, match=r"filter_ir_out=\{'0e': 1\} of type dict"):
        tensor_product(x, x, filter_ir_out={"0e": 1})


@pytest.mark.parametrize(
    "irreps, match",
    [
        ({"1o", "0e"}, "a set has no order"),
        ({"1o": 1, "0e": 1}, "a mapping is ambiguous"),
        (b"1o + 0e", "expected a str, got bytes"),
        ("٣e", re.escape("cannot parse irreps '٣e'")),
    ],
    ids=["set", "dict", "bytes", "unicode-digit"],
)
def test_ambiguous_irreps_for_arrays(xp, irreps, match):
    with pytest.raises((TypeError, ValueError), match=match):
        IrrepsArray(irreps, xp.asarray(np.zeros((2, 4))))
    assert IrrepsArray(Irreps("1o + 0e"), xp.asarray(np.zeros((2, 4)))).irreps == "1o + 0e"
