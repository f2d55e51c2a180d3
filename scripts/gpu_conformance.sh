#!/usr/bin/env bash
# The conformance suite and the validate table on a CUDA machine: CuPy, torch on
# CUDA and JAX on the GPU, in one go. Run from the repository root:
#   bash scripts/gpu_conformance.sh            (writes gpu-conformance.log, and $OUT/ if set)
# It installs into its own venv (.venv-gpu) so the CPU .venv is untouched.
set -uo pipefail
cd "$(dirname "$0")/.."
LOG=${OUT:-.}/gpu-conformance.log
PY=.venv-gpu/bin/python
python3 -m venv .venv-gpu
# torch: the default PyPI wheel is a CUDA build on x86_64; jax[cuda12] brings its own CUDA libs.
# A machine without network (the lent device machine) installs from a carried wheel
# folder: WHEELS=/path/to/wheels bash scripts/gpu_conformance.sh
PIP_OFFLINE=()
if [ -n "${WHEELS:-}" ]; then PIP_OFFLINE=(--no-index --find-links "$WHEELS"); fi
$PY -m pip install -q "${PIP_OFFLINE[@]}" -e ".[test]" "jax[cuda12]" cupy-cuda12x 2>&1 | grep -v "^WARNING" | tail -5
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  $PY -c "import torch, jax, cupy; print('torch', torch.__version__, torch.cuda.is_available()); print('jax', jax.__version__, jax.devices()); print('cupy', cupy.__version__, cupy.cuda.runtime.getDeviceCount())"
  # The suite's xp fixture has cupy and torch-cuda variants; JAX runs on its default device (the GPU).
  $PY -m pytest -q -p no:cacheprovider conformance -k "cupy or torch-cuda or jax" -ra 2>&1 | tail -40
  $PY -m e3xp validate --backends numpy,torch-cuda,jax,cupy
  $PY -m e3xp validate --backends torch-cuda,jax,cupy --dtype float32
} 2>&1 | tee "$LOG"
