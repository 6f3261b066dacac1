"""Behaviour: "success" becomes `Accepted`, "processing" becomes `Loading`.

Given a 2xx answer whose body status is success or processing, when the worker
reloads a model, then it gets the outcome with the upstream's message and an
`eta` hint when the body carried a usable one; unknown extra fields are ignored.
"""

from __future__ import annotations

import httpx
import pytest

from tests.unit.upstream.answers import reload_answer
from worker.upstream import Accepted, Loading


@pytest.mark.parametrize(
    ("message", "ready"),
    [
        ("Model reload started, it will take 2 minutes", False),
        ("Model already loaded", True),
        ("Model is ready", True),
        ("ok", False),
    ],
)
def test_success_is_accepted_with_the_message_and_the_ready_hint(message: str, ready: bool) -> None:
    outcome = reload_answer(httpx.Response(200, json={"status": "success", "message": message}))

    assert outcome == Accepted(message=message, eta=None, ready=ready)


@pytest.mark.parametrize("message", ["Model is reloading", "Model is loading, please wait"])
def test_processing_is_loading_with_the_message(message: str) -> None:
    outcome = reload_answer(httpx.Response(200, json={"status": "processing", "message": message}))

    assert outcome == Loading(message=message, eta=None)


@pytest.mark.parametrize(
    ("eta", "expected"),
    [
        (45, 45.0),
        (12.5, 12.5),
        ("30", 30.0),
        (" 7.5 ", 7.5),
        (0, 0.0),
        (7200, 3600.0),  # clamped like retry_after
        (None, None),
        ("soon", None),
        (-3, None),
        ("-3", None),
        (True, None),
        ([10], None),
        ({"seconds": 10}, None),
    ],
)
def test_processing_carries_a_usable_eta(eta: object, expected: float | None) -> None:
    body = {"status": "processing", "message": "Model is reloading", "eta": eta}

    outcome = reload_answer(httpx.Response(200, json=body))

    assert outcome == Loading(message="Model is reloading", eta=expected)


def test_success_may_carry_an_eta_too() -> None:
    body = {"status": "success", "message": "Model reload started", "eta": "120"}

    assert reload_answer(httpx.Response(200, json=body)) == Accepted("Model reload started", 120.0)


def test_unknown_extra_fields_are_ignored() -> None:
    body = {
        "status": "processing",
        "message": "Model is reloading",
        "eta": 90,
        "output": "",
        "id": 123456,
        "meta": {"model_id": "my-model"},
        "tip": "Get 20x faster image generation",
        "retry_after": 10,  # a hint that only matters on errors
    }

    assert reload_answer(httpx.Response(200, json=body)) == Loading("Model is reloading", 90.0)


@pytest.mark.parametrize("status", ["SUCCESS", "Success", " success "])
def test_status_is_matched_case_and_space_insensitively(status: str) -> None:
    outcome = reload_answer(httpx.Response(200, json={"status": status, "message": "Started"}))

    assert outcome == Accepted("Started", None)


@pytest.mark.parametrize("http_status", [200, 201, 202])
def test_any_2xx_status_reads_the_body(http_status: int) -> None:
    outcome = reload_answer(httpx.Response(http_status, json={"status": "processing"}))

    assert outcome == Loading(message="", eta=None)


@pytest.mark.parametrize(
    ("fields", "expected_message"),
    [
        ({}, ""),
        ({"message": None}, ""),
        ({"messege": "Model reload started"}, "Model reload started"),
        ({"message": ["Model", "reload started"]}, "Model, reload started"),
        ({"message": "  Model\nreload\tstarted  "}, "Model reload started"),
    ],
)
def test_success_message_is_read_from_message_or_messege(
    fields: dict[str, object], expected_message: str
) -> None:
    outcome = reload_answer(httpx.Response(200, json={"status": "success", **fields}))

    assert outcome == Accepted(message=expected_message, eta=None)


def test_success_with_a_non_json_content_type_is_still_read() -> None:
    response = httpx.Response(
        200,
        content=b'{"status": "success", "message": "Model already loaded"}',
        headers={"content-type": "text/html; charset=UTF-8"},
    )

    assert reload_answer(response) == Accepted("Model already loaded", None, ready=True)


def test_outcomes_are_frozen_values() -> None:
    outcome = reload_answer(httpx.Response(200, json={"status": "success", "message": "ok"}))

    with pytest.raises(AttributeError):
        outcome.message = "changed"  # type: ignore[misc]
    assert outcome == Accepted("ok", None)
    assert hash(outcome) == hash(Accepted("ok", None))
