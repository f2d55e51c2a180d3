"""Array-level bad input and edge cases of issue 13, on every backend.

IrrepsArray iteration, factors, indexing, pickling and copying, the
``transform_by_*`` methods, ``norm`` at extreme magnitudes and ``scatter_sum``
with NaN and inf. Each case says what used to go wrong.
"""

import copy
import pickle
import re

import numpy as np
import pytest

from e3xp.irreps_array import IrrepsArray
from e3xp.ops import norm
from e3xp.ops.scatter import scatter_sum


def _ints(xp, values):
    return xp.backend.asarray(np.asarray(values), dtype="int64", device=xp.device)


def _is_float32(xp) -> bool:
    return xp.dtype == "float32"


def test_iteration_gives_rows(xp):
    # JAX clamps out-of-range indices, so the x[0], x[1], ... fallback never ended.
    values = np.arange(6.0).reshape(2, 3)
    rows = list(IrrepsArray("1o", xp.asarray(values)))
    assert len(rows) == 2 and all(r.irreps == "1x1o" and r.shape == (3,) for r in rows)
    np.testing.assert_array_equal(xp.to_numpy(rows[1]), values[1])
    with pytest.raises(TypeError, match=re.escape("no leading axis (shape (3,))")):
        iter(IrrepsArray("1o", xp.asarray(np.zeros(3))))


def test_factor_of_shape_dim_is_refused(xp):
    # Used to be read as one factor per row: silently wrong here (3 rows, dim 3).
    x = IrrepsArray("1o", xp.asarray(np.ones((3, 3))))
    a = xp.asarray(np.array([1.0, 2.0, 3.0]))
    calls = {"*": lambda: x * a, "/": lambda: x / a}
    if not xp.backend_name.startswith("array_api_strict"):
        # array_api_strict refuses `Array * IrrepsArray` itself (TypeError) and
        # never hands the reflected operation to IrrepsArray.
        calls.update({"r*": lambda: a * x, "r/": lambda: a / x})
    for op, call in calls.items():
        with pytest.raises(ValueError, match=r"array of shape \(3,\).* is not equivariant"):
            call()
    with pytest.raises(ValueError, match=r"do not broadcast with the leading shape \(3,\)"):
        x * xp.asarray(np.ones((2, 1)))
    per_row = xp.asarray(np.array([[1.0], [2.0], [3.0]]))
    np.testing.assert_array_equal(xp.to_numpy(x * per_row), np.repeat([[1.0], [2.0], [3.0]], 3, axis=1))
    y = IrrepsArray("0e + 1o", xp.asarray(np.ones((3, 4))))
    per_irrep = xp.asarray(np.array([2.0, 3.0]))  # shape (num_irreps,), as in e3nn-jax
    np.testing.assert_array_equal(xp.to_numpy(y * per_irrep), np.tile([2.0, 3.0, 3.0, 3.0], (3, 1)))


def test_ellipsis_then_leading_indices(xp):
    values = np.arange(24.0).reshape(2, 4, 3)
    x = IrrepsArray("1o", xp.asarray(values))
    for index in [(..., 0, slice(None)), (None, ..., 1, slice(None)), (0, ...), (slice(None), 2)]:
        np.testing.assert_array_equal(xp.to_numpy(x[index]), values[index])
    for index in [(..., 0), (..., None), (0, 1, 2)]:
        with pytest.raises(ValueError, match="reaches the irreps axis"):
            x[index]


@pytest.mark.parametrize(
    "how",
    [
        pytest.param(lambda v: pickle.loads(pickle.dumps(v)), id="pickle"),
        pytest.param(lambda v: pickle.loads(pickle.dumps(v, protocol=2)), id="pickle-2"),
        pytest.param(copy.copy, id="copy"),
        pytest.param(copy.deepcopy, id="deepcopy"),
    ],
)
def test_pickle_and_copy_round_trip(xp, how):
    values = np.arange(10.0).reshape(2, 5)
    x = IrrepsArray("2x0e + 1o", xp.asarray(values))
    y = how(x)
    assert isinstance(y, IrrepsArray) and y.irreps == x.irreps and y.irreps.dim == 5
    assert type(y.array) is type(x.array) and y.dtype == x.dtype
    assert str(y.device) == str(x.device)
    np.testing.assert_array_equal(xp.to_numpy(y), values)
    nested = how({"h": [x, (x,)]})
    np.testing.assert_array_equal(xp.to_numpy(nested["h"][1][0]), values)


