#!/usr/bin/env bash
# The main job: installs a Vulkan driver if none is present and the Arm toolchain and QEMU the
# demo's device check links and runs the exported model with, then runs `tinynas demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh firmware
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
cargo run --release --locked -- demo "$@"
