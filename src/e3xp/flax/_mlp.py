"""``e3xp.flax.MultiLayerPerceptron``: e3nn-jax's flax MLP (scalars only), same parameter tree."""

from __future__ import annotations

import functools
from typing import Callable, Optional, Sequence, Union

import flax.linen as nn
import jax
import jax.numpy as jnp

from ..core.irreps import Irreps
from ..core.layer_spec import LayerSpec, ParamSpec
from ..irreps_array import IrrepsArray
from ._common import check_params, normalization_exponent

__all__ = ["MultiLayerPerceptron", "normalize_function_sampled"]

_NUM_POINTS = 1_000_001  # e3nn-jax 0.21's normalize_function


@functools.lru_cache(maxsize=128)
def _second_moment_root(phi: Callable, dtype_name: str) -> float:
    with jax.ensure_compile_time_eval():
        u = jnp.linspace(-1.0, 1.0, _NUM_POINTS + 2)[1:-1]
        z = jnp.sqrt(2) * jax.scipy.special.erfinv(u)  # normal quantiles i / (n + 1)
        return jnp.mean(phi(z) ** 2) ** 0.5


def normalize_function_sampled(phi: Callable) -> Callable:
    r"""``phi / c``, ``c = sqrt(mean phi(z_i)^2)`` over 10^6 normal quantiles: e3nn-jax 0.21's ``normalize_function``.

    This is the constant e3nn-jax's MLP uses (computed in JAX's default float
    dtype, so it depends on ``jax_enable_x64`` as in e3nn-jax); it differs from the
    exact ``E[phi(z)^2]`` of :func:`e3xp.normalize_function` (Gauss-Legendre, float64)
    in the 6th-7th digit. ``phi`` itself is returned when ``c`` is close to 1
    (``jnp.allclose``).

    Examples
    --------
    >>> import jax
    >>> f = normalize_function_sampled(jax.nn.relu)
    >>> round(float(f(jax.numpy.array(1.0))), 4)  # sqrt(2): E[relu(z)^2] = 1/2
    1.4142
    """
    try:
        c = _second_moment_root(phi, jax.dtypes.canonicalize_dtype(jnp.float64).name)
    except TypeError:  # unhashable callable
        c = _second_moment_root.__wrapped__(phi, "")
    c = float(c)
    if abs(c - 1.0) <= 1e-8 + 1e-5:  # jnp.allclose(c, 1.0), as e3nn-jax (in Python: safe under jit)
        return phi

    def rho(x):
        return phi(x) / c

    return rho


class Dense(nn.Module):
    """A dense layer with flax ``Dense``'s parameters (``kernel`` ``(in, out)``, ``bias``), from a LayerSpec."""

    features: int
    use_bias: bool
    stddev: object  # a float or a JAX scalar, as e3nn-jax passes it
    param_dtype: object

    @nn.compact
    def __call__(self, x):
        specs = [ParamSpec("kernel", (x.shape[-1], self.features), "normal", 1.0)]
        if self.use_bias:
            specs.append(ParamSpec("bias", (self.features,), "zeros", target="bias"))
        spec = LayerSpec("Dense", (Irreps(f"{x.shape[-1]}x0e"),), Irreps(f"{self.features}x0e"), None, tuple(specs))
        check_params(self, spec, "e3xp.flax.MultiLayerPerceptron")
        kernel = self.param("kernel", nn.initializers.normal(stddev=self.stddev), specs[0].shape, self.param_dtype)
        y = jax.lax.dot_general(x, kernel, (((x.ndim - 1,), (0,)), ((), ())))
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, specs[1].shape, self.param_dtype)
        return y


