"""deploy/: the Kubernetes manifests, the compose file, the Prometheus configurations and the Dockerfile
parse; every ATTRIBUTION_* variable they set is a real setting, and with the configuration they mount the
settings load; the objects refer to each other consistently (selectors, ports, probes, Secrets)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from attribution.config import load_settings
from attribution.demo import demo_settings
from attribution.localprom import binaries
from attribution.sim.live import LiveCluster
from attribution.sim.scenarios import scenario
from tests.deploy.manifests import (
    COMPOSE,
    DEPLOY,
    FILE_VARIABLE,
    K8S,
    PREFIX,
    ROOT,
    compose_env,
    containers,
    dockerfile_env,
    documents,
    k8s_env,
    k8s_objects,
    setting_path,
)


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in k8s_objects() if o["kind"] == kind}


def test_every_yaml_file_under_deploy_parses() -> None:
    paths = sorted({*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")})
    assert len(paths) >= 12
    for path in paths:
        assert documents(path), path


def test_the_resolver_refuses_what_is_not_a_setting() -> None:
    """The check below must be able to fail: typos and unknown nested keys resolve to nothing."""
    assert setting_path("ATTRIBUTION_SCHEDULER__METRICS_HOST") == ["scheduler", "metrics_host"]
    assert setting_path("ATTRIBUTION_COLLECTION__RETRY__ATTEMPTS") == ["collection", "retry", "attempts"]
    for bad in ("ATTRIBUTION_DATABASE", "ATTRIBUTION_SCHEDULER_METRICS_HOST", "ATTRIBUTION_SCHEDULER__NOPE"):
        assert setting_path(bad) is None, bad
    assert setting_path("ATTRIBUTION_DATABASE_URL__X") is None  # a plain value has no nested keys


def test_every_attribution_variable_set_anywhere_is_a_real_setting() -> None:
    variables = [
        *((f"k8s {obj}", name) for obj, name, _ in k8s_env()),
        *((f"compose {svc}", name) for svc, name, _ in compose_env()),
        *(("Dockerfile", name) for name, _ in dockerfile_env()),
    ]
    ours = [(where, name) for where, name in variables if name.startswith(PREFIX)]
    assert len(ours) > 20
    unknown = [(w, n) for w, n in ours if n != FILE_VARIABLE and setting_path(n) is None]
    assert unknown == []


def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(PREFIX):
            monkeypatch.delenv(key)


def test_each_workload_loads_its_settings_from_its_manifests(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Secret and ConfigMap values as the kubelet would mount them, then the real settings loader."""
    secrets = {
        (name, key): value for name, s in by_kind("Secret").items() for key, value in s["stringData"].items()
    }
    (config,) = by_kind("ConfigMap").values()
    config_file = tmp_path / "attribution.toml"
    config_file.write_text(config["data"]["attribution.toml"], encoding="utf-8")
    workloads = {**by_kind("Deployment"), **by_kind("Job")}
    assert set(workloads) == {"attribution-api", "attribution-scheduler", "attribution-migrate"}
    for name, workload in workloads.items():
        _clean_env(monkeypatch)
        for container in containers(workload):
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts["/etc/attribution"] == "config", name
            for entry in container["env"]:
                if "valueFrom" in entry:
                    ref = entry["valueFrom"]["secretKeyRef"]
                    value = secrets[(ref["name"], ref["key"])]
                else:
                    value = entry["value"]
                if entry["name"] == FILE_VARIABLE:
                    assert value == "/etc/attribution/attribution.toml"
                    value = str(config_file)
                monkeypatch.setenv(entry["name"], value)
            settings = load_settings()
            assert settings.database_url.startswith("postgresql://"), name
            assert settings.pools and settings.sources, name
            if name == "attribution-api":
                # the console's session secret: a file from the Secret every replica mounts
                secret_file = settings.api.session_secret_file
                assert secret_file is not None, name
                volume = mounts[str(secret_file.parent)]
                (spec,) = [v for v in workload["spec"]["template"]["spec"]["volumes"] if v["name"] == volume]
                item = {i["path"]: i["key"] for i in spec["secret"]["items"]}[secret_file.name]
                assert len(secrets[(spec["secret"]["secretName"], item)]) >= 32
            if name == "attribution-scheduler":
                assert settings.scheduler.metrics_host == "0.0.0.0"
                port = {p["name"]: p["containerPort"] for p in container["ports"]}["metrics"]
                assert settings.scheduler.metrics_port == port


def test_compose_services_load_their_settings_from_compose(monkeypatch: pytest.MonkeyPatch) -> None:
    compose = documents(COMPOSE)[0]
    ours = {n: s for n, s in compose["services"].items() if s.get("image", "").startswith("attribution:")}
    assert set(ours) == {"migrate", "simulator", "api", "scheduler"}
    for name, service in ours.items():
        _clean_env(monkeypatch)
        (mount,) = [v for v in service["volumes"] if v.endswith(":/etc/attribution/attribution.toml:ro")]
        host_file = (COMPOSE.parent / mount.split(":")[0]).resolve()
        for key, value in service["environment"].items():
            monkeypatch.setenv(key, str(host_file) if key == FILE_VARIABLE else str(value))
        settings = load_settings()
        assert settings.database_url.startswith("postgresql://attribution:"), name
        assert settings.log_format == "json"
    assert settings.scheduler.metrics_host == "0.0.0.0"


