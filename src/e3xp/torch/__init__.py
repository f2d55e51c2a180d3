"""``torch.nn.Module`` s with e3nn (torch) semantics: sort order, instruction order,
parameter names and layouts, so ``load_state_dict`` of an e3nn module works unchanged.

Inputs may be tensors or :class:`~e3xp.IrrepsArray` s; the output is the same kind.
"""

from __future__ import annotations

# issue 14 (e3nn.nn counterparts, converters): torchnn
from .activation import Activation, Gate, NormActivation
from .batchnorm import BatchNorm
from .convert import from_e3nn, load_e3nn_state_dict
from .extract import Extract, ExtractIr
from .fc import FullyConnectedNet
from .spherical_harmonics import SphericalHarmonics

__all__: list = []
# issue 14 (e3nn.nn counterparts, converters): torchnn
__all__ += [
    "Activation",
    "Gate",
    "NormActivation",
    "BatchNorm",
    "Extract",
    "ExtractIr",
    "FullyConnectedNet",
    "SphericalHarmonics",
    "from_e3nn",
    "load_e3nn_state_dict",
]
