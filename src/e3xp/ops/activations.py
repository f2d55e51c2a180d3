"""Invariant nonlinearities: norms of irreps and activation functions of scalars."""

from __future__ import annotations

import contextlib
import math
import sys
import threading

import numpy as np

from ..core.irreps import Irreps
from .._static import static_call, static_function
from ..irreps_array import IrrepsArray
from ._common import as_irreps_array

__all__ = ["norm", "scalar_activation", "normalize2mom_constant", "activation_parity"]


def norm(array, squared: bool = False, per_irrep: bool = True) -> IrrepsArray:
    r"""Euclidean norm of every irrep (or of the whole feature vector): invariant scalars.

    Parameters
    ----------
    array : IrrepsArray
        (e3nn-jax's argument name)
    squared : bool
        Return the squared norm.
    per_irrep : bool
        One norm per irrep (output ``mul x 0e`` for each entry ``mul x ir``, not
        simplified, as e3nn-jax) or a single ``0e`` for the whole vector.

    Returns
    -------
    IrrepsArray
        The gradient of the norm at 0 is 0 (finite), not NaN. The norm is computed
        from the components scaled by their largest magnitude, so it neither
        overflows nor underflows when the result is representable (``[1e200, 0,
        0]`` has norm ``1e200``). ``squared=True`` is the plain sum of squares,
        which over- or underflows where the square itself is not representable.

    Examples
    --------
    >>> import numpy as np
    >>> x = IrrepsArray("2x0e + 1o", np.array([-3.0, 0.0, 3.0, 4.0, 0.0]))
    >>> norm(x)
    2x0e+1x0e [3. 0. 5.]
    >>> norm(x, squared=True, per_irrep=False)
    1x0e [34.]
    >>> norm(IrrepsArray("1o", np.array([3e200, 4e200, 0.0])))
    1x0e [5.e+200]
    """
    x = as_irreps_array(array, "norm: array")
    xp = x.backend.xp

    def f(a):
        if a.shape[-1] == 0:
            return xp.zeros(a.shape[:-1], dtype=a.dtype, device=x.device)
        if squared:
            return xp.sum(a * a, axis=-1)
        # |a| = m |a / m| with m = max |a_i|: the squares of a / m lie in [0, 1], so
        # neither overflow (|a| ~ 1e200) nor underflow (|a| ~ 1e-200) loses a norm
        # that is representable. All branches are `where`s (no value-dependent
        # Python), and each is evaluated away from its singular point, so the
        # gradient at a = 0 is 0, not NaN (m -> 1 there, s -> 1 under the sqrt).
        # An inf or NaN component is left unscaled (inf / inf would make a NaN of
        # an infinite norm) and propagates: the norm is inf or NaN.
        # The scale is frozen for autodiff (x.backend.stop_gradient): the norm does
        # not depend on it, and differentiating through it forms a / m**2, which
        # overflows for |a| ~ 1e-200 and turns the gradient into NaN.
        m = x.backend.stop_gradient(xp.max(xp.abs(a), axis=-1))
        nonzero = m != 0  # True for NaN too
        m = xp.where(nonzero & xp.isfinite(m), m, xp.ones_like(m))
        b = a / xp.expand_dims(m, axis=-1)
        s = xp.sum(b * b, axis=-1)
        n = m * xp.sqrt(xp.where(nonzero, s, xp.ones_like(s)))
        return xp.where(nonzero, n, xp.zeros_like(n))

    if not per_irrep:
        return IrrepsArray("0e", xp.expand_dims(f(x.array), axis=-1))
    irreps = Irreps([(mul, "0e") for mul, _ in x.irreps])
    return x._from_chunks(irreps, [xp.expand_dims(f(c), axis=-1) for c in x._dense_chunks()])


# --------------------------------------------------------------------------- activations

_CACHE: dict = {}
_CACHE_MAX = 512
_LOCK = threading.Lock()


