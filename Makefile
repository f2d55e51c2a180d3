# The README's two commands: `make demo` and `make test`. Each creates .venv and
# installs what it needs, so both work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# One place for the torch spec: on this machine torch==2.13.0 is a CPU wheel on disk;
# an unpinned `torch` could pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0

.PHONY: demo test install-test install-demo bench docs clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-test: $(PY) pyproject.toml
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[test]"
	touch $@

$(VENV)/.installed-demo: $(PY) pyproject.toml
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[torch,jax,train]" array-api-strict
	touch $@

install-test: $(VENV)/.installed-test
install-demo: $(VENV)/.installed-demo

# The tour and validation table, then the main job in short: a potential trained on
# torch and on jax (metrics tables, plots and checkpoints in demo_out/).
demo: install-demo
	$(PY) -m e3xp demo
	$(PY) -m e3xp train-demo --out demo_out

test: install-test
	$(PY) -m pytest -q

# Heavy (about 40 min on 2 cores): not part of CI. `make bench BENCH_ARGS=--quick` for a smoke run.
BENCH_ARGS ?=
bench: install-test
	$(PY) -m pip install -q "$(TORCH_SPEC)" -e ".[bench]"
	$(PY) benchmarks/run.py $(BENCH_ARGS)

# The documentation site, warnings as errors (the test suite builds it too: tests/test_docs.py).
docs: install-test
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV)
