"""The framework-module rows of `python -m e3xp validate` (e3xp.module_checks)."""

import pytest

from e3xp import module_checks as mc


def test_result_passes_only_within_every_tolerance():
    assert mc.ModuleResult("torch", "m", 1e-15, None, 1e-9).passed
    assert not mc.ModuleResult("torch", "m", 1e-3, None, 1e-9).passed  # not equivariant
    assert not mc.ModuleResult("torch", "m", 1e-15, 1e-8, 1e-9).passed  # differs from e3nn
    assert not mc.ModuleResult("torch", "m", None, None, None, error="boom").passed


def test_torch_rows_pass_and_compare_with_e3nn():
    pytest.importorskip("torch")
    rows, skipped = mc.run_module_checks(["torch"])
    assert not skipped
    assert len(rows) == len(mc._torch_cases())
    assert all(r.passed for r in rows), mc.format_module_table(rows)
    if pytest.importorskip("e3nn"):
        assert all(r.reference is not None for r in rows)


def test_a_broken_module_fails_its_row(monkeypatch):
    torch = pytest.importorskip("torch")
    import e3xp.torch as et

    class Squared(et.Linear):  # not equivariant: squares the vector components
        def forward(self, x, *a):
            y = super().forward(x, *a)
            return type(y)(y.irreps, y.array ** 2) if hasattr(y, "irreps") else y ** 2

    cases = [c for c in mc._torch_cases() if c[0] == "Linear"]
    name, _, specs = cases[0]
    monkeypatch.setattr(mc, "_torch_cases", lambda: [(name, lambda m: Squared("1o", "1o") if not m.e3nn else m.o3.Linear("1o", "1o"), ["1o"])])
    (row,) = mc._torch_rows()
    assert not row.passed and row.equivariance > 1e-3
    del torch
