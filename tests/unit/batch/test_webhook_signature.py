"""Behaviour: each webhook POST carries the batch id as its idempotency key and, with a
secret, a Stripe-style signature of the timestamped raw body that a receiver verifies."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
import pytest

from worker.batch.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    WebhookError,
    encode_body,
    post_json,
    sign,
    verify,
)

SECRET = "whsec-test"
T = 1_700_000_000
SUMMARY = {"batch_id": "b-1", "warm": ["m1"], "failed": {}, "total": 1}


def capture(status: int = 200) -> tuple[httpx.Client, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status)

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


def test_the_signature_is_hmac_sha256_of_the_timestamp_dot_body() -> None:
    body = b'{"a":1}'
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()

    assert sign(SECRET, body, T) == f"t={T},v1={expected}"


def test_given_a_secret_then_the_post_is_signed_over_its_raw_body_with_its_key() -> None:
    client, seen = capture()

    status = post_json(
        "https://hooks.test/x", SUMMARY, client=client, idempotency_key="b-1",
        secret=SECRET, timestamp=T,
    )  # fmt: skip

    assert status == 200
    (request,) = seen
    assert request.headers[IDEMPOTENCY_HEADER] == "b-1"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == SUMMARY
    assert verify(SECRET, request.content, request.headers[SIGNATURE_HEADER], now=T + 10)


def test_given_no_secret_then_no_signature_header() -> None:
    client, seen = capture()

    post_json("https://hooks.test/x", SUMMARY, client=client, idempotency_key="b-1")

    assert SIGNATURE_HEADER not in seen[0].headers
    assert SECRET not in repr(seen[0].headers)


@pytest.mark.parametrize(
    ("body", "header", "now"),
    [
        pytest.param(b'{"a":2}', sign(SECRET, b'{"a":1}', T), T, id="tampered-body"),
        pytest.param(b'{"a":1}', sign("other", b'{"a":1}', T), T, id="wrong-secret"),
        pytest.param(b'{"a":1}', sign(SECRET, b'{"a":1}', T), T + 301, id="too-old"),
        pytest.param(b'{"a":1}', "v1=abc", T, id="no-timestamp"),
        pytest.param(b'{"a":1}', f"t={T}", T, id="no-signature"),
    ],
)
def test_a_receiver_refuses_a_bad_signature(body: bytes, header: str, now: float) -> None:
    assert verify(SECRET, body, header, now=now) is False


def test_a_receiver_accepts_within_five_minutes() -> None:
    body = encode_body(SUMMARY)

    assert verify(SECRET, body, sign(SECRET, body, T), now=T + 299)


def test_given_a_non_2xx_answer_then_webhook_error() -> None:
    client, _ = capture(503)

    with pytest.raises(WebhookError, match="HTTP 503"):
        post_json("https://hooks.test/x", SUMMARY, client=client)
