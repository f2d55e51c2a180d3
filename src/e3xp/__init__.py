"""e3xp: E(3)-equivariant operations on any array framework.

The public API, re-exported; nothing else lives here. Importing e3xp imports no
array framework: torch, jax and cupy are loaded only when their arrays are used.

>>> import e3xp
>>> e3xp.Irreps("3x0e + 1o").dim
6
"""

from . import testing
from .backends import available_backends, backend_of, get_backend, to_backend
from .backends.config import get_default_backend, set_backend, use_backend
from .core.clebsch_gordan import clebsch_gordan
from .core.irreps import Irrep, Irreps, MulIrrep
from .core.rotations import (
    angles_to_axis_angle,
    angles_to_matrix,
    angles_to_quaternion,
    angles_to_xyz,
    axis_angle_to_angles,
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    compose_angles,
    compose_axis_angle,
    compose_quaternion,
    inverse_angles,
    inverse_axis_angle,
    inverse_quaternion,
    matrix_to_angles,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    matrix_x,
    matrix_y,
    matrix_z,
    quaternion_to_angles,
    quaternion_to_axis_angle,
    quaternion_to_matrix,
    rand_angles,
    rand_axis_angle,
    rand_matrix,
    rand_o3_matrix,
    rand_quaternion,
    xyz_to_angles,
)
from .core.wigner import so3_generators, wigner_D
from .irreps_array import IrrepsArray
from .ops import (
    Linear,
    concatenate,
    elementwise_tensor_product,
    norm,
    normal,
    ones,
    scalar_activation,
    sh,
    spherical_harmonics,
    stack,
    tensor_product,
    tensor_square,
    zeros,
)
from .ops.gate import gate, norm_activation
from .ops.scatter import index_add, scatter_sum
from .ops.radial import bessel, poly_envelope, soft_envelope, soft_one_hot_linspace, soft_unit_step, sus
from .ops.weighted import ChannelwiseTensorProduct, FullyConnectedTensorProduct
# issue 15, slice s2 (signals on the sphere)
from .ops.s2grid import (
    SphericalSignal,
    betas_to_spherical_signal,
    from_s2grid,
    get_s2fft_grid_resolution,
    legendre,
    legendre_transform_from_s2grid,
    legendre_transform_to_s2grid,
    m0_values_to_irrepsarray,
    s2_dirac,
    s2_irreps,
    to_s2grid,
    to_s2point,
)
from .ops.so3grid import SO3Signal

# --- issue 15, rotations slice: e3nn-jax's log coordinates, identities, rotation
# angles, so(3) / SU(2) generators and SU(2) Clebsch-Gordan coefficients.
from .core.rotations import (
    angles_to_log_coordinates,
    axis_angle_to_log_coordinates,
    compose_log_coordinates,
    identity_angles,
    identity_log_coordinates,
    identity_quaternion,
    inverse_log_coordinates,
    log_coordinates_to_angles,
    log_coordinates_to_axis_angle,
    log_coordinates_to_matrix,
    log_coordinates_to_quaternion,
    matrix_to_log_coordinates,
    quaternion_to_log_coordinates,
    rand_log_coordinates,
    rotation_angle_from_angles,
    rotation_angle_from_axis_angle,
    rotation_angle_from_log_coordinates,
    rotation_angle_from_matrix,
    rotation_angle_from_quaternion,
)
from .core.su2 import su2_clebsch_gordan, su2_generators
from .core.wigner import generators
# --- end of the rotations slice
# issue 15 (e3nn-jax drop-in), reduced tensor product bases
from .core.reduced_tensor_product import (
    reduced_antisymmetric_tensor_product_basis,
    reduced_symmetric_tensor_product_basis,
    reduced_tensor_product_basis,
)

# --- issue 15, slice "ops" (e3nn-jax functions, graphs, missing arguments) ---
from .ops.autodiff import grad, vmap
from .ops.basic import (
    as_irreps_array,
    cross,
    dot,
    from_chunks,
    mean,
    normalize_function,
    ones_like,
    soft_normalization,
    soft_odd,
    sum,
    where,
    zeros_like,
)
from . import utils
from .e3nn_config import config
from .ops.functional_linear import FunctionalLinear
from .ops.graph import radius_graph
from .ops.scatter import scatter_max, scatter_mean
from .ops.sh_tensor_product import tensor_product_with_spherical_harmonics
# --- end of slice "ops" ---

