"""Backends: the registry, inference of the backend from inputs, configuration.

``import e3xp.backends`` imports no array framework; each backend package
(:mod:`.numpy`, :mod:`.torch`, :mod:`.jax`, :mod:`.cupy`, and :mod:`.generic`
for ``array_api_strict`` and any other compliant library) imports its framework
at its top and is imported on first use. They execute the typed schedules of
:mod:`e3xp.core.schedule`: the generic executor (:mod:`.array_api`) runs every
segment kind, each framework package replaces some with native kernels.
:mod:`.validation` checks the inputs for all of them; :mod:`.harmonics` holds the
spherical-harmonics kernels they share. :func:`prepared` gives framework layers a
plan's schedule and its constants on a backend.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading

import numpy as np

from .._import_hooks import after_import
from .base import Backend, constant_cache
from .config import get_default_backend, resolve_backend, set_backend, use_backend

__all__ = [
    "Backend",
    "get_backend",
    "available_backends",
    "backend_of",
    "to_backend",
    "set_backend",
    "get_default_backend",
    "use_backend",
    "resolve_backend",
    "constant_cache",
    "prepared",
]

# name -> (module providing make_backend(), the framework module it needs)
_REGISTRY = {
    "numpy": ("e3xp.backends.numpy", "numpy"),
    "torch": ("e3xp.backends.torch", "torch"),
    "jax": ("e3xp.backends.jax", "jax"),
    "cupy": ("e3xp.backends.cupy", "cupy"),
    "array_api_strict": ("e3xp.backends.generic", "array_api_strict"),
}
_ARRAY_API_PREFIX = "array_api:"

_instances: dict = {}
_lock = threading.Lock()
_creating: set = set()  # backends being made (under _lock)

_TYPE_NAMES = {
    "numpy": "numpy.ndarray",
    "torch": "torch.Tensor",
    "jax": "jax.Array",
    "cupy": "cupy.ndarray",
    "array_api_strict": "array_api_strict.Array",
}


def available_backends() -> list[str]:
    """Names of the installed backends, numpy first (nothing is imported).

    Examples
    --------
    >>> available_backends()[0]
    'numpy'
    """
    return [name for name, (_, module) in _REGISTRY.items() if importlib.util.find_spec(module) is not None]


def _make(name: str) -> Backend:
    if name in _REGISTRY:
        module_name, framework = _REGISTRY[name]
        if importlib.util.find_spec(framework) is None:
            raise ValueError(
                f"backend {name!r} is not installed ({framework} is missing); "
                f"available backends: {available_backends()}"
            )
        module = importlib.import_module(module_name)
        return module.make_backend() if name != "array_api_strict" else module.make_backend(framework)
    if name.startswith(_ARRAY_API_PREFIX):
        module_name = name[len(_ARRAY_API_PREFIX) :]
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise ValueError(
                f"backend {name!r}: module {module_name!r} cannot be imported; "
                f"available backends: {available_backends()}"
            ) from None
        from .generic import make_backend

        return make_backend(module_name, module=module, name=name)
    raise ValueError(
        f"unknown backend {name!r}: expected one of {available_backends()} "
        f"or 'array_api:<module>' for another array-API library"
    )


def get_backend(name) -> Backend:
    """The backend called ``name`` (created on first use, then shared).

    Parameters
    ----------
    name : str or Backend
        ``"numpy"``, ``"torch"``, ``"jax"``, ``"cupy"``, ``"array_api_strict"``,
        or ``"array_api:<module>"`` for any other array-API-compliant module.

    Raises
    ------
    ValueError
        Unknown or not installed; the message lists the available backends.

    Examples
    --------
    >>> get_backend("numpy")
    Backend('numpy')
    >>> get_backend("tensorflow")
    Traceback (most recent call last):
    ...
    ValueError: unknown backend 'tensorflow': expected one of [...] or 'array_api:<module>' for another array-API library
    """
    if isinstance(name, Backend):
        return name
    if not isinstance(name, str):
        raise TypeError(f"a backend name must be a str, got {name!r} of type {type(name).__name__}")
    key = name.strip()
    backend = _instances.get(key)
    if backend is not None:
        return backend
    with _lock:
        backend = _instances.get(key)
        if backend is None:
            _creating.add(key)
            try:
                backend = _make(key)
            finally:
                _creating.discard(key)
            _instances[key] = backend
    return backend



def _framework_of(x) -> str | None:
    """The backend name an array belongs to; None for None and Python scalars."""
    if x is None or isinstance(x, (bool, int, float, complex)):
        return None
    import array_api_compat as compat

    if compat.is_numpy_array(x):
        return "numpy"
    if compat.is_torch_array(x):
        return "torch"
    if compat.is_jax_array(x):
        return "jax"
    if compat.is_cupy_array(x):
        return "cupy"
    try:
        xp = compat.array_namespace(x)
    except TypeError:
        raise TypeError(
            f"expected arrays (or None / Python scalars), got an object of type {type(x).__name__}"
        ) from None
    if compat.is_array_api_strict_namespace(xp):
        return "array_api_strict"
    return _ARRAY_API_PREFIX + xp.__name__


def _type_name(name: str, x) -> str:
    return _TYPE_NAMES.get(name, f"{type(x).__module__}.{type(x).__name__}")


def backend_of(*arrays) -> Backend:
    """The backend of the given arrays (None and Python scalars are ignored).

    With no array at all, the default backend (:func:`get_default_backend`).

    Raises
    ------
    TypeError
        Arrays of two frameworks, e.g. ``cannot mix torch and jax arrays in one
        call (got torch.Tensor and jax.Array)``, or a non-array argument.
    ValueError
        Arrays on two devices; the message names both.

    Examples
    --------
    >>> import numpy as np
    >>> backend_of(np.zeros(2), None, 3.0)
    Backend('numpy')
    """
    first = None
    first_device = None
    for x in arrays:
        name = _framework_of(x)
        if name is None:
            continue
        if first is None:
            first, first_x = name, x
            backend = get_backend(name)
            first_device = _concrete_device(backend, x)
            continue
        if name != first:
            raise TypeError(
                f"cannot mix {first} and {name} arrays in one call "
                f"(got {_type_name(first, first_x)} and {_type_name(name, x)})"
            )
        device = _concrete_device(backend, x)
        if first_device is None:
            first_device = device
        elif device is not None and device != first_device:
            raise ValueError(
                f"cannot mix arrays on devices {first_device} and {device} in one call: "
                "move them to one device first"
            )
    if first is None:
        return get_default_backend()
    return backend


def _concrete_device(backend: Backend, x):
    """The device of ``x``; None when it has none yet (e.g. a JAX tracer).

    A JAX array spread over several devices (``x.device`` is then its ``Sharding``)
    is placed by its set of devices: a batch-sharded input and parameters
    replicated over the same mesh are on the same devices, and JAX itself moves
    the data between their layouts.
    """
    try:
        device = backend.device(x)
    except Exception:  # noqa: BLE001 - tracers and exotic arrays do not know their device
        return None
    device_set = getattr(device, "device_set", None)  # a jax.sharding.Sharding
    if device_set is not None:
        return _DeviceSet(device_set) if len(device_set) > 1 else next(iter(device_set))
    return device


class _DeviceSet(frozenset):
    """The devices of a sharded array (compared as a set, printed sorted)."""

    def __repr__(self):
        return "{" + ", ".join(sorted(str(d) for d in self)) + "}"

    __str__ = __repr__


def to_backend(obj, name, *, dtype=None, device=None):
    """Convert arrays, and nested dicts / lists / tuples of them, to backend ``name``.

    Objects with a ``_to_backend(name, dtype=None, device=None)`` method (such as
    ``IrrepsArray``) convert themselves; other leaves (None, numbers, strings)
    are returned unchanged. DLPack is used where both sides support it, a NumPy
    round trip otherwise; the result may share memory with the input.

    Parameters
    ----------
    obj : array, container or object with ``_to_backend``
    name : str or Backend
    dtype : str or dtype, optional
        Cast floating arrays to this dtype (integer arrays keep theirs).
    device : optional
        Target device of the backend.

    Examples
    --------
    >>> import numpy as np
    >>> out = to_backend({"w": np.ones(2), "b": [np.zeros(1), None]}, "numpy", dtype="float32")
    >>> print(out["w"].dtype, out["b"][0].dtype, out["b"][1])
    float32 float32 None
    """
    target = get_backend(name)
    return _convert(obj, target, dtype, device)


def _convert(obj, target: Backend, dtype, device):
    hook = getattr(obj, "_to_backend", None)
    if hook is not None and callable(hook) and not isinstance(obj, type):
        if dtype is None and device is None:
            return hook(target.name)
        return hook(target.name, dtype=dtype, device=device)
    if isinstance(obj, dict):
        return type(obj)((k, _convert(v, target, dtype, device)) for k, v in obj.items())
    if isinstance(obj, list):
        return [_convert(v, target, dtype, device) for v in obj]
    if isinstance(obj, tuple):
        items = [_convert(v, target, dtype, device) for v in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else type(obj)(items)
    name = _framework_of(obj) if not isinstance(obj, str) else None
    if name is None:
        return obj
    source = get_backend(name)
    cast = dtype
    if cast is not None and not source._is_real_float(obj.dtype):
        cast = None  # integer ids and masks keep their dtype
    if source is target:
        out = obj
        if cast is not None:
            cast = target._resolve_dtype(cast)
            if out.dtype != cast:
                out = target.xp.astype(out, cast)
        if device is not None and target.device(out) != device:
            out = target._to_device(out, device)
        return out
    return target._from_foreign(obj, dtype=cast, device=device)


def prepared(plan, backend=None, device=None, dtype=None, *, ls=None, normalization="component"):
    """The typed schedule of ``plan`` and its constants materialised on a backend.

    For framework layers that keep a plan's constants themselves (torch modules
    hold them as buffers, so that ``.to()`` and ``state_dict`` move them): the same
    float64 constants the executors use, in ``dtype`` on ``device``, from the
    bounded constant cache.

    Parameters
    ----------
    plan : TensorProductPlan, LinearPlan or SphericalHarmonicsPlan
    backend : str or Backend, optional
        Default: the default backend (:func:`get_default_backend`).
    device : optional
        Default: the backend's default device.
    dtype : str or backend dtype, optional
        Default: the backend's default floating dtype.
    ls : int or sequence of int, optional
        Harmonics only: the degrees, in output order (an int means ``0..ls``);
        default ``0..plan.lmax``.
    normalization : {"component", "norm", "integral"}
        Harmonics only.

    Returns
    -------
    (schedule, constants)
        A :class:`~e3xp.core.schedule.TensorProductSchedule`,
        :class:`~e3xp.core.schedule.LinearSchedule` or
        :class:`~e3xp.core.schedule.HarmonicsSchedule`, and a tuple of arrays of the
        backend, indexed by the schedule's ``const`` / ``call`` fields (for the
        harmonics, ``M_l`` at ``l - 1``).

    Examples
    --------
    >>> from e3xp.core.plans import channelwise_tensor_product_plan
    >>> schedule, consts = prepared(channelwise_tensor_product_plan("2x0e+1o", "0e+1o"), "numpy", dtype="float32")
    >>> call = consts[schedule.grouped.call]  # the stacked CG matrix x2 @ Call multiplies by
    >>> print(type(schedule).__name__, call.shape, call.dtype)
    TensorProductSchedule (4, 40) float32
    >>> from e3xp.core.spherical_harmonics import spherical_harmonics_plan
    >>> schedule, mats = prepared(spherical_harmonics_plan(2), "numpy", ls=[2, 0])
    >>> print(schedule.ls, [m.shape for m in mats], mats[0].dtype)
    (2, 0) [(3, 3), (9, 5)] float64
    """
    from e3xp.core.plans import LinearPlan, TensorProductPlan
    from e3xp.core.schedule import prepare
    from e3xp.core.spherical_harmonics import SphericalHarmonicsPlan

    from .validation import _ls_tuple

    be = resolve_backend(backend)
    if isinstance(plan, TensorProductPlan):
        kind, key = "tp", plan
    elif isinstance(plan, LinearPlan):
        kind, key = "linear", plan
    elif isinstance(plan, SphericalHarmonicsPlan):
        kind, key = "sh", (plan.lmax, _ls_tuple(plan.lmax if ls is None else ls), normalization)
    else:
        raise TypeError(
            f"plan must be a TensorProductPlan, LinearPlan or SphericalHarmonicsPlan, got {type(plan).__name__}"
        )
    schedule, np_constants = prepare(kind, key)
    if dtype is None:
        dtype = be.default_float_dtype(device)
    like = be.asarray(np.zeros(0), dtype=dtype, device=device)
    be.check_float(like, "dtype")
    return schedule, be._constants(np_constants, like)


def _create_torch_backend() -> None:
    # torch.compile cannot trace the first creation of the torch backend (a lock,
    # the import of its package), so it is made as soon as torch is imported.
    if "torch" in _creating:
        return  # torch is being imported by that creation itself (under _lock): it ends it
    try:
        get_backend("torch")
    except Exception:  # noqa: BLE001 - never break `import torch`; the first use raises again
        pass


after_import("torch", _create_torch_backend)
