"""IrrepsArray-aware ``grad`` and ``vmap`` (e3nn-jax's names), on JAX and on PyTorch.

JAX uses ``jax.jacobian`` / ``jax.vmap``; PyTorch uses ``torch.func.jacrev`` /
``torch.func.vmap``. NumPy, CuPy and array-API libraries have no automatic
differentiation or vectorizing transform, so these raise a TypeError there.
IrrepsArrays are passed through the transforms as their plain arrays (the irreps
are static), so the same code serves both frameworks.
"""

from __future__ import annotations

import math

from ..backends import backend_of
from ..core.clebsch_gordan import clebsch_gordan
from ..core.irreps import Irreps
from ..irreps_array import IrrepsArray
from .scatter import _device

__all__ = ["grad", "vmap"]

_TRANSFORM_BACKENDS = ("jax", "torch")


def _framework(array, what: str) -> str:
    name = backend_of(array).name
    if name not in _TRANSFORM_BACKENDS:
        raise TypeError(
            f"{what} needs automatic differentiation / vectorization, which backend {name!r} does not "
            "have; use JAX or PyTorch arrays (e3xp.to_backend(x, 'jax'))"
        )
    return name


def grad(fun, argnums: int = 0, has_aux: bool = False, regroup_output: bool = True):
    r"""The gradient of an equivariant function, reduced into irreps (e3nn-jax's ``grad``).

    The Jacobian of ``fun`` with respect to argument ``argnums`` is contracted, for each
    output entry ``mul_o x ir_o`` and input entry ``mul_i x ir_i``, with
    ``sqrt(2l+1) CG(l_o, l_i, l)`` for every ``l`` in ``ir_o x ir_i``; the result is equivariant.

    Parameters
    ----------
    fun : callable
        Returns an IrrepsArray (with ``has_aux``: ``(IrrepsArray, aux)``).
    argnums : int
        The argument (an IrrepsArray) to differentiate with respect to.
    has_aux : bool
    regroup_output : bool
        Regroup the result (sort and merge entries).

    Returns
    -------
    callable
        Same arguments as ``fun``; returns an IrrepsArray of shape
        ``lead_out + lead_in + (dim,)`` (and ``aux``).

    Raises
    ------
    TypeError
        ``argnums`` not an int, the argument not an IrrepsArray, ``fun`` not returning
        one, or a backend without autodiff (JAX through ``jax.jacobian``, PyTorch
        through ``torch.autograd.functional.jacobian``).

    Notes
    -----
    On PyTorch the Jacobian is built with ``create_graph=True`` whenever grad mode
    is on, so the result can be differentiated again (forces in a training step);
    it then requires grad (call ``.detach()`` before ``.numpy()``), and
    ``torch.no_grad()`` turns that off.

    Examples
    --------
    >>> import jax.numpy as jnp, e3xp
    >>> f = grad(lambda x: 0.5 * e3xp.norm(x, squared=True))
    >>> f(IrrepsArray("1o", jnp.array([1.0, 2.0, 3.0])))
    1x1o [1. 2. 3.]
    """
    if isinstance(argnums, bool) or not isinstance(argnums, int):
        raise TypeError(f"grad: argnums={argnums!r} must be an int")

    def grad_fun(*args, **kwargs):
        args = list(args)
        if not -len(args) <= argnums < len(args):
            raise TypeError(f"grad: argnums={argnums} but the function got {len(args)} positional arguments")
        x = args[argnums]
        if not isinstance(x, IrrepsArray):
            raise TypeError(f"grad: argument {argnums} must be an IrrepsArray, got {type(x).__name__}")
        name = _framework(x.array, "grad")
        out_info = {}

        def naked(a):
            args[argnums] = IrrepsArray(x.irreps, a)
            result = fun(*args, **kwargs)
            y, aux = result if has_aux else (result, None)
            if not isinstance(y, IrrepsArray):
                raise TypeError(f"grad: the function must return an IrrepsArray, got {type(y).__name__}")
            out_info["irreps"], out_info["lead"] = y.irreps, y.shape[:-1]
            return y.array, aux

        if name == "jax":
            import jax

            jac, aux = jax.jacobian(naked, has_aux=True)(x.array)
        else:
            import torch

            # torch.autograd.functional, not torch.func.jacrev: e3xp's torch kernels are
            # autograd.Functions without functorch rules. create_graph keeps the result
            # differentiable (e.g. forces inside a training step).
            holder = {}

            def no_aux(a):
                y, holder["aux"] = naked(a)
                return y

            jac = torch.autograd.functional.jacobian(no_aux, x.array, create_graph=torch.is_grad_enabled())
            aux = holder["aux"]
        out = _reduce_jacobian(jac, out_info["irreps"], out_info["lead"], x.irreps, x.shape[:-1])
        if regroup_output:
            out = out.regroup()
        return (out, aux) if has_aux else out

    return grad_fun


