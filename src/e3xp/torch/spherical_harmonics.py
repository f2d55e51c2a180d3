"""``SphericalHarmonics``: e3nn's ``o3.SphericalHarmonics`` on e3xp's harmonics kernel."""

from __future__ import annotations

import numbers

import torch

from ..core.irreps import Irreps
from ..irreps_array import IrrepsArray
from ..ops.spherical_harmonics import spherical_harmonics
from ._module import unwrap, wrap
from ._nn_common import as_irreps

__all__ = ["SphericalHarmonics"]

_NORMALIZATIONS = ("integral", "component", "norm")


class SphericalHarmonics(torch.nn.Module):
    r"""Spherical harmonics of vectors, e3nn's ``o3.SphericalHarmonics`` (same signature).

    Parameters
    ----------
    irreps_out : int, list of int, str or Irreps
        The degrees, in output order (repeats allowed): an int ``l``, a list of ints,
        or irreps such as ``"1x0e+1x1o+1x2e"``. Irreps with an odd ``l`` of even parity
        (``1e``) make the input a pseudovector (``irreps_in = 1e``) unless ``irreps_in``
        is given.
    normalize : bool
        Evaluate on ``x / |x|`` (no default, as e3nn).
    normalization : {"integral", "component", "norm"}
        e3nn's default here is ``"integral"`` (the functional ``e3xp.spherical_harmonics``
        defaults to ``"component"``, as e3nn-jax).
    irreps_in : None, "1o" or "1e"
        The input's irreps: a vector (``1o``, default) or a pseudovector (``1e``,
        giving harmonics of parity ``+1`` for every ``l``).

    Notes
    -----
    Attributes: ``irreps_in``, ``irreps_out`` (simplified, as e3nn).

    Differences from e3nn: no upper limit on ``l`` (e3nn stops at 12); with
    ``normalize=True`` a vector shorter than 1e-12 still gives the harmonics of its
    direction (e3nn divides by ``max(|x|, 1e-12)``, so there it gives non-unit
    polynomials); the zero vector gives ``Y_0`` only, as e3nn, but with a finite
    gradient (e3nn's is ~1e12).

    Examples
    --------
    >>> import torch
    >>> sh = SphericalHarmonics("1x0e+1x1o", normalize=True, normalization="component")
    >>> sh(torch.tensor([0.0, 2.0, 0.0]))
    tensor([1.0000, 0.0000, 1.7321, 0.0000])
    >>> SphericalHarmonics("0e + 1e", True).irreps_in
    1x1e
    """

    def __init__(self, irreps_out, normalize: bool, normalization: str = "integral", irreps_in=None) -> None:
        super().__init__()
        if normalization not in _NORMALIZATIONS:
            raise ValueError(f"SphericalHarmonics: normalization={normalization!r}, expected one of {_NORMALIZATIONS}")
        if not isinstance(normalize, bool):
            raise TypeError(f"SphericalHarmonics: normalize={normalize!r} must be a bool")
        self.normalize = normalize
        self.normalization = normalization
        if isinstance(irreps_out, str):
            irreps_out = as_irreps(irreps_out, "SphericalHarmonics: irreps_out")
        if isinstance(irreps_out, Irreps) and irreps_in is None:
            if any(m.ir.l % 2 == 1 and m.ir.p == 1 for m in irreps_out):
                irreps_in = Irreps("1e")
        if irreps_in is None:
            irreps_in = Irreps("1o")
        irreps_in = as_irreps(irreps_in, "SphericalHarmonics: irreps_in")
        if irreps_in not in (Irreps("1x1o"), Irreps("1x1e")):
            raise ValueError(
                "SphericalHarmonics: irreps_in must be either a vector (`1x1o`) or a pseudovector (`1x1e`), "
                f"not `{irreps_in}`"
            )
        self.irreps_in = irreps_in
        p_in = irreps_in[0].ir.p
        if isinstance(irreps_out, Irreps):
            ls = []
            for m in irreps_out:
                if m.ir.p != p_in**m.ir.l:
                    raise ValueError(
                        f"SphericalHarmonics: irreps_out `{irreps_out}` asks for l = {m.ir.l} with parity "
                        f"p = {m.ir.p}, which is inconsistent with the input parity {p_in} (irreps_in {irreps_in}): "
                        f"the output parity should be p = {p_in**m.ir.l}"
                    )
                ls.extend([m.ir.l] * m.mul)
        elif isinstance(irreps_out, numbers.Integral) and not isinstance(irreps_out, bool):
            ls = [int(irreps_out)]
        else:
            try:
                ls = list(irreps_out)
            except TypeError:
                raise TypeError(
                    f"SphericalHarmonics: irreps_out={irreps_out!r}; expected an int, a list of ints, a str or Irreps"
                ) from None
            if not all(isinstance(l, numbers.Integral) and not isinstance(l, bool) and l >= 0 for l in ls):
                raise ValueError(f"SphericalHarmonics: irreps_out={irreps_out!r} must list degrees l >= 0")
            ls = [int(l) for l in ls]
        if not ls:
            raise ValueError("SphericalHarmonics: irreps_out asks for no harmonics")
        self._ls_list = ls
        self._lmax = max(ls)
        self.irreps_out = Irreps([(1, (l, p_in**l)) for l in ls]).simplify()

    def forward(self, x):
        t, as_array = unwrap(x, self.irreps_in, "SphericalHarmonics")
        y = spherical_harmonics(self._ls_list, IrrepsArray(self.irreps_in, t), self.normalize, self.normalization)
        return wrap(y.array, self.irreps_out, as_array)

    def extra_repr(self) -> str:
        return f"{self.irreps_in} -> {self.irreps_out}, normalize={self.normalize}, normalization={self.normalization!r}"
