"""[[clusters]]: several clusters in one config, each a full view of the top level with its own parts."""

from __future__ import annotations

from pathlib import Path

import pytest

from attribution.config import DEFAULT_CLUSTER, Settings, load_settings
from attribution.errors import ConfigError

TOP = """
database_url = "sqlite:///x.db"
inventory = { "H100-SXM" = 4 }

[[gpu_prices]]
gpu_type = "H100-SXM"
usd_per_gpu_hour = "2.99"
effective_from = 2026-01-01T00:00:00Z

[[pools]]
name = "small"
model = "mistral-small-24b"
served_model_name = "mistralai/Mistral-Small-24B-Instruct-2501"
tensor_parallel_size = 2
gpu_selector = { pod = "small-.*" }
"""

TWO = (
    TOP
    + """
[[clusters]]
name = "east"
prometheus_url = "http://east:9090"

[[clusters]]
name = "west"
inventory = { "H100-SXM" = 8 }
policies = { idle = "separate" }
[[clusters.sources]]
name = "vm"
url = "http://west:8428"
"""
)


def _load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Settings:
    path = tmp_path / "attribution.toml"
    path.write_text(text)
    monkeypatch.setenv("ATTRIBUTION_CONFIG", str(path))
    return load_settings()


def test_a_single_cluster_config_is_one_cluster_named_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _load(tmp_path, monkeypatch, TOP)
    assert settings.cluster_names() == [DEFAULT_CLUSTER]
    assert settings.for_cluster(DEFAULT_CLUSTER) is settings


def test_each_cluster_takes_its_own_parts_and_the_rest_from_the_top_level(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _load(tmp_path, monkeypatch, TWO)
    east, west = settings.each_cluster()
    assert (east.cluster, west.cluster) == ("east", "west")
    assert [s.url for s in east.effective_sources()] == ["http://east:9090"]
    assert [(s.name, s.url) for s in west.effective_sources()] == [("vm", "http://west:8428")]
    assert (east.inventory, west.inventory) == ({"H100-SXM": 4}, {"H100-SXM": 8})
    assert (east.policies.idle.value, west.policies.idle.value) == ("share", "separate")
    assert east.pools == west.pools == settings.pools
    assert east.clusters == west.clusters == []
    with pytest.raises(ConfigError, match="no cluster named 'north'"):
        settings.for_cluster("north")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("East", "cluster name 'East' is not canonical"),
        ("east_1", "cluster name 'east_1' is not canonical"),
        ("-east", "is not canonical"),
    ],
)
def test_a_cluster_name_has_one_canonical_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        _load(tmp_path, monkeypatch, TWO.replace('"east"', f'"{name}"'))
    assert "\n" not in str(info.value)


def test_a_cluster_is_checked_as_a_whole_and_named_in_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = TWO.replace('inventory = { "H100-SXM" = 8 }', 'inventory = { "H200-SXM" = 8 }')
    with pytest.raises(ConfigError, match=r"clusters\[west\]\.inventory: GPU type 'H200-SXM' has no entry"):
        _load(tmp_path, monkeypatch, bad)
    with pytest.raises(ConfigError, match="clusters: names must be unique"):
        _load(tmp_path, monkeypatch, TWO.replace('"west"', '"east"'))
