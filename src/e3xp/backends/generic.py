"""The backend for any array-API-compliant library (``array_api_strict`` included).

Everything goes through the library's namespace: the plan executors of
:mod:`.array_api` and the base class's one-hot matmul scatter sum need nothing
beyond the standard.
"""

from __future__ import annotations

import importlib

from .base import Backend

__all__ = ["ArrayAPIBackend", "make_backend"]


class ArrayAPIBackend(Backend):
    """A :class:`Backend` over a compliant namespace, e.g. ``array_api_strict``.

    Examples
    --------
    >>> from e3xp.backends import get_backend
    >>> be = get_backend("array_api_strict")
    >>> x = be.asarray([3.0, 4.0], dtype="float32")
    >>> print(be.name, be.to_numpy(x), be.is_array(x))
    array_api_strict [3. 4.] True
    """


def _namespace(module):
    if hasattr(module, "__array_namespace_info__"):
        return module
    import array_api_compat

    try:
        return array_api_compat.array_namespace(module.asarray(0.0))
    except (AttributeError, TypeError):
        raise ValueError(
            f"module {module.__name__!r} is not an array-API namespace "
            "(it has no __array_namespace_info__ and array_api_compat does not wrap it)"
        ) from None


def make_backend(module_name: str = "array_api_strict", module=None, name: str | None = None) -> Backend:
    """A backend over ``module`` (imported from ``module_name`` when not given).

    Examples
    --------
    >>> print(make_backend("array_api_strict").name)
    array_api_strict
    """
    if module is None:
        module = importlib.import_module(module_name)
    return ArrayAPIBackend(name or module_name, _namespace(module))