def _reduce_jacobian(jac, irreps_out: Irreps, lead_out: tuple, irreps_in: Irreps, lead_in: tuple) -> IrrepsArray:
    """Contract the Jacobian ``lead_out + (dim_out,) + lead_in + (dim_in,)`` into irreps."""
    backend = backend_of(jac)
    xp = backend.xp
    n_out, n_in = math.prod(lead_out), math.prod(lead_in)
    jac = xp.reshape(jac, (n_out, irreps_out.dim, n_in, irreps_in.dim))
    irreps, blocks = [], []
    for s_o, (mul_o, ir_o) in zip(irreps_out.slices(), irreps_out):
        for s_i, (mul_i, ir_i) in zip(irreps_in.slices(), irreps_in):
            z = xp.reshape(jac[:, s_o, :, s_i], (n_out, mul_o, ir_o.dim, n_in, mul_i, ir_i.dim))
            z = xp.permute_dims(z, (0, 3, 1, 4, 2, 5))  # a b u v i j
            for ir in ir_o * ir_i:
                cg = math.sqrt(ir.dim) * clebsch_gordan(ir_o.l, ir_i.l, ir.l)
                block = xp.tensordot(z, backend.constant(cg, like=jac), axes=([4, 5], [0, 1]))
                irreps.append((mul_o * mul_i, ir))
                blocks.append(xp.reshape(block, lead_out + lead_in + (mul_o * mul_i * ir.dim,)))
    lead = tuple(lead_out) + tuple(lead_in)
    if not blocks:
        return IrrepsArray(Irreps(irreps), xp.zeros(lead + (0,), dtype=jac.dtype, device=_device(backend, jac)))
    return IrrepsArray(Irreps(irreps), blocks[0] if len(blocks) == 1 else xp.concat(blocks, axis=-1))


# --------------------------------------------------------------------------- vmap


class _Irreps:
    """Marks where an IrrepsArray was, while its array goes through the transform."""

    __slots__ = ("irreps",)

    def __init__(self, irreps):
        self.irreps = irreps


def _strip(tree, marks: list):
    """Replace each IrrepsArray in a nested list/tuple/dict by its array; record the irreps."""
    if isinstance(tree, IrrepsArray):
        marks.append(tree.irreps)
        return tree.array
    if isinstance(tree, (list, tuple)):
        out = [_strip(t, marks) for t in tree]
        return type(tree)(out) if type(tree) in (list, tuple) else type(tree)(*out)
    if isinstance(tree, dict):
        return {k: _strip(v, marks) for k, v in tree.items()}
    marks.append(None)
    return tree


def _dress(tree, marks: list):
    """Inverse of :func:`_strip` (``marks`` is consumed in the same order)."""
    if isinstance(tree, (list, tuple)):
        out = [_dress(t, marks) for t in tree]
        return type(tree)(out) if type(tree) in (list, tuple) else type(tree)(*out)
    if isinstance(tree, dict):
        return {k: _dress(v, marks) for k, v in tree.items()}
    irreps = marks.pop(0)
    return tree if irreps is None else IrrepsArray._unchecked(irreps, tree)


def _first_array(tree):
    if isinstance(tree, IrrepsArray):
        return tree.array
    if isinstance(tree, (list, tuple)):
        items = tree
    elif isinstance(tree, dict):
        items = list(tree.values())
    else:
        return tree if hasattr(tree, "shape") and hasattr(tree, "dtype") else None
    for t in items:
        a = _first_array(t)
        if a is not None:
            return a
    return None


def vmap(fun, in_axes=0, out_axes=0):
    r"""Vectorize ``fun`` over a leading axis of its IrrepsArray (and array) arguments.

    ``jax.vmap`` on JAX, ``torch.func.vmap`` on PyTorch (chosen from the first array
    among the arguments). IrrepsArrays may appear anywhere in nested lists, tuples
    and dicts of the arguments and of the result.

    Parameters
    ----------
    fun : callable
    in_axes : int, None or a sequence (one per positional argument), as in ``jax.vmap``
        A mapped axis of an IrrepsArray must be a leading axis.
    out_axes : int, None or a sequence, as in ``jax.vmap``

    Returns
    -------
    callable

    Raises
    ------
    ValueError
        ``in_axes=-1`` / ``out_axes=-1`` (the irreps axis), as e3nn-jax.
    TypeError
        No array among the arguments, or a backend without such a transform.

    NotImplementedError
        On PyTorch, when ``fun`` calls an e3xp kernel written as a
        ``torch.autograd.Function`` (tensor products, linear layers): those have no
        ``torch.func`` rules yet. Elementwise operations (norm, activations, the
        helpers of :mod:`e3xp.ops.basic`) work. e3xp operations broadcast over
        leading axes, so calling ``fun`` on the batch directly is the workaround.

    Notes
    -----
    torch's ``in_dims`` accepts only ints, None and tuples/lists of them; e3xp
    passes ``in_axes`` through unchanged.

    Examples
    --------
    >>> import jax.numpy as jnp, e3xp
    >>> x = IrrepsArray("0e + 1o", jnp.ones((5, 4)))
    >>> vmap(lambda v: e3xp.norm(v))(x).shape
    (5, 2)
    """
    if in_axes == -1:
        raise ValueError("vmap: in_axes=-1 would map over the irreps axis; use a leading axis")
    if out_axes == -1:
        raise ValueError("vmap: out_axes=-1 would map over the irreps axis; use a leading axis")

    def mapped(*args, **kwargs):
        first = _first_array((args, kwargs))
        if first is None:
            raise TypeError("vmap: no array or IrrepsArray among the arguments")
        name = _framework(first, "vmap")
        in_marks: list = []
        flat_args = _strip((args, kwargs), in_marks)
        out_marks: list = []

        def inside(*a, **k):
            a, k = _dress((list(a), k), list(in_marks))
            result = fun(*a, **k)
            out_marks.clear()
            return _strip(result, out_marks)

        if name == "jax":
            import jax

            result = jax.vmap(inside, in_axes, out_axes)(*flat_args[0], **flat_args[1])
        else:
            import torch.func

            try:
                result = torch.func.vmap(inside, in_axes, out_axes)(*flat_args[0], **flat_args[1])
            except RuntimeError as e:
                if "functorch transforms" not in str(e):
                    raise
                raise NotImplementedError(
                    "vmap: on PyTorch, e3xp's tensor-product / linear kernels (torch.autograd.Function) "
                    "do not support torch.func.vmap yet; call the function on the batched IrrepsArray "
                    "directly (e3xp operations broadcast over leading axes)"
                ) from e
        return _dress(result, list(out_marks))

    return mapped
