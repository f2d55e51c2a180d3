"""flax.linen modules with e3nn-jax's semantics and parameter trees (``e3nn_jax.flax``).

``e3xp.flax.Linear``, ``MultiLayerPerceptron`` and ``BatchNorm`` are drop-ins for
``e3nn_jax.flax``'s: same arguments, outputs and parameter (and ``batch_stats``)
trees, so params initialised by e3nn-jax load as they are. The tensor-product
modules (e3nn-jax 0.21 has no flax ones) follow e3nn-jax's naming of its haiku
``FullyConnectedTensorProduct``. Importing this package imports flax and jax;
``import e3xp`` does not (``e3xp.flax`` is loaded when first accessed).

>>> import jax, e3xp
>>> x = e3xp.IrrepsArray("3x0e + 1o", jax.numpy.ones(6))
>>> linear = e3xp.flax.Linear("1o + 3x0e + 1o")
>>> w = linear.init(jax.random.PRNGKey(0), x)
>>> linear.apply(w, x).irreps
1x1o+3x0e+1x1o
"""

import flax  # noqa: F401  (this package needs flax; e3xp's __getattr__ reports its absence)

from ._linear import Linear
from ._batchnorm import BatchNorm
from ._mlp import MultiLayerPerceptron, normalize_function_sampled
from ._tensor_product import ChannelwiseTensorProduct, FullyConnectedTensorProduct, path_spec

__all__ = [
    "Linear",
    "BatchNorm",
    "FullyConnectedTensorProduct",
    "ChannelwiseTensorProduct",
    "MultiLayerPerceptron",
    "normalize_function_sampled",
    "path_spec",
]
