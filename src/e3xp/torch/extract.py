"""``Extract`` and ``ExtractIr``: e3nn's ``nn.Extract`` / ``nn.ExtractIr``."""

from __future__ import annotations

import torch

from ..core.irreps import Irrep, Irreps
from ._module import unwrap, wrap
from ._nn_common import as_irreps, from_e3nn_object, gather, offsets

__all__ = ["Extract", "ExtractIr"]


class Extract(torch.nn.Module):
    r"""Copy chosen entries of the input irreps into one or more outputs (e3nn's ``nn.Extract``).

    Parameters
    ----------
    irreps_in : str or Irreps
    irreps_outs : list of (str or Irreps)
        One per output.
    instructions : list of tuple of int
        One tuple per output, with ``len(irreps_outs[i])`` indices into ``irreps_in``:
        output ``i``'s ``j``-th entry is a copy of entry ``instructions[i][j]`` of the
        input, which must be the same multiplicity and irrep.
    squeeze_out : bool
        With a single output, return it instead of a 1-tuple.

    Returns (forward)
    -----------------
    tuple of tensors (or of IrrepsArrays, for an IrrepsArray input).

    Examples
    --------
    >>> import torch
    >>> c = Extract("1e + 0e + 0e", ["0e", "0e"], [(1,), (2,)])
    >>> c(torch.tensor([0.0, 0.0, 0.0, 1.0, 2.0]))
    (tensor([1.]), tensor([2.]))
    """

    def __init__(self, irreps_in, irreps_outs, instructions, squeeze_out: bool = False) -> None:
        super().__init__()
        name = type(self).__name__
        self.irreps_in = as_irreps(irreps_in, f"{name}: irreps_in")
        if isinstance(irreps_outs, (str, Irreps)):
            raise TypeError(f"{name}: irreps_outs must be a list of irreps (one per output), got {irreps_outs!r}")
        self.irreps_outs = tuple(as_irreps(i, f"{name}: irreps_outs") for i in irreps_outs)
        instructions = [tuple(int(i) for i in ins) for ins in instructions]
        if len(instructions) != len(self.irreps_outs):
            raise ValueError(
                f"{name}: {len(self.irreps_outs)} outputs ({', '.join(map(str, self.irreps_outs))}) but "
                f"{len(instructions)} instructions; give one tuple of input indices per output"
            )
        starts = offsets(self.irreps_in)
        self._pieces = []
        for irreps_out, ins in zip(self.irreps_outs, instructions):
            if len(ins) != len(irreps_out):
                raise ValueError(
                    f"{name}: output {irreps_out} has {len(irreps_out)} entries but its instruction {ins} "
                    f"has {len(ins)} indices"
                )
            pieces = []
            for mul_ir, i in zip(irreps_out, ins):
                if not -len(self.irreps_in) <= i < len(self.irreps_in):
                    raise IndexError(f"{name}: index {i} in {ins} is out of range for irreps_in {self.irreps_in}")
                i = i % len(self.irreps_in)
                if self.irreps_in[i] != mul_ir:
                    raise ValueError(
                        f"{name}: entry {i} of irreps_in {self.irreps_in} is {self.irreps_in[i]}, "
                        f"but output {irreps_out} expects {mul_ir} there"
                    )
                pieces.append((starts[i], mul_ir.dim))
            self._pieces.append(tuple(pieces))
        self.instructions = instructions
        self.squeeze_out = bool(squeeze_out)

    def forward(self, x):
        t, as_array = unwrap(x, self.irreps_in, type(self).__name__)
        outs = tuple(
            wrap(gather(t, pieces, irreps.dim), irreps, as_array) for irreps, pieces in zip(self.irreps_outs, self._pieces)
        )
        if self.squeeze_out and len(outs) == 1:
            return outs[0]
        return outs

    def extra_repr(self) -> str:
        return f"{self.irreps_in} -> {', '.join(map(str, self.irreps_outs))}"


class ExtractIr(Extract):
    r"""The entries of one irrep ``ir`` of the input, in order (e3nn's ``nn.ExtractIr``).

    Returns a single tensor (or IrrepsArray) with ``irreps_out``.

    Examples
    --------
    >>> import torch
    >>> e = ExtractIr("0e + 1o + 2x0e", "0e")
    >>> e.irreps_out
    1x0e+2x0e
    >>> e(torch.arange(6.0))
    tensor([0., 4., 5.])
    """

    def __init__(self, irreps_in, ir) -> None:
        try:
            ir = Irrep(from_e3nn_object(ir))
        except (ValueError, TypeError) as e:
            raise type(e)(f"ExtractIr: ir={ir!r} is not an irrep ({e})") from e
        irreps_in = as_irreps(irreps_in, "ExtractIr: irreps_in")
        irreps_out = Irreps([mul_ir for mul_ir in irreps_in if mul_ir.ir == ir])
        instructions = [tuple(i for i, mul_ir in enumerate(irreps_in) if mul_ir.ir == ir)]
        super().__init__(irreps_in, [irreps_out], instructions, squeeze_out=True)
        self.irreps_out = irreps_out
        self.ir = ir
