#!/usr/bin/env bash
# Benchmarks on a lent GPU machine (the `device` tool; it has no Rust toolchain and no network).
#
# Prepare here, once per session, in the repo root:
#   echo /.gl/ >>.git/info/exclude; echo /.devbin/ >>.git/info/exclude
#   mkdir -p .gl /tmp/amd64/partial; o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
#   apt-get $o update; (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
#   cargo build --release && mkdir -p .devbin && cp target/release/tinynas .devbin/ && strip .devbin/tinynas
#   cp ../shared/peer/torch_supernet.py .devbin/   # ../shared does not travel
# Then run, carrying .gl and .devbin:  ./scripts/device_bench.sh
# Results land in $OUT (bench-*.txt, trace-train.json) and on stdout.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
T=.devbin/tinynas
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
$T devices | tee "$OUT/devices.txt"
$T bench ops --backend vulkan --batch 64 2>&1 | tee "$OUT/bench-ops.txt"
for r in 64 32; do
    $T bench train --backend vulkan --res $r --steps 10 2>&1 | tee "$OUT/bench-train-r$r.txt"
    python3 .devbin/torch_supernet.py --res $r --device cuda --steps 20 2>&1 | tee "$OUT/peer-cuda-r$r.txt"
done
$T bench train --backend vulkan --res 64 --steps 1 --profile "$OUT/trace-train.json" 2>&1 | tee "$OUT/bench-train-profile.txt"
