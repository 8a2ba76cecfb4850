"""Reading the deploy/ files for the tests: YAML documents, environment variables, setting paths."""

from __future__ import annotations

import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel

from attribution.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
PREFIX = "ATTRIBUTION_"
#: Read by attribution.config.config_path (which file), not a field of the settings model.
FILE_VARIABLE = "ATTRIBUTION_CONFIG"


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def k8s_objects() -> list[dict[str, Any]]:
    return [doc for path in sorted(K8S.glob("*.yaml")) for doc in documents(path) if "metadata" in doc]


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec", {})
    pod = spec.get("template", {}).get("spec", {}) if "template" in spec else spec
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def k8s_env() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(object name, variable, its env entry) for every container of every workload."""
    for obj in k8s_objects():
        for container in containers(obj):
            for entry in container.get("env", []):
                yield obj["metadata"]["name"], entry["name"], entry


def compose_env() -> Iterator[tuple[str, str, str]]:
    for name, service in documents(COMPOSE)[0]["services"].items():
        env = service.get("environment", {})
        items = env.items() if isinstance(env, dict) else (e.split("=", 1) for e in env)
        for key, value in items:
            yield name, key, str(value)


def dockerfile_env() -> Iterator[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    for line in text.splitlines():
        if line.startswith("ENV "):
            yield from re.findall(r"(\w+)=(\S+)", line)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        found = [m for a in get_args(annotation) if (m := _model_of(a)) is not None]
        return found[0] if found else None
    return None


def setting_path(variable: str) -> list[str] | None:
    """The settings path an ``ATTRIBUTION_*`` variable sets (``__`` between levels), or None if none."""
    if not variable.startswith(PREFIX):
        return None
    model: type[BaseModel] | None = Settings
    path = variable.removeprefix(PREFIX).lower().split("__")
    for part in path:
        if model is None or part not in model.model_fields:
            return None
        model = _model_of(model.model_fields[part].annotation)
    return path
