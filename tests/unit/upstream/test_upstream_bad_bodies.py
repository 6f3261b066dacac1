"""Behaviour: bodies the client cannot read are transient, and never a success.

Given an HTML, empty, non-JSON or non-object body, or a body whose `status` is
missing or unknown, when the worker reloads a model, then a 2xx answer raises
`BadResponse` and an error HTTP status raises the class of that status (the
status is more informative than a proxy's page).
"""

from __future__ import annotations

import httpx
import pytest

from tests.unit.upstream.answers import raised_by
from worker.upstream import (
    BadResponse,
    InvalidKey,
    ModelNotFound,
    RateLimited,
    ServerError,
    UpstreamError,
)

NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
CLOUDFLARE_504 = (
    "<!DOCTYPE html><html><head><title>stablediffusionapi.com | 504: Gateway time-out"
    "</title></head><body>Cloudflare</body></html>"
)


def html(status: int, text: str) -> httpx.Response:
    return httpx.Response(status, text=text, headers={"content-type": "text/html; charset=utf-8"})


@pytest.mark.parametrize(
    ("response", "expected_reason"),
    [
        (html(200, NGINX_502), "HTTP 200: non-JSON body (text/html)"),
        (httpx.Response(200, text="OK"), "HTTP 200: non-JSON body (text/plain)"),
        (httpx.Response(200, content=b"OK"), "HTTP 200: non-JSON body (no content-type)"),
        (httpx.Response(200, content=b""), "HTTP 200: empty body"),
        (httpx.Response(200, content=b"  \r\n"), "HTTP 200: empty body"),
        (httpx.Response(204), "HTTP 204: empty body"),
        (
            httpx.Response(200, content=b'{"status": "succ'),
            "HTTP 200: non-JSON body (no content-type)",
        ),
        (
            httpx.Response(200, content=b"\xff\xfe\xfa{}"),
            "HTTP 200: non-JSON body (no content-type)",
        ),
        (httpx.Response(200, json=[]), "HTTP 200: JSON array instead of an object"),
        (
            httpx.Response(200, json=[{"status": "success"}]),
            "HTTP 200: JSON array instead of an object: status: success",
        ),
        (
            httpx.Response(200, json="success"),
            "HTTP 200: JSON string instead of an object: success",
        ),
        (httpx.Response(200, json=1), "HTTP 200: JSON number instead of an object: 1"),
        (httpx.Response(200, json=True), "HTTP 200: JSON boolean instead of an object: true"),
        (httpx.Response(200, content=b"null"), "HTTP 200: JSON null instead of an object"),
    ],
)
def test_unreadable_2xx_bodies_are_bad_responses(
    response: httpx.Response, expected_reason: str
) -> None:
    error = raised_by(response)

    assert type(error) is BadResponse
    assert error.http_status == response.status_code
    assert error.retry_after is None
    assert error.reason == expected_reason


@pytest.mark.parametrize(
    ("body", "expected_reason"),
    [
        (
            {"status": "failed", "message": "Model failed"},
            "HTTP 200: unexpected status 'failed': Model failed",
        ),
        ({"status": "failed"}, "HTTP 200: unexpected status 'failed'"),
        (
            {"status": "queued", "messege": "In queue"},
            "HTTP 200: unexpected status 'queued': In queue",
        ),
        ({"status": ""}, "HTTP 200: unexpected status ''"),
        ({"status": 1}, "HTTP 200: unexpected status 1"),
        ({"status": True}, "HTTP 200: unexpected status True"),
        ({"status": ["success"]}, "HTTP 200: unexpected status ['success']"),
        ({"message": "Model reload started"}, "HTTP 200: no status in body: Model reload started"),
        ({"status": None, "message": "Started"}, "HTTP 200: no status in body: Started"),
        ({}, "HTTP 200: no status in body"),
        ({"output": "", "eta": 10}, "HTTP 200: no status in body"),
    ],
)
def test_missing_or_unknown_status_is_a_bad_response(
    body: dict[str, object], expected_reason: str
) -> None:
    error = raised_by(httpx.Response(200, json=body))

    assert type(error) is BadResponse
    assert error.http_status == 200
    assert error.reason == expected_reason


@pytest.mark.parametrize(
    ("response", "expected", "expected_reason"),
    [
        (html(502, NGINX_502), ServerError, "HTTP 502: non-JSON body (text/html)"),
        (html(504, CLOUDFLARE_504), ServerError, "HTTP 504: non-JSON body (text/html)"),
        (httpx.Response(500, content=b""), ServerError, "HTTP 500: empty body"),
        (
            httpx.Response(503, text="Service Unavailable"),
            ServerError,
            "HTTP 503: non-JSON body (text/plain)",
        ),
        (
            httpx.Response(503, json=["down"]),
            ServerError,
            "HTTP 503: JSON array instead of an object: down",
        ),
        (html(401, "<h1>Unauthorized</h1>"), InvalidKey, "HTTP 401: non-JSON body (text/html)"),
        (httpx.Response(404, content=b""), ModelNotFound, "HTTP 404: empty body"),
        (
            html(429, "<h1>Too Many Requests</h1>"),
            RateLimited,
            "HTTP 429: non-JSON body (text/html)",
        ),
    ],
)
def test_unreadable_bodies_with_an_error_status_take_the_status_class(
    response: httpx.Response, expected: type[UpstreamError], expected_reason: str
) -> None:
    error = raised_by(response)

    assert type(error) is expected
    assert error.http_status == response.status_code
    assert error.reason == expected_reason


@pytest.mark.parametrize("http_status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed_and_is_a_bad_response(http_status: int) -> None:
    location = "https://modelslab.com/api/v6/images/model_reload"
    response = httpx.Response(http_status, headers={"Location": location})

    error = raised_by(response)

    assert type(error) is BadResponse
    assert error.http_status == http_status
    assert error.reason == f"HTTP {http_status}: unexpected HTTP status (Location: {location})"


def test_a_3xx_without_location_is_a_bad_response() -> None:
    error = raised_by(httpx.Response(304))

    assert type(error) is BadResponse
    assert error.reason == "HTTP 304: unexpected HTTP status"
