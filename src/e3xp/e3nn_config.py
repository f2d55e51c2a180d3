"""``e3xp.config``: e3nn-jax's global defaults (``e3nn.config(name, value=None)``) plus the backend switches.

``config("irrep_normalization")`` reads a default, ``config("irrep_normalization",
"norm")`` sets it, as in e3nn-jax. The defaults are read when an operation is
called with ``None`` for that argument (under ``jax.jit``: when it is traced, as
in e3nn-jax). ``config.set_backend`` / ``use_backend`` / ``get_default_backend``
are e3xp's backend configuration (:mod:`e3xp.backends.config`).

Used by: ``irrep_normalization`` (tensor_product, elementwise_tensor_product,
tensor_square), ``spherical_harmonics_normalization`` (spherical_harmonics),
``path_normalization`` and ``gradient_normalization`` (FunctionalLinear),
``irrep_normalization`` of ``normal`` ("component" / "norm"). e3xp's ``Linear``
and weighted tensor products keep their own explicit defaults. The switches of
e3nn-jax's JAX kernels (``spherical_harmonics_algorithm``, ``custom_einsum_jvp``,
``fused``, ``sparse_tp``) are accepted and stored but change nothing: e3xp picks
its kernels per backend.
"""

from __future__ import annotations

import threading

from .backends.config import get_default_backend, set_backend, use_backend

__all__ = ["config"]

_DEFAULTS = {
    "irrep_normalization": "component",
    "path_normalization": "element",
    "gradient_normalization": "path",
    "spherical_harmonics_algorithm": "automatic",
    "spherical_harmonics_normalization": "component",
    "custom_einsum_jvp": False,
    "fused": False,
    "sparse_tp": False,
}

_CHOICES = {
    "irrep_normalization": ("component", "norm", "none"),
    "path_normalization": ("element", "path"),
    "spherical_harmonics_normalization": ("component", "norm", "integral"),
    "custom_einsum_jvp": (True, False),
    "fused": (True, False),
    "sparse_tp": (True, False),
}


class Config:
    """Callable holder of e3nn-jax's defaults; see the module docstring.

    Examples
    --------
    >>> from e3xp import config
    >>> config("irrep_normalization")
    'component'
    >>> config("irrep_normalization", "norm"); config("irrep_normalization")
    'norm'
    >>> config.reset(); config("irrep_normalization")
    'component'
    >>> config("bogus")
    Traceback (most recent call last):
    ...
    ValueError: config: unknown option 'bogus'; expected one of ['custom_einsum_jvp', 'fused', 'gradient_normalization', 'irrep_normalization', 'path_normalization', 'sparse_tp', 'spherical_harmonics_algorithm', 'spherical_harmonics_normalization']
    """

    set_backend = staticmethod(set_backend)
    use_backend = staticmethod(use_backend)
    get_default_backend = staticmethod(get_default_backend)

    def __init__(self):
        self._lock = threading.Lock()
        self._values = dict(_DEFAULTS)

    def __call__(self, name: str, value=None):
        if name not in _DEFAULTS:
            raise ValueError(f"config: unknown option {name!r}; expected one of {sorted(_DEFAULTS)}")
        if value is None:
            return self._values[name]
        if name == "gradient_normalization":
            ok = value in ("element", "path") or (isinstance(value, (int, float)) and not isinstance(value, bool))
            if not ok:
                raise ValueError(f"config: gradient_normalization={value!r} must be 'element', 'path' or a number")
        elif name == "spherical_harmonics_algorithm":
            ok = value == "automatic" or (isinstance(value, tuple) and all(isinstance(k, str) for k in value))
            if not ok:
                raise ValueError(f"config: spherical_harmonics_algorithm={value!r} must be 'automatic' or a tuple of str")
        elif value not in _CHOICES[name] or (isinstance(value, bool) != isinstance(_DEFAULTS[name], bool)):
            raise ValueError(f"config: {name}={value!r} must be one of {_CHOICES[name]}")
        with self._lock:
            self._values[name] = value
        return None

    def reset(self) -> None:
        """Back to e3nn-jax's defaults."""
        with self._lock:
            self._values = dict(_DEFAULTS)

    def __repr__(self) -> str:
        return f"e3xp.config({self._values})"

    def __reduce__(self):
        # the process-wide singleton: pickling and copying give the same object back
        return "config"


config = Config()
