#!/usr/bin/env bash
# Installs what tinynas needs on Debian when it is missing: a Vulkan driver (Mesa's lavapipe
# from bookworm-backports, when no Vulkan ICD is present) and the Vulkan loader; with `mpi`,
# also OpenMPI and libclang, which the `mpi` feature (data-parallel training) builds against.
# The backports suite is taken from the same mirror as the machine's own bookworm sources: this
# script names no host.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
if [ "${1:-}" = mpi ]; then
    if ! dpkg -s openmpi-bin libopenmpi-dev libclang-dev >/dev/null 2>&1; then
        echo "setup: installing OpenMPI and libclang (for --features mpi)" >&2
        $SUDO apt-get update -q
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openmpi-bin libopenmpi-dev libclang-dev
    fi
fi
# (Any one ICD file will do: `ls` of both folders fails when one is missing; `grep -q` could
# leave ldconfig writing to a closed pipe, which pipefail reads as a failure.)
have_icd() {
    local f
    for f in /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json; do
        [ -e "$f" ] && return 0
    done
    return 1
}
have_loader() { ldconfig -p 2>/dev/null | grep 'libvulkan.so.1' >/dev/null; }
if have_icd && have_loader; then
    exit 0
fi

# The URI of the machine's Debian archive: deb822 `.sources` files first, then sources.list.
debian_mirror() {
    local f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(awk '/^URIs:/ {u=$2} /^Suites:/ && / bookworm( |$)/ && u {print u; exit}' "$f")
        uri=${uri:-$(awk '/^URIs:/ {u=$2} /^Suites:/ && /bookworm/ && u !~ /security/ && u {print u; exit}' "$f")}
        if [ -n "$uri" ]; then echo "$uri"; return; fi
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        uri=$(awk '$1 == "deb" && $0 ~ / bookworm / {for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) {print $i; exit}}' "$f")
        if [ -n "$uri" ]; then echo "$uri"; return; fi
    done
}

echo "setup: installing the Vulkan loader and Mesa's software Vulkan driver (lavapipe)" >&2
if grep -q bookworm /etc/os-release 2>/dev/null; then
    mirror=$(debian_mirror)
    if [ -z "$mirror" ]; then
        echo "setup: no bookworm entry in /etc/apt/sources*; add one, or install mesa-vulkan-drivers and libvulkan1 yourself" >&2
        exit 1
    fi
    echo "deb $mirror bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/backports.list >/dev/null
    $SUDO apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -t bookworm-backports mesa-vulkan-drivers libvulkan1
else
    $SUDO apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mesa-vulkan-drivers libvulkan1
fi
