#!/usr/bin/env bash
# Installs the Debian packages meshcc's demo and tests need: the compilers it wraps and
# compares against, and the tools the lab builds hosts and links with.
set -euo pipefail

packages=(
  gcc g++ clang make    # the compilers meshcc wraps, and a build tool for the demo project
  iproute2 iputils-ping # the lab: network namespaces, veth, bridges; reachability checks
  vde2                  # the lab's user-space links with delay and loss (no netem here)
  util-linux procps     # nsenter, unshare, pgrep
  tcpdump               # the private-mesh test captures a lab host's traffic
  ninja-build cmake ccache # the integration tests build through them
  chromium              # the web monitor's test renders the page headless
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "meshcc needs these Debian packages: ${missing[*]}; run this script as root or install them." >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
