"""Second-moment normalization of activation functions, as e3nn (torch) does it or exactly.

e3nn's ``normalize2mom`` *estimates* ``c = E[f(z)^2]^(-1/2)``, ``z ~ N(0, 1)``, from one
million float64 samples of a CPU ``torch.Generator`` seeded with 0, then multiplies
``f(x)`` by that ``c`` (or leaves ``f`` alone when ``|c - 1| < 1e-4``). The estimate is
reproducible but not exact: for SiLU it is off by 1.6e-3 (relative), for sigmoid by
2.6e-4. e3xp's functional API uses the exact constant (quadrature,
:func:`e3xp.ops.activations.normalize2mom_constant`).

``e3xp.torch`` modules take ``act_normalization``:

* ``"e3nn"`` (the default in ``e3xp.torch``): e3nn's sampled constant, by e3nn's
  procedure, so an e3nn model and its e3xp.torch counterpart give the same numbers;
* ``"exact"``: the exact constant, as ``e3xp.scalar_activation`` (the function is
  divided by ``sqrt(E[f(z)^2])``, skipped when that is within 1e-5 of 1).
"""

from __future__ import annotations

import math
import threading

import torch

__all__ = ["ACT_NORMALIZATIONS", "e3nn_sampled_constant", "NormalizedActivation", "activation_parity"]

ACT_NORMALIZATIONS = ("e3nn", "exact")

_SAMPLES = 1_000_000
_CACHE: dict = {}
_CACHE_MAX = 256
_LOCK = threading.Lock()


def check_act_normalization(value, what: str) -> str:
    if value not in ACT_NORMALIZATIONS:
        raise ValueError(f"{what}: act_normalization={value!r}, expected one of {ACT_NORMALIZATIONS}")
    return value


def _name(f) -> str:
    return getattr(f, "__name__", None) or type(f).__name__


def e3nn_sampled_constant(f) -> float:
    """e3nn's ``normalize2mom(f).cst``: ``mean(f(z)^2)^(-1/2)`` over e3nn's samples.

    The samples are ``torch.randn(1_000_000, dtype=float64)`` from a CPU
    ``torch.Generator().manual_seed(0)``; the mean is torch's (float64). Cached per
    function (not for ``torch.nn.Module`` activations, whose parameters may change).

    Examples
    --------
    >>> import torch
    >>> from e3xp.ops.activations import normalize2mom_constant
    >>> c = e3nn_sampled_constant(torch.tanh)
    >>> round(c, 6)
    1.593733
    >>> round(1 / normalize2mom_constant(lambda x: torch.tanh(torch.as_tensor(x))), 6)  # exact
    1.592537
    """
    cacheable = not isinstance(f, torch.nn.Module)
    if cacheable:
        try:
            hit = _CACHE.get(f)
        except TypeError:  # unhashable callable
            cacheable, hit = False, None
        if hit is not None:
            return hit
    gen = torch.Generator(device="cpu").manual_seed(0)
    with torch.no_grad():
        z = torch.randn(_SAMPLES, generator=gen, dtype=torch.float64, device="cpu")
        try:
            y = f(z)
        except Exception as e:  # noqa: BLE001 - a user callable; say which one failed
            raise TypeError(
                f"could not evaluate the activation {_name(f)!r} on a float64 CPU tensor to normalize it "
                f"(e3nn's normalize2mom): {e}"
            ) from e
        if not isinstance(y, torch.Tensor) or y.shape != z.shape:
            raise TypeError(
                f"the activation {_name(f)!r} must map a tensor to a tensor of the same shape, "
                f"got {type(y).__name__} {tuple(getattr(y, 'shape', ()))}"
            )
        cst = y.pow(2).mean().pow(-0.5).item()
    if not math.isfinite(cst):
        raise ValueError(f"the activation {_name(f)!r} has second moment {cst ** -2 if cst else math.inf} "
                         "under N(0, 1); it cannot be normalized")
    if cacheable:
        with _LOCK:
            if len(_CACHE) >= _CACHE_MAX:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[f] = cst
    return cst


def _exact_constant(f) -> float:
    """``sqrt(E[f(z)^2])`` by quadrature (e3xp's functional constant), evaluated with torch."""
    from ..ops.activations import _properties

    return _properties(f, "torch")[0]


class NormalizedActivation(torch.nn.Module):
    """``f`` scaled to unit second moment under N(0, 1) (e3nn's ``normalize2mom``).

    ``act_normalization="e3nn"``: ``f(x) * c`` with e3nn's sampled ``c`` (identity
    when ``|c - 1| < 1e-4``, as e3nn); ``"exact"``: ``f(x) / s`` with the exact
    ``s = sqrt(E[f(z)^2])`` (identity when within 1e-5 of 1, as e3xp's functional API).

    Examples
    --------
    >>> import torch
    >>> a = NormalizedActivation(torch.tanh)
    >>> a.cst == e3nn_sampled_constant(torch.tanh)
    True
    >>> b = NormalizedActivation(torch.tanh, act_normalization="exact")
    >>> round(b.cst, 9)  # 1 / sqrt(E[tanh(z)^2])
    1.59253742
    """

    def __init__(self, f, act_normalization: str = "e3nn") -> None:
        super().__init__()
        if not callable(f):
            raise TypeError(f"activation {f!r} is not callable")
        self.act_normalization = check_act_normalization(act_normalization, "NormalizedActivation")
        self.f = f
        if act_normalization == "e3nn":
            cst = e3nn_sampled_constant(f)
            self._is_id = abs(cst - 1) < 1e-4
            self._divide = False
            self.cst = cst
        else:
            s = _exact_constant(f)
            self._is_id = math.isclose(s, 1.0, rel_tol=1e-5, abs_tol=1e-8)
            self._divide = True
            self._s = s
            self.cst = 1.0 / s

    def forward(self, x):
        if self._is_id:
            return self.f(x)
        if self._divide:
            return self.f(x) / self._s
        return self.f(x).mul(self.cst)

    def extra_repr(self) -> str:
        return f"{_name(self.f)}, act_normalization={self.act_normalization!r}, cst={self.cst!r}"


def activation_parity(act) -> int:
    """e3nn's parity test of a (normalized) activation: +1 even, -1 odd, 0 neither.

    As e3nn's ``Activation``: ``act`` on ``torch.linspace(0, 10, 256)`` (default
    dtype) against ``act`` on its negative, absolute tolerance 1e-5.
    """
    x = torch.linspace(0, 10, 256)
    with torch.no_grad():
        a1, a2 = act(x), act(-x)
    if (a1 - a2).abs().max() < 1e-5:
        return 1
    if (a1 + a2).abs().max() < 1e-5:
        return -1
    return 0
