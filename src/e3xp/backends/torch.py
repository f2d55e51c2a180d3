"""The PyTorch backend: native ops, ``index_add`` scatter sums, ``torch.compile`` glue.

The executors of :mod:`.array_api` run on thin wrappers of native torch
functions, so autograd (double backward included) and ``torch.compile`` see
plain torch ops. Under ``torch.compile`` the plan's schedule and constants are
produced by functions marked ``torch.compiler.assume_constant_result``: Dynamo
runs them once while tracing and bakes their results in, instead of tracing
the NumPy code that builds them (which would break the graph).
"""

from __future__ import annotations

import numpy as np

from .base import Backend

__all__ = ["TorchBackend", "make_backend"]

torch = None  # the framework, bound by make_backend() so importing this module is free


class _Ops:
    """The array-API functions the executors call, as native torch calls."""

    matmul = staticmethod(lambda a, b: torch.matmul(a, b))
    reshape = staticmethod(lambda x, shape: torch.reshape(x, shape))
    permute_dims = staticmethod(lambda x, axes: torch.permute(x, axes))
    concat = staticmethod(lambda xs, axis=0: torch.cat(list(xs), dim=axis))
    expand_dims = staticmethod(lambda x, axis=0: torch.unsqueeze(x, axis))
    sum = staticmethod(lambda x, axis=None, keepdims=False: torch.sum(x, dim=axis, keepdim=keepdims))
    where = staticmethod(lambda c, a, b: torch.where(c, a, b))
    sqrt = staticmethod(lambda x: torch.sqrt(x))
    ones_like = staticmethod(lambda x: torch.ones_like(x))
    broadcast_to = staticmethod(lambda x, shape: torch.broadcast_to(x, shape))
    matrix_transpose = staticmethod(lambda x: torch.transpose(x, -1, -2))
    zeros = staticmethod(lambda shape, dtype=None, device=None: torch.zeros(shape, dtype=dtype, device=device))


def _schedule(kind, key):
    from .array_api import prepare

    return prepare(kind, key)[0]


def _constants(kind, key, dtype, device):
    backend = make_backend()
    from .array_api import prepare

    np_consts = prepare(kind, key)[1]
    like = torch.empty((), dtype=dtype, device=device)
    return backend._constants(np_consts, like)


def _split_sizes(bounds, total):
    """Chunk sizes between the sorted cut points ``bounds`` (0 and ``total`` added)."""
    cuts = sorted(set(bounds) | {0, total})
    return [b - a for a, b in zip(cuts[:-1], cuts[1:])], {a: k for k, a in enumerate(cuts[:-1])}


def _grouped_tp(backend, schedule, consts, x1, x2, w, shared, batch):
    """Channelwise paths one by one from split inputs (see ``array_api._group_channelwise``).

    Why not the standard executor: ``torch.split`` gives each input one
    ``SplitBackward`` (a single concatenation of the gradients) where slicing gives
    every slice a zero-filled gradient of the whole input; and one path at a time
    keeps each intermediate at ``(batch, mul1, d3)``, small enough for the
    allocator to reuse its memory instead of mapping (and page-faulting) fresh
    pages on every call, which on CPU costs several times the arithmetic.
    """
    from .array_api import _finish, _out_block

    ci, segs = schedule[4]
    paths = []  # (st1, mul1, d1, d3, weight offset, w_first) of every grouped path, Call's column order
    for seg in segs:
        if seg[0] == "grp":
            _, st1, mul1, d1, d3, n, _, off, w_first = seg
            paths += [(st1, mul1, d1, d3, off + k * mul1, w_first) for k in range(n)]
    x1_sizes, x1_at = _split_sizes([b for p in paths for b in (p[0], p[0] + p[1] * p[2])], x1.shape[-1])
    w_sizes, w_at = _split_sizes([b for p in paths for b in (p[4], p[4] + p[1])], w.shape[-1])
    x1s = torch.split(x1, x1_sizes, dim=-1)
    ws = torch.split(w, w_sizes, dim=-1)
    bcs = torch.split(torch.matmul(x2, consts[ci]), [p[2] * p[3] for p in paths], dim=-1)
    pieces, k = [], 0
    for seg in segs:
        if seg[0] == "blk":
            pieces.append(_out_block(backend, _Ops, schedule[3][seg[1]], consts, x1, x2, w, shared, batch))
            continue
        for _ in range(seg[5]):
            st1, mul1, d1, d3, off, w_first = paths[k]
            a = x1s[x1_at[st1]]
            a = a.reshape(a.shape[:-1] + (mul1, d1))
            b = bcs[k]
            b = b.reshape(b.shape[:-1] + (d1, d3))
            wk = ws[w_at[off]].unsqueeze(-1)
            z = torch.matmul(a * wk, b) if w_first else torch.matmul(a, b) * wk
            pieces.append(z.reshape(z.shape[:-2] + (mul1 * d3,)))
            k += 1
    return _finish(backend, _Ops, pieces, batch, x1)


