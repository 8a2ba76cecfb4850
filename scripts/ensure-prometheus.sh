#!/usr/bin/env bash
# Makes sure prometheus and promtool (2.24 or newer) are on this machine, and VictoriaMetrics for the
# collector tests that run against both backends: installs Debian's packages when we are root with apt,
# and otherwise says exactly what to install. Without victoria-metrics those tests skip, saying why.
set -euo pipefail
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/bin/$1" ]; }
install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq; APT_UPDATED=1; fi
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
can_install() { [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; }

if ! have promtool || ! have prometheus; then
  if can_install; then
    echo "installing Debian's prometheus package (prometheus + promtool) ..."
    install prometheus
    # the package may start a system service on :9090; we start our own on a free port
    if command -v service >/dev/null 2>&1; then service prometheus stop >/dev/null 2>&1 || true; fi
  else
    cat >&2 <<'MSG'
Prometheus is missing. Install it, then run this again:
  Debian/Ubuntu:  sudo apt-get install prometheus     (provides prometheus and promtool)
  elsewhere:      put the prometheus and promtool binaries (2.24 or newer) from
                  https://prometheus.io/download/ on PATH
MSG
    exit 1
  fi
fi

if ! have victoria-metrics; then
  if can_install; then
    echo "installing Debian's victoria-metrics package (the collectors are tested against it too) ..."
    install victoria-metrics
    if command -v service >/dev/null 2>&1; then service victoria-metrics stop >/dev/null 2>&1 || true; fi
  else
    echo "note: victoria-metrics is not installed (Debian: apt-get install victoria-metrics);" \
      "the VictoriaMetrics collector tests will be skipped" >&2
  fi
fi
