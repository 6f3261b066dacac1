"""Per-key limits and run-time config over real HTTP, with concurrent clients."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.integration.simproc import configure, ledger, start_simulator

KEY = "sk-limits-secret"


async def burst(url: str, count: int, key: str = KEY) -> list[httpx.Response]:
    """``count`` reload calls for distinct models, all in flight at once."""
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(base_url=url, timeout=10.0, limits=limits) as client:
        return list(
            await asyncio.gather(
                *(
                    client.post("/model_reload", json={"key": key, "model_id": f"m{i}"})
                    for i in range(count)
                )
            )
        )


def test_calls_over_the_queue_limit_get_429_with_retry_after() -> None:
    with start_simulator("--key", KEY, "--queue-limit", "3", "--latency", "0.5") as url:
        responses = asyncio.run(burst(url, 8))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] * 3 + [429] * 5
        refused = next(r for r in responses if r.status_code == 429)
        assert refused.json() == {
            "status": "error",
            "message": "Rate limit exceeded. Maximum 3 queued requests allowed.",
            "retry_after": 30,
        }
        seen = ledger(url)
        assert seen["rate_limited"] == 5
        assert seen["answers"] == {"success_started": 3, "rate_limited": 5}
        assert list(seen["peak_concurrency_per_key"].values()) == [3]
        assert list(seen["max_calls_in_any_second_per_key"].values()) == [8]


def test_loading_models_fill_the_queue_when_they_count() -> None:
    args = ("--key", KEY, "--queue-limit", "2", "--loading-counts", "--reload-seconds", "30")
    with start_simulator(*args) as url:
        with httpx.Client(base_url=url, timeout=5.0) as client:
            for model in ("a", "b"):
                reply = client.post("/model_reload", json={"key": KEY, "model_id": model})
                assert reply.json()["status"] == "success"
            third = client.post("/model_reload", json={"key": KEY, "model_id": "c"})
            assert third.status_code == 429
        assert list(ledger(url)["peak_queued_per_key"].values()) == [2]


def test_time_scale_shortens_reloads_and_retry_after() -> None:
    args = ("--key", KEY, "--reload-seconds", "120", "--time-scale", "200", "--queue-limit", "1")
    with (
        start_simulator(*args, "--loading-counts") as url,
        httpx.Client(base_url=url, timeout=5.0) as client,
    ):
        client.post("/model_reload", json={"key": KEY, "model_id": "a"})
        refused = client.post("/model_reload", json={"key": KEY, "model_id": "a"})
        assert refused.status_code == 429
        assert refused.json()["retry_after"] == 0.15
        state = client.get("/_sim/models/a").json()
        assert state["state"] == "loading"
        assert 0 < state["eta"] <= 0.6


def test_config_changes_take_effect_down_then_up() -> None:
    with start_simulator("--key", KEY) as url:
        body = {"key": KEY, "model_id": "m"}
        with httpx.Client(base_url=url, timeout=5.0) as client:
            assert configure(url, faults={"503": 1.0})["faults"] == {"503": 1.0}
            assert client.post("/model_reload", json=body).status_code == 503
            configure(url, faults={})
            assert client.post("/model_reload", json=body).json()["status"] == "success"
            configure(url, rps_limit=1)
            assert client.post("/model_reload", json=body).status_code == 200
            limited = client.post("/model_reload", json=body)
            assert limited.status_code == 429
            assert "per second" in limited.json()["message"]
        assert ledger(url)["answers"]["rate_limited_rps"] == 1


def test_latency_delays_answers_and_is_changeable() -> None:
    with start_simulator("--key", KEY, "--latency", "0.4") as url:
        slow = httpx.post(f"{url}/model_reload", json={"key": KEY, "model_id": "m"}, timeout=5)
        assert slow.elapsed.total_seconds() >= 0.4
        configure(url, latency=0)
        fast = httpx.post(f"{url}/model_reload", json={"key": KEY, "model_id": "m"}, timeout=5)
        assert fast.elapsed.total_seconds() < 0.3


def test_a_client_that_gives_up_frees_its_queue_slot() -> None:
    with start_simulator("--key", KEY, "--queue-limit", "1", "--latency", "30") as url:
        body = {"key": KEY, "model_id": "m"}
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/model_reload", json=body, timeout=0.3)
        configure(url, latency=0)
        # the abandoned call stops holding the only slot as soon as its connection closes
        deadline = time.monotonic() + 2.0
        status = 429
        while status == 429 and time.monotonic() < deadline:
            status = httpx.post(f"{url}/model_reload", json=body, timeout=5).status_code
            if status == 429:
                time.sleep(0.02)
        assert status == 200
        assert ledger(url)["answers"].get("success_started") == 1
