#!/usr/bin/env bash
# Build the container image from the unmodified Dockerfile and smoke-test it, on a machine with no Docker
# daemon and no image registry (this project's CI): Debian's podman builds it on a local Debian bookworm
# base image made with debootstrap, passed as PYTHON_IMAGE. Then the image must answer --help and
# --version, migrate SQLite and a fresh Postgres database, serve /healthz, and stop within a second of
# SIGTERM (both `serve` and `sim serve`, each as the container's PID 1).
#
#   bash scripts/image-smoke.sh          # as root (CI is); installs podman, runc, debootstrap if missing
#
# The base image is cached in $ATTRIBUTION_IMAGE_CACHE (default /var/cache/attribution-image) as a tar
# file and in podman's store, so only the first run pays for debootstrap. Timings go to stdout and to
# $ATTRIBUTION_IMAGE_CACHE/timings.txt. Environment: ATTRIBUTION_TEST_DATABASE_URL (an admin URL of the
# Postgres server, default postgresql://postgres@127.0.0.1:5432/postgres).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${ATTRIBUTION_IMAGE_CACHE:-/var/cache/attribution-image}"
BASE="localhost/attribution-base:bookworm"
IMAGE="localhost/attribution:smoke"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
ADMIN_URL="${ATTRIBUTION_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
CA=/etc/ssl/certs/ca-certificates.crt
#: a Python with psycopg (the project's virtualenv, which `make test` creates) for the Postgres steps
PYTHON="${PYTHON:-$( [ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3)}"
#: seconds a container may take to exit after SIGTERM (the issue's bound: within a second)
STOP_LIMIT_S=1.0
CONTAINERS=()

