"""Behaviour: error answers are classified by HTTP status, and by message hints where
the status says nothing (HTTP 200 with `"status": "error"`, a 5xx).

Given an error answer, when the worker reloads a model, then it gets the exception
class for that status or hint, with the upstream's message in an operator-readable
`reason` and the HTTP status kept.
"""

from __future__ import annotations

import httpx
import pytest

from tests.unit.upstream.answers import raised_by
from worker.upstream import (
    BadRequest,
    Forbidden,
    InvalidKey,
    ModelNotFound,
    NoCredits,
    PermanentError,
    RateLimited,
    ServerError,
    TransientError,
    UpstreamError,
    UpstreamTimeout,
)

# The table of docs/upstream.md: HTTP status, example message, class.
DOCUMENTED = [
    pytest.param(400, "model_id is required", BadRequest, id="400"),
    pytest.param(401, "Invalid API key", InvalidKey, id="401-invalid"),
    pytest.param(401, "API key required", InvalidKey, id="401-missing"),
    pytest.param(
        402, "Insufficient credits. Please add more credits to continue.", NoCredits, id="402"
    ),
    pytest.param(403, "This feature requires a premium subscription", Forbidden, id="403"),
    pytest.param(404, "Model not found: my-model", ModelNotFound, id="404"),
    pytest.param(500, "Internal server error. Please try again.", ServerError, id="500"),
    pytest.param(503, "Internal server error. Please try again.", ServerError, id="503"),
]


@pytest.mark.parametrize("field", ["message", "messege"])
@pytest.mark.parametrize(("http_status", "message", "expected"), DOCUMENTED)
def test_documented_statuses_map_to_their_class(
    field: str, http_status: int, message: str, expected: type[UpstreamError]
) -> None:
    body = {"status": "error", field: message}

    error = raised_by(httpx.Response(http_status, json=body))

    assert type(error) is expected
    assert error.http_status == http_status
    assert error.reason == f"HTTP {http_status}: {message}"
    assert str(error) == error.reason


def test_429_is_rate_limited_with_the_documented_body() -> None:
    body = {
        "status": "error",
        "message": "Rate limit exceeded. Maximum 5 queued requests allowed.",
        "retry_after": 30,
    }

    error = raised_by(httpx.Response(429, json=body))

    assert type(error) is RateLimited
    assert error.http_status == 429
    assert error.retry_after == 30.0
    assert error.reason == (
        "HTTP 429: Rate limit exceeded. Maximum 5 queued requests allowed. (retry after 30s)"
    )


@pytest.mark.parametrize("field", ["message", "messege"])
@pytest.mark.parametrize(("http_status", "message", "expected"), DOCUMENTED)
def test_the_same_errors_with_http_200_are_classified_like_their_http_twin(
    field: str, http_status: int, message: str, expected: type[UpstreamError]
) -> None:
    # ModelsLab answers many errors with HTTP 200: the message hint table
    # (worker.upstream.hints) makes "Invalid API key" on 200 the same InvalidKey as on 401;
    # a message that matches no hint ("Internal server error") stays a transient error.
    error = raised_by(httpx.Response(200, json={"status": "error", field: message}))

    assert type(error) is expected
    assert error.http_status == 200
    assert error.reason == f"HTTP 200: {message}"


def test_a_legacy_validation_object_on_http_200_is_a_bad_request() -> None:
    body = {"status": "error", "messege": {"model_id": ["The model id field is required."]}}

    error = raised_by(httpx.Response(200, json=body))

    assert type(error) is BadRequest
    assert "model_id: The model id field is required." in error.reason


def test_an_error_hint_on_a_5xx_makes_it_permanent_and_an_unknown_text_stays_transient() -> None:
    assert type(raised_by(httpx.Response(500, json={"message": "Invalid API key"}))) is InvalidKey
    unknown = raised_by(httpx.Response(200, json={"status": "error", "message": "Oops (E42)"}))
    assert type(unknown) is ServerError


