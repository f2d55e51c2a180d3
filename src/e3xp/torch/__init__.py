"""``torch.nn.Module`` s with e3nn (torch) semantics: sort order, instruction order,
parameter names and layouts, so ``load_state_dict`` of an e3nn module works unchanged.

Inputs may be tensors or :class:`~e3xp.IrrepsArray` s; the output is the same kind.
Constants (Clebsch-Gordan blocks) are non-persistent buffers: ``.to(device or dtype)``
moves them, and ``state_dict`` holds e3nn's keys only.
"""

from __future__ import annotations

from .activation import Activation, Gate, NormActivation
from .batchnorm import BatchNorm
from .convert import from_e3nn, load_e3nn_state_dict
from .extract import Extract, ExtractIr
from .fc import FullyConnectedNet
from .linear import Linear
from .spherical_harmonics import SphericalHarmonics
from .tensor_product import (
    ElementwiseTensorProduct,
    FullTensorProduct,
    FullyConnectedTensorProduct,
    TensorProduct,
    TensorSquare,
)

__all__ = [
    # o3
    "Linear",
    "TensorProduct",
    "FullyConnectedTensorProduct",
    "ElementwiseTensorProduct",
    "FullTensorProduct",
    "TensorSquare",
    "SphericalHarmonics",
    # nn
    "Activation",
    "Gate",
    "NormActivation",
    "FullyConnectedNet",
    "BatchNorm",
    "Extract",
    "ExtractIr",
    # moving e3nn models over
    "from_e3nn",
    "load_e3nn_state_dict",
]
