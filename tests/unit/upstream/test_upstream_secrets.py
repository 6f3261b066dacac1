"""Behaviour: the API key never leaves the request body.

Given an upstream that echoes the key back in messages, headers, odd fields or
transport errors, when the worker reloads a model, then the key appears in no
exception's str, repr, args or reason, in no outcome, in no traceback and in no
log record: every echo is replaced by "***".
"""

from __future__ import annotations

import logging
import pickle
import traceback

import httpx
import pytest

from worker.upstream import Accepted, Loading, UpstreamClient, UpstreamError

KEY = "sk-live-5ecret-0123456789abcdef"
BASE_URL = "https://upstream.test/api/v4/dreambooth"

ECHOING_ANSWERS = [
    pytest.param(
        httpx.Response(401, json={"status": "error", "message": f"Invalid API key: {KEY}"}),
        id="401",
    ),
    pytest.param(
        httpx.Response(401, json={"status": "error", "messege": {"key": [f"{KEY} is invalid"]}}),
        id="401-legacy",
    ),
    pytest.param(
        httpx.Response(400, json={"status": "error", "messege": {KEY: ["unknown field"]}}),
        id="field-name",
    ),
    pytest.param(
        httpx.Response(200, json={"status": "error", "message": f"key={KEY}"}), id="200-error"
    ),
    pytest.param(
        httpx.Response(
            429, json={"status": "error", "message": f"{KEY} over limit", "retry_after": 5}
        ),
        id="429",
    ),
    pytest.param(httpx.Response(200, json={"status": KEY, "message": "?"}), id="status"),
    pytest.param(httpx.Response(200, json={"message": KEY}), id="no-status"),
    pytest.param(httpx.Response(200, json=[KEY]), id="array"),
    pytest.param(httpx.Response(200, json=f"bad key {KEY}"), id="string-body"),
    pytest.param(
        httpx.Response(502, text=f"<html>{KEY}</html>", headers={"content-type": "text/html"}),
        id="html",
    ),
    pytest.param(
        httpx.Response(302, headers={"Location": f"https://x.test/?key={KEY}"}), id="location"
    ),
    pytest.param(
        httpx.Response(500, json={"status": "error", "message": "x" * 290 + KEY}), id="at-cut"
    ),
]

ECHOING_FAULTS = [
    pytest.param(httpx.ConnectError(f"cannot connect for {KEY}"), id="connect"),
    pytest.param(httpx.ReadError(f"reset {KEY}"), id="read"),
    pytest.param(httpx.RemoteProtocolError(f"bad {KEY}"), id="protocol"),
    pytest.param(httpx.DecodingError(f"undecodable {KEY}"), id="decoding"),
    pytest.param(httpx.ReadTimeout(f"timeout {KEY}"), id="timeout"),
]


def make_client(handler: object) -> UpstreamClient:
    transport = httpx.MockTransport(handler)  # type: ignore[arg-type]
    return UpstreamClient(BASE_URL, KEY, http=httpx.Client(transport=transport))


def assert_no_key(error: UpstreamError) -> None:
    assert KEY not in str(error)
    assert KEY not in repr(error)
    assert KEY not in error.reason
    assert all(KEY not in str(arg) for arg in error.args)
    assert KEY not in pickle.dumps(error).decode("latin-1")


def assert_no_key_logged(caplog: pytest.LogCaptureFixture) -> None:
    assert caplog.records, "the client logs each call at DEBUG"
    for record in caplog.records:
        assert KEY not in record.getMessage()
    assert KEY not in caplog.text


@pytest.mark.parametrize("response", ECHOING_ANSWERS)
def test_an_echoed_key_is_redacted_from_errors_and_logs(
    response: httpx.Response, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    with make_client(lambda request: response) as client, pytest.raises(UpstreamError) as caught:
        client.reload("my-model")

    assert_no_key(caught.value)
    assert KEY not in "".join(traceback.format_exception(caught.value))
    assert_no_key_logged(caplog)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(401, json={"status": "error", "message": f"Invalid API key: {KEY}"}),
        httpx.Response(200, json={"status": "failed", "message": f"nope {KEY}"}),
        httpx.Response(302, headers={"Location": f"https://x.test/?key={KEY}"}),
    ],
)
def test_the_redaction_marker_shows_where_the_key_was(response: httpx.Response) -> None:
    with make_client(lambda request: response) as client, pytest.raises(UpstreamError) as caught:
        client.reload("my-model")

    assert "***" in caught.value.reason


@pytest.mark.parametrize("fault", ECHOING_FAULTS)
def test_transport_error_texts_are_redacted(
    fault: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    def handler(request: httpx.Request) -> httpx.Response:
        raise fault

    with make_client(handler) as client, pytest.raises(UpstreamError) as caught:
        client.reload("my-model")

    assert_no_key(caught.value)
    assert_no_key_logged(caplog)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"status": "success", "message": f"Started for {KEY}"}, Accepted("Started for ***", None)),
        ({"status": "processing", "messege": f"{KEY} loading"}, Loading("*** loading", None)),
    ],
)
def test_outcome_messages_are_redacted_too(
    body: dict[str, object], expected: Accepted | Loading, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    with make_client(lambda request: httpx.Response(200, json=body)) as client:
        outcome = client.reload("my-model")

    assert outcome == expected
    assert_no_key_logged(caplog)


def test_the_client_repr_does_not_show_the_key() -> None:
    with make_client(lambda request: httpx.Response(200, json={"status": "success"})) as client:
        shown = [repr(client), str(client)]

    assert all(KEY not in text for text in shown)
    assert "https://upstream.test/api/v4/dreambooth/model_reload" in repr(client)


def test_the_key_still_reaches_the_upstream() -> None:
    # Redaction is for what we show, never for what we send.
    sent: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        return httpx.Response(200, json={"status": "success"})

    with make_client(handler) as client:
        client.reload("my-model")

    assert KEY.encode() in sent[0]