class MultiLayerPerceptron(nn.Module):
    r"""A multi-layer perceptron on scalars, a drop-in for ``e3nn_jax.flax.MultiLayerPerceptron`` (0.21).

    Layers ``Dense_0``, ``Dense_1``, ... with flax ``Dense``'s parameters
    (``kernel`` ``(n_in, n_out)``, ``bias`` when ``with_bias``), so e3nn-jax's params
    load as they are and ``init`` with the same key gives its numbers. Each layer
    computes ``sqrt(1/n_in) ** g * (x @ kernel)`` with the kernel drawn from
    ``N(0, (1/n_in) ** (1 - g))`` (``g`` = 1 for ``gradient_normalization="path"``,
    the default from ``e3xp.config``, 0 for "element"). The activation is
    normalised to unit second moment under N(0, 1) by e3nn-jax's sampled constant
    (:func:`normalize_function_sampled`). Not equivariant beyond scalars.

    Parameters
    ----------
    list_neurons : sequence of int
        Widths of the layers (the input width is read from the input).
    act : callable, optional
        Between layers (and after the last, see ``output_activation``).
    gradient_normalization : "element", "path", a number, or None
    output_activation : bool or callable
        True: ``act`` after the last layer too; False: none; a callable: that one.
    with_bias : bool

    Input: a float array ``(..., n_in)`` (output: an array) or a scalar
    ``IrrepsArray`` (irreps all ``0e``; output: an IrrepsArray ``Nx0e``).

    Examples
    --------
    >>> import jax, e3xp
    >>> mlp = MultiLayerPerceptron([8, 2], jax.nn.gelu)
    >>> x = e3xp.IrrepsArray("3x0e", jax.numpy.ones((5, 3)))
    >>> w = mlp.init(jax.random.PRNGKey(0), x)
    >>> jax.tree_util.tree_map(lambda a: a.shape, w)["params"]
    {'Dense_0': {'kernel': (3, 8)}, 'Dense_1': {'kernel': (8, 2)}}
    >>> mlp.apply(w, x).irreps
    2x0e
    """

    list_neurons: Sequence[int]
    act: Optional[Callable] = None
    gradient_normalization: Union[str, float, None] = None
    output_activation: Union[Callable, bool] = True
    with_bias: bool = False

    @nn.compact
    def __call__(self, x):
        what = "e3xp.flax.MultiLayerPerceptron"
        out_act = self.output_activation
        if out_act is True:
            out_act = self.act
        elif out_act is False:
            out_act = None
        elif not callable(out_act):
            raise TypeError(f"{what}: output_activation={out_act!r} must be a bool or a callable")
        if self.act is not None and not callable(self.act):
            raise TypeError(f"{what}: act={self.act!r} must be callable")
        neurons = tuple(self.list_neurons)
        if not all(isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in neurons):
            raise ValueError(f"{what}: list_neurons={self.list_neurons!r} must be positive ints")
        g = normalization_exponent(self.gradient_normalization, "gradient_normalization", what, "gradient_normalization")

        irreps_in = getattr(x, "irreps", None)
        if irreps_in is not None:
            if not Irreps(str(irreps_in)).is_scalar():
                raise ValueError(f"{what}: works on scalars (0e) only, got irreps {irreps_in}")
            x = x.array
        x = jnp.asarray(x)
        if x.ndim == 0 or x.dtype.kind not in "fc":
            raise ValueError(f"{what}: the input must be a float array (..., n), got shape {x.shape} dtype {x.dtype}")

        act = None if self.act is None else normalize_function_sampled(self.act)
        last_act = None if out_act is None else normalize_function_sampled(out_act)
        for i, h in enumerate(neurons):
            alpha = 1 / x.shape[-1]
            dense = Dense(h, self.with_bias, jnp.sqrt(alpha) ** (1.0 - g), x.dtype, name=f"Dense_{i}")
            x = jnp.sqrt(alpha) ** g * dense(x)
            a = act if i < len(neurons) - 1 else last_act
            if a is not None:
                x = a(x)
        if irreps_in is not None:
            return IrrepsArray(Irreps(f"{x.shape[-1]}x0e"), x)
        return x
