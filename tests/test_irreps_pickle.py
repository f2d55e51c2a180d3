"""Irrep, MulIrrep and Irreps survive pickle, copy.copy and copy.deepcopy (issue 13)."""

import copy
import pickle

import pytest

from e3xp.core.irreps import Irrep, Irreps, MulIrrep

_OBJECTS = [
    Irrep("0e"),
    Irrep("3o"),
    MulIrrep(3, "1o"),
    MulIrrep(0, "2e"),
    Irreps(""),
    Irreps("3x0e + 1o + 0x2e + 5x1e"),
]


def _pickle_round_trip(protocol):
    return lambda x: pickle.loads(pickle.dumps(x, protocol=protocol))


_ROUND_TRIPS = {
    **{f"pickle{p}": _pickle_round_trip(p) for p in range(pickle.HIGHEST_PROTOCOL + 1)},
    "copy": copy.copy,
    "deepcopy": copy.deepcopy,
}


@pytest.mark.parametrize("how", sorted(_ROUND_TRIPS))
@pytest.mark.parametrize("obj", _OBJECTS, ids=lambda x: f"{type(x).__name__}({x})")
def test_round_trip(obj, how):
    out = _ROUND_TRIPS[how](obj)
    assert type(out) is type(obj)
    assert out == obj and hash(out) == hash(obj) and repr(out) == repr(obj)
    if isinstance(obj, Irreps):
        assert all(type(m) is MulIrrep and type(m.ir) is Irrep for m in out)
    # Still immutable after the round trip.
    if not isinstance(obj, Irreps):
        with pytest.raises(AttributeError, match="immutable"):
            out.foo = 1


def test_nested_containers_round_trip():
    obj = {Irreps("2x1o"): [Irrep("1e"), MulIrrep(2, "0o")], "k": (Irreps("0e"),)}
    assert pickle.loads(pickle.dumps(obj)) == obj
    assert copy.deepcopy(obj) == obj
