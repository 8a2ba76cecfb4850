#!/usr/bin/env bash
# Makes sure wrk (the compiled HTTP load generator bench/wrk_load.py drives) is on this machine: installs
# Debian's package when we are root with apt, and otherwise says exactly what to install. A Python load
# client on the same two cores as the server measures mostly itself (docs/performance.md); wrk does not.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  echo "installing Debian's wrk package ..."
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends wrk >/dev/null
  exit 0
fi
cat >&2 <<'MSG'
wrk is missing. Install it, then run this again:
  Debian/Ubuntu:  sudo apt-get install wrk
  elsewhere:      build https://github.com/wg/wrk (make) and put the wrk binary on PATH
MSG
exit 1
