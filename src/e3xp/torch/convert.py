"""From e3nn (torch) modules to their ``e3xp.torch`` counterparts, state included.

:func:`from_e3nn` rebuilds an e3nn module as the e3xp.torch module with the same
constructor arguments and loads its ``state_dict`` (strictly);
:func:`load_e3nn_state_dict` loads an e3nn ``state_dict`` into an e3xp.torch module
after checking every key and shape, with an error that names the key and both shapes.

Dispatch is by class name (e3nn need not be importable to read this module, and the
e3xp.torch classes are imported only when a module of that kind is converted).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

__all__ = ["from_e3nn", "load_e3nn_state_dict"]


def load_e3nn_state_dict(module: torch.nn.Module, state_dict: Mapping) -> torch.nn.Module:
    """Load an e3nn ``state_dict`` into ``module`` after checking keys and shapes.

    Every key of ``module.state_dict()`` (parameters and persistent buffers) must be
    in ``state_dict`` with the same shape, and ``state_dict`` may hold no other key
    except e3nn's code-generator constants (``*._compiled_main*.*``, which the e3xp.torch
    tensor products accept and ignore); then ``module.load_state_dict(state_dict,
    strict=True)``. Returns ``module``.

    Raises
    ------
    KeyError
        A missing or unexpected key (named).
    ValueError
        A shape mismatch: the message names the key, the shape in ``state_dict`` and
        the shape the module expects.

    Examples
    --------
    >>> import torch
    >>> from e3xp.torch import FullyConnectedNet
    >>> net = FullyConnectedNet([2, 3])
    >>> load_e3nn_state_dict(net, {"layer0.weight": torch.zeros(3, 2)})
    Traceback (most recent call last):
    ...
    ValueError: FullyConnectedNet: 'layer0.weight' has shape (3, 2) in the state_dict, but the module expects (2, 3)
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"load_e3nn_state_dict: module must be a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"load_e3nn_state_dict: state_dict must be a mapping, got {type(state_dict).__name__}")
    what = type(module).__name__
    expected = module.state_dict()
    for key, ref in expected.items():
        if key not in state_dict:
            raise KeyError(f"{what}: key {key!r} (shape {tuple(ref.shape)}) is missing from the state_dict")
        got = state_dict[key]
        got_shape = tuple(getattr(got, "shape", ()))
        if got_shape != tuple(ref.shape):
            raise ValueError(
                f"{what}: {key!r} has shape {got_shape} in the state_dict, but the module expects {tuple(ref.shape)}"
            )
    extra = [k for k in state_dict if k not in expected and not _is_e3nn_codegen_key(k)]
    if extra:
        raise KeyError(f"{what}: unexpected key {extra[0]!r} in the state_dict; the module has {sorted(expected)}")
    module.load_state_dict(state_dict, strict=True)
    return module


def _is_e3nn_codegen_key(key: str) -> bool:
    """e3nn's code-generator constants (``..._compiled_main_left_right._w3j_1_1_0``): e3xp's
    tensor products compute their own and ignore these keys on loading."""
    return any(part.startswith("_compiled_main") for part in key.split("."))


def _unwrap_act(act):
    """The user's function inside e3nn's ``normalize2mom`` wrapper (or None)."""
    if act is None:
        return None
    if type(act).__name__ == "normalize2mom" and hasattr(act, "f"):
        return act.f
    return act


def _fully_connected_net(m):
    from .fc import FullyConnectedNet

    layers = [getattr(m, f"layer{i}") for i in range(len(m.hs) - 1)]
    act = None
    for layer in layers:
        if layer.act is not None:
            act = _unwrap_act(layer.act)
            break
    out_act = bool(layers) and layers[-1].act is not None
    variance_in = layers[0].var_in if layers else 1
    variance_out = layers[-1].var_out if layers else 1
    return FullyConnectedNet(m.hs, act, variance_in, variance_out, out_act)


def _activation(m):
    from .activation import Activation

    return Activation(str(m.irreps_in), [_unwrap_act(a) for a in m.acts])


def _gate(m):
    from .activation import Gate

    return Gate(
        m.irreps_scalars, [_unwrap_act(a) for a in m.act_scalars.acts],
        m.irreps_gates, [_unwrap_act(a) for a in m.act_gates.acts],
        m.irreps_gated,
    )


def _norm_activation(m):
    from .activation import NormActivation

    return NormActivation(m.irreps_in, m.scalar_nonlinearity, m.normalize, m.epsilon if m.normalize else None, m.bias)