def _evaluate_numpy(act, points: np.ndarray, backend_name=None) -> np.ndarray:
    """``act`` at float64 ``points``, as numpy, whatever framework ``act`` is written for."""
    jax = sys.modules.get("jax")
    # Inside jax.jit, jnp functions would return tracers even on constants.
    ctx = jax.ensure_compile_time_eval() if jax is not None else contextlib.nullcontext()
    with ctx:
        try:
            y = act(points)
            if isinstance(y, np.ndarray) or np.isscalar(y):
                return np.broadcast_to(np.asarray(y, dtype=np.float64), points.shape)
            from ..backends import backend_of

            return np.asarray(backend_of(y).to_numpy(y), dtype=np.float64)
        except Exception as first:  # noqa: BLE001 - act may only accept its own framework
            if backend_name is None or backend_name == "numpy":
                raise TypeError(
                    f"could not evaluate the activation {act!r} on a numpy array ({first}); "
                    "pass an input array so it can be evaluated on that backend"
                ) from first
            from ..backends import get_backend

            backend = get_backend(backend_name)
            try:
                dtype = backend.float_dtype("float64")
            except TypeError:
                dtype = backend.float_dtype("float32")
            t = backend.asarray(points, dtype=dtype)
            return np.asarray(backend.to_numpy(act(t)), dtype=np.float64)


@static_function
def _properties_static(act, backend_name) -> tuple:
    return _properties(act, backend_name)


def _act_properties(act, backend_name):
    torch = sys.modules.get("torch")
    if torch is not None and torch.compiler.is_compiling():
        # Dynamo bakes the constants in at trace time (and keeps the function
        # alive in the static store, which is why eager calls do not go there).
        return static_call(_properties_static, act, backend_name)
    return _properties(act, backend_name)


def _properties(act, backend_name=None) -> tuple[float, int]:
    """``(c, parity)`` of an activation, cached per function object."""
    hit = _CACHE.get(act)
    if hit is not None:
        return hit
    # E[act(z)^2] for z ~ N(0, 1) by composite Gauss-Legendre: panels of width 1/4
    # on [-16, 16] with 0 and the quarter-integers as panel edges, so kinks at those
    # points (relu, hardtanh, ...) cost no accuracy; the Gaussian tail beyond 16 is
    # below 1e-55.
    nodes, weights = np.polynomial.legendre.leggauss(16)
    edges = np.arange(-16.0, 16.0 + 0.125, 0.25)
    lo, hi = edges[:-1, None], edges[1:, None]
    z = (lo + hi) / 2 + (hi - lo) / 2 * nodes
    wz = ((hi - lo) / 2 * weights) * np.exp(-(z**2) / 2) / math.sqrt(2 * math.pi)
    t = np.linspace(0.0, 10.0, 256)
    values = _evaluate_numpy(act, np.concatenate([z.ravel(), t, -t]), backend_name)
    phi_z, a1, a2 = values[: z.size], values[z.size : z.size + 256], values[z.size + 256 :]
    second_moment = float(np.sum(wz.ravel() * phi_z**2))
    if not math.isfinite(second_moment) or second_moment <= 0:
        raise ValueError(
            f"activation {act!r} has second moment {second_moment} under N(0, 1); it cannot be "
            "normalized (pass normalize_act=False)"
        )
    c = math.sqrt(second_moment)
    scale = max(1.0, float(np.max(np.abs(a1))))
    if np.max(np.abs(a1 - a2)) <= 1e-7 * scale:
        parity = 1
    elif np.max(np.abs(a1 + a2)) <= 1e-7 * scale:
        parity = -1
    else:
        parity = 0
    with _LOCK:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[act] = (c, parity)
    return c, parity


def normalize2mom_constant(act) -> float:
    r"""``c = sqrt(E[act(z)^2])`` for ``z ~ N(0, 1)``; ``act / c`` has unit second moment.

    Computed once per function in float64 by quadrature (cached).

    Examples
    --------
    >>> import numpy as np
    >>> round(normalize2mom_constant(lambda x: np.maximum(x, 0.0)) ** 2, 12)  # E[relu^2] = 1/2
    0.5
    >>> round(normalize2mom_constant(lambda x: x**2) ** 2, 10)  # E[z^4] = 3
    3.0
    """
    return _properties(act)[0]


def activation_parity(act) -> int:
    """+1 for an even function, -1 for an odd one, 0 otherwise (sampled on [-10, 10]).

    Examples
    --------
    >>> import numpy as np
    >>> activation_parity(np.tanh), activation_parity(np.cos), activation_parity(np.exp)
    (-1, 1, 0)
    """
    return _properties(act)[1]


