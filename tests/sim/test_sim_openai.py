"""The simulator's OpenAI-compatible endpoint: usage fixed by the request, streaming with a usage chunk,
clear 400s, and the same answers on a live engine's port (real clients are driven against it in
tests/collectors/test_real_clients.py)."""

from __future__ import annotations

import json

import requests

from attribution.localprom import free_port
from attribution.sim import scenario
from attribution.sim.live import LiveCluster
from attribution.sim.openai_api import OpenAIServer
from tests.sim.prom import free_port_run


def chat(url: str, **body: object) -> requests.Response:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "how many words here"}]
    return requests.post(f"{url}/chat/completions", json={"messages": messages, **body}, timeout=10)


def test_usage_is_the_words_sent_and_the_tokens_asked() -> None:
    with OpenAIServer(free_port(), ["m"]) as server:
        answer = chat(server.url, model="m", max_tokens=7).json()
        assert answer["usage"] == {"prompt_tokens": 6, "completion_tokens": 7, "total_tokens": 13}
        assert answer["choices"][0]["message"]["content"] == " ".join(["tok"] * 7)
        assert chat(server.url, model="m").json()["usage"]["completion_tokens"] == 16  # the default
        assert requests.get(f"{server.url}/models", timeout=10).json()["data"][0]["id"] == "m"
        bad = chat(server.url, model="m", max_tokens=-1)
        assert bad.status_code == 400 and "max_tokens" in bad.json()["error"]["message"]


def test_streaming_ends_with_the_usage_chunk_when_asked() -> None:
    with OpenAIServer(free_port(), ["m"]) as server:
        text = chat(server.url, model="m", max_tokens=3, stream=True,
                    stream_options={"include_usage": True}).text  # fmt: skip
    events = [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert (
        "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "tok tok tok"
    )
    assert chunks[-1]["usage"] == {"prompt_tokens": 6, "completion_tokens": 3, "total_tokens": 9}


def test_a_live_engine_answers_chat_completions_for_its_model() -> None:
    spec = scenario("restart", seed=1)
    live = LiveCluster(spec, port_base=free_port_run(8), speed=1.0, warmup_seconds=0)
    engine = live.targets[0]
    dcgm = next(t for t in live.targets if t.target.job == "dcgm-exporter")
    with live:
        answer = chat(f"http://{engine.address}/v1", max_tokens=2).json()
        assert answer["model"] == spec.pools[0].served_model_name and answer["usage"]["total_tokens"] == 8
        assert chat(f"http://{dcgm.address}/v1", max_tokens=2).status_code == 404
