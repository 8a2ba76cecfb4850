"""dcgm-exporter's real label sets, as Prometheus stores them, for a small cluster of plain, MIG and shared
GPUs: OpenMetrics history for promtool, in three Kubernetes shapes, with the money each pool must get.

Label sets are copied from real output: the MIG A30 from dcgm-exporter issue #317 (``modelName="NVIDIA
A30"``, four ``GPU_I_PROFILE="1g.6gb"`` instances ``GPU_I_ID`` 3 to 6 on UUID ``GPU-265c9814-...``,
``Hostname``), the shared A100 from PR #432 (two ``DCGM_FI_DEV_FB_USED`` lines on one
``NVIDIA A100-SXM4-80GB``, pods ``gpu-burn-...`` with ``vgpu="1"`` and ``vllm-medgemma-4b-it-...`` with
``vgpu="3"``, 15866 MiB each). The render order is the exporter's (``gpu, UUID, pci_bus_id, device,
modelName, [GPU_I_PROFILE, GPU_I_ID], Hostname``, then ``container, namespace, pod, vgpu``).

Shapes (what a scrape does to them):

* ``honor``: a kube-prometheus ServiceMonitor with ``honorLabels: true``: the exporter's ``pod``,
  ``namespace``, ``container`` stay; the target's own (the exporter pod) fill them in on idle GPUs.
* ``servicemonitor``: ``honorLabels: false`` (the chart's default): they become ``exported_pod``,
  ``exported_namespace``, ``exported_container``; ``pod`` etc. name the exporter; newer ``hostname``.
* ``old-namespace``: ``--use-old-namespace``: ``uuid``, ``pod_name``, ``pod_namespace``,
  ``container_name``; a plain Prometheus job (no Kubernetes target labels).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

SHAPES = ("honor", "servicemonitor", "old-namespace")
SCRAPE_SECONDS = 30
#: Prices chosen so that a GPU-minute is a whole number of micro-USD: $3.60/h is 60,000 per minute.
A100_H100_USD_PER_HOUR = "3.60"
A30_USD_PER_HOUR = "1.20"
GPU_MINUTE_USD_MICROS = 60_000
A30_MINUTE_USD_MICROS = 20_000
EXPORTER_TARGET = {
    "container": "nvidia-dcgm-exporter",
    "endpoint": "gpu-metrics",
    "instance": "10.0.3.17:9400",
    "job": "nvidia-dcgm-exporter",
    "namespace": "gpu-operator",
    "pod": "nvidia-dcgm-exporter-7x2kq",
    "service": "nvidia-dcgm-exporter",
}


@dataclass(frozen=True)
class Series:
    """One dcgm series: the GPU's labels, the MIG instance and the pod, and its FB_USED in MiB."""

    gpu: int
    uuid: str
    model: str
    host: str
    fb_used_mib: int
    fb_total_mib: int
    mig: tuple[str, str] | None = None
    """(GPU_I_PROFILE, GPU_I_ID)"""
    pod: tuple[str, str, str] | None = None
    """(container, namespace, pod)"""
    vgpu: str | None = None


A30_UUID = "GPU-265c9814-6156-355b-e589-ff2064894f16"
A30_HOST = "yg-data-k8s-gpu-a30-node-test-test0003.mt"
SHARED_UUID = "GPU-3bc239e1-4cc8-97e4-e817-5a36dfd2885e"
SHARED_HOST = "gke-gpu-share-test-a100-inference-mps-b3fc3d0e-3bpg"
MEDGEMMA_POD = "vllm-medgemma-4b-it-d599b4c99-f95nk"
A100 = "NVIDIA A100-SXM4-80GB"
H100 = "NVIDIA H100 80GB HBM3"
NODE = "gpu-node-1"


def cluster(with_unknown_profile: bool = False) -> list[Series]:
    """Plain H100s (one serving ``llama``, one idle), an A100 in MIG mode (``3g.40gb`` for ``small``,
    ``1g.10gb`` for ``tiny``, an idle ``1g.10gb``, two slices free), the shared A100 of PR #432 and the
    A30 of issue #317 (two of its ``1g.6gb`` instances serve ``a30``). ``with_unknown_profile`` adds an
    A100 whose instance has a profile no GPU has (``5g.99gb``) beside a ``1g.10gb`` for ``tiny``."""
    series = [
        Series(0, "GPU-7d8a1c52-0b1e-4c8f-9f3a-11aa22bb33cc", H100, NODE, 72_101, 81_559,
               pod=("vllm", "llm", "llama-0")),
        Series(1, "GPU-1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9", H100, NODE, 1, 81_559),
        Series(2, "GPU-9e8d7c6b-5a49-4837-a261-5f4e3d2c1b0a", A100, NODE, 30_112, 81_920,
               mig=("3g.40gb", "2"), pod=("vllm", "llm", "small-0")),
        Series(2, "GPU-9e8d7c6b-5a49-4837-a261-5f4e3d2c1b0a", A100, NODE, 8_003, 81_920,
               mig=("1g.10gb", "9"), pod=("vllm", "llm", "tiny-0")),
        Series(2, "GPU-9e8d7c6b-5a49-4837-a261-5f4e3d2c1b0a", A100, NODE, 0, 81_920, mig=("1g.10gb", "10")),
        Series(0, SHARED_UUID, A100, SHARED_HOST, 15_866, 81_920,
               pod=("gpu-burn-container-1", "default", "gpu-burn-deployment-1-85dc8ff699-clvh5"), vgpu="1"),
        Series(0, SHARED_UUID, A100, SHARED_HOST, 15_866, 81_920,
               pod=("vllm", "vllm-inference", MEDGEMMA_POD), vgpu="3"),
    ]  # fmt: skip
    for instance in ("3", "4", "5", "6"):
        pod = ("vllm", "llm", f"a30-{int(instance) - 3}") if instance in ("3", "4") else None
        used = 5_000 if pod else 3
        series.append(
            Series(0, A30_UUID, "NVIDIA A30", A30_HOST, used, 24_576, mig=("1g.6gb", instance), pod=pod)
        )
    if with_unknown_profile:
        uuid = "GPU-0a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9"
        series += [
            Series(3, uuid, A100, NODE, 40_000, 81_920, mig=("5g.99gb", "1"), pod=("vllm", "llm", "small-1")),
            Series(3, uuid, A100, NODE, 8_000, 81_920, mig=("1g.10gb", "9"), pod=("vllm", "llm", "tiny-1")),
        ]
    return series


