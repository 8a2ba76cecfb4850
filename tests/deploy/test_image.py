"""The container image, built from the unmodified Dockerfile and smoke-tested by scripts/image-smoke.sh:
--help, --version, db upgrade (SQLite, a fresh Postgres), serve answering /healthz, and both ``serve``
and ``sim serve`` exiting within a second of SIGTERM as the container's PID 1.

This machine has no Docker daemon and no registry: the script builds with Debian's podman on a local
bookworm base image (debootstrap, cached under /var/cache/attribution-image), installing podman, runc
and debootstrap with apt-get when they are missing, which needs root (CI runs as root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.services import missing_service

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_image_builds_and_passes_its_smoke_test() -> None:
    if os.geteuid() != 0 and shutil.which("podman") is None:
        missing_service(
            "podman", "needs root (to install podman) or podman installed: run scripts/image-smoke.sh as root"
        )
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "image-smoke.sh")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    passed = [line for line in done.stdout.splitlines() if line.startswith("image-smoke: passed:")]
    assert len(passed) == 1, done.stdout
    assert "attribution-smoke-serve=" in passed[0] and "attribution-smoke-sim=" in passed[0]
