"""The PyTorch backend: the adapter, and the one function per operation that picks its kernel.

Which code runs for an input is decided here only, by :func:`tensor_product_path`,
:func:`linear_path` and :func:`harmonics_path` (tested in
``tests/test_backends_fastpaths.py``): the generic executor of
:mod:`e3xp.backends.array_api` on native torch calls (:class:`~.kernels.Ops`), so
autograd and ``torch.compile`` see plain torch ops, or a native kernel measured
faster on CPU for that case:

* :mod:`.kernels`: forward-only channelwise / full / fully connected products,
  the fully connected gradients, the shared-weight linear map;
* :mod:`.autograd`: the autograd Functions around them, and the grouped segments
  as differentiable calls (autograd of any order, ``torch.compile``);
* :mod:`.harmonics`: the spherical harmonics, blocked and in place in eager mode,
  elementwise under ``torch.compile``;
* :mod:`.compile`: trace-time constants (``e3xp._static``) and the opaque custom
  ops ``e3xp::grouped_forward`` / ``e3xp::sh_forward`` that run the eager kernels
  inside compiled graphs that need no autograd.

Segment kinds without a native kernel (``"blk"`` output blocks, per-path plans)
run on the generic executor. Every kernel gives the float64 reference numbers.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import array_api
from ..base import Backend
from ..harmonics import SH_POLYNOMIAL_LMAX
from ..validation import check_linear_inputs, check_sh_inputs, check_tp_inputs
from . import compile as compiled
from .autograd import FullyConnected, SphericalHarmonics, grouped_graph
from .harmonics import harmonics_forward, harmonics_polynomial, harmonics_sparse
from . import kernels
from .kernels import (Ops, dense_operands, dense_product, fully_connected_forward, grouped_forward, linear_dense,
                      linear_dense_operands, linear_shared, needs_graph)

__all__ = ["TorchBackend", "make_backend", "tensor_product_path", "linear_path", "harmonics_path"]


def tensor_product_path(schedule, shared: bool, graph: bool, compiling: bool, dense: bool = False) -> str:
    """The kernel a tensor product runs on torch.

    Parameters
    ----------
    schedule : TensorProductSchedule
    shared : bool
        One weight vector for every sample (or no weights).
    graph : bool
        An autograd graph must be built (grad mode on, some input requires grad).
    compiling : bool
        Dynamo is tracing (``torch.compile``).
    dense : bool
        The plan has dense operands (:func:`~.kernels.dense_operands`) of at most
        :data:`~.kernels.DENSE_MAX` floats.

    Returns
    -------
    str
        ``"generic"`` (no grouped segments: the generic executor), ``"opaque"``
        (compiled, no graph: the eager kernels as the custom op
        ``e3xp::grouped_forward``), ``"forward_only"`` (eager channelwise / full
        products without graph: :func:`~.kernels.grouped_forward`),
        ``"fully_connected"`` (eager, shared weights, no graph:
        :func:`~.kernels.fully_connected_forward`), ``"fully_connected_autograd"``
        (the same with its hand-written gradients, ``FullyConnected``),
        ``"plain_graph"`` (compiled, with graph: :func:`~.autograd.grouped_graph`
        in built-in torch ops only, so that a force (double) backward traced into
        the compiled function is right) or ``"graph"`` (eager, with graph:
        :func:`~.autograd.grouped_graph` with its autograd Functions).

    Examples
    --------
    >>> from e3xp.core.plans import channelwise_tensor_product_plan
    >>> from e3xp.core.schedule import prepare
    >>> schedule, _ = prepare("tp", channelwise_tensor_product_plan("2x0e+1o", "0e+1o"))
    >>> [tensor_product_path(schedule, False, graph, False) for graph in (False, True)]
    ['forward_only', 'graph']
    >>> [tensor_product_path(schedule, False, graph, True) for graph in (False, True)]
    ['opaque', 'plain_graph']
    >>> tensor_product_path(schedule, False, True, False, dense=True)
    'dense'
    """
    if schedule.grouped is None:
        return "generic"
    kinds = schedule.grouped.kinds
    forward_only = kinds <= {"grp", "cg"}
    fully_connected = shared and kinds == {"uvw"}
    if compiling:
        if graph:
            return "plain_graph"
        return "opaque" if forward_only or fully_connected else "plain_graph"
    if forward_only and not graph:
        return "forward_only"
    if fully_connected:
        return "fully_connected_autograd" if graph else "fully_connected"
    if dense and graph:
        return "dense"
    return "graph"


def linear_path(shared: bool, graph: bool, compiling: bool, dense: bool = False) -> str:
    """The kernel a linear map runs on torch.

    ``"generic"`` (per-sample weights or biases), ``"forward_only"`` (shared, eager,
    no graph: :func:`~.kernels.linear_shared` writing into one output),
    ``"dense"`` (shared, eager, with graph, ``dense``: a small map without biases,
    :func:`~.kernels.linear_dense`, one matmul by the dense weight matrix) or
    ``"shared"`` (shared, differentiable: the same products joined by ``torch.cat``).

    Examples
    --------
    >>> linear_path(True, False, False), linear_path(True, False, True), linear_path(False, False, False)
    ('forward_only', 'shared', 'generic')
    >>> linear_path(True, True, False, dense=True), linear_path(True, True, True, dense=True)
    ('dense', 'shared')
    """
    if not shared:
        return "generic"
    if not (graph or compiling):
        return "forward_only"
    return "dense" if dense and graph and not compiling else "shared"


def harmonics_path(schedule, graph: bool, compiling: bool) -> str:
    """The kernel the spherical harmonics run on torch.

    Eager: ``"in_place"`` (no graph: :func:`~.harmonics.harmonics_forward`) or
    ``"autograd"`` (``SphericalHarmonics``, its hand-written gradient). Compiled:
    ``"polynomial"`` (``lmax <= SH_POLYNOMIAL_LMAX``), ``"opaque"`` (no graph: the
    eager kernel as the custom op ``e3xp::sh_forward``) or ``"sparse"``.

    Examples
    --------
    >>> from e3xp.core.schedule import prepare
    >>> schedule, _ = prepare("sh", (8, (0, 8), "component"))
    >>> [harmonics_path(schedule, graph, True) for graph in (False, True)]
    ['opaque', 'sparse']
    """
    if not compiling:
        return "autograd" if graph else "in_place"
    if schedule.lmax <= SH_POLYNOMIAL_LMAX:
        return "polynomial"
    return "sparse" if graph else "opaque"


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

    def _zeros(self, shape, like):
        return torch.zeros(tuple(shape), dtype=like.dtype, device=like.device)

    def _materialize(self, np_array, like):
        # Not an inference tensor even inside inference_mode: the cache outlives the block.
        with torch.inference_mode(False):
            return torch.as_tensor(np.array(np_array, dtype=np.float64), dtype=like.dtype, device=like.device)

    def _prepared(self, kind, key, like):
        if torch.compiler.is_compiling():
            return compiled.prepared(kind, key, like)
        return super()._prepared(kind, key, like)

    def tensor_product(self, plan, x1, x2, weights=None, *, constants=None):
        """Execute ``plan``; see :func:`e3xp.backends.array_api.tensor_product`.

        ``constants``: optional, the plan's constants (those of
        ``e3xp.backends.prepared(plan, "torch", ...)``, e.g. a module's buffers) in
        ``x1``'s dtype and device, used instead of the backend's cache. The opaque
        compiled op (``torch.compile`` without autograd graph) takes none: it reads
        the cache, which holds the same float64 numbers in the same dtype.
        """
        shared, batch = check_tp_inputs(self, plan, x1, x2, weights)
        compiling = torch.compiler.is_compiling()
        if constants is not None:
            constants = tuple(constants)
            schedule = compiled.schedule("tp", plan) if compiling else self._prepared_schedule("tp", plan)
            consts = None
        else:
            # compiled: the schedule alone first, the opaque op needs no constants in the graph
            schedule, consts = (compiled.schedule("tp", plan), None) if compiling else self._prepared("tp", plan, x1)
        graph = needs_graph(*(a for a in (x1, x2, weights) if a is not None))
        dense = None
        if graph and not compiling and weights is not None:
            dense = dense_operands(plan)
            if dense is not None and dense[0].size > kernels.DENSE_MAX:
                dense = None
        path = tensor_product_path(schedule, shared, graph, compiling, dense=dense is not None)
        if path == "dense":
            c, widx = self._cached(dense, x1, lambda: (self._materialize(dense[0], x1),
                                                       torch.as_tensor(np.array(dense[1]), device=x1.device)))
            return dense_product(c, widx, x1, x2, weights)
        if path == "opaque":
            return compiled.grouped_forward_op(x1, x2, weights, compiled.plan_id(plan), list(batch))
        if consts is None:
            consts = constants if constants is not None else self._prepared("tp", plan, x1)[1]
        if path == "generic":
            return array_api.execute_tp(self, schedule, consts, x1, x2, weights, shared, batch)
        if path == "forward_only":
            return grouped_forward(schedule, consts, x1, x2, weights, batch)
        if path == "fully_connected":
            return fully_connected_forward(schedule, consts, x1, x2, weights, batch)
        if path == "fully_connected_autograd":
            return FullyConnected.apply(self, schedule, consts, tuple(batch), x1, x2, weights)
        return grouped_graph(self, schedule, consts, x1, x2, weights, shared, batch, plain=path == "plain_graph")

    def _prepared_schedule(self, kind, key):
        from e3xp.core.schedule import prepare

        return prepare(kind, key)[0]

    def linear(self, plan, x, weights, bias=None):
        shared, b_shared, batch = check_linear_inputs(self, plan, x, weights, bias)
        graph = needs_graph(*(a for a in (x, weights, bias) if a is not None))
        compiling = torch.compiler.is_compiling()
        dense = None
        if graph and not compiling and shared and bias is None and weights is not None:
            schedule, _ = self._prepared("linear", plan, x)
            dense = linear_dense_operands(schedule)
            if dense is not None and dense[0].size > kernels.LINEAR_DENSE_MAX:
                dense = None
        path = linear_path(shared and b_shared, graph, compiling, dense=dense is not None)
        if path == "generic":
            return array_api.linear(self, plan, x, weights, bias)
        schedule, _ = self._prepared("linear", plan, x)
        if path == "dense":
            idx, coef = self._cached(dense, x, lambda: (torch.as_tensor(np.array(dense[0]), device=x.device),
                                                        self._materialize(dense[1], x)))
            return linear_dense(idx, coef, x, weights, batch, schedule.dim_in, schedule.dim_out)
        return linear_shared(schedule, x, weights, bias, batch, forward_only=path == "forward_only")

    def spherical_harmonics(self, sh_plan, vectors, ls, normalize=True, normalization="component"):
        ls = check_sh_inputs(self, sh_plan, vectors, ls, normalization)
        key = (sh_plan.lmax, ls, normalization)
        compiling = torch.compiler.is_compiling()
        schedule, mats = (compiled.schedule("sh", key), None) if compiling else self._prepared("sh", key, vectors)
        path = harmonics_path(schedule, needs_graph(vectors), compiling)
        if path == "polynomial":
            return harmonics_polynomial(vectors, compiled.sh_polynomial(key), normalize)
        if path == "opaque":
            return compiled.sh_forward_op(vectors, key[0], list(key[1]), normalization, bool(normalize))
        if path == "sparse":
            return harmonics_sparse(vectors, schedule, compiled.sh_terms(key), normalize)
        if path == "in_place":
            return harmonics_forward(vectors, schedule, mats, normalize)
        return SphericalHarmonics.apply(schedule, mats, normalize, vectors)

    def stop_gradient(self, x):
        return x.detach()

    def normal(self, seed, shape, dtype=None, device=None):
        if isinstance(seed, torch.Generator):
            from ..base import _check_shape

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
    """The torch backend.

    Examples
    --------
    >>> make_backend()
    Backend('torch')
    """
    global _backend
    if _backend is None:
        import array_api_compat.torch as xp

        _backend = TorchBackend("torch", xp, ops=Ops)
    return _backend
