"""Issue 13, core side: bad input is refused the same way whatever the call history.

Each test here failed before its fix: ambiguous containers as Irreps, bytes,
cache keys that conflated ``13.0``/``13`` and ``True``/``1``, sets as selectors,
0-d arrays as degrees, and rotation conversions that accepted non-rotations.
"""

import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import e3xp
from e3xp import Irreps
from e3xp.core.irreps import Irrep, MulIrrep

def _subprocess_env() -> dict:
    # The child must import this e3xp, not whichever one the venv has installed.
    src = os.path.dirname(os.path.dirname(e3xp.__file__))
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}


# --- Irreps from containers ------------------------------------------------------


@pytest.mark.parametrize("bad", [{"1o", "0e"}, frozenset({"1o"}), {"1o": 3, "0e": 2}.keys()])
def test_irreps_from_a_set_is_refused(bad):
    with pytest.raises(TypeError, match="a set has no order"):
        Irreps(bad)


def test_irreps_from_a_set_does_not_depend_on_the_hash_seed():
    # Before the fix the result was the set's iteration order: "1x1o+1x0e" under
    # one seed, "1x0e+1x1o" under another. Now every seed raises.
    code = textwrap.dedent(
        """
        from e3xp import Irreps
        try:
            print(Irreps({"1o", "0e", "2e", "3o"}))
        except TypeError as e:
            print("TypeError", "a set has no order" in str(e))
        """
    )
    env = _subprocess_env()
    outs = set()
    for seed in ("0", "1", "2", "3"):
        env["PYTHONHASHSEED"] = seed
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        outs.add(res.stdout.strip())
    assert outs == {"TypeError True"}


@pytest.mark.parametrize("bad", [{"1o": 3, "0e": 2}, {Irrep("1o"): 3}])
def test_irreps_from_a_dict_is_refused(bad):
    # e3nn-jax gives 1x1o+1x0e here (keys only): refuse instead of silently
    # dropping (or, differently from e3nn-jax, honouring) the multiplicities.
    with pytest.raises(TypeError, match=r"a mapping is ambiguous.*'3x1o \+ 2x0e'"):
        Irreps(bad)


@pytest.mark.parametrize("bad", [b"1o", bytearray(b"2x0e")])
def test_irreps_from_bytes_says_expected_str(bad):
    with pytest.raises(TypeError, match=f"expected a str, got {type(bad).__name__}"):
        Irreps(bad)
    with pytest.raises(TypeError, match=f"expected a str, got {type(bad).__name__}"):
        Irreps(["0e", bad])


def test_ordered_containers_still_work():
    assert Irreps(["1o", "2x0e"]) == "1o + 2x0e"
    assert Irreps(x for x in ["1o", "0e"]) == "1o + 0e"
    assert Irreps(((3, "1o"), MulIrrep(2, "0e"))) == "3x1o + 2x0e"
    # Filters are membership tests: a set is fine there.
    assert Irreps("0e + 1o + 2e").filter(keep={"2e", "0e"}) == "0e + 2e"


# --- validation does not depend on call history (the static store's keys) ---------

# Each pair is (invalid, valid) arguments that compare equal in Python. The child
# process calls invalid (cold store), valid, invalid again (warm store) and prints
# the outcome of each; both invalid calls must raise the same error.
_HISTORY_CHILD = textwrap.dedent(
    """
    import numpy as np
    from e3xp.irreps_array import IrrepsArray
    from e3xp.ops import spherical_harmonics, tensor_product

    v = np.array([0.3, 0.4, 0.5])
    x = IrrepsArray("1o", v)
    calls = {
        "sh": (lambda: spherical_harmonics(13.0, v), lambda: spherical_harmonics(13, v)),
        "sh_bool": (lambda: spherical_harmonics(True, v), lambda: spherical_harmonics(1, v)),
        "sh_list": (lambda: spherical_harmonics([0, 1.0], v), lambda: spherical_harmonics([0, 1], v)),
        "tp": (
            lambda: tensor_product(x, x, filter_ir_out=(1, True)),
            lambda: tensor_product(x, x, filter_ir_out=(1, 1)),
        ),
    }
    for name, (bad, good) in calls.items():
        out = []
        for f in (bad, good, bad):
            try:
                out.append(str(f().irreps))
            except (TypeError, ValueError) as e:
                out.append(f"{type(e).__name__}: {e}")
        print(repr((name, out)))
    """
)


