"""e3nn-jax's ``e3nn.utils`` testing helpers, on every backend.

``equivariance_test`` / ``assert_equivariant`` take e3nn-jax's arguments
(``fun, rng_key, *args``); :mod:`e3xp.testing` has e3xp's own
``assert_equivariant(f, *irreps_arrays)`` (several group elements, relative
error). ``vmap`` is :func:`e3xp.vmap`.
"""

from __future__ import annotations

import sys

import numpy as np

from .backends import get_default_backend
from .core.irreps import Irreps
from .core.rotations import as_generator, rand_matrix
from .irreps_array import IrrepsArray
from .ops.autodiff import vmap
from .ops.basic import as_irreps_array
from .ops.creation import normal

__all__ = ["equivariance_test", "assert_equivariant", "assert_output_dtype_matches_input_dtype", "vmap"]


def _tree_map(fn, tree):
    """``fn`` on every IrrepsArray of nested lists / tuples / dicts (other leaves kept)."""
    if isinstance(tree, IrrepsArray):
        return fn(tree)
    if isinstance(tree, (list, tuple)):
        return type(tree)(_tree_map(fn, t) for t in tree)
    if isinstance(tree, dict):
        return {k: _tree_map(fn, v) for k, v in tree.items()}
    return tree


def equivariance_test(fun, rng_key, *args):
    r"""``(fun(R args), R fun(args))`` for a random rotation composed with the inversion.

    Parameters
    ----------
    fun : callable
        Returns an IrrepsArray or nested lists / tuples / dicts of them.
    rng_key : int, numpy Generator, JAX key or torch Generator
    *args : IrrepsArray, array (read as scalars) or irreps (str / Irreps)
        Irreps are replaced by random IrrepsArrays (on the backend of the other
        inputs, else the default backend).

    Returns
    -------
    (out1, out2)
        Equal (to rounding) when ``fun`` is equivariant.

    Examples
    --------
    >>> import numpy as np, e3xp
    >>> x = e3xp.IrrepsArray("1e", np.array([0.0, 4.0, 3.0]))
    >>> equivariance_test(e3xp.norm, 0, x)
    (1x0e [5.], 1x0e [5.])
    """
    rng = as_generator(rng_key)
    args = [Irreps(a) if isinstance(a, str) else a for a in args]
    args = [a if isinstance(a, (Irreps, IrrepsArray)) else as_irreps_array(a) for a in args]
    given = [a for a in args if isinstance(a, IrrepsArray)]
    backend = given[0].backend if given else get_default_backend()
    dtype = given[0].dtype if given else None
    args = [
        normal(a, int(rng.integers(2**31)), backend=backend, dtype=dtype) if isinstance(a, Irreps) else a for a in args
    ]
    R = -rand_matrix(rng)  # a rotation times the inversion: parity is always tested
    out1 = fun(*[a.transform_by_matrix(R) for a in args])
    out2 = _tree_map(lambda y: y.transform_by_matrix(R), fun(*args))
    return out1, out2


def assert_equivariant(fun, rng_key, *args, atol: float = 1e-6, rtol: float = 1e-6):
    """Assert ``fun(R args) == R fun(args)`` (e3nn-jax's signature; see :func:`equivariance_test`).

    Raises
    ------
    AssertionError
        From ``numpy.testing.assert_allclose``, with the mismatch.

    Examples
    --------
    >>> import numpy as np, e3xp
    >>> assert_equivariant(e3xp.norm, 0, e3xp.IrrepsArray("1e", np.array([0.0, 4.0, 3.0])))
    >>> assert_equivariant(e3xp.norm, 0, "1e + 2x2o")
    """
    out1, out2 = equivariance_test(fun, rng_key, *args)
    flat1, flat2 = [], []
    _tree_map(flat1.append, out1)
    _tree_map(flat2.append, out2)
    if len(flat1) != len(flat2):
        raise AssertionError(f"fun returned {len(flat1)} IrrepsArrays on rotated inputs, {len(flat2)} otherwise")
    for a, b in zip(flat1, flat2):
        if a.irreps != b.irreps:
            raise AssertionError(f"fun returned irreps {a.irreps} on rotated inputs but {b.irreps} otherwise")
        np.testing.assert_allclose(a.backend.to_numpy(a.array), b.backend.to_numpy(b.array), atol=atol, rtol=rtol)


def _float_leaves(tree, out: list):
    if isinstance(tree, IrrepsArray):
        out.append(tree.array)
    elif isinstance(tree, (list, tuple)):
        for t in tree:
            _float_leaves(t, out)
    elif isinstance(tree, dict):
        for t in tree.values():
            _float_leaves(t, out)
    elif hasattr(tree, "dtype") and hasattr(tree, "shape") and "float" in str(tree.dtype):
        out.append(tree)
    return out


def _cast(tree, name: str):
    if isinstance(tree, IrrepsArray):
        return IrrepsArray(tree.irreps, _cast(tree.array, name))
    if isinstance(tree, (list, tuple)):
        return type(tree)(_cast(t, name) for t in tree)
    if isinstance(tree, dict):
        return {k: _cast(v, name) for k, v in tree.items()}
    if hasattr(tree, "dtype") and hasattr(tree, "shape") and "float" in str(tree.dtype):
        from .backends import backend_of

        b = backend_of(tree)
        return b.xp.astype(tree, b.float_dtype(name))
    return tree


def assert_output_dtype_matches_input_dtype(fun, *args, **kwargs):
    """Check that ``fun`` returns float32 for float32 inputs and float64 for float64 inputs.

    Every floating array (and IrrepsArray) among ``args`` / ``kwargs`` is cast to
    each dtype in turn and ``fun`` is run (eagerly: e3nn-jax uses ``jax.eval_shape``,
    which only JAX has).

    Raises
    ------
    ValueError
        On JAX without ``jax_enable_x64`` (as e3nn-jax).
    AssertionError
        Naming the input and output dtypes.

    Examples
    --------
    >>> import numpy as np, e3xp
    >>> assert_output_dtype_matches_input_dtype(e3xp.norm, e3xp.IrrepsArray("1o", np.ones(3)))
    """
    leaves = _float_leaves((args, kwargs), [])
    jax = sys.modules.get("jax")
    if jax is not None and any(isinstance(a, jax.Array) for a in leaves) and not jax.config.read("jax_enable_x64"):
        raise ValueError("assert_output_dtype_matches_input_dtype: JAX needs jax_enable_x64=True for this test")
    for name in ("float32", "float64"):
        a, k = _cast(args, name), _cast(kwargs, name)
        out = _float_leaves(fun(*a, **k), [])
        bad = [str(o.dtype) for o in out if name not in str(o.dtype)]
        if bad:
            raise AssertionError(f"Expected {name} -> {name}. Got {name} inputs -> {bad} outputs")
