"""The documentation site builds with warnings as errors, and every tutorial runs.

``python -m sphinx -W --keep-going -b html docs <tmp>``: autosummary API pages for
every public name, and the MyST notebooks of ``docs/`` executed by myst-nb (an
error in a cell fails the build). Skipped when the docs dependencies (sphinx,
furo, myst-nb, matplotlib, ipykernel) are not installed. Takes a few minutes on
two cores; the docstring examples themselves are run by ``--doctest-modules``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DOCS_DEPS = ("sphinx", "furo", "myst_nb", "matplotlib", "ipykernel")


def test_every_public_name_is_in_the_api_reference():
    import e3xp

    text = (DOCS / "api" / "index.rst").read_text()
    listed = set(re.findall(r"^   ([A-Za-z_][\w.]*)$", text, re.M))
    missing = sorted(set(e3xp.__all__) - listed)
    assert not missing, f"add to docs/api/index.rst: {missing}"


def test_framework_and_training_pages_are_in_the_build():
    conf = (DOCS / "conf.py").read_text()
    for page in ("api/torch.rst", "api/flax.rst", "api/train.rst", "tutorials/train.md"):
        assert (DOCS / page).is_file()
        assert f'"{page}"' not in conf  # not excluded


@pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in DOCS_DEPS),
    reason="docs dependencies missing: " + ", ".join(n for n in DOCS_DEPS if importlib.util.find_spec(n) is None),
)
def test_docs_build_without_warnings(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["E3XP_DOCS_EXECUTE"] = "force"  # execute every notebook, whatever a cache holds
    cmd = [
        sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
        "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html"),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    # the kernels' own chatter (IPKernelApp / traitlets lines) is not a Sphinx warning
    log = "\n".join(
        line for line in (proc.stdout + proc.stderr).splitlines()
        if "IPKernelApp" not in line and "traitlets" not in line and line.strip()
    )
    assert proc.returncode == 0, log[-8000:]
    assert (tmp_path / "html" / "index.html").is_file()
    for page in ("conventions", "tutorials/irreps", "tutorials/porting", "api/_autosummary/e3xp.Irreps"):
        assert (tmp_path / "html" / f"{page}.html").is_file(), page
    # the spherical-harmonics figure of the irreps tutorial was rendered
    assert "<img" in (tmp_path / "html" / "tutorials" / "irreps.html").read_text()
