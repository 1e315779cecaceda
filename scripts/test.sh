#!/usr/bin/env bash
# The test command: installs a Vulkan driver if none is present, OpenMPI and libclang for the
# data-parallel tests (`--features mpi`), the Arm embedded toolchain and QEMU the firmware tests
# build and run the generated C with, and the Python runtimes the deployment tests run exported
# models on (TF Lite Micro, LiteRT: scripts/pyenv.sh, kept under target/ between runs), then runs
# every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh mpi firmware
TINYNAS_PYTHON="$(./scripts/pyenv.sh)"
export TINYNAS_PYTHON
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
cargo test --release --locked --features mpi -- --test-threads=2 --show-output
