#!/usr/bin/env bash
# The real runtimes the deployment tests run exported models on: TF Lite Micro's own
# interpreter (PyPI `tflite-micro`, reference kernels) and LiteRT (`ai-edge-litert`, optimized
# kernels), in a Python virtual environment under target/ that is made once and then reused.
# Installs python3-venv with apt when the machine's Python cannot make one. Prints the path of
# the environment's python on stdout; everything else goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${TINYNAS_VENV:-$PWD/target/pyenv}"
PACKAGES=(tflite-micro==0.dev20261023182759 ai-edge-litert==2.3.0 numpy==2.4.6)
ready() { "$VENV/bin/python" -c 'import tflite_micro, ai_edge_litert, numpy' >/dev/null 2>&1; }
if ! ready; then
    PY=$(command -v python3 || true)
    if [ -z "$PY" ] || ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        echo "pyenv: installing python3 and python3-venv" >&2
        SUDO=""
        if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
        $SUDO apt-get update -q >&2
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3 python3-venv >&2
        PY=$(command -v python3)
    fi
    echo "pyenv: making $VENV with ${PACKAGES[*]}" >&2
    # A half-made environment (an interrupted install) does not import: it is made again.
    rm -rf "$VENV"
    "$PY" -m venv "$VENV" >&2
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PACKAGES[@]}" >&2
    ready || { echo "pyenv: $VENV does not import tflite_micro, ai_edge_litert and numpy" >&2; exit 1; }
fi
echo "$VENV/bin/python"
