"""Functional equivariant operations on IrrepsArrays (any backend)."""

from .activations import norm, scalar_activation
from .creation import concatenate, normal, ones, stack, zeros
from .linear import Linear
from .spherical_harmonics import sh, spherical_harmonics
from .tensor_products import elementwise_tensor_product, tensor_product, tensor_square

__all__ = [
    "spherical_harmonics",
    "sh",
    "tensor_product",
    "elementwise_tensor_product",
    "tensor_square",
    "Linear",
    "norm",
    "scalar_activation",
    "zeros",
    "ones",
    "normal",
    "concatenate",
    "stack",
]