_opaque_schedule = None
_opaque_constants = None


class TorchBackend(Backend):
    """:class:`Backend` for ``torch.Tensor`` (CPU or CUDA).

    Examples
    --------
    >>> from e3xp.backends import get_backend
    >>> be = get_backend("torch")
    >>> x = be.asarray([1.0, 2.0], dtype="float64")
    >>> print(be.is_array(x), be.to_numpy(x))
    True [1. 2.]
    """

    def is_array(self, x) -> bool:
        return isinstance(x, torch.Tensor)

    def asarray(self, x, *, dtype=None, device=None):
        if isinstance(x, np.ndarray) and not x.flags.writeable:
            x = np.array(x)  # torch warns about (and cannot protect) read-only buffers
        return torch.as_tensor(x, dtype=self._resolve_dtype(dtype), device=device)

    def to_numpy(self, x) -> np.ndarray:
        x = x.detach()
        if x.dtype == torch.bfloat16:
            x = x.float()
        return x.cpu().numpy()

    def device(self, x):
        return x.device

    def float_dtype(self, name: str):
        if name not in ("float16", "bfloat16", "float32", "float64"):
            raise TypeError(f"unknown floating dtype {name!r} for backend 'torch': expected 'float32' or 'float64'")
        return getattr(torch, name)

    def _dtype_name(self, dtype) -> str:
        return str(dtype).rsplit(".", 1)[-1]

    def _is_real_float(self, dtype) -> bool:
        return dtype.is_floating_point

    def default_float_dtype(self, device=None):
        return torch.get_default_dtype()

    def _zeros(self, shape, like):
        return torch.zeros(tuple(shape), dtype=like.dtype, device=like.device)

    def _materialize(self, np_array, like):
        # Not an inference tensor even inside inference_mode: the cache outlives the block.
        with torch.inference_mode(False):
            return torch.as_tensor(np.array(np_array, dtype=np.float64), dtype=like.dtype, device=like.device)

    def _prepared(self, kind, key, like):
        if torch.compiler.is_compiling():
            return _opaque_schedule(kind, key), _opaque_constants(kind, key, like.dtype, like.device)
        return super()._prepared(kind, key, like)

    def tensor_product(self, plan, x1, x2, weights=None):
        from . import array_api

        shared, batch = array_api.check_tp_inputs(self, plan, x1, x2, weights)
        schedule, consts = self._prepared("tp", plan, x1)
        if schedule[4] is None:
            return array_api.execute_tp(self, schedule, consts, x1, x2, weights, shared, batch)
        return _grouped_tp(self, schedule, consts, x1, x2, weights, shared, batch)

    def normal(self, seed, shape, dtype=None, device=None):
        if isinstance(seed, torch.Generator):
            from .base import _check_shape

            dtype = self._resolve_dtype(dtype) or self.default_float_dtype()
            if not self._is_real_float(dtype):
                raise TypeError(f"normal() needs a real floating dtype, got {dtype}")
            x = torch.randn(_check_shape(shape), generator=seed, dtype=torch.float64, device=seed.device)
            return x.to(dtype=dtype, device=device if device is not None else x.device)
        return super().normal(seed, shape, dtype=dtype, device=device)

    def _check_index_range(self, index, num_segments):
        if torch.compiler.is_compiling() or index.shape[0] == 0:
            return  # ids are symbolic while tracing
        bad = (index < 0) | (index >= num_segments)
        if bool(bad.any()):
            value = int(index[bad][0])
            raise ValueError(f"segment id {value} is out of range: expected ids in [0, {num_segments})")

    def _scatter_sum(self, data, index, num_segments, axis):
        if index.dtype not in (torch.int64, torch.int32):
            index = index.to(torch.int64)
        shape = list(data.shape)
        shape[axis] = num_segments
        return torch.zeros(shape, dtype=data.dtype, device=data.device).index_add(axis, index, data)

    def _from_dlpack(self, x):
        return torch.from_dlpack(x)

    def _to_device(self, x, device):
        return x.to(device)


_backend = None


def make_backend() -> Backend:
    """The torch backend (imports torch).

    Examples
    --------
    >>> make_backend()
    Backend('torch')
    """
    global torch, _backend, _opaque_schedule, _opaque_constants
    if _backend is None:
        import torch as _torch
        import array_api_compat.torch as xp

        torch = _torch
        _opaque_schedule = torch.compiler.assume_constant_result(_schedule)
        _opaque_constants = torch.compiler.assume_constant_result(_constants)
        _backend = TorchBackend("torch", xp, ops=_Ops)
    return _backend
