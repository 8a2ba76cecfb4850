#!/usr/bin/env bash
# Makes sure prometheus and promtool (2.24 or newer) are on this machine: installs Debian's package
# when we are root with apt, and otherwise says exactly what to install.
set -euo pipefail
if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
  exit 0
fi
if [ -x /usr/bin/promtool ] && [ -x /usr/bin/prometheus ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's prometheus package (prometheus + promtool) ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  # the package may start a system service on :9090; we start our own on a free port
  if command -v service >/dev/null 2>&1; then service prometheus stop >/dev/null 2>&1 || true; fi
  exit 0
fi
cat >&2 <<'MSG'
Prometheus is missing. Install it, then run this again:
  Debian/Ubuntu:  sudo apt-get install prometheus     (provides prometheus and promtool)
  elsewhere:      put the prometheus and promtool binaries (2.24 or newer) from
                  https://prometheus.io/download/ on PATH
MSG
exit 1
