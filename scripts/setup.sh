#!/usr/bin/env bash
# Installs what tinynas needs on Debian when it is missing: a Vulkan driver (Mesa's lavapipe
# from bookworm-backports, when no Vulkan ICD is present) and the Vulkan loader. Optional parts,
# named as arguments (`setup.sh mpi firmware`):
#   mpi       OpenMPI and libclang, which the `mpi` feature (data-parallel training) builds against;
#   firmware  the Arm embedded toolchain (gcc-arm-none-eabi, newlib) and QEMU's Arm system
#             emulator (from bookworm-backports: bookworm's own conflicts with a backported
#             qemu-utils), which `tinynas export --target` builds and runs the firmware with.
# The backports suite is taken from the same mirror as the machine's own bookworm sources: this
# script names no host.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
want_mpi=0
want_firmware=0
for arg in "$@"; do
    case "$arg" in
        mpi) want_mpi=1 ;;
        firmware) want_firmware=1 ;;
        *) echo "setup: unknown part '$arg' (valid: mpi, firmware)" >&2; exit 2 ;;
    esac
done
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

is_bookworm() { grep -q bookworm /etc/os-release 2>/dev/null; }

# Adds bookworm-backports from the machine's own mirror (once) and refreshes the package lists.
updated=0
apt_update() {
    if [ "$updated" = 1 ]; then return; fi
    if is_bookworm && [ ! -f /etc/apt/sources.list.d/backports.list ]; then
        local mirror
        mirror=$(debian_mirror)
        if [ -z "$mirror" ]; then
            echo "setup: no bookworm entry in /etc/apt/sources*; add one, or install $* yourself" >&2
            exit 1
        fi
        echo "deb $mirror bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/backports.list >/dev/null
    fi
    $SUDO apt-get update -q
    updated=1
}

# apt-get install of the named packages, from bookworm-backports on bookworm when `$1` is `bpo`.
install() {
    local from=()
    if [ "$1" = bpo ] && is_bookworm; then from=(-t bookworm-backports); fi
    shift
    apt_update "$@"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${from[@]}" "$@"
}

if [ "$want_mpi" = 1 ] && ! dpkg -s openmpi-bin libopenmpi-dev libclang-dev >/dev/null 2>&1; then
    echo "setup: installing OpenMPI and libclang (for --features mpi)" >&2
    install main openmpi-bin libopenmpi-dev libclang-dev
fi

if [ "$want_firmware" = 1 ] && ! { command -v arm-none-eabi-gcc && command -v qemu-system-arm \
        && dpkg -s libnewlib-arm-none-eabi; } >/dev/null 2>&1; then
    echo "setup: installing the Arm embedded toolchain and QEMU (for export --target)" >&2
    install main gcc-arm-none-eabi libnewlib-arm-none-eabi
    install bpo qemu-system-arm
fi

if ! { have_icd && have_loader; }; then
    echo "setup: installing the Vulkan loader and Mesa's software Vulkan driver (lavapipe)" >&2
    install bpo mesa-vulkan-drivers libvulkan1
fi
