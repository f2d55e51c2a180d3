"""The reference implementations ("anchors") the benchmark compares e3xp against.

Each implementation is an `Impl`: for a workload kind it builds a pure function
``f(*args) -> output array`` over framework arrays named by ``Workload.input_shapes``
(order w, x, y / vectors).  The harness (run.py) turns f into the forward,
forward+backward and double-backward steps, jits / compiles it, and times it, so
every library is driven the same way.

Anchors on CPU (their portable paths):
* e3nn 0.6.0 (torch eager; also torch.compile, built with jit_script_fx=False as e3nn
  documents for compile);
* e3nn-jax 0.21.0 (jax.jit), via the functional layers that its flax / haiku modules
  wrap (FunctionalLinear, legacy FunctionalFullyConnectedTensorProduct, legacy
  FunctionalTensorProduct with "uvu" instructions) vmapped over rows;  for (c) also
  the idiom of MACE-jax: ``tensor_product(x, sh, filter_ir_out)`` times the weights;
* cuequivariance-torch / -jax, method="naive" (the pure-framework path; the CUDA
  methods need cuequivariance-ops, which is not installed on CPU).  Their descriptors
  use the "ir_mul" layout; the benchmark feeds them the same buffers in ir_mul (their
  fastest configuration, no layout transposes), so only their timings, not their
  values, are comparable with e3nn's mul_ir layout.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable

# kind -> builder(workload, arrays: dict[str, array]) -> f
Builder = Callable


@dataclass
class Impl:
    name: str
    framework: str  # "torch" | "jax" | "numpy"
    library: str  # "e3nn", "e3nn-jax", "cuequivariance", "e3xp"
    is_anchor: bool
    builders: dict = field(default_factory=dict)
    compiled: bool = False  # torch.compile variant
    build_context: Callable = contextlib.nullcontext  # active while building (compile variants)
    note: str = ""
    secondary: bool = False  # an extra variant of an anchor, skipped by --quick

    def supports(self, kind: str) -> bool:
        return kind in self.builders


# =========================================================================== e3nn (torch)
def _e3nn_impls() -> list[Impl]:
    import e3nn
    from e3nn import o3

    def full_tp(wl, a):
        tp = o3.FullTensorProduct(wl.irreps_in1, wl.irreps_in2)
        return lambda x, y: tp(x, y)

    def fctp(wl, a):
        tp = o3.FullyConnectedTensorProduct(
            wl.irreps_in1, wl.irreps_in2, wl.irreps_out, internal_weights=False, shared_weights=True
        )
        assert tp.weight_numel == wl.weight_numel(), (tp.weight_numel, wl.weight_numel())
        return lambda w, x, y: tp(x, y, w)

    def channelwise(wl, a):
        instr = [(i1, i2, k, "uvu", True) for k, (i1, i2, *_) in enumerate(wl.paths())]
        tp = o3.TensorProduct(
            wl.irreps_in1, wl.irreps_in2, wl.channelwise_out_irreps(), instr,
            shared_weights=False, internal_weights=False,
        )
        assert tp.weight_numel == wl.weight_numel(), (tp.weight_numel, wl.weight_numel())
        return lambda w, x, y: tp(x, y, w)

    def linear(wl, a):
        lin = o3.Linear(wl.irreps_in1, wl.irreps_out, internal_weights=False, shared_weights=True)
        assert lin.weight_numel == wl.weight_numel()
        return lambda w, x: lin(x, w)

    def sh(wl, a):
        ls = list(range(wl.lmax + 1))
        return lambda v: o3.spherical_harmonics(ls, v, normalize=True, normalization="component")

    builders = {"full_tp": full_tp, "fctp": fctp, "channelwise": channelwise, "linear": linear, "sh": sh}

    @contextlib.contextmanager
    def no_script():
        # e3nn scripts its fx code by default, which torch.compile cannot trace.
        old = e3nn.get_optimization_defaults()
        e3nn.set_optimization_defaults(jit_script_fx=False)
        try:
            yield
        finally:
            e3nn.set_optimization_defaults(**old)

    return [
        Impl("e3nn", "torch", "e3nn", True, builders),
        Impl("e3nn+compile", "torch", "e3nn", True, builders, compiled=True, build_context=no_script),
    ]


# =========================================================================== e3nn-jax
def _e3nn_jax_impls() -> list[Impl]:
    import jax
    import jax.numpy as jnp
    import e3nn_jax as e3nn
    from e3nn_jax.legacy import FunctionalFullyConnectedTensorProduct, FunctionalTensorProduct

    def full_tp(wl, a):
        def f(x, y):
            return e3nn.tensor_product(e3nn.IrrepsArray(wl.irreps_in1, x), e3nn.IrrepsArray(wl.irreps_in2, y)).array

        return f

    def fctp(wl, a):
        tp = FunctionalFullyConnectedTensorProduct(
            e3nn.Irreps(wl.irreps_in1), e3nn.Irreps(wl.irreps_in2), e3nn.Irreps(wl.irreps_out)
        )
        shapes = [ins.path_shape for ins in tp.instructions]
        assert sum(int(jnp.prod(jnp.array(s))) for s in shapes) == wl.weight_numel()

        def f(w, x, y):
            ws, o = [], 0
            for s in shapes:
                n = 1
                for d in s:
                    n *= d
                ws.append(w[o : o + n].reshape(s))
                o += n
            one = lambda x1, x2: tp.left_right(ws, x1, x2)
            out = e3nn.utils.vmap(one)(e3nn.IrrepsArray(wl.irreps_in1, x), e3nn.IrrepsArray(wl.irreps_in2, y))
            return out.array

        return f

    def channelwise(wl, a):
        instr = [(i1, i2, k, "uvu", True) for k, (i1, i2, *_) in enumerate(wl.paths())]
        tp = FunctionalTensorProduct(
            e3nn.Irreps(wl.irreps_in1), e3nn.Irreps(wl.irreps_in2), e3nn.Irreps(wl.channelwise_out_irreps()), instr
        )

        def f(w, x, y):
            one = lambda w1, x1, x2: tp.left_right(w1, x1, x2)
            out = e3nn.utils.vmap(one)(w, e3nn.IrrepsArray(wl.irreps_in1, x), e3nn.IrrepsArray(wl.irreps_in2, y))
            return out.array

        return f

    def channelwise_tp_times_w(wl, a):
        # The MACE-jax idiom: full product filtered to the wanted irreps, then one weight
        # per output channel (the same uvu operation, path order of tensor_product).
        def f(w, x, y):
            out = e3nn.tensor_product(
                e3nn.IrrepsArray(wl.irreps_in1, x), e3nn.IrrepsArray(wl.irreps_in2, y),
                filter_ir_out=wl.irreps_out, regroup_output=False,
            )
            parts, o = [], 0
            for (mul, ir), c in zip(out.irreps, out.chunks):
                parts.append((c * w[:, o : o + mul, None]).reshape(c.shape[0], -1))
                o += mul
            return jnp.concatenate(parts, axis=-1)

        return f

    def linear(wl, a):
        lin = e3nn.FunctionalLinear(e3nn.Irreps(wl.irreps_in1), e3nn.Irreps(wl.irreps_out))
        assert lin.num_weights == wl.weight_numel()

        def f(w, x):
            return e3nn.utils.vmap(lambda x1: lin(w, x1))(e3nn.IrrepsArray(wl.irreps_in1, x)).array

        return f

    def sh(wl, a):
        from workloads import sh_irreps

        irreps = sh_irreps(wl.lmax)
        return lambda v: e3nn.spherical_harmonics(irreps, v, normalize=True, normalization="component").array

    return [
        Impl("e3nn-jax", "jax", "e3nn-jax", True,
             {"full_tp": full_tp, "fctp": fctp, "channelwise": channelwise, "linear": linear, "sh": sh}),
        Impl("e3nn-jax tp*w", "jax", "e3nn-jax", True, {"channelwise": channelwise_tp_times_w},
             note="tensor_product(x, sh, filter_ir_out) times per-channel weights (MACE-jax style)",
             secondary=True),
    ]


# =========================================================================== cuequivariance
def _cue_irreps(s):
    import cuequivariance as cue

    return cue.Irreps("O3", s)


def _cue_descriptor(wl):
    import cuequivariance as cue

    d = cue.descriptors
    if wl.kind == "full_tp":
        return d.full_tensor_product(_cue_irreps(wl.irreps_in1), _cue_irreps(wl.irreps_in2))
    if wl.kind == "fctp":
        return d.fully_connected_tensor_product(
            _cue_irreps(wl.irreps_in1), _cue_irreps(wl.irreps_in2), _cue_irreps(wl.irreps_out)
        )
    if wl.kind == "channelwise":
        return d.channelwise_tensor_product(
            _cue_irreps(wl.irreps_in1), _cue_irreps(wl.irreps_in2), [ir for _, ir in _cue_irreps(wl.irreps_out)]
        )
    if wl.kind == "linear":
        return d.linear(_cue_irreps(wl.irreps_in1), _cue_irreps(wl.irreps_out))
    raise ValueError(wl.kind)


def _check_cue_sizes(wl, e):
    sizes = [rep.dim for rep in e.inputs]
    want = [s[-1] for s in wl.input_shapes(1).values()]
    assert sizes == want, f"cuequivariance operand sizes {sizes} != benchmark inputs {want}"
    assert e.outputs[0].dim == wl.out_dim(), (e.outputs[0].dim, wl.out_dim())


# On a GPU, the CUDA methods of cuequivariance-ops (see the cuequivariance_torch SKILL.md):
# fused_tp for 3-4 operand products, uniform_1d for uniform segments (channelwise, SH).
_CUE_TORCH_CUDA = {"full_tp": "fused_tp", "fctp": "fused_tp", "linear": "fused_tp",
                   "channelwise": "uniform_1d", "sh": "uniform_1d"}
_CUE_JAX_CUDA = {"channelwise": "uniform_1d", "sh": "uniform_1d"}


def _cue_torch_impls(device: str = "cpu") -> list[Impl]:
    import torch
    import cuequivariance as cue
    import cuequivariance_torch as cuet

    def method_for(wl):
        return "naive" if device == "cpu" else _CUE_TORCH_CUDA[wl.kind]

    def poly_module(wl, a):
        e = _cue_descriptor(wl)
        _check_cue_sizes(wl, e)
        poly = e.polynomial
        if method_for(wl) == "uniform_1d":
            poly = e.squeeze_modes().flatten_coefficient_modes().polynomial
        m = cuet.SegmentedPolynomial(poly, method=method_for(wl), math_dtype=torch.float32).to(device)
        # shared weights need a batch axis of 1 here
        return lambda *args: m([t if t.ndim == 2 else t.reshape(1, -1) for t in args])[0]

    def sh(wl, a):
        m = cuet.SphericalHarmonics(list(range(wl.lmax + 1)), normalize=True, method=method_for(wl),
                                    math_dtype=torch.float32, device=device)
        return lambda v: m(v)

    def channelwise(wl, a):
        # the public layer (per-edge weights), in its native ir_mul layout
        tp = cuet.ChannelWiseTensorProduct(
            _cue_irreps(wl.irreps_in1), _cue_irreps(wl.irreps_in2), [ir for _, ir in _cue_irreps(wl.irreps_out)],
            layout=cue.ir_mul, shared_weights=False, internal_weights=False, method=method_for(wl),
            dtype=torch.float32, math_dtype=torch.float32, device=device,
        )
        assert tp.weight_numel == wl.weight_numel()
        return lambda w, x, y: tp(x, y, weight=w)

    builders = {"full_tp": poly_module, "fctp": poly_module, "channelwise": channelwise,
                "linear": poly_module, "sh": sh}
    name = "cue-torch naive" if device == "cpu" else "cue-torch cuda"
    return [Impl(name, "torch", "cuequivariance", True, builders)]


def _cue_jax_impls(device: str = "cpu") -> list[Impl]:
    import jax
    import jax.numpy as jnp
    import cuequivariance as cue
    import cuequivariance_jax as cuex

    def poly(wl, a):
        e = _cue_descriptor(wl)
        _check_cue_sizes(wl, e)
        method = "naive" if device == "cpu" else _CUE_JAX_CUDA.get(wl.kind, "naive")
        if method == "uniform_1d":
            e = e.squeeze_modes().flatten_coefficient_modes()
        reps = list(e.inputs)

        def f(*args):
            ins = [cuex.RepArray(rep, t) for rep, t in zip(reps, args)]
            return cuex.equivariant_polynomial(e, ins, method=method).array

        return f

    def sh(wl, a):
        rep = cue.IrrepsAndLayout(cue.Irreps("O3", "1o"), cue.mul_ir)
        ls = list(range(wl.lmax + 1))
        return lambda v: cuex.spherical_harmonics(ls, cuex.RepArray(rep, v), normalize=True).array

    builders = {"full_tp": poly, "fctp": poly, "channelwise": poly, "linear": poly, "sh": sh}
    name = "cue-jax naive" if device == "cpu" else "cue-jax cuda"
    return [Impl(name, "jax", "cuequivariance", True, builders)]


# =========================================================================== registry
def anchor_impls(frameworks: set[str], device: str = "cpu") -> tuple[list[Impl], dict[str, str]]:
    """Importable anchors for the requested frameworks, and {anchor: why not} for the rest."""
    impls, missing = [], {}
    for name, fw, factory in [
        ("e3nn", "torch", lambda: _e3nn_impls()),
        ("cuequivariance-torch", "torch", lambda: _cue_torch_impls(device)),
        ("e3nn-jax", "jax", lambda: _e3nn_jax_impls()),
        ("cuequivariance-jax", "jax", lambda: _cue_jax_impls(device)),
    ]:
        if fw not in frameworks:
            continue
        try:
            impls += factory()
        except Exception as exc:  # an anchor that cannot import is reported, not fatal
            missing[name] = f"{type(exc).__name__}: {exc}"
    return impls, missing