def test_the_compose_configuration_describes_the_simulated_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    monkeypatch.setenv(FILE_VARIABLE, str(DEPLOY / "compose" / "attribution.toml"))
    ours = load_settings()
    command = documents(COMPOSE)[0]["services"]["simulator"]["command"]
    options = dict(arg.removeprefix("--").split("=", 1) for arg in command if arg.startswith("--"))
    truth = demo_settings(scenario(options["scenario"]), ours.database_url, ours.prometheus_url)
    assert ours.pools == truth.pools
    assert ours.inventory == truth.inventory
    assert ours.gpu_prices == truth.gpu_prices


def test_compose_wiring() -> None:
    services = documents(COMPOSE)[0]["services"]
    assert {"postgres", "migrate", "simulator", "prometheus", "api", "scheduler", "grafana"} <= set(services)
    for name in ("api", "scheduler"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    assert services["scheduler"]["command"] == ["scheduler"]
    assert services["api"]["command"][0] == "serve"
    assert services["prometheus"]["network_mode"] == "service:simulator"
    for name, service in services.items():  # every file a service mounts exists
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), (name, source)


def test_the_compose_prometheus_scrapes_exactly_the_simulators_targets() -> None:
    command = documents(COMPOSE)[0]["services"]["simulator"]["command"]
    options = dict(arg.removeprefix("--").split("=", 1) for arg in command if arg.startswith("--"))
    live = LiveCluster(scenario(options["scenario"]), port_base=int(options["port-base"]), warmup_seconds=0)
    generated = yaml.safe_load(live.prometheus_config("15s"))["scrape_configs"]
    ours = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())["scrape_configs"]
    assert ours[: len(generated)] == generated
    assert {j["job_name"] for j in ours[len(generated) :]} == {"attribution-api", "attribution-scheduler"}


def _promtool_check(path: Path) -> None:
    _, promtool = binaries()
    out = subprocess.run(
        [promtool, "check", "config", "--syntax-only", str(path)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_prometheus_configurations_pass_promtool(tmp_path: Path) -> None:
    _promtool_check(DEPLOY / "compose" / "prometheus.yml")
    # Debian's Prometheus is built without Kubernetes service discovery: check everything else (relabel
    # rules, regexes, intervals) with each kubernetes_sd_configs block swapped for a static target.
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {"vllm", "dcgm-exporter", "litellm", "attribution"} <= set(jobs)
    assert jobs["dcgm-exporter"]["honor_labels"] is True  # keeps the pod/namespace of the GPU's user
    for job in config["scrape_configs"]:
        assert job.pop("kubernetes_sd_configs")
        job["static_configs"] = [{"targets": ["127.0.0.1:1"]}]
    swapped = tmp_path / "prometheus.yml"
    swapped.write_text(yaml.safe_dump(config))
    _promtool_check(swapped)


def test_kubernetes_objects_refer_to_each_other() -> None:
    objects = k8s_objects()
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    for obj in objects:
        assert obj["metadata"].get("namespace", "attribution") == "attribution", obj["metadata"]["name"]
    deployments, services = by_kind("Deployment"), by_kind("Service")
    assert deployments["attribution-scheduler"]["spec"]["replicas"] == 2
    for name, pdb in by_kind("PodDisruptionBudget").items():
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
    ports_by_name = {}
    for name, service in services.items():
        template = deployments[name]["spec"]["template"]
        assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items(), name
        container_ports = {p["name"] for c in containers(deployments[name]) for p in c["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in container_ports, (name, port)
            ports_by_name[port["name"]] = service["metadata"]["labels"]
    (monitor,) = by_kind("ServiceMonitor").values()
    for endpoint in monitor["spec"]["endpoints"]:
        assert monitor["spec"]["selector"]["matchLabels"].items() <= ports_by_name[endpoint["port"]].items()


def test_every_container_is_unprivileged_with_requests_and_the_api_probes_health() -> None:
    for obj in [*by_kind("Deployment").values(), *by_kind("Job").values()]:
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in containers(obj):
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), obj["metadata"]["name"]
            assert "memory" in container["resources"]["limits"]
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["image"].startswith("attribution:")
    (api,) = containers(by_kind("Deployment")["attribution-api"])
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # the database only: a Prometheus outage must not take the API out of its Service
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz?scope=database"
    assert api["args"][:1] == ["serve"]
    (job,) = containers(by_kind("Job")["attribution-migrate"])
    assert job["args"] == ["db", "upgrade"]


def test_the_dockerfile_is_multi_stage_pinned_and_unprivileged() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base.group(1))
    stages = re.findall(r"^FROM (\S+) AS (\w+)$", text, re.M)
    assert [s for _, s in stages] == ["build", "runtime"] and all(b == "${PYTHON_IMAGE}" for b, _ in stages)
    runtime = text.split("AS runtime", 1)[1]
    assert re.search(r"^USER 10001:10001$", runtime, re.M)
    assert 'ENTRYPOINT ["attribution"]' in runtime
    for needed in ("setup.py", "migrations", "attribution", "pyproject.toml", "README.md"):
        assert needed in text
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    ignore = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert ignore[0] == "*"  # deny everything, then allow what the image needs
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = set(re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M))
    assert {p for line in copied for p in line.split()} <= allowed
    for path in allowed:
        assert (ROOT / path).exists(), path
