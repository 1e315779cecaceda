#!/usr/bin/env bash
# The test command: installs a Vulkan driver if none is present, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
cargo test --release --locked -- --test-threads=2 --show-output
