#!/usr/bin/env bash
# A Python venv with PyTorch + torchvision (PyPI wheels) for the oracle scripts and the
# benchmarks' peers. Not needed by CI: the fixtures the oracles write are committed.
set -euo pipefail
venv="${RINGMASTER_CACHE:-$HOME/.cache/ringmaster}/venv"
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
if ! "$venv/bin/python" -c 'import torch, torchvision, PIL, numpy, safetensors' 2>/dev/null; then
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q torch torchvision pillow numpy safetensors
fi
echo "$venv/bin/python"
