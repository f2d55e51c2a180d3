"""Sphinx configuration of the e3xp documentation.

Build (from the repository root, warnings are errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Every tutorial is a MyST markdown notebook executed at build time (myst-nb);
an error in a cell fails the build. The docstring examples of the API reference
are run by ``pytest --doctest-modules`` (``make test``).
"""

import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SRC = os.path.join(ROOT, "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)
# The notebook kernels are separate processes: make them import this tree's e3xp.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [SRC] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != SRC]
)
# JAX in float64 for the tutorials (equivariance checks at 1e-12); CPU only.
os.environ.setdefault("JAX_ENABLE_X64", "1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import e3xp  # noqa: E402

project = "e3xp"
author = "e3xp developers"
copyright = "e3xp developers"
release = e3xp.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx.ext.intersphinx",
    "myst_nb",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "Thumbs.db",
    ".DS_Store",
    "**.ipynb_checkpoints",
    "jupyter_execute",
]

# --- autodoc / autosummary / napoleon (numpy-style docstrings) ---
autosummary_generate = True
autosummary_generate_overwrite = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
# Framework imports stay lazy in e3xp; nothing needs mocking for the functional API.
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_param = True

# --- intersphinx: offline only. No inventory is fetched: the mapping is empty unless
# E3XP_DOCS_INTERSPHINX=1 (a machine with network access) turns the usual ones on.
intersphinx_mapping = {}
if os.environ.get("E3XP_DOCS_INTERSPHINX") == "1":
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "torch": ("https://pytorch.org/docs/stable", None),
        "jax": ("https://docs.jax.dev/en/latest", None),
    }
intersphinx_timeout = 5

# --- myst-nb: executed notebooks ---
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
nb_execution_mode = os.environ.get("E3XP_DOCS_EXECUTE", "cache")
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
nb_kernel_rgx_aliases = {".*": "python3"}

# --- HTML ---
html_theme = "furo"
html_title = f"e3xp {release}"
html_static_path = []
html_theme_options = {"source_repository": "", "navigation_with_keys": True}

nitpicky = False
# A numpy-style parameter type such as "dtype" matches several attributes of the API
# (IrrepsArray.dtype, SphericalSignal.dtype): the ambiguous link is dropped, no error.
suppress_warnings = ["ref.python"]