def pools() -> list[dict[str, object]]:
    def pool(name: str, pod: str) -> dict[str, object]:
        return {
            "name": name,
            "model": "mistral-7b",
            "served_model_name": f"served-{name}",
            "gpu_selector": {"pod": pod},
        }

    return [
        pool("llama", "llama-[0-9]+"),
        pool("small", "small-[0-9]+"),
        pool("tiny", "tiny-[0-9]+"),
        pool("medgemma", "vllm-medgemma-.*"),
        pool("a30", "a30-[0-9]+"),
    ]


def labels(s: Series, shape: str) -> list[tuple[str, str]]:
    """The series' labels after the scrape of ``shape``, in the exporter's render order."""
    uuid_name = "uuid" if shape == "old-namespace" else "UUID"
    host_name = "hostname" if shape == "servicemonitor" else "Hostname"
    out = [("gpu", str(s.gpu)), (uuid_name, s.uuid), ("pci_bus_id", f"00000000:{0x18 + s.gpu:02X}:00.0"),
           ("device", f"nvidia{s.gpu}"), ("modelName", s.model)]  # fmt: skip
    if s.mig is not None:
        out += [("GPU_I_PROFILE", s.mig[0]), ("GPU_I_ID", s.mig[1])]
    out.append((host_name, s.host))
    pod_names = {
        "honor": ("container", "namespace", "pod"),
        "servicemonitor": ("exported_container", "exported_namespace", "exported_pod"),
        "old-namespace": ("container_name", "pod_namespace", "pod_name"),
    }[shape]
    if s.pod is not None:
        out += list(zip(pod_names, s.pod, strict=True))
    if s.vgpu is not None:
        out.append(("vgpu", s.vgpu))
    if shape == "old-namespace":
        out += [("instance", f"{s.host}:9400"), ("job", "dcgm")]
    else:
        taken = {k for k, _ in out}
        out += [(k, v) for k, v in EXPORTER_TARGET.items() if k not in taken]
    return out


def write_history(
    path: Path,
    series: list[Series],
    shape: str,
    start: datetime,
    end: datetime,
    seed: int | None = None,
    power_watts: dict[str, float] | None = None,
) -> Path:
    """OpenMetrics with FB_USED, FB_FREE, FB_RESERVED and GPU_UTIL scraped every 30 s over
    ``[start, end + 60 s]``; ``seed`` shuffles the order of the series within each family.
    ``power_watts`` adds DCGM_FI_DEV_POWER_USAGE for those UUIDs: a device field, so without the MIG
    labels, once per distinct label set (a GPU shared by two pods has a copy with each pod's labels)."""
    order = list(series)
    if seed is not None:
        random.Random(seed).shuffle(order)
    t0, t1 = int(start.timestamp()), int(end.timestamp()) + 60
    lines: list[str] = []
    families = (
        ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", lambda s: s.fb_used_mib),
        ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).",
         lambda s: s.fb_total_mib - s.fb_used_mib - 580),
        ("DCGM_FI_DEV_FB_RESERVED", "Framebuffer memory reserved (in MiB).", lambda s: 580),
        ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", lambda s: 0 if s.mig else 37),
    )  # fmt: skip
    for name, help_text, value in families:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        for s in order:
            text = ",".join(f'{k}="{v}"' for k, v in labels(s, shape))
            lines += [f"{name}{{{text}}} {value(s)} {t}" for t in range(t0, t1 + 1, SCRAPE_SECONDS)]
    if power_watts:
        name = "DCGM_FI_DEV_POWER_USAGE"
        lines += [f"# HELP {name} Power draw (in W).", f"# TYPE {name} gauge"]
        seen: set[str] = set()
        for s in order:
            if s.uuid not in power_watts:
                continue
            mig = ("GPU_I_PROFILE", "GPU_I_ID")
            text = ",".join(f'{k}="{v}"' for k, v in labels(s, shape) if k not in mig)
            if text not in seen:
                seen.add(text)
                watts = power_watts[s.uuid]
                lines += [f"{name}{{{text}}} {watts} {t}" for t in range(t0, t1 + 1, SCRAPE_SECONDS)]
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n")
    return path
