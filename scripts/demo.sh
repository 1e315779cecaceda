#!/usr/bin/env bash
# The main job: installs a Vulkan driver if none is present, then runs `tinynas demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
cargo run --release --locked -- demo "$@"