say() { printf 'image-smoke: %s\n' "$*"; }
fail() { printf 'image-smoke: FAILED: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { "$PYTHON" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$(now)"; }
PG_URL=""
cleanup() {
  for name in "${CONTAINERS[@]}"; do podman rm --force --time 0 "$name" >/dev/null 2>&1 || true; done
  if [ -n "$PG_URL" ]; then drop_postgres "$PG_URL"; fi
}
trap cleanup EXIT

ensure_tools() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v runc >/dev/null || [ -x /usr/sbin/runc ] || missing+=(runc)
  command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
  if [ "${#missing[@]}" -gt 0 ]; then
    [ "$(id -u)" = 0 ] || fail "install ${missing[*]} (apt-get install ${missing[*]}) or run as root"
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# crun (podman's default here) fails on this machine's cgroups and rlimits: runc, cgroupfs and explicit
# limits work. Podman's own defaults (nofile 1048576, nproc 4194304) are above what this sandbox lets a
# container set (runc: "error setting rlimit type 7/6: operation not permitted"): nofile is this shell's
# own limit, nproc at most 32768 (65536 was refused here). The file is ours alone (CONTAINERS_CONF); the
# machine's config is untouched.
write_containers_conf() {
  mkdir -p "$CACHE"
  local nofile nproc
  nofile="$(ulimit -Sn):$(ulimit -Hn)"
  nofile=${nofile//unlimited/-1}
  nproc=$(ulimit -Su)
  if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then nproc=32768; fi
  cat >"$CACHE/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
  export CONTAINERS_CONF="$CACHE/containers.conf"
}

ensure_base() {
  if podman image exists "$BASE"; then
    say "base image $BASE: cached in podman's store"
    return
  fi
  local tarball="$CACHE/bookworm-python3.tar" started
  started=$(now)
  if [ ! -s "$tarball" ]; then
    say "base image: debootstrap bookworm (minbase + python3) from $MIRROR"
    local rootfs="$CACHE/rootfs.tmp"
    rm -rf "$rootfs"
    debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
      bookworm "$rootfs" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 || {
      tail -20 "$CACHE/debootstrap.log" >&2
      fail "debootstrap (log: $CACHE/debootstrap.log)"
    }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
  fi
  podman import --quiet "$tarball" "$BASE" >/dev/null
  say "base image ready in $(since "$started") s"
  BASE_SECONDS="$(since "$started")s"
}

build() {
  local started
  started=$(now)
  say "building $IMAGE from $ROOT/Dockerfile"
  podman build --quiet --network host --build-arg "PYTHON_IMAGE=$BASE" \
    --volume "$CA:$CA:ro" --tag "$IMAGE" "$ROOT" >"$CACHE/build.log" 2>&1 || {
    tail -30 "$CACHE/build.log" >&2
    fail "podman build (log: $CACHE/build.log)"
  }
  BUILD_SECONDS=$(since "$started")
  say "image built in $BUILD_SECONDS s"
}

free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# free_port_run N: a first port with N free ports from it (the simulator's targets listen on base + i),
# below the kernel's ephemeral range (attribution.localprom.free_port_run, which the tests use too)
free_port_run() {
  "$PYTHON" -c 'import sys; from attribution.localprom import free_port_run; print(free_port_run(int(sys.argv[1])))' "$1"
}

# A fresh Postgres database for the image to migrate; its URL on stdout.
fresh_postgres() {
  local name="attribution_image_smoke_$$"
  "$PYTHON" - "$ADMIN_URL" "$name" <<'EOF'
import sys
from urllib.parse import urlsplit, urlunsplit
import psycopg
admin, name = sys.argv[1], sys.argv[2]
with psycopg.connect(admin, autocommit=True) as conn:
    conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    conn.execute(f'CREATE DATABASE "{name}"')
parts = urlsplit(admin)
print(urlunsplit(parts._replace(path="/" + name)))
EOF
}

drop_postgres() {
  "$PYTHON" - "$ADMIN_URL" "$1" <<'EOF' || true
import sys
import psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    conn.execute(f'DROP DATABASE IF EXISTS "{sys.argv[2].rsplit("/", 1)[1]}" WITH (FORCE)')
EOF
}

# run NAME ARGS...: start a detached container on the host network (it reaches 127.0.0.1 services)
run_detached() {
  local name="$1"
  shift
  CONTAINERS+=("$name")
  podman run --detach --network host --name "$name" "$@" >/dev/null
}

# stop_within NAME: SIGTERM to the container's PID 1, sent from the host (so the clock starts at the
# signal, not at a podman client's start-up), then the time until the process exited as conmon recorded
# it (State.FinishedAt); fails past STOP_LIMIT_S.
stop_within() {
  local name="$1" pid sent finished seconds
  pid=$(podman inspect --format '{{.State.Pid}}' "$name")
  [ "$pid" -gt 0 ] || { podman logs --tail 20 "$name" >&2 || true; fail "$name is not running"; }
  sent=$(now)
  kill -TERM "$pid"
  # a process that ignores SIGTERM would be waited for forever: past 15 s it has failed anyway
  timeout 15 podman wait "$name" >/dev/null || fail "$name did not exit within 15 s of SIGTERM"
  finished=$(podman inspect --format '{{.State.FinishedAt}}' "$name")
  seconds=$("$PYTHON" -c '
import sys
from datetime import datetime
sent, finished = float(sys.argv[1]), sys.argv[2]  # "2026-12-03 15:57:35.123456789 +0000 UTC"
day, clock = finished.split()[:2]
whole, _, fraction = clock.partition(".")
at = datetime.fromisoformat(f"{day}T{whole}+00:00").timestamp() + float(f"0.{fraction or 0}")
print(f"{at - sent:.3f}")
' "$sent" "$finished")
  "$PYTHON" -c "import sys; sys.exit(float(sys.argv[1]) > float(sys.argv[2]))" "$seconds" "$STOP_LIMIT_S" ||
    fail "$name took $seconds s to exit after SIGTERM (limit $STOP_LIMIT_S s)"
  say "$name exited $seconds s after SIGTERM"
  STOP_TIMES+=("$name=${seconds}s")
}

smoke() {
  local help version
  help=$(podman run --rm "$IMAGE" --help)
  [[ "$help" == *" db "* && "$help" == *" serve "* ]] || fail "--help does not list the commands: $help"
  version=$(podman run --rm "$IMAGE" --version)
  [[ "$version" == "attribution "* ]] || fail "--version printed '$version'"
  say "--help and --version: ok ($version)"

  local out pg_url
  out=$(podman run --rm --env ATTRIBUTION_DATABASE_URL=sqlite:////tmp/attribution.db "$IMAGE" db upgrade)
  [[ "$out" == *"latest revision"* ]] || fail "db upgrade on SQLite: $out"
  pg_url=$(fresh_postgres)
  PG_URL=$pg_url # dropped on exit, passed or failed
  out=$(podman run --rm --network host --env "ATTRIBUTION_DATABASE_URL=$pg_url" "$IMAGE" db upgrade)
  [[ "$out" == *"latest revision"* ]] || fail "db upgrade on Postgres: $out"
  say "db upgrade on SQLite and on a fresh Postgres database: ok"

  local port
  port=$(free_port)
  run_detached attribution-smoke-serve --env "ATTRIBUTION_DATABASE_URL=$pg_url" "$IMAGE" \
    serve --host 127.0.0.1 --port "$port"
  local body="" i
  for i in $(seq 1 120); do
    body=$("$PYTHON" -c "import sys, urllib.request as u; print(u.urlopen(sys.argv[1], timeout=1).read().decode())" \
      "http://127.0.0.1:$port/healthz" 2>/dev/null) && break
    sleep 0.25
  done
  [ -n "$body" ] || { podman logs attribution-smoke-serve >&2 || true; fail "serve never answered /healthz"; }
  say "serve answered /healthz: $body"
  stop_within attribution-smoke-serve

  port=$(free_port_run 16)  # the demo scenario's 5 targets, with room
  run_detached attribution-smoke-sim "$IMAGE" sim serve --port-base "$port" --duration 600 --warmup-seconds 0
  for i in $(seq 1 120); do
    "$PYTHON" -c "import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=1)" \
      "http://127.0.0.1:$port/metrics" 2>/dev/null && break
    sleep 0.25
  done
  stop_within attribution-smoke-sim
}

main() {
  local started
  started=$(now)
  BASE_SECONDS=cached BUILD_SECONDS=0 STOP_TIMES=()
  ensure_tools
  write_containers_conf
  ensure_base
  build
  smoke
  local total
  total=$(since "$started")
  local line
  line="$(date -u +%FT%TZ) base=${BASE_SECONDS} build=${BUILD_SECONDS}s total=${total}s stops: ${STOP_TIMES[*]}"
  echo "$line" >>"$CACHE/timings.txt"
  say "passed: $line"
}

main "$@"
