"""The generic array-API scatter sum (``Backend._scatter_sum``, issue 13).

It serves array_api_strict and every ``array_api:<module>`` backend. Expected values
come from ``math.fsum`` per segment (exactly rounded), not from another scatter.
"""

import math
import tracemalloc

import numpy as np
import pytest

array_api_strict = pytest.importorskip("array_api_strict")

from e3xp.backends import get_backend  # noqa: E402


@pytest.fixture
def be():
    return get_backend("array_api_strict")


def _fsum_reference(data, idx, num_segments):
    out = np.zeros((num_segments,) + data.shape[1:])
    for s in range(num_segments):
        rows = data[idx == s]
        for pos in np.ndindex(*data.shape[1:]):
            out[(s,) + pos] = math.fsum(rows[(slice(None),) + pos]) if len(rows) else 0.0
    return out


@pytest.mark.parametrize("n, num_segments", [(1, 1), (2, 3), (7, 3), (64, 5), (1000, 37), (1025, 1), (0, 4)])
def test_sums_to_rounding(be, n, num_segments):
    rng = np.random.default_rng(n)
    data = rng.standard_normal((n, 2, 3)) * 10.0 ** rng.integers(-3, 4, (n, 1, 1))
    idx = rng.integers(0, num_segments, n)
    ref = _fsum_reference(data, idx, num_segments)
    out = np.asarray(be.scatter_sum(be.asarray(data), be.asarray(idx), num_segments))
    scale = np.abs(data).sum() + 1.0
    assert out.shape == ref.shape
    assert np.max(np.abs(out - ref), initial=0.0) <= 1e-15 * scale * max(1, math.log2(max(n, 1)))
    moved = np.asarray(be.scatter_sum(be.asarray(np.moveaxis(data, 0, 2)), be.asarray(idx), num_segments, axis=2))
    np.testing.assert_array_equal(np.moveaxis(moved, 2, 0), out)


def test_nan_and_inf_stay_in_their_segment(be):
    # issue 13: with a one-hot matmul, 0 * NaN = NaN reached every segment.
    data = np.ones((7, 2))
    data[1, 0] = np.nan
    data[3, 1] = np.inf
    data[4, 1] = -np.inf  # inf - inf in segment 3: NaN there, and only there
    data[6, 0] = np.inf
    idx = np.array([0, 1, 2, 3, 3, 2, 5])
    with np.errstate(invalid="ignore"):
        out = np.asarray(be.scatter_sum(be.asarray(data), be.asarray(idx), 6))
    expected = np.array([[1, 1], [np.nan, 1], [2, 2], [2, np.nan], [0, 0], [np.inf, 1]])
    np.testing.assert_array_equal(out, expected)


def test_memory_is_not_segments_times_slices(be):
    # A one-hot matrix would be 20000 x 1000 (bool, then float64): ~180 MB.
    n, num_segments = 1000, 20000
    rng = np.random.default_rng(0)
    data, idx = be.asarray(rng.standard_normal((n, 3))), be.asarray(rng.integers(0, num_segments, n))
    tracemalloc.start()
    try:
        out = be.scatter_sum(data, idx, num_segments)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.shape == (num_segments, 3)
    assert peak < 20e6, f"peak {peak / 1e6:.1f} MB"
