"""``torch.nn.Module`` s with e3nn (torch) semantics: sort order, instruction order,
parameter names and layouts, so ``load_state_dict`` of an e3nn module works unchanged.

Inputs may be tensors or :class:`~e3xp.IrrepsArray` s; the output is the same kind.
"""

from __future__ import annotations

__all__: list = []

from .tensor_product import (  # noqa: E402
    ElementwiseTensorProduct,
    FullTensorProduct,
    FullyConnectedTensorProduct,
    TensorProduct,
    TensorSquare,
)

__all__ += [
    "TensorProduct",
    "FullyConnectedTensorProduct",
    "ElementwiseTensorProduct",
    "FullTensorProduct",
    "TensorSquare",
]

from .linear import Linear  # noqa: E402

__all__ += ["Linear"]
