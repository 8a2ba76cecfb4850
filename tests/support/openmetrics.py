"""An OpenMetrics exposition written by hand, and the instant the preset tests' scrapes start from."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

T0 = datetime(2026, 11, 3, tzinfo=UTC)
S0 = int(T0.timestamp())


class Exposition:
    def __init__(self) -> None:
        self.families: dict[str, tuple[str, list[str]]] = {}

    def add(self, family: str, kind: str, sample: str, labels: dict[str, str], value: Any, ts: int) -> None:
        inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
        self.families.setdefault(family, (kind, []))[1].append(f"{sample}{{{inner}}} {value} {ts}\n")

    def write(self, path: Path) -> Path:
        with path.open("w") as out:
            for family, (kind, lines) in self.families.items():
                out.write(f"# TYPE {family} {kind}\n")
                out.writelines(lines)
            out.write("# EOF\n")
        return path