def _spherical_harmonics(m):
    from .spherical_harmonics import SphericalHarmonics

    return SphericalHarmonics(list(m._ls_list), m.normalize, m.normalization, str(m.irreps_in))


def _batch_norm(m):
    from .batchnorm import BatchNorm

    return BatchNorm(m.irreps, m.eps, m.momentum, m.affine, m.reduce, m.instance,
                     getattr(m, "include_bias", True), m.normalization)


def _extract(m):
    from .extract import Extract

    zeros = torch.zeros(m.irreps_in.dim)
    squeeze = len(m.irreps_outs) == 1 and isinstance(m(zeros), torch.Tensor)
    return Extract(m.irreps_in, [str(i) for i in m.irreps_outs], m.instructions, squeeze_out=squeeze)


def _extract_ir(m):
    from .extract import ExtractIr

    return ExtractIr(m.irreps_in, str(m.irreps_out[0].ir) if len(m.irreps_out) else _extract_ir_fallback(m))


def _extract_ir_fallback(m):
    raise ValueError(f"from_e3nn: ExtractIr of {m.irreps_in} extracts nothing; its irrep cannot be recovered")


def _torch_class(name: str):
    """``e3xp.torch.<name>``, imported now (written in parallel with this module)."""
    import e3xp.torch as et

    cls = getattr(et, name, None)
    if cls is None:
        raise NotImplementedError(f"from_e3nn: e3xp.torch.{name} is not available in this version of e3xp")
    return cls


def _linear(m):
    """e3nn's ``o3.Linear``: its instructions, biases, f_in / f_out and path normalization."""
    Linear = _torch_class("Linear")
    irreps_in, irreps_out = m.irreps_in, m.irreps_out
    ins = [i for i in m.instructions if i.i_in != -1]
    biases = [any(i.i_in == -1 and i.i_out == o for i in m.instructions) for o in range(len(irreps_out))]
    f_in = f_out = None
    w = getattr(m, "weight", None)
    if isinstance(w, torch.Tensor) and w.ndim == 3:
        f_in, f_out = int(w.shape[0]), int(w.shape[1])

    def coefficient(i, norm):
        x = sum(irreps_in[j.i_in if norm == "element" else i.i_in].mul for j in ins if j.i_out == i.i_out)
        if f_in is not None:
            x *= f_in
        return (1.0 if x == 0 else x) ** -0.5

    for norm in ("element", "path"):
        if all(math.isclose(i.path_weight, coefficient(i, norm), rel_tol=1e-12) for i in ins):
            break
    else:
        raise ValueError("from_e3nn: the path weights of this e3nn Linear match neither 'element' nor 'path' normalization")
    kwargs = dict(
        instructions=[(i.i_in, i.i_out) for i in ins],
        biases=biases,
        internal_weights=m.internal_weights,
        shared_weights=m.shared_weights,
        path_normalization=norm,
    )
    if f_in is not None:
        kwargs.update(f_in=f_in, f_out=f_out)
    return Linear(str(irreps_in), str(irreps_out), **kwargs)


def _tensor_product(m):
    """Any e3nn ``TensorProduct`` (FullyConnected-, Elementwise-, Full-, TensorSquare ...)
    as the general ``e3xp.torch.TensorProduct`` with the same instructions, weight layout
    and coefficients.

    e3nn stores each instruction's final coefficient ``sqrt(alpha)`` (normalizations,
    variances and the user's path weight folded in), so the instructions are rebuilt with
    ``path_weight = coefficient ** 2`` and both normalizations ``"none"``.
    """
    TensorProduct = _torch_class("TensorProduct")
    instructions = [
        (i.i_in1, i.i_in2, i.i_out, i.connection_mode, i.has_weight, float(i.path_weight) ** 2)
        for i in m.instructions
    ]
    return TensorProduct(
        str(m.irreps_in1), str(m.irreps_in2), str(m.irreps_out), instructions,
        irrep_normalization="none", path_normalization="none",
        internal_weights=m.internal_weights, shared_weights=m.shared_weights,
    )


