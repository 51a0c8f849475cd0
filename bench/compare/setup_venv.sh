#!/usr/bin/env bash
# setup_venv.sh: makes bench/.venv (ignored by git) for bench/compare — Debian's
# python3-torch (1.13, seen through --system-site-packages, with numpy and
# PyYAML) plus PyTorch Lightning from PyPI. pytorch-lightning 2.2.5 is the
# last release that supports torch 1.13; it is installed with --no-deps, with
# its small pure-Python dependencies pinned alongside, because pip would
# otherwise replace Debian's torch (it reports 1.13.0a0, which pip's
# ">=1.13.0" does not accept) with PyPI's multi-gigabyte CUDA wheel.
# Idempotent: does nothing when the venv already imports both packages.
# Usage: bench/compare/setup_venv.sh [VENV_DIR]   (default bench/.venv)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=${1:-$here/../.venv}
py=/usr/bin/python3
pins=(pytorch-lightning==2.2.5 torchmetrics==1.4.3 lightning-utilities==0.11.9
      tqdm==4.66.5 packaging==24.1 fsspec==2024.6.1)

if ! "$py" -c 'import torch, numpy' 2>/dev/null; then
    echo "setup_venv: $py cannot import torch and numpy; run scripts/install-deps.sh" \
         "(python3-torch)" >&2
    exit 1
fi
if [ -x "$venv/bin/python" ] &&
   "$venv/bin/python" -c 'import torch, pytorch_lightning' 2>/dev/null; then
    exit 0
fi
echo "setup_venv: creating $venv (Debian's torch + ${pins[*]})"
"$py" -m venv --system-site-packages "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps "${pins[@]}"
"$venv/bin/python" -c 'import torch, pytorch_lightning as pl
print(f"setup_venv: torch {torch.__version__}, pytorch_lightning {pl.__version__}")'