def test_transform_with_rotations_that_do_not_fit(xp):
    x = IrrepsArray("0e + 1o", xp.asarray(np.ones((2, 4))))
    R = xp.asarray(np.stack([np.eye(3)] * 3))
    with pytest.raises(ValueError, match=re.escape("batch shape (3,) does not broadcast with the leading shape (2,)")):
        x.transform_by_matrix(R)
    with pytest.raises(ValueError, match=re.escape("batch shape (3,) does not broadcast")):
        x.transform_by_angles(xp.asarray(np.zeros(3)), 0.0, 0.0)
    # one rotation per row, given on the same backend
    Rs = np.stack([np.eye(3), -np.eye(3)])
    got = xp.to_numpy(x.transform_by_matrix(xp.asarray(Rs)))
    np.testing.assert_allclose(got, [[1, 1, 1, 1], [1, -1, -1, -1]], atol=1e-6 if _is_float32(xp) else 1e-14)


def test_norm_of_extreme_magnitudes(xp):
    # The sum of squares overflowed to inf / underflowed to 0 first.
    big, tiny = (1e30, 1e-30) if _is_float32(xp) else (1e200, 1e-200)
    x = IrrepsArray("1o + 1o", xp.asarray(np.array([3 * big, 4 * big, 0, 0, -tiny, 0])))
    np.testing.assert_allclose(xp.to_numpy(norm(x)), [5 * big, tiny], rtol=1e-6)
    np.testing.assert_allclose(xp.to_numpy(norm(x, per_irrep=False)), [5 * big], rtol=1e-6)
    np.testing.assert_array_equal(xp.to_numpy(norm(IrrepsArray("1o", xp.asarray(np.zeros((2, 3)))))), [[0], [0]])


def test_scatter_sum_keeps_nan_in_its_segment(xp):
    # The generic (array-API) scatter was a one-hot matmul: 0 * NaN reached every segment.
    data = np.ones((5, 2))
    data[1, 0] = np.nan
    data[3, 1] = np.inf
    with np.errstate(invalid="ignore"):
        out = xp.to_numpy(scatter_sum(xp.asarray(data), _ints(xp, [0, 1, 2, 2, 3]), 5))
    np.testing.assert_array_equal(out, [[1, 1], [np.nan, 1], [2, np.inf], [1, 1], [0, 0]])


def test_scatter_sum_on_torch_meta_tensors(torch):
    # The range check called .item() on a meta tensor (it has no values).
    data = torch.empty(5, 3, dtype=torch.float64, device="meta")
    index = torch.empty(5, dtype=torch.int64, device="meta")
    out = scatter_sum(IrrepsArray("1o", data), index, 4)
    assert out.shape == (4, 3) and out.array.device.type == "meta"


def test_transform_under_jit_says_why(jax):
    # Used to fail with JAX's TracerArrayConversionError deep in NumPy.
    import jax.numpy as jnp

    x = IrrepsArray("1o", jnp.ones((2, 3)))
    with pytest.raises(TypeError, match="transform_by_matrix: R is a JAX tracer"):
        jax.jit(lambda R: x.transform_by_matrix(R).array)(jnp.eye(3))
    with pytest.raises(TypeError, match="transform_by_angles: alpha is a JAX tracer"):
        jax.grad(lambda a: x.transform_by_angles(a, 0.0, 0.0).array.sum())(0.3)
    # a traced x with a concrete R is fine
    out = jax.jit(lambda v: IrrepsArray("1o", v).transform_by_matrix(-np.eye(3)).array)(jnp.ones((2, 3)))
    np.testing.assert_allclose(np.asarray(out), -np.ones((2, 3)), atol=1e-14)


def test_transform_refuses_to_drop_the_rotation_gradient(torch):
    # Used to return a result with no gradient with respect to the angles.
    x = IrrepsArray("1o", torch.ones(3, dtype=torch.float64))
    alpha = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(TypeError, match=r"transform_by_angles: alpha requires grad.*alpha\.detach\(\)"):
        x.transform_by_angles(alpha, 0.0, 0.0)
    q = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64, requires_grad=True)
    with pytest.raises(TypeError, match="transform_by_quaternion: q requires grad"):
        x.transform_by_quaternion(q)
    with torch.no_grad():  # nothing to drop
        x.transform_by_angles(alpha, 0.0, 0.0)
    x.transform_by_quaternion(q.detach())


def test_transform_inside_torch_compile_says_why(torch):
    # Used to stop in Dynamo at "Unsupported ndarray attribute access" in core's Wigner code.
    v = torch.ones(2, 3, dtype=torch.float64)
    IrrepsArray("1o", v)  # the backend is created eagerly, as in a real model

    def f(v):
        return IrrepsArray("1o", v).transform_by_matrix(-np.eye(3)).array

    with pytest.raises(Exception, match="transform_by_matrix is not supported inside torch.compile"):
        torch.compile(f, fullgraph=True)(v)
