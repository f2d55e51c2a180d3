"""Which backend creates new arrays when no input decides it.

Precedence: an explicit argument > the innermost :func:`use_backend` block (per
thread / per asyncio task) > :func:`set_backend` (process-wide) > the
``E3XP_BACKEND`` environment variable > ``"numpy"``. Inputs always decide for
operations that have array inputs; this only matters for ``init``, random
arrays and constants.
"""

from __future__ import annotations

import contextlib
import contextvars
import os

__all__ = ["set_backend", "get_default_backend", "use_backend", "resolve_backend", "ENV_VAR"]

ENV_VAR = "E3XP_BACKEND"

_context: contextvars.ContextVar = contextvars.ContextVar("e3xp_backend", default=None)
_global_name: str | None = None


def _name_of(backend) -> str:
    from . import Backend, get_backend

    if isinstance(backend, Backend):
        return backend.name
    return get_backend(backend).name  # validates: ValueError listing the available ones


def set_backend(name) -> None:
    """Set the process-wide default backend; ``None`` clears it.

    Parameters
    ----------
    name : str, Backend or None

    Examples
    --------
    >>> set_backend("numpy"); print(get_default_backend().name)
    numpy
    >>> set_backend(None)
    """
    global _global_name
    _global_name = None if name is None else _name_of(name)


@contextlib.contextmanager
def use_backend(name):
    """Within the block, new arrays go to backend ``name`` (blocks nest).

    Examples
    --------
    >>> with use_backend("numpy"):
    ...     print(get_default_backend().name)
    numpy
    """
    token = _context.set(_name_of(name))
    try:
        yield
    finally:
        _context.reset(token)


def get_default_backend():
    """The backend new arrays go to when no input decides (see the module docstring).

    Examples
    --------
    >>> print(get_default_backend())  # doctest: +SKIP
    Backend('numpy')
    """
    from . import get_backend

    name = _context.get()
    if name is None:
        name = _global_name
    if name is None:
        env = os.environ.get(ENV_VAR, "").strip()
        if env:
            try:
                return get_backend(env)
            except ValueError as e:
                raise ValueError(f"environment variable {ENV_VAR}={env!r}: {e}") from None
        name = "numpy"
    return get_backend(name)


def resolve_backend(backend=None):
    """``backend`` (a name or a Backend) when given, else the default backend.

    Examples
    --------
    >>> print(resolve_backend("numpy").name, resolve_backend(None).name in ("numpy", "torch", "jax", "cupy", "array_api_strict"))
    numpy True
    """
    from . import Backend, get_backend

    if backend is None:
        return get_default_backend()
    if isinstance(backend, Backend):
        return backend
    return get_backend(backend)
