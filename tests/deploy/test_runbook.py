"""The runbook's commands exist: every ``attribution ...`` line in docs/operations.md names a real
command, and every ``--option`` it uses is one of that command's options (its ``--help`` lists it)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attribution.cli import app

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "docs" / "operations.md", ROOT / "docs" / "scale-out.md", ROOT / "docs" / "architecture.md"]


def command_lines() -> list[str]:
    lines, language = [], None  # None: outside a fenced block
    for doc in DOCS:
        for line in doc.read_text(encoding="utf-8").splitlines():
            if line.startswith("```"):
                language = line[3:].strip() if language is None else None
            elif language == "sh":
                code = line.split(" #", 1)[0].strip()
                if code.startswith("attribution "):
                    lines.append(code)
    return lines


def help_text(words: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": "200"})
    return result.exit_code, result.output


@pytest.mark.parametrize("line", command_lines())
def test_a_runbook_command_exists_with_its_options(line: str) -> None:
    words = [w for w in shlex.split(line.replace("<", "").replace(">", ""))[1:] if w != "|"]
    path: list[str] = []
    for word in words:  # the longest prefix of plain words that is a command
        if word.startswith("-"):
            break
        code, _ = help_text([*path, word])
        if code != 0 or "Usage:" not in _:
            break
        path.append(word)
    code, text = help_text(path)
    assert path and code == 0, line
    assert "Commands" not in text or path[-1] in ("collect",), f"{line}: {' '.join(path)} is a group"
    for option in re.findall(r"(?<!\S)(--[a-z][a-z-]*)", line):
        assert option in text, f"{line}: {' '.join(path)} has no {option}"


def test_the_runbook_has_commands_for_every_procedure() -> None:
    text = " ".join(command_lines())
    for needed in ("collect --start", "attribute --start", "period close", "keys create", "keys revoke"):
        assert needed in text
    assert len(command_lines()) >= 15
