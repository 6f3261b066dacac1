"""Every injected fault, at probability 1, as a real HTTP client experiences it."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.integration.simproc import ledger, start_simulator

KEY = "sk-fault-secret"
BODY = {"key": KEY, "model_id": "m"}


def call(url: str, timeout: float = 5.0) -> httpx.Response:
    return httpx.post(f"{url}/model_reload", json=BODY, timeout=timeout)


def assert_counted_and_untouched(url: str, kind: str) -> None:
    seen = ledger(url)
    assert seen["faults"] == {kind: 1}
    assert seen["answers"] == {f"fault_{kind}": 1}
    assert seen["reloads_started"] == {}
    assert httpx.get(f"{url}/_sim/models/m").json()["state"] == "cold"


@pytest.mark.parametrize(
    ("kind", "status", "check"),
    [
        ("500", 500, lambda r: r.json()["status"] == "error"),
        ("503", 503, lambda r: r.json()["status"] == "error"),
        (
            "html502",
            502,
            lambda r: r.headers["content-type"].startswith("text/html") and "<html>" in r.text,
        ),
        (
            "error200",
            200,
            lambda r: r.json() == {"status": "error", "message": "Something went wrong"},
        ),
        ("legacy", 500, lambda r: "messege" in r.json() and "message" not in r.json()),
        ("nonobject", 200, lambda r: not isinstance(r.json(), dict)),
        (
            "retry_after_string",
            429,
            lambda r: r.json()["retry_after"] == "30" and "retry-after" not in r.headers,
        ),
        (
            "retry_after_header",
            429,
            lambda r: r.headers["retry-after"] == "30" and "retry_after" not in r.json(),
        ),
    ],
)
def test_answered_faults(kind: str, status: int, check: object) -> None:
    with start_simulator("--key", KEY, "--fault", f"{kind}=1.0") as url:
        response = call(url)
        assert response.status_code == status
        assert callable(check) and check(response)
        assert_counted_and_untouched(url, kind)


def test_reset_aborts_the_connection_without_an_answer() -> None:
    with start_simulator("--key", KEY, "--fault", "reset=1.0") as url:
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            call(url)
        assert_counted_and_untouched(url, "reset")


def test_timeout_holds_the_request_without_blocking_other_requests() -> None:
    with start_simulator("--key", KEY, "--fault", "timeout=1.0") as url:
        with pytest.raises(httpx.ReadTimeout):
            call(url, timeout=0.3)
        # the held request did not block the event loop: control routes answer at once
        began = time.monotonic()
        assert_counted_and_untouched(url, "timeout")
        assert time.monotonic() - began < 1.0


def test_timeout_answers_504_after_the_hold() -> None:
    with start_simulator("--key", KEY, "--fault", "timeout=1.0", "--timeout-hold", "0.3") as url:
        began = time.monotonic()
        response = call(url)
        assert response.status_code == 504
        assert time.monotonic() - began >= 0.3
        assert_counted_and_untouched(url, "timeout")


def test_fault_probabilities_mix_with_normal_answers() -> None:
    with start_simulator("--key", KEY, "--fault", "503=0.5", "--seed", "3") as url:
        statuses = [call(url).status_code for _ in range(60)]
        seen = ledger(url)
        assert statuses.count(503) == seen["faults"]["503"]
        assert 10 < statuses.count(503) < 50
        assert statuses.count(200) == 60 - statuses.count(503)
