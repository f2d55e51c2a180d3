#!/usr/bin/env bash
# GPU benchmark (issue 5, deliverable 5): workloads (b), (c), (e) on torch CUDA, jax GPU and
# CuPy (e3xp) against cuequivariance's CUDA kernels (cue-torch: fused_tp / uniform_1d;
# cue-jax: uniform_1d) and e3nn / e3nn-jax on the same GPU.  One prepared script, a few
# minutes on a recent NVIDIA GPU.  Run it from the repository root:
#
#     bash benchmarks/gpu.sh            # writes benchmarks/RESULTS-gpu.md
#
# Environment knobs:
#   PY=python3          the interpreter (default: .venv/bin/python if present, else python3)
#   CUDA_MAJOR=12       which CUDA wheels to install (12 or 13)
#   WHEELS=/dir         offline wheel directory (passed to pip as --find-links --no-index),
#                       for machines that cannot reach a package index
#   SKIP_INSTALL=1      use what is installed
#   REPEATS=10          timed calls per case
#
# It installs into the chosen interpreter's environment: e3xp (editable, from this
# checkout), torch with CUDA only if the installed torch has none, jax[cudaXX], cupy-cudaXXx,
# e3nn, e3nn-jax, cuequivariance-torch/-jax and their CUDA ops packages
# (cuequivariance-ops-torch-cuXX, cuequivariance-ops-jax-cuXX).
#
# Status: written and checked on CPU only (bash -n; the --device cuda paths of run.py
# are not exercised there).  It has not run on a GPU yet.
set -euo pipefail

cd "$(dirname "$0")/.."
if [[ -z "${PY:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi
CUDA_MAJOR="${CUDA_MAJOR:-12}"
REPEATS="${REPEATS:-10}"
OUT="${OUT:-benchmarks/RESULTS-gpu.md}"

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu.sh: no CUDA GPU visible (nvidia-smi failed); nothing to do." >&2
    exit 1
fi
nvidia-smi -L

PIP=("$PY" -m pip install -q)
if [[ -n "${WHEELS:-}" ]]; then PIP+=(--no-index --find-links "$WHEELS"); fi

if [[ -z "${SKIP_INSTALL:-}" ]]; then
    # torch: keep an installed CUDA build; otherwise install the default (CUDA) wheel.
    if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
        "${PIP[@]}" torch
    fi
    TORCH_PIN="torch==$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')"
    "${PIP[@]}" -e . "$TORCH_PIN"
    "${PIP[@]}" "jax[cuda${CUDA_MAJOR}]" "cupy-cuda${CUDA_MAJOR}x" "e3nn==0.6.0" "e3nn-jax==0.21.0" \
        cuequivariance cuequivariance-torch cuequivariance-jax \
        "cuequivariance-ops-torch-cu${CUDA_MAJOR}" "cuequivariance-ops-jax-cu${CUDA_MAJOR}" "$TORCH_PIN"
fi

"$PY" - <<'EOF'
import torch, jax
print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0))
print("jax", jax.__version__, jax.devices())
try:
    import cupy
    print("cupy", cupy.__version__, cupy.cuda.runtime.getDeviceCount(), "device(s)")
except Exception as exc:
    print("cupy unavailable:", exc)
EOF

FRAMEWORKS="torch,jax"
if "$PY" -c "import cupy; cupy.zeros(1)" 2>/dev/null; then FRAMEWORKS="torch,jax,cupy"; fi

# Full sizes (10,000 rows / edges, 1,000,000 vectors); --no-compile keeps it to a few minutes.
XLA_PYTHON_CLIENT_PREALLOCATE=false "$PY" benchmarks/run.py \
    --device cuda --workloads b,c,e --frameworks "$FRAMEWORKS" \
    --repeats "$REPEATS" --no-compile --case-timeout 120 --out "$OUT" "$@"
echo "gpu.sh: wrote $OUT"