# e3xp.flax and e3xp.torch: imported (with their framework) only when first accessed
_LAZY_SUBMODULES = {"flax": "flax", "torch": "torch"}  # attribute -> the framework it needs


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        import importlib

        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != _LAZY_SUBMODULES[name]:
                raise
            raise ModuleNotFoundError(
                f"e3xp.{name} needs {_LAZY_SUBMODULES[name]}, which is not installed: pip install 'e3xp[{name}]'",
                name=e.name,
            ) from e
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__version__ = "0.1.0.dev0"

__all__ = [
    "Irrep",
    "Irreps",
    "MulIrrep",
    "IrrepsArray",
    "clebsch_gordan",
    "wigner_D",
    "so3_generators",
    "rand_matrix",
    "rand_o3_matrix",
    "rand_angles",
    "rand_quaternion",
    "rand_axis_angle",
    "angles_to_matrix",
    "matrix_to_angles",
    "angles_to_quaternion",
    "quaternion_to_angles",
    "quaternion_to_matrix",
    "matrix_to_quaternion",
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "axis_angle_to_quaternion",
    "quaternion_to_axis_angle",
    "angles_to_axis_angle",
    "axis_angle_to_angles",
    "compose_angles",
    "compose_quaternion",
    "compose_axis_angle",
    "inverse_angles",
    "inverse_quaternion",
    "inverse_axis_angle",
    "matrix_x",
    "matrix_y",
    "matrix_z",
    "angles_to_xyz",
    "xyz_to_angles",
    "spherical_harmonics",
    "sh",
    "tensor_product",
    "elementwise_tensor_product",
    "tensor_square",
    "Linear",
    "FullyConnectedTensorProduct",
    "ChannelwiseTensorProduct",
    "norm",
    "scalar_activation",
    "gate",
    "norm_activation",
    "soft_one_hot_linspace",
    "soft_unit_step",
    "soft_envelope",
    "bessel",
    "poly_envelope",
    "sus",
    "scatter_sum",
    "index_add",
    "zeros",
    "ones",
    "normal",
    "concatenate",
    "stack",
    "set_backend",
    "use_backend",
    "get_default_backend",
    "get_backend",
    "available_backends",
    "backend_of",
    "to_backend",
    "testing",
    # --- issue 15, rotations slice
    "angles_to_log_coordinates",
    "axis_angle_to_log_coordinates",
    "quaternion_to_log_coordinates",
    "matrix_to_log_coordinates",
    "log_coordinates_to_angles",
    "log_coordinates_to_axis_angle",
    "log_coordinates_to_matrix",
    "log_coordinates_to_quaternion",
    "compose_log_coordinates",
    "inverse_log_coordinates",
    "identity_log_coordinates",
    "rand_log_coordinates",
    "identity_angles",
    "identity_quaternion",
    "rotation_angle_from_angles",
    "rotation_angle_from_axis_angle",
    "rotation_angle_from_log_coordinates",
    "rotation_angle_from_matrix",
    "rotation_angle_from_quaternion",
    "generators",
    "su2_generators",
    "su2_clebsch_gordan",
    # --- end of the rotations slice
    # issue 15 (e3nn-jax drop-in), reduced tensor product bases
    "reduced_tensor_product_basis",
    "reduced_symmetric_tensor_product_basis",
    "reduced_antisymmetric_tensor_product_basis",
    # issue 15, slice s2 (signals on the sphere)
    "SphericalSignal",
    "SO3Signal",
    "betas_to_spherical_signal",
    "from_s2grid",
    "get_s2fft_grid_resolution",
    "legendre",
    "legendre_transform_from_s2grid",
    "legendre_transform_to_s2grid",
    "m0_values_to_irrepsarray",
    "s2_dirac",
    "s2_irreps",
    "to_s2grid",
    "to_s2point",
    # issue 15, slice "ops"
    "as_irreps_array",
    "from_chunks",
    "zeros_like",
    "ones_like",
    "sum",
    "mean",
    "dot",
    "cross",
    "where",
    "soft_odd",
    "normalize_function",
    "soft_normalization",
    "grad",
    "vmap",
    "tensor_product_with_spherical_harmonics",
    "scatter_mean",
    "scatter_max",
    "radius_graph",
    "FunctionalLinear",
    "utils",
    "config",
]