def test_validation_does_not_depend_on_call_history():
    res = subprocess.run(
        [sys.executable, "-c", _HISTORY_CHILD], env=_subprocess_env(), capture_output=True, text=True, check=True
    )
    results = dict(eval(line) for line in res.stdout.splitlines())  # noqa: S307 - our own repr output
    assert set(results) == {"sh", "sh_bool", "sh_list", "tp"}
    for name, (cold, good, warm) in results.items():
        assert cold == warm, (name, cold, warm)
        assert cold.startswith(("TypeError", "ValueError")), (name, cold)
        assert not good.startswith(("TypeError", "ValueError")), (name, good)
    assert "irreps_out=13.0" in results["sh"][0]
    assert "p=True" in results["tp"][0]


def test_static_keys_distinguish_types():
    from e3xp._static import _typed_key

    assert _typed_key((13,)) != _typed_key((13.0,))
    assert _typed_key(((1, 1),)) != _typed_key(((1, True),))
    assert _typed_key((2,)) != _typed_key((np.int64(2),))
    assert _typed_key((((2, 0, 1), (1, 1, -1)), "x", None)) == (((2, 0, 1), (1, 1, -1)), "x", None)


# --- sets as selectors -----------------------------------------------------------------


def test_set_as_filter_ir_out_and_keep():
    from e3xp.irreps_array import IrrepsArray
    from e3xp.ops import elementwise_tensor_product, tensor_product, tensor_square

    x = IrrepsArray("1o", np.array([0.3, 0.4, 0.5]))
    for sel in ({"0e", "2e"}, frozenset({"2e", Irrep("0e")}), {(0, 1), "2e"}):
        assert tensor_product(x, x, filter_ir_out=sel).irreps == "0e + 2e"
        assert tensor_square(x, filter_ir_out=sel).irreps == "0e + 2e"
        assert elementwise_tensor_product(x, x, filter_ir_out=sel).irreps == "0e + 2e"
    # Order of a set is irrelevant: the same store entry as the sorted list.
    assert tensor_product(x, x, filter_ir_out={"2e", "0e"}).irreps == tensor_product(x, x, filter_ir_out=["0e", "2e"]).irreps
    y = IrrepsArray("0e + 1o + 2e", np.arange(9.0))
    assert y.filter(keep={"2e", "0e"}).irreps == "0e + 2e" == Irreps("0e + 1o + 2e").filter(keep={"2e", "0e"})
    assert y.filter(drop={"1o"}).irreps == "0e + 2e"
    with pytest.raises(ValueError, match="'2q'"):
        tensor_product(x, x, filter_ir_out={"2q"})
    with pytest.raises(TypeError, match=r"filter_ir_out=array\(\[1, 2\]\) of type ndarray"):
        tensor_product(x, x, filter_ir_out=np.array([1, 2]))


def test_set_selectors_under_torch_compile():
    torch = pytest.importorskip("torch")
    from e3xp.irreps_array import IrrepsArray
    from e3xp.ops import tensor_product

    def f(a):
        x = IrrepsArray("1o", a)
        return tensor_product(x, x, filter_ir_out={"2e", "0e"}).filter(keep={"0e"}).array

    a = torch.randn(4, 3, dtype=torch.float64)
    eager = f(a)
    torch._dynamo.reset()
    compiled = torch.compile(f, fullgraph=True, backend="eager")(a)
    assert torch.allclose(compiled, eager)


