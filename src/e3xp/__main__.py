"""Command line: ``python -m e3xp validate`` (cross-framework conformance table) and ``demo``.

``validate [--backends numpy,torch,...] [--dtype float64|float32]`` runs, on every
requested backend that is installed, the checks of :mod:`e3xp.conformance_checks`
(equivariance error, disagreement with float64 NumPy, autodiff gradient against
finite differences) and prints one table row per backend and operation. The exit
status is 0 only when every row passes.

``demo`` is a short tour: irreps algebra, a Clebsch-Gordan coefficient, a Wigner D
check, the seed example on every installed backend, then ``validate``.

``train`` trains an equivariant interatomic potential on torch or JAX, and
``train-demo`` runs a short training on both (see :mod:`e3xp.train.cli`).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

__all__ = ["main", "validate", "demo"]


def validate(backends=None, dtype: str = "float64", stream=None) -> int:
    """Run the conformance checks and print the table; return the exit status."""
    from . import conformance_checks as cc

    stream = sys.stdout if stream is None else stream
    targets, skipped = cc.installed_targets(backends, dtype)
    for name, why in skipped.items():
        print(f"skipping {name}: {why}", file=stream)
    if not targets:
        print("no backend to validate", file=stream)
        return 1
    print(f"validating {', '.join(t.name for t in targets)} in {dtype}", file=stream)
    results = cc.run_checks(targets, progress=cc.print_progress)
    print(cc.format_table(results), file=stream)
    tol = cc.TOLERANCES[dtype]
    print(
        f"relative tolerances: equivariance {tol['equivariance']:g}, vs numpy "
        f"{tol['disagreement']:g}, gradient {tol['gradient']:g}",
        file=stream,
    )
    failed = [r for r in results if not r.passed]
    print(f"{len(results) - len(failed)}/{len(results)} passed", file=stream)
    return 0 if not failed else 1


def _seed_example(target) -> str:
    """The issue's seed example on one backend; returns a one-line summary."""
    from .irreps_array import IrrepsArray
    from .ops import Linear, tensor_product
    from .testing import equivariance_error

    xp = target
    x = IrrepsArray("1o", xp.asarray([1.0, 1.0, 2.0]))
    y = IrrepsArray("1o", xp.asarray([0.0, 0.0, 2.0]))
    x + y, x - y, 3.0 * x
    z = tensor_product(x, y)
    try:
        x + IrrepsArray("1e", xp.asarray([0.0, 0.0, 2.0]))
        refused = "NOT refused"
    except ValueError as e:
        refused = f"refused ({e})"
    a = IrrepsArray("3x0e + 2x1o", xp.asarray(np.arange(1.0, 10.0)))
    lin = Linear("1o + 3x0e + 1o")
    params = lin.init(0, a)
    b = lin.apply(params, a)
    err = equivariance_error(lambda v: lin.apply(params, v), a)
    return (
        f"tensor_product -> {z.irreps} {np.round(target.to_numpy(z), 4).tolist()}; "
        f"x + 1e {refused}; Linear -> {b.irreps}, equivariance error {err:.1e}"
    )


def demo(stream=None) -> int:
    """A short tour of e3xp; ends with ``validate``. Returns the exit status."""
    from . import conformance_checks as cc
    from .core.clebsch_gordan import clebsch_gordan
    from .core.irreps import Irrep, Irreps
    from .core.rotations import rand_matrix

    stream = sys.stdout if stream is None else stream

    def say(*args):
        print(*args, file=stream)

    say("== irreps algebra")
    irreps = Irreps("3x0e + 1o + 2x1o")
    say(f"Irreps('3x0e + 1o + 2x1o'): dim {irreps.dim}, regroup {irreps.regroup()}, * 2 -> {irreps * 2}")
    say(f"1o x 1o -> {list(Irrep('1o') * Irrep('1o'))}")
    say("== a Clebsch-Gordan coefficient")
    C = clebsch_gordan(1, 1, 0)
    say(f"CG(1,1,0)[0,0,0] = {C[0, 0, 0]:.6f} (1/sqrt(3) = {1 / np.sqrt(3):.6f})")
    say("== Wigner D")
    R1, R2 = rand_matrix(1), rand_matrix(2)
    D = Irrep("2e").D_from_matrix
    say(
        f"|D1o(R) - R| = {np.max(np.abs(Irrep('1o').D_from_matrix(R1) - R1)):.1e}; "
        f"|D2(R1 R2) - D2(R1) D2(R2)| = {np.max(np.abs(D(R1 @ R2) - D(R1) @ D(R2))):.1e}; "
        f"D1o(-I) = -I: {bool(np.allclose(Irrep('1o').D_from_matrix(-np.eye(3)), -np.eye(3)))}"
    )
    say("== the seed example on every installed backend")
    targets, skipped = cc.installed_targets(None, "float64")
    for t in targets:
        say(f"{t.name:>16}: {_seed_example(t)}")
    for name, why in skipped.items():
        say(f"{name:>16}: skipped ({why})")
    say("== validate")
    return validate(stream=stream)


def main(argv=None) -> int:
    """Entry point of ``python -m e3xp`` and of the ``e3xp`` script; returns the exit status.

    >>> main(["validate", "--backends", "numpy"])  # doctest: +ELLIPSIS
    validating numpy in float64
    backend  operation ...
    numpy    tensor_product ... pass
    ...
    13/13 passed
    0
    """
    parser = argparse.ArgumentParser(prog="python -m e3xp", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_val = sub.add_parser("validate", help="cross-framework conformance table")
    p_val.add_argument(
        "--backends",
        default=None,
        help="comma-separated, e.g. numpy,torch,jax (default: all installed; variants such as "
        "array_api_strict-device1 are accepted)",
    )
    p_val.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    sub.add_parser("demo", help="a short tour, then validate")
    from .train.cli import add_parsers as _add_train_parsers  # imports no framework

    _add_train_parsers(sub)
    args = parser.parse_args(argv)
    if args.command in ("train", "train-demo"):
        from .train.cli import run as _run_train

        return _run_train(args)
    if args.command == "validate":
        backends = [b.strip() for b in args.backends.split(",") if b.strip()] if args.backends else None
        return validate(backends, args.dtype)
    return demo()


if __name__ == "__main__":
    sys.exit(main())
