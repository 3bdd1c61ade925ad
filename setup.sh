#!/usr/bin/env bash
# Set up avatar-plugin on a fresh Debian/Ubuntu machine: system packages, a virtual environment in .venv,
# and the package with every extra the tests use. Safe to run again (skips what is already there).
#
#   ./setup.sh            # system packages + .venv + torch (CPU) + avatar-plugin[dev,webcam,ml]
#   ./setup.sh --no-apt   # skip the system packages (you installed them yourself)
#
# torch is pinned to a CPU build and installed BEFORE the `ml` extra, so diffusers/transformers do not pull a
# multi-GB CUDA build. On a machine with an NVIDIA GPU, install the torch build you want first; setup.sh keeps
# an already installed torch. TORCH_SPEC overrides the pin.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(chromium libportaudio2 espeak-ng libespeak-ng1 fonts-dejavu-core)
PYTHON=${PYTHON:-python3}

if [[ "${1:-}" != "--no-apt" ]]; then
  missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    echo "setup: installing system packages: ${missing[*]}"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
fi

if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  echo "setup: installing ${TORCH_SPEC:=torch==2.13.0} (CPU) into .venv"
  .venv/bin/python -m pip install -q "$TORCH_SPEC" "numpy<2"
fi
echo "setup: installing avatar-plugin[dev,webcam,ml] into .venv"
.venv/bin/python -m pip install -q -e ".[dev,webcam,ml]"
echo "setup: done. Try: .venv/bin/avatar-plugin --help"