# --- 0-d arrays as degrees -------------------------------------------------------------


@pytest.mark.parametrize("l", [np.array(2), np.int64(2), np.uint8(2), [np.array(0), np.int32(2)]])
def test_spherical_harmonics_integer_arrays_as_degrees(l):
    from e3xp.ops import spherical_harmonics

    v = np.array([0.3, 0.4, 0.5])
    expected = spherical_harmonics([0, 2] if isinstance(l, list) else 2, v)
    out = spherical_harmonics(l, v)
    assert out.irreps == expected.irreps
    np.testing.assert_array_equal(out.array, expected.array)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.array([1, 2]), r"array of shape \(2,\) and dtype int64"),
        (np.array(2.0), r"array of shape \(\) and dtype float64"),
        (np.array(True), r"array of shape \(\) and dtype bool"),
        (2.0, "irreps_out=2.0 of type float"),
        ({1, 2}, "has no order"),
        ([1, 2.5], "contains 2.5, not an int degree"),
    ],
)
def test_spherical_harmonics_bad_degrees(bad, match):
    from e3xp.ops import spherical_harmonics

    with pytest.raises(TypeError, match=match):
        spherical_harmonics(bad, np.array([0.3, 0.4, 0.5]))


# --- rotation conversions refuse non-rotations -------------------------------------------


@pytest.mark.parametrize(
    "R, match",
    [
        (-np.eye(3), "determinant -1"),
        (np.diag([2.0, 1.0, 1.0]), "not orthogonal"),
        (np.zeros((3, 3)), "not orthogonal"),
        (np.stack([np.eye(3), np.diag([1.0, 1.0, 1.5])]), r"not orthogonal.*batch index \(1,\)"),
        (np.full((3, 3), np.nan), "must be finite"),
    ],
)
def test_matrix_conversions_refuse_non_rotations(R, match):
    from e3xp.core.rotations import matrix_to_angles, matrix_to_axis_angle, matrix_to_quaternion

    for f in (matrix_to_quaternion, matrix_to_axis_angle, matrix_to_angles):
        with pytest.raises(ValueError, match=match):
            f(R)


def test_matrix_conversions_accept_rotations():
    from e3xp.core.rotations import (
        angles_to_matrix,
        axis_angle_to_matrix,
        matrix_to_angles,
        matrix_to_axis_angle,
        matrix_to_quaternion,
        quaternion_to_matrix,
        rand_matrix,
    )

    R = rand_matrix(0, shape=(5,))
    np.testing.assert_allclose(quaternion_to_matrix(matrix_to_quaternion(R)), R, atol=1e-12)
    np.testing.assert_allclose(axis_angle_to_matrix(*matrix_to_axis_angle(R)), R, atol=1e-12)
    np.testing.assert_allclose(angles_to_matrix(*matrix_to_angles(R)), R, atol=1e-12)
    # float32 rounding is well inside the tolerance.
    np.testing.assert_allclose(angles_to_matrix(*matrix_to_angles(R.astype(np.float32))), R, atol=1e-6)


@pytest.mark.parametrize("bad", [1.0, 1.5, True, "2"])
def test_filter_lmax_must_be_an_int_whatever_ran_before(bad):
    from e3xp.irreps_array import IrrepsArray

    x = IrrepsArray("0e + 1o + 2e", np.arange(9.0))
    match = re.escape(f"filter(lmax={bad!r}): expected an int or None")
    with pytest.raises(TypeError, match=match):
        Irreps("0e + 1o + 2e").filter(lmax=bad)
    with pytest.raises(TypeError, match=match):
        x.filter(lmax=bad)
    assert x.filter(lmax=1).irreps == "0e + 1o"
    with pytest.raises(TypeError, match=match):
        x.filter(lmax=bad)
    assert Irreps("0e + 1o").filter(lmax=np.int64(0)) == "0e"