@pytest.mark.parametrize("http_status", [200, 201, 202])
def test_2xx_error_with_retry_after_is_rate_limited(http_status: int) -> None:
    body = {
        "status": "error",
        "message": "Rate limit exceeded. Maximum 5 queued requests allowed.",
        "retry_after": 30,
    }

    error = raised_by(httpx.Response(http_status, json=body))

    assert type(error) is RateLimited
    assert error.http_status == http_status
    assert error.retry_after == 30.0


@pytest.mark.parametrize("http_status", [405, 406, 410, 411, 413, 414, 415, 418, 422, 451, 499])
def test_other_4xx_are_bad_requests(http_status: int) -> None:
    error = raised_by(httpx.Response(http_status, json={"status": "error", "message": "Nope"}))

    assert type(error) is BadRequest
    assert isinstance(error, PermanentError)
    assert error.http_status == http_status
    assert error.reason == f"HTTP {http_status}: Nope"


def test_408_is_a_timeout() -> None:
    error = raised_by(httpx.Response(408, json={"status": "error", "message": "Request Timeout"}))

    assert type(error) is UpstreamTimeout
    assert error.http_status == 408


@pytest.mark.parametrize("http_status", [409, 425])
def test_409_and_425_are_transient(http_status: int) -> None:
    error = raised_by(httpx.Response(http_status, json={"status": "error", "message": "Busy"}))

    assert type(error) is ServerError
    assert error.http_status == http_status
    assert error.reason == f"HTTP {http_status}: Busy"


@pytest.mark.parametrize("http_status", [500, 501, 502, 503, 504, 520, 524, 599])
def test_every_5xx_is_a_server_error(http_status: int) -> None:
    error = raised_by(httpx.Response(http_status, json={"status": "error", "message": "Oops"}))

    assert type(error) is ServerError
    assert isinstance(error, TransientError)
    assert error.http_status == http_status


@pytest.mark.parametrize(
    ("http_status", "expected"),
    [(401, InvalidKey), (404, ModelNotFound), (429, RateLimited), (500, ServerError)],
)
@pytest.mark.parametrize("body_status", ["success", "processing", None])
def test_an_error_http_status_wins_over_the_body_status(
    http_status: int, expected: type[UpstreamError], body_status: str | None
) -> None:
    body = {"status": body_status, "message": "Model already loaded"}

    error = raised_by(httpx.Response(http_status, json=body))

    assert type(error) is expected
    assert error.reason == f"HTTP {http_status}: Model already loaded"


@pytest.mark.parametrize(
    ("http_status", "expected_reason"),
    [
        (400, "HTTP 400: Bad Request (no message)"),
        (401, "HTTP 401: Unauthorized (no message)"),
        (503, "HTTP 503: Service Unavailable (no message)"),
        (599, "HTTP 599: no message"),
        (200, "HTTP 200: error status without a message"),
    ],
)
def test_an_error_without_a_message_still_has_a_reason(
    http_status: int, expected_reason: str
) -> None:
    error = raised_by(httpx.Response(http_status, json={"status": "error"}))

    assert error.reason == expected_reason


@pytest.mark.parametrize(
    "message",
    [
        "Model reload started",  # says "started", but the HTTP status says 402
        "success",
        "Model already loaded",
    ],
)
def test_message_text_is_never_parsed_for_meaning(message: str) -> None:
    error = raised_by(httpx.Response(402, json={"status": "error", "message": message}))

    assert type(error) is NoCredits
    assert error.reason == f"HTTP 402: {message}"


@pytest.mark.parametrize(
    ("cls", "base"),
    [
        (TransientError, UpstreamError),
        (PermanentError, UpstreamError),
        (RateLimited, TransientError),
        (ServerError, TransientError),
        (UpstreamTimeout, TransientError),
        (BadRequest, PermanentError),
        (InvalidKey, PermanentError),
        (NoCredits, PermanentError),
        (Forbidden, PermanentError),
        (ModelNotFound, PermanentError),
    ],
)
def test_the_exception_tree(cls: type[UpstreamError], base: type[UpstreamError]) -> None:
    assert issubclass(cls, base)
    assert not (issubclass(cls, TransientError) and issubclass(cls, PermanentError))
