"""JAX spherical harmonics: elementwise forms XLA fuses, and a dense recursion for high degrees.

:func:`sparse_harmonics` is the plan's recursion with only its nonzero terms:
``M_l`` is a Clebsch-Gordan block, ``5 l - 9`` of its ``3 (4 l^2 - 1)`` entries
are nonzero (35 of 159 up to ``l = 3``). Written per component, ``y_l[k] = sum c *
y_{l-1}[i] * v[j]`` over those entries, the whole evaluation (and its derivative)
is elementwise, and XLA fuses it into a few loops over the samples (measured about
3x faster than the dense ``(n, 3 (2l - 1)) @ M_l`` form up to lmax 5). The sums
skip exact zeros only, so the numbers are the plan's up to rounding. Up to
``SH_POLYNOMIAL_LMAX`` the same harmonics run as explicit polynomials
(:func:`polynomial_harmonics`, fewer operations). Above :data:`SH_SPARSE_LMAX` the
fused derivative of the long chain becomes slower than that of the dense
recursion, so those run :func:`dense_harmonics`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..harmonics import sh_polynomial_columns, sh_polynomial_terms, sparse_sh_columns, sparse_sh_terms
from .kernels import repeat_minor

__all__ = ["SH_SPARSE_LMAX", "polynomial_harmonics", "sparse_harmonics", "dense_harmonics"]

SH_SPARSE_LMAX = 5  # above it the dense recursion (dense_harmonics) differentiates faster (measured at lmax 8)


def polynomial_harmonics(x, key):
    """The harmonics of ``prepare("sh", key)`` of the (unit) vectors ``x`` as explicit polynomials."""
    v = [x[..., j] for j in range(3)]
    return jnp.stack(sh_polynomial_columns(jnp, v, sh_polynomial_terms(key)), axis=-1)


def sparse_harmonics(x, key, schedule):
    """The harmonics of ``prepare("sh", key)`` (its ``schedule``) by the sparse elementwise recursion."""
    v = [x[..., j] for j in range(3)]
    return jnp.stack(sparse_sh_columns(jnp, v, schedule, sparse_sh_terms(key)), axis=-1)


def dense_harmonics(schedule, mats):
    """The dense recursion ``y_l = (y_{l-1} (x) v) @ M_l`` with a ``custom_jvp`` written for its transpose.

    The forward is the generic executor's: one outer product and one matmul per
    degree. Its plain derivative transposes the outer product's broadcast of
    ``y_{l-1}`` along the short ``v`` axis into a reduction over that minor axis
    of size 3, which XLA:CPU runs very slowly. The tangent is written instead
    with ``M_l`` split by the ``v`` component, ``dy_l = sum_j (dy_{l-1} v_j +
    y_{l-1} dv_j) @ M_l^j``, and ``v_j`` repeated by :func:`repeat_minor`:
    its transpose is matmuls and elementwise work (measured about 3x faster in
    forward+backward at lmax 8; the forward is unchanged).
    """
    lmax = schedule.lmax
    mats = [np.asarray(m) for m in mats]  # host float64: the custom_jvp must not close over tracers
    split = [[m[j::3] for j in range(3)] for m in mats]  # M_l rows are (i, j), j the v component

    def degrees(v):
        batch = v.shape[:-1]
        ys = [jnp.ones_like(v[..., :1])]
        for l in range(1, lmax + 1):
            outer = ys[-1][..., :, None] * v[..., None, :]
            ys.append(jnp.matmul(outer.reshape(batch + (3 * (2 * l - 1),)), mats[l - 1].astype(v.dtype)))
        return ys

    def assemble(ys):
        parts = [ys[l] if f == 1.0 else ys[l] * f for l, f in zip(schedule.ls, schedule.factors)]
        return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=-1)

    @jax.custom_jvp
    def f(v):
        return assemble(degrees(v))

    def f_jvp(primals, tangents):
        (v,), (dv,) = primals, tangents
        ys = degrees(v)
        vs = [v[..., j : j + 1] for j in range(3)]
        dvs = [dv[..., j : j + 1] for j in range(3)]
        dys = [jnp.zeros_like(ys[0])]
        for l in range(1, lmax + 1):
            acc = None
            for j in range(3):
                m = split[l - 1][j].astype(v.dtype)
                arg = ys[l - 1] * repeat_minor(dvs[j], 2 * l - 1)
                if l > 1:
                    arg = arg + dys[l - 1] * repeat_minor(vs[j], 2 * l - 1)
                t = jnp.matmul(arg, m)
                acc = t if acc is None else acc + t
            dys.append(acc)
        return assemble(ys), assemble(dys)

    f.defjvp(f_jvp)
    return f
