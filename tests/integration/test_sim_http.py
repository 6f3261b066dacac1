"""The simulator over real HTTP: the reload protocol, the ledger and the control routes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.simproc import ledger, start_simulator

KEY = "sk-integration-secret"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with start_simulator("--key", KEY, "--reload-seconds", "1.5", "--unknown", "ghost") as base:
        yield base


@pytest.fixture
def client(url: str) -> Iterator[httpx.Client]:
    httpx.post(f"{url}/_sim/reset", timeout=5.0).raise_for_status()
    with httpx.Client(base_url=url, timeout=5.0) as c:
        yield c


def reload(client: httpx.Client, model_id: str, key: str = KEY) -> httpx.Response:
    return client.post("/model_reload", json={"key": key, "model_id": model_id})


def test_a_bad_key_gets_a_json_401(client: httpx.Client) -> None:
    response = reload(client, "m", key="wrong")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"status": "error", "message": "Invalid API key"}


def test_a_cold_model_is_started_then_processing_then_warm_after_the_reload_time(
    client: httpx.Client, url: str
) -> None:
    started_at = time.monotonic()
    first = reload(client, "sd-1")
    assert first.json() == {
        "status": "success",
        "message": "Model reload started, it will take 2 minutes",
    }
    second = reload(client, "sd-1").json()
    assert second["status"] == "processing"
    assert 0.0 < second["eta"] <= 1.5
    time.sleep(max(0.0, 1.5 - (time.monotonic() - started_at)) + 0.05)
    third = reload(client, "sd-1")
    assert third.json() == {"status": "success", "message": "Model already loaded"}

    seen = ledger(url)
    assert seen["calls_total"] == 3
    assert seen["calls_per_model"] == {"sd-1": 3}
    assert seen["reloads_started"] == {"sd-1": 1}
    assert seen["answers"] == {"success_started": 1, "processing": 1, "success_warm": 1}
    assert seen["max_calls_in_any_second"] == 2
    assert set(seen["warm_at"]) == {"sd-1"}
    assert seen["first_call_at"] <= seen["warm_at"]["sd-1"] <= seen["last_call_at"]


def test_the_call_is_served_under_the_dreambooth_prefix_too(client: httpx.Client) -> None:
    response = client.post(
        "/api/v4/dreambooth/model_reload", json={"key": KEY, "model_id": "prefixed"}
    )
    assert response.json()["status"] == "success"
    assert client.get("/_sim/models/prefixed").json()["state"] == "loading"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"key": "%s"}' % KEY.encode(), {"model_id": ["The model id field is required."]}),
        (b"<html>not json</html>", None),
    ],
)
def test_bad_bodies_get_a_400(client: httpx.Client, content: bytes, expected: object) -> None:
    response = client.post(
        "/model_reload", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "error"
    if expected is not None:
        assert body["messege"] == expected


def test_an_unknown_model_is_a_404(client: httpx.Client) -> None:
    response = reload(client, "ghost")
    assert response.status_code == 404
    assert response.json() == {"status": "error", "message": "Model not found: ghost"}
    assert client.get("/_sim/models/ghost").json()["exists"] is False


def test_the_raw_key_never_appears_in_the_ledger_or_config(client: httpx.Client) -> None:
    reload(client, "m")
    reload(client, "m", key=KEY + "-typo")
    ledger_text = client.get("/_sim/ledger").text
    config_text = client.get("/_sim/config").text
    assert KEY not in ledger_text
    assert KEY not in config_text
    per_key = client.get("/_sim/ledger").json()["calls_per_key"]
    assert all(label.startswith("key-") and len(label) == 12 for label in per_key)
    assert sum(per_key.values()) == 2


def test_reset_clears_the_ledger_and_the_models(client: httpx.Client) -> None:
    reload(client, "m")
    assert client.post("/_sim/reset").json() == {"status": "ok"}
    assert client.get("/_sim/ledger").json()["calls_total"] == 0
    assert client.get("/_sim/models/m").json()["state"] == "cold"


def test_config_changes_are_validated(client: httpx.Client) -> None:
    bad = client.post("/_sim/config", json={"queue_limit": "lots"})
    assert bad.status_code == 400
    assert "queue_limit" in bad.json()["message"]
    fixed = client.post("/_sim/config", json={"port": 1})
    assert fixed.status_code == 400
    assert client.post("/_sim/config", content=b"nope").status_code == 400
