"""``e3xp.flax.BatchNorm``: e3nn-jax's equivariant batch normalization (flax), same variables."""

from __future__ import annotations

from math import prod
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from ..core.irreps import Irreps
from ..core.layer_spec import LayerSpec, ParamSpec
from ..irreps_array import IrrepsArray
from ._common import check_params, to_irreps_array

__all__ = ["BatchNorm"]


def _first_not_none(*values):
    for v in values:
        if v is not None:
            return v
    return None


class BatchNorm(nn.Module):
    r"""Equivariant batch normalization, a drop-in for ``e3nn_jax.flax.BatchNorm`` (0.21).

    Scalars (``0e``) are centred by their mean; every irrep is divided by
    ``sqrt((1 - eps) n + eps)``, with ``n`` its squared norm (``normalization="norm"``)
    or mean squared component ("component"), averaged over the batch and the
    other leading axes (``reduce="mean"``, or their ``"max"``). With ``affine``,
    each irrep is then scaled by a weight and each scalar shifted by a bias.

    Variables, as e3nn-jax: ``params`` ``{"weights": (num_irreps,) ones, "biases":
    (num_scalars,) zeros}`` (with ``affine``) and ``batch_stats`` ``{"mean":
    (num_scalars,) zeros, "var": (num_irreps,) ones}`` (without ``instance``),
    updated as ``(1 - momentum) old + momentum new`` when applied with
    ``mutable=["batch_stats"]`` (not during ``init``). The outputs equal
    e3nn-jax's in every mode. One difference: with ``use_running_average=True``
    the running statistics are left as they are (flax's ``nn.BatchNorm``
    convention), so evaluation needs no ``mutable``; e3nn-jax 0.21 still updates
    them from the evaluated batch there (and so fails without ``mutable``).

    Parameters
    ----------
    use_running_average : bool, optional
        Use ``batch_stats`` instead of the batch's statistics (evaluation); the
        call's argument overrides it.
    eps : float
    momentum : float
    affine : bool
    reduce : {"mean", "max"}
    instance : bool
        Statistics per sample (over the non-batch leading axes); no ``batch_stats``.
    normalization : {"component", "norm"}, optional
        Default ``e3xp.config("irrep_normalization")``.

    Notes
    -----
    The input has shape ``(batch, ..., irreps.dim)``; ``mask`` (shape ``(batch,)``)
    leaves samples out of the statistics.

    Examples
    --------
    >>> import jax, e3xp
    >>> x = e3xp.normal("2x0e + 1o", jax.random.PRNGKey(0), (16,))
    >>> bn = BatchNorm()
    >>> v = bn.init(jax.random.PRNGKey(0), x)
    >>> jax.tree_util.tree_map(lambda a: a.shape, v)
    {'batch_stats': {'mean': (2,), 'var': (3,)}, 'params': {'biases': (2,), 'weights': (3,)}}
    >>> y, updates = bn.apply(v, x, mutable=["batch_stats"])
    >>> y.irreps, sorted(updates["batch_stats"])
    (2x0e+1x1o, ['mean', 'var'])
    """

    use_running_average: Optional[bool] = None
    eps: float = 1e-4
    momentum: float = 0.1
    affine: bool = True
    reduce: str = "mean"
    instance: bool = False
    normalization: Optional[str] = None

    @nn.compact
    def __call__(self, input, use_running_average: Optional[bool] = None, mask=None) -> IrrepsArray:  # noqa: A002
        what = "e3xp.flax.BatchNorm"
        x = to_irreps_array(input, f"{what}: input")
        if x.ndim < 2:
            raise ValueError(f"{what}: the input needs a batch axis, shape (batch, ..., irreps.dim); got {x.shape}")
        if mask is not None:
            mask = jnp.asarray(mask)
            if mask.shape != (x.shape[0],):
                raise ValueError(f"{what}: mask must have shape (batch,) = {(x.shape[0],)}, got {mask.shape}")
        use_ra = _first_not_none(use_running_average, self.use_running_average, False)
        if use_ra and self.instance:
            raise ValueError(f"{what}: instance=True keeps no running statistics; use_running_average must be False")
        normalization = self.normalization
        if normalization is None:
            from ..e3nn_config import config

            normalization = config("irrep_normalization")
        if normalization not in ("component", "norm"):
            raise ValueError(f"{what}: normalization={normalization!r} must be 'component' or 'norm'")
        if self.reduce not in ("mean", "max"):
            raise ValueError(f"{what}: reduce={self.reduce!r} must be 'mean' or 'max'")

        dtype = x.dtype
        irreps = x.irreps
        num_scalars = irreps.filter(keep="0e").num_irreps
        num_irreps = irreps.num_irreps
        if not self.instance:
            stats = LayerSpec("BatchNorm", (irreps,), irreps, None, (
                ParamSpec("mean", (num_scalars,), "zeros", target="mean"),
                ParamSpec("var", (num_irreps,), "ones", target="var"),
            ))
            check_params(self, stats, what, "batch_stats")
            ra_mean = self.variable("batch_stats", "mean", lambda s: jnp.zeros(s, dtype), (num_scalars,))
            ra_var = self.variable("batch_stats", "var", lambda s: jnp.ones(s, dtype), (num_irreps,))
        if self.affine:
            spec = LayerSpec("BatchNorm", (irreps,), irreps, None, (
                ParamSpec("weights", (num_irreps,), "ones"),
                ParamSpec("biases", (num_scalars,), "zeros", target="bias"),
            ))
            check_params(self, spec, what)
            weight = self.param("weights", lambda _: jnp.ones((num_irreps,), dtype))
            bias = self.param("biases", lambda _: jnp.zeros((num_scalars,), dtype))

        def roll(old, new):
            return (1 - self.momentum) * old + self.momentum * jax.lax.stop_gradient(new)

        batch, *size = x.shape[:-1]
        arr = x.array.reshape((batch, prod(size), -1))
        chunks, new_means, new_vars = [], [], []
        i_w = i_m = i_b = 0  # into var / weights, mean, biases
        for (mul, ir), s, zero in zip(irreps, irreps.slices(), x.zero_flags):
            c = arr[..., s].reshape((batch, prod(size), mul, ir.dim))
            if zero:  # a chunk known to be zero stays zero; its statistics are reset (as e3nn-jax)
                if ir.is_scalar():
                    new_means.append(jnp.zeros((mul,), dtype))
                    i_m += mul
                    i_b += mul if self.affine else 0
                new_vars.append(jnp.ones((mul,), dtype))
                chunks.append(c)
                i_w += mul
                continue
            if ir.is_scalar():
                if self.instance:
                    mean = c.mean(1).reshape(batch, mul)
                else:
                    if mask is None:
                        mean = c.mean((0, 1)).reshape(mul)
                    else:
                        mean = (c.mean(1)[:, :, 0] * mask[:, None]).sum(0) / mask.sum()
                    new_means.append(roll(ra_mean.value[i_m : i_m + mul], mean))
                if use_ra:
                    mean = ra_mean.value[i_m : i_m + mul]
                i_m += mul
                c = c - mean.reshape(-1, 1, mul, 1)
            n2 = jnp.square(c).sum(3) if normalization == "norm" else jnp.square(c).mean(3)  # (batch, S, mul)
            n2 = n2.mean(1) if self.reduce == "mean" else n2.max(1)  # (batch, mul)
            if not self.instance:
                n2 = n2.mean(0) if mask is None else (n2 * mask[:, None]).sum(0) / mask.sum()
                new_vars.append(roll(ra_var.value[i_w : i_w + mul], n2))
            if use_ra:
                n2 = ra_var.value[i_w : i_w + mul]
            inverse = jax.lax.rsqrt((1 - self.eps) * n2 + self.eps)
            if self.affine:
                inverse = inverse * weight[i_w : i_w + mul]
            c = c * inverse[..., None, :, None]
            if self.affine and ir.is_scalar():
                c = c + bias[i_b : i_b + mul].reshape(mul, 1)
                i_b += mul
            chunks.append(c)
            i_w += mul

        lead = (batch, prod(size))
        out = [c.reshape(lead + (mul * ir.dim,)) for c, (mul, ir) in zip(chunks, irreps)]
        out = jnp.concatenate(out, axis=-1) if out else jnp.zeros(lead + (0,), dtype)
        out = out.reshape(tuple(x.shape[:-1]) + (irreps.dim,))
        if not self.is_initializing() and not self.instance and not use_ra:
            ra_mean.value = jnp.concatenate(new_means) if new_means else jnp.zeros((0,), dtype)
            ra_var.value = jnp.concatenate(new_vars) if new_vars else jnp.zeros((0,), dtype)
        return IrrepsArray(irreps, out, zero_flags=x.zero_flags)
