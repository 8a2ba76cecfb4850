"""The simulator's shipped data files (``pools.toml``, ``gpus.toml``): what they hold, and that a mistake in
one fails with one line naming the file and the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from attribution.errors import ConfigError
from attribution.sim import SCENARIOS, pool_preset, scenario
from attribution.sim.datafile import parse, read
from attribution.sim.hardware import MIG_PROFILES, POWER_WATTS, parse_gpu_facts
from attribution.sim.pool_presets import parse_pool_presets, pool_presets


def test_every_preset_builds_and_every_scenario_pool_comes_from_one() -> None:
    names = set(pool_presets())
    assert {"mistral-small-24b", "llama-405b", "llama-70b", "llama-8b", "qwen-72b", "deepseek-v3"} <= names
    for name in names:
        assert pool_preset(name).name == name
    assert pool_preset("llama-8b", "other", gpus=2).gpus == 2
    for name in SCENARIOS:
        if name != "fleet":
            assert scenario(name).pools


def test_gpu_facts_hold_the_mig_geometry_and_power() -> None:
    assert MIG_PROFILES[("A100-SXM-80GB", "3g.40gb")] == (4, 8)
    assert MIG_PROFILES[("H100-SXM", "1g.10gb")] == (1, 8)
    assert POWER_WATTS["H100-SXM"] == (70.0, 700.0)


def _edited(file: str, edit: Any) -> dict[str, Any]:
    data = copy.deepcopy(read(file))
    edit(data)
    return data


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["pools"]["llama-8b"].update(gpus="4"), "pools.llama-8b.gpus: expected an integer"),
        (lambda d: d["pools"]["llama-8b"].update(gpu=4), "pools.llama-8b.gpu: unknown field"),
        (lambda d: d["pools"]["llama-8b"].pop("gpu_key"), "pools.llama-8b.gpu_key: missing"),
        (lambda d: d["pools"]["llama-8b"].update(engine="tgi"), "pools.llama-8b.engine: expected one of"),
        (lambda d: d["pools"]["llama-8b"].update(model_key="llama-9b"), "pools.llama-8b: unknown model"),
    ],
)
def test_a_broken_pool_preset_names_the_file_and_field(edit: Any, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_pool_presets(_edited("pools.toml", edit))
    text = str(raised.value)
    assert text.startswith("attribution/sim/pools.toml: ") and message in text and "\n" not in text


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["gpus"]["H100-SXM"]["mig_profiles"].update({"1g.10gb": [1, "8"]}),
            "gpus.H100-SXM.mig_profiles.1g.10gb[1]: expected an integer",
        ),
        (lambda d: d["default"].pop("power_watts"), "default.power_watts: expected a list of two values"),
        (lambda d: d["gpus"]["B200"].update(watts=1), "gpus.B200.watts: unknown field"),
    ],
)
def test_a_broken_gpu_fact_names_the_file_and_field(edit: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^attribution/sim/gpus\.toml: ") as raised:
        parse_gpu_facts(_edited("gpus.toml", edit))
    assert message in str(raised.value)


def test_a_toml_syntax_error_and_an_unknown_preset_name_the_file() -> None:
    with pytest.raises(ConfigError, match=r"^attribution/sim/pools\.toml: "):
        parse("x = [", "pools.toml")
    with pytest.raises(ConfigError, match=r"unknown pool preset 'llama-9b' \(attribution/sim/pools\.toml\)"):
        pool_preset("llama-9b")