def scalar_activation(input, acts=None, normalize_act: bool = True, *, even_act=None, odd_act=None) -> IrrepsArray:  # noqa: A002
    r"""Apply an activation function to each scalar entry of ``x`` (e3nn-jax semantics).

    Parameters
    ----------
    input : IrrepsArray
        (e3nn-jax's argument name)
    acts : None or list of (callable or None)
        None (e3nn-jax's default): ``even_act`` on every ``0e`` entry, ``odd_act`` on
        every ``0o`` entry, non-scalars unchanged. Else one per entry of
        ``input.irreps``; ``None`` leaves the entry unchanged. A callable
        takes and returns arrays of ``x``'s backend (e.g. ``np.tanh``, ``torch.tanh``,
        ``jnp.tanh``) and may only act on scalar (``l = 0``) entries. On a ``0o``
        entry it must be odd (the output stays ``0o``) or even (the output is ``0e``).
    normalize_act : bool
        Divide each activation by ``sqrt(E[act(z)^2])``, ``z ~ N(0, 1)`` (e3nn-jax's
        normalize2mom; skipped when that constant is within 1e-5 of 1).
    even_act, odd_act : callable or activation name, optional
        Used only when ``acts`` is None. Defaults as e3nn-jax: ``"gelu"`` (the tanh
        approximation, ``jax.nn.gelu``'s default) and :func:`~e3xp.soft_odd`, both
        running on every backend.

    Returns
    -------
    IrrepsArray

    Raises
    ------
    ValueError
        Wrong number of activations, an activation on a non-scalar entry, or a ``0o``
        entry with an activation that is neither even nor odd.

    Examples
    --------
    >>> import numpy as np
    >>> x = IrrepsArray("0e + 0o + 0o + 1o", np.array([1.0, 1.0, 1.0, 1.0, 2.0, 3.0]))
    >>> y = scalar_activation(x, [np.tanh, np.tanh, np.abs, None])
    >>> y.irreps
    1x0e+1x0o+1x0e+1x1o
    >>> np.round(y.array / np.tanh(1.0), 4)[:2]  # tanh / c with c = 0.6279...
    array([1.5925, 1.5925])
    """
    x = as_irreps_array(input, "scalar_activation: input")
    if acts is None:
        from .gate import get_activation

        even = get_activation("gelu" if even_act is None else even_act)
        odd = get_activation("soft_odd" if odd_act is None else odd_act)
        acts = [(even if ir.p == 1 else odd) if ir.l == 0 else None for _, ir in x.irreps]
    elif even_act is not None or odd_act is not None:
        raise ValueError("scalar_activation: even_act / odd_act are used only when acts is None; pass one or the other")
    acts = list(acts)
    if len(acts) != len(x.irreps):
        raise ValueError(
            f"scalar_activation: got {len(acts)} activations for the {len(x.irreps)} entries of "
            f"{x.irreps}; pass one callable or None per entry"
        )
    irreps_out, fns = [], []
    for (mul, ir), act in zip(x.irreps, acts):
        if act is None:
            irreps_out.append((mul, ir))
            fns.append(None)
            continue
        if not callable(act):
            raise TypeError(f"scalar_activation: activation {act!r} for {mul}x{ir} is not callable")
        if ir.l != 0:
            raise ValueError(
                f"scalar_activation: cannot apply {getattr(act, '__name__', act)!r} to the "
                f"non-scalar entry {mul}x{ir} of {x.irreps}; only l = 0 entries take an activation"
            )
        if normalize_act or ir.p == -1:
            c, parity = _act_properties(act, x.backend.name)
        else:
            c, parity = 1.0, 0
        p_out = ir.p
        if ir.p == -1:
            if parity == 0:
                raise ValueError(
                    f"scalar_activation: the activation {getattr(act, '__name__', act)!r} on the "
                    f"odd scalars {mul}x{ir} is neither even nor odd, so the result has no parity"
                )
            p_out = parity
        scale = c if normalize_act and not math.isclose(c, 1.0, rel_tol=1e-5, abs_tol=1e-8) else 1.0
        irreps_out.append((mul, (0, p_out)))
        fns.append((act, scale))
    irreps_out = Irreps(irreps_out)

    def apply(fn, a):
        act, scale = fn
        y = act(a)
        return y if scale == 1.0 else y / scale

    if fns and all(f is not None for f in fns) and all(f[0] is fns[0][0] for f in fns):
        return IrrepsArray(irreps_out, apply(fns[0], x.array))
    chunks = [c if fn is None else apply(fn, c) for c, fn in zip(x._dense_chunks(), fns)]
    return x._from_chunks(irreps_out, chunks)
