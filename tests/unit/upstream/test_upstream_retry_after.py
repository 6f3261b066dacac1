"""Behaviour: the wait the upstream asks for reaches the caller as `retry_after`.

Given an error answer with `retry_after` in the body (number or numeric string)
and/or a `Retry-After` header (seconds or an HTTP date), when the worker reloads
a model, then the exception carries the longest valid wait, clamped to
[0, 3600]; garbage, negative and NaN values count as absent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from tests.unit.upstream.answers import raised_by, reload_answer
from worker.upstream import (
    Accepted,
    BadResponse,
    InvalidKey,
    ModelNotFound,
    RateLimited,
    ServerError,
    TransientError,
    UpstreamError,
)

RATE_LIMIT_TEXT = "Rate limit exceeded. Maximum 5 queued requests allowed."


def rate_limited(retry_after: object = None, headers: dict[str, str] | None = None) -> RateLimited:
    body: dict[str, object] = {"status": "error", "message": RATE_LIMIT_TEXT}
    if retry_after is not None:
        body["retry_after"] = retry_after
    error = raised_by(httpx.Response(429, json=body, headers=headers))
    assert isinstance(error, RateLimited)
    return error


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (30, 30.0),
        (12.5, 12.5),
        (0, 0.0),
        ("30", 30.0),
        (" 45 ", 45.0),
        ("12.5", 12.5),
        ("0", 0.0),
        (3600, 3600.0),
        (7200, 3600.0),
        (1e9, 3600.0),
        (10**30, 3600.0),
        ("99999", 3600.0),
    ],
)
def test_body_retry_after_as_number_or_numeric_string(value: object, expected: float) -> None:
    error = rate_limited(value)

    assert error.retry_after == expected
    assert error.reason == f"HTTP 429: {RATE_LIMIT_TEXT} (retry after {expected:g}s)"


@pytest.mark.parametrize(
    "value",
    ["soon", "30s", "", "NaN", "nan", -5, -0.5, "-5", True, False, [30], {"seconds": 30}],
)
def test_garbage_negative_or_nan_body_retry_after_counts_as_absent(value: object) -> None:
    error = rate_limited(value)

    assert error.retry_after is None
    assert error.reason == f"HTTP 429: {RATE_LIMIT_TEXT}"


def test_a_nan_literal_in_the_body_counts_as_absent() -> None:
    content = b'{"status": "error", "message": "slow down", "retry_after": NaN}'

    error = raised_by(httpx.Response(429, content=content))

    assert isinstance(error, RateLimited)
    assert error.retry_after is None


def test_absent_retry_after_on_429_is_still_rate_limited() -> None:
    error = rate_limited()

    assert error.retry_after is None
    assert error.http_status == 429


@pytest.mark.parametrize(
    ("header", "expected"),
    [("30", 30.0), ("0", 0.0), ("2.5", 2.5), ("86400", 3600.0), ("-1", None), ("later", None)],
)
def test_retry_after_header_in_seconds(header: str, expected: float | None) -> None:
    error = rate_limited(headers={"Retry-After": header})

    assert error.retry_after == expected


def test_retry_after_header_as_http_date_is_measured_from_the_date_header() -> None:
    headers = {
        "Date": "Wed, 21 Oct 2015 07:28:00 GMT",
        "Retry-After": "Wed, 21 Oct 2015 07:30:00 GMT",
    }

    assert rate_limited(headers=headers).retry_after == 120.0


def test_retry_after_header_as_http_date_without_a_date_header_uses_the_clock() -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    headers = {"Retry-After": format_datetime(when, usegmt=True)}

    retry_after = rate_limited(headers=headers).retry_after

    assert retry_after == pytest.approx(120.0, abs=5.0)


@pytest.mark.parametrize(
    ("retry_at", "expected"),
    [
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # already past: retry now
        ("Thu, 22 Oct 2015 07:28:00 GMT", 3600.0),  # a day away: clamped
    ],
)
def test_http_dates_are_clamped(retry_at: str, expected: float) -> None:
    headers = {"Date": "Wed, 21 Oct 2015 07:28:00 GMT", "Retry-After": retry_at}

    assert rate_limited(headers=headers).retry_after == expected


@pytest.mark.parametrize(
    ("body_value", "header", "expected"),
    [
        (30, "60", 60.0),
        (90, "10", 90.0),
        ("30", "30", 30.0),
        ("soon", "20", 20.0),
        (25, "later", 25.0),
        ("soon", "later", None),
    ],
)
def test_body_and_header_together_the_longest_valid_wait_wins(
    body_value: object, header: str, expected: float | None
) -> None:
    error = rate_limited(body_value, headers={"Retry-After": header})

    assert error.retry_after == expected


@pytest.mark.parametrize(
    ("http_status", "body", "headers"),
    [
        (200, {"status": "error", "message": RATE_LIMIT_TEXT, "retry_after": 30}, None),
        (200, {"status": "error", "messege": RATE_LIMIT_TEXT, "retry_after": "30"}, None),
        (200, {"status": "error", "message": RATE_LIMIT_TEXT}, {"Retry-After": "30"}),
        (503, {"status": "error", "message": "Service Unavailable"}, {"Retry-After": "30"}),
        (500, {"status": "error", "message": "Try again", "retry_after": 30}, None),
        (408, {"status": "error", "message": "Request Timeout"}, {"Retry-After": "30"}),
    ],
)
def test_any_transient_error_answer_with_retry_after_is_rate_limited(
    http_status: int, body: dict[str, object], headers: dict[str, str] | None
) -> None:
    error = raised_by(httpx.Response(http_status, json=body, headers=headers))

    assert type(error) is RateLimited
    assert error.http_status == http_status
    assert error.retry_after == 30.0


def test_html_502_with_a_retry_after_header_is_rate_limited() -> None:
    response = httpx.Response(
        502,
        text="<html><body><h1>502 Bad Gateway</h1></body></html>",
        headers={"content-type": "text/html", "Retry-After": "15"},
    )

    error = raised_by(response)

    assert type(error) is RateLimited
    assert error.retry_after == 15.0
    assert error.reason == "HTTP 502: non-JSON body (text/html) (retry after 15s)"


def test_http_200_error_with_garbage_retry_after_is_a_server_error() -> None:
    body = {"status": "error", "message": RATE_LIMIT_TEXT, "retry_after": "soon"}

    error = raised_by(httpx.Response(200, json=body))

    assert type(error) is ServerError
    assert error.retry_after is None


@pytest.mark.parametrize(("http_status", "expected"), [(401, InvalidKey), (404, ModelNotFound)])
def test_permanent_statuses_stay_permanent_even_with_retry_after(
    http_status: int, expected: type[UpstreamError]
) -> None:
    body = {"status": "error", "message": "No", "retry_after": 30}

    error = raised_by(httpx.Response(http_status, json=body, headers={"Retry-After": "30"}))

    assert type(error) is expected
    assert not isinstance(error, TransientError)
    assert error.reason == f"HTTP {http_status}: No"


def test_a_bad_response_still_carries_the_requested_wait() -> None:
    body = {"status": "failed", "message": "Try later", "retry_after": 45}

    error = raised_by(httpx.Response(200, json=body))

    assert type(error) is BadResponse
    assert error.retry_after == 45.0


def test_retry_after_on_a_success_is_ignored() -> None:
    body = {"status": "success", "message": "Model reload started", "retry_after": 30}

    outcome = reload_answer(httpx.Response(200, json=body, headers={"Retry-After": "30"}))

    assert outcome == Accepted("Model reload started", None)
