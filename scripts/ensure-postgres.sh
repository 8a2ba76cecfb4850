#!/usr/bin/env bash
# Makes sure the tests have a PostgreSQL: the server named by ATTRIBUTION_TEST_DATABASE_URL when set
# (started here if it is the machine's own cluster and is down), otherwise the server binaries from which
# the tests start a throwaway cluster (installed from Debian's postgresql package when missing).
set -euo pipefail
have_binaries() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }
if [ -n "${ATTRIBUTION_TEST_DATABASE_URL:-}" ]; then
  if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -d "$ATTRIBUTION_TEST_DATABASE_URL" -q; then
    if command -v pg_ctlcluster >/dev/null 2>&1; then
      for version in $(ls /etc/postgresql 2>/dev/null); do
        pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
      done
    fi
    for _ in $(seq 1 30); do pg_isready -d "$ATTRIBUTION_TEST_DATABASE_URL" -q && break; sleep 1; done
  fi
  exit 0
fi
if have_binaries; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's postgresql package (the tests start a throwaway cluster from it) ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  exit 0
fi
echo "PostgreSQL is missing: set ATTRIBUTION_TEST_DATABASE_URL to a server, or install postgresql" >&2
exit 1
