#!/usr/bin/env bash
# Installs what vktrain needs to build and test on Debian/Ubuntu (only what is missing).
set -euo pipefail
pkgs=(cmake make gcc pkg-config libvulkan-dev libvulkan-volk-dev glslang-tools spirv-tools libstb-dev
      libcjson-dev zlib1g-dev libwebp-dev libutf8proc-dev nettle-dev mesa-vulkan-drivers
      vulkan-validationlayers vulkan-tools)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
