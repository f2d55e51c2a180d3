"""Issue 13, core side: bad input is refused the same way whatever the call history.

Each test here failed before its fix: ambiguous containers as Irreps, bytes,
cache keys that conflated ``13.0``/``13`` and ``True``/``1``, sets as selectors,
0-d arrays as degrees, and rotation conversions that accepted non-rotations.
"""

import os
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
