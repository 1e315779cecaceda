#!/usr/bin/env bash
# Installs what tinynas needs on Debian when it is missing: a Vulkan driver (Mesa's lavapipe
# from bookworm-backports, when no Vulkan ICD is present) and the Vulkan loader.
set -euo pipefail
have_icd() { ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json >/dev/null 2>&1; }
have_loader() { ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1'; }
if have_icd && have_loader; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
echo "setup: installing the Vulkan loader and Mesa's software Vulkan driver (lavapipe)" >&2
if grep -q bookworm /etc/os-release 2>/dev/null; then
    echo 'deb http://deb.debian.org/debian bookworm-backports main' | $SUDO tee /etc/apt/sources.list.d/backports.list >/dev/null
    $SUDO apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -t bookworm-backports mesa-vulkan-drivers libvulkan1
else
    $SUDO apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mesa-vulkan-drivers libvulkan1
fi
