#!/usr/bin/env bash
# Installs the Debian packages named as arguments whose program is missing (needs root or sudo).
# Each argument is a program that its Debian package of the same name provides, or
# PROGRAM:PACKAGE when the names differ (turnserver:coturn); a program that is already on PATH
# (npm bundled with a nodejs from elsewhere, say) is left alone.
set -euo pipefail
missing=()
for arg in "$@"; do
  program="${arg%%:*}"
  pkg="${arg#*:}"
  command -v "$program" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing system packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "error: run as root or install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
