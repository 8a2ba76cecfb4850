"""The committed configuration reference is the generated one, and every setting in it has a meaning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from attribution.config import Settings
from attribution.config.docs import MEANINGS, field_docstrings, generate, models

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "configuration-reference.md"


def test_the_committed_reference_is_the_generated_one() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == generate(), (
        "docs/configuration-reference.md is stale: run `make config-docs` (attribution config docs --out "
        "docs/configuration-reference.md)"
    )


def test_the_cli_prints_the_same_reference() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "attribution.cli", "config", "docs"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == generate()


def test_every_setting_has_a_meaning_and_every_meaning_a_setting() -> None:
    undocumented, known = [], set()
    for model in models():
        docs = field_docstrings(model)
        for name, field in model.model_fields.items():
            key = f"{model.__name__}.{name}"
            known.add(key)
            if not (field.description or docs.get(name) or MEANINGS.get(key)):
                undocumented.append(key)
    assert undocumented == []
    assert set(MEANINGS) - known == set(), "MEANINGS names fields that no longer exist"


def test_every_top_level_setting_and_nested_key_is_in_the_reference() -> None:
    text = generate()
    for name in Settings.model_fields:
        assert f"`ATTRIBUTION_{name.upper()}`" in text
    assert "`ATTRIBUTION_SCHEDULER__METRICS_HOST`" in text
    assert "`ATTRIBUTION_COLLECTION__RETRY__ATTEMPTS`" in text
