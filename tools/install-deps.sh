#!/usr/bin/env bash
# Install the Debian packages in third_party/debian-packages.txt that are missing, and any package
# named on the command line (tools/test.sh --clang: clang-16). Idempotent: with everything present
# it only checks and returns. Needs root, or sudo.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
list="$root/third_party/debian-packages.txt"

mapfile -t wanted < <(sed 's/#.*//' "$list" | awk 'NF {print $1}')
wanted+=("$@")
missing=()
for pkg in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [[ $status == installed ]] || missing+=("$pkg")
done
((${#missing[@]} == 0)) && exit 0

echo "simlab: installing ${#missing[@]} missing Debian package(s): ${missing[*]}" >&2
sudo=()
if ((EUID != 0)); then
  command -v sudo >/dev/null || { echo "simlab: run as root or install sudo" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "simlab: packages installed" >&2