def _tensor_square(m):
    """e3nn's ``o3.TensorSquare`` (one input): ``e3xp.torch.TensorSquare`` with the
    ``irrep_normalization`` whose instructions and coefficients are e3nn's."""
    TensorSquare = _torch_class("TensorSquare")
    has_weights = any(i.has_weight for i in m.instructions)
    if has_weights:
        kwargs = dict(irreps_out=str(m.irreps_out))
    else:
        kwargs = dict(filter_ir_out=[str(mul_ir.ir) for mul_ir in m.irreps_out])
    kwargs.update(internal_weights=m.internal_weights, shared_weights=m.shared_weights)

    def key(instructions):
        return [(i.i_in1, i.i_in2, i.i_out, i.connection_mode, i.has_weight) for i in instructions]

    for norm in ("component", "norm", "none"):
        new = TensorSquare(str(m.irreps_in), irrep_normalization=norm, **kwargs)
        if str(new.irreps_out) == str(m.irreps_out) and key(new.instructions) == key(m.instructions) and all(
            math.isclose(a.path_weight, b.path_weight, rel_tol=1e-12, abs_tol=1e-300)
            for a, b in zip(new.instructions, m.instructions)
        ):
            return new
    raise ValueError(
        f"from_e3nn: could not rebuild this e3nn TensorSquare({m.irreps_in} -> {m.irreps_out}): no irrep_normalization "
        "gives its instructions and coefficients"
    )


_CONVERTERS = {
    "FullyConnectedNet": _fully_connected_net,
    "Activation": _activation,
    "Gate": _gate,
    "NormActivation": _norm_activation,
    "SphericalHarmonics": _spherical_harmonics,
    "BatchNorm": _batch_norm,
    "ExtractIr": _extract_ir,
    "Extract": _extract,
    "Linear": _linear,
    "TensorProduct": _tensor_product,
    "FullyConnectedTensorProduct": _tensor_product,
    "ElementwiseTensorProduct": _tensor_product,
    "FullTensorProduct": _tensor_product,
    "TensorSquare": _tensor_square,
}


def _e3nn_kind(module) -> str | None:
    """The e3nn class (this class or the nearest e3nn base) the module is an instance of."""
    for cls in type(module).__mro__:
        if cls.__module__.split(".")[0] == "e3nn" and cls.__name__ in _CONVERTERS:
            return cls.__name__
    return None


def from_e3nn(module: torch.nn.Module) -> torch.nn.Module:
    """The e3xp.torch counterpart of an e3nn module, with its state loaded.

    Supported: ``nn.FullyConnectedNet``, ``nn.Activation``, ``nn.Gate``,
    ``nn.NormActivation``, ``nn.BatchNorm``, ``nn.Extract``, ``nn.ExtractIr``,
    ``o3.SphericalHarmonics``, ``o3.Linear``, ``o3.TensorProduct`` and its two-input
    subclasses (``FullyConnectedTensorProduct``, ``ElementwiseTensorProduct``,
    ``FullTensorProduct``: as the general ``TensorProduct`` with e3nn's instructions and
    coefficients), ``o3.TensorSquare`` (as ``TensorSquare``). A ``torch.nn.Sequential`` / ``ModuleList`` of them is
    converted element by element. The result has the e3nn module's train / eval mode,
    dtype and device (of its state). Activations are normalized with e3nn's sampled
    constants (``act_normalization="e3nn"``), so the numbers are e3nn's.

    Raises
    ------
    TypeError
        A module of another kind (named).

    Examples
    --------
    >>> import torch
    >>> from e3nn import nn as e3nn_nn  # the test extra installs e3nn 0.6.0
    >>> ref = e3nn_nn.Gate("2x0e", [torch.relu], "1x0e", [torch.sigmoid], "1x1o")
    >>> gate = from_e3nn(ref)
    >>> type(gate).__module__, gate.irreps_out
    ('e3xp.torch.activation', 2x0e+1x1o)
    >>> x = torch.randn(4, 6, generator=torch.Generator().manual_seed(0))
    >>> torch.equal(gate(x), ref(x))
    True
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"from_e3nn: expected an e3nn torch.nn.Module, got {type(module).__name__}")
    kind = _e3nn_kind(module)
    if kind is None:
        if type(module) in (torch.nn.Sequential, torch.nn.ModuleList):
            return type(module)(*[from_e3nn(m) for m in module]) if type(module) is torch.nn.Sequential \
                else torch.nn.ModuleList([from_e3nn(m) for m in module])
        raise TypeError(
            f"from_e3nn: no e3xp.torch counterpart for {type(module).__module__}.{type(module).__qualname__}; "
            f"supported e3nn classes: {', '.join(sorted(_CONVERTERS))}"
        )
    state = module.state_dict()
    new = _CONVERTERS[kind](module)
    tensors = list(state.values())
    if tensors:
        ref = tensors[0]
        new = new.to(device=ref.device, dtype=ref.dtype if ref.is_floating_point() else None)
    load_e3nn_state_dict(new, state)
    new.train(module.training)
    return new
