#!/usr/bin/env bash
# Makes sure a headless Chromium is on this machine for the report tests, which render the HTML statement
# and screenshot it: installs Debian's chromium package when we are root with apt, and otherwise says what
# to install. Without it those tests skip, saying why. Idempotent: does nothing when chromium is there.
set -euo pipefail
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/bin/$1" ]; }
can_install() { [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; }

if have chromium; then
  exit 0
fi
if can_install; then
  echo "installing Debian's chromium package (headless rendering of the HTML statement in the tests) ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
else
  cat >&2 <<'MSG'
note: chromium is not installed (Debian/Ubuntu: sudo apt-get install chromium); the tests that render
the HTML statement in headless Chromium will be skipped
MSG
fi
