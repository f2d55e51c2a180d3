"""Tensor product of features with the spherical harmonics of a vector (e3nn-jax's name)."""

from __future__ import annotations

import numbers

from ..irreps_array import IrrepsArray
from .basic import as_irreps_array
from .spherical_harmonics import spherical_harmonics
from .tensor_products import tensor_product

__all__ = ["tensor_product_with_spherical_harmonics"]


def tensor_product_with_spherical_harmonics(input, vector, degree: int) -> IrrepsArray:  # noqa: A002
    r"""``input (x) Y(vector)`` with the harmonics ``Y`` of degrees ``0`` to ``degree`` (normalized vector).

    Equal to e3nn-jax's function of the same name: the blocks are formed in the
    order (entry of ``input``, degree, output irrep), then regrouped; this is
    ``tensor_product(input, spherical_harmonics(range(degree + 1), vector, True))``
    whenever ``input`` is already regrouped.

    Parameters
    ----------
    input : IrrepsArray or array
        A plain array is read as scalars (``Nx0e``).
    vector : IrrepsArray
        ``1o`` or ``1e``; leading axes broadcast with those of ``input``.
    degree : int
        Largest degree of the harmonics (>= 0).

    Returns
    -------
    IrrepsArray

    Notes
    -----
    e3nn-jax evaluates it by rotating ``input`` so that ``vector`` lies on the y
    axis, where the harmonics are sparse (the SO(2) trick of eSCN). e3xp computes
    the plain tensor product with the harmonics, which gives the same numbers (to
    rounding) on every backend but does not have that speed-up.

    Examples
    --------
    >>> import numpy as np
    >>> x = IrrepsArray("0e + 1o", np.array([1.0, 0.0, 2.0, 0.0]))
    >>> v = IrrepsArray("1o", np.array([0.0, 3.0, 0.0]))
    >>> y = tensor_product_with_spherical_harmonics(x, v, 1)
    >>> y.irreps
    2x0e+2x1o+1x1e+1x2e
    """
    input = as_irreps_array(input)
    if not isinstance(vector, IrrepsArray) or vector.irreps not in ("1o", "1e"):
        got = vector.irreps if isinstance(vector, IrrepsArray) else type(vector).__name__
        raise ValueError(f"tensor_product_with_spherical_harmonics: vector must be an IrrepsArray 1o or 1e, got {got}")
    if isinstance(degree, bool) or not isinstance(degree, numbers.Integral) or degree < 0:
        raise ValueError(f"tensor_product_with_spherical_harmonics: degree={degree!r} must be an int >= 0")
    sh = spherical_harmonics(list(range(int(degree) + 1)), vector, normalize=True)
    return tensor_product(input, sh, regroup_output=False).regroup()
