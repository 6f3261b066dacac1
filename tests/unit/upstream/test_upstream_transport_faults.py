"""Behaviour: failures without a response become our transient errors, never httpx's.

Given a connection that times out, is refused, is reset or breaks the protocol,
when the worker reloads a model, then it gets `UpstreamTimeout` or
`NetworkError` (chained `from` the httpx exception) with a reason naming the
failure and the configured timeout.
"""

from __future__ import annotations

import socket

import httpx
import pytest

from worker.upstream import (
    BadResponse,
    NetworkError,
    TransientError,
    UpstreamClient,
    UpstreamError,
    UpstreamTimeout,
)

KEY = "sk-test-0123456789abcdef"
BASE_URL = "https://upstream.test/api/v4/dreambooth"
TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=2.5)


def raised_when(fault: Exception, timeout: httpx.Timeout = TIMEOUT) -> UpstreamError:
    def handler(request: httpx.Request) -> httpx.Response:
        raise fault

    http = httpx.Client(transport=httpx.MockTransport(handler), timeout=timeout)
    with UpstreamClient(BASE_URL, KEY, http=http) as client, pytest.raises(UpstreamError) as caught:
        client.reload("my-model")
    return caught.value


@pytest.mark.parametrize(
    ("fault", "expected_reason"),
    [
        (httpx.ReadTimeout("The read operation timed out"), "read timeout after 30s"),
        (httpx.ConnectTimeout("timed out"), "connect timeout after 5s"),
        (httpx.WriteTimeout("timed out"), "write timeout after 10s"),
        (httpx.PoolTimeout("timed out"), "pool timeout after 2.5s"),
    ],
)
def test_timeouts_name_the_phase_and_the_configured_limit(
    fault: Exception, expected_reason: str
) -> None:
    error = raised_when(fault)

    assert type(error) is UpstreamTimeout
    assert error.reason == expected_reason
    assert error.http_status is None
    assert error.retry_after is None
    assert error.__cause__ is fault


def test_a_timeout_without_a_configured_limit_says_so_plainly() -> None:
    error = raised_when(httpx.ReadTimeout("timed out"), timeout=httpx.Timeout(None))

    assert type(error) is UpstreamTimeout
    assert error.reason == "read timeout"


@pytest.mark.parametrize(
    ("fault", "expected_reason"),
    [
        (
            httpx.ConnectError("[Errno 111] Connection refused"),
            "connection failed: [Errno 111] Connection refused",
        ),
        (
            httpx.ConnectError("[Errno -2] Name or service not known"),
            "connection failed: [Errno -2] Name or service not known",
        ),
        (httpx.ConnectError(""), "connection failed"),
        (
            httpx.ReadError("[Errno 104] Connection reset by peer"),
            "connection broken while reading the response: [Errno 104] Connection reset by peer",
        ),
        (
            httpx.WriteError("[Errno 32] Broken pipe"),
            "connection broken while sending the request: [Errno 32] Broken pipe",
        ),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            "upstream broke the HTTP protocol: Server disconnected without sending a response.",
        ),
        (
            httpx.LocalProtocolError("Illegal header value"),
            "could not send a valid HTTP request: Illegal header value",
        ),
        (
            httpx.ProxyError("407 Proxy Authentication Required"),
            "proxy error: 407 Proxy Authentication Required",
        ),
        (
            httpx.TooManyRedirects("Exceeded maximum allowed redirects."),
            "TooManyRedirects: Exceeded maximum allowed redirects.",
        ),
    ],
)
def test_connection_failures_are_network_errors(fault: Exception, expected_reason: str) -> None:
    error = raised_when(fault)

    assert type(error) is NetworkError
    assert isinstance(error, TransientError)
    assert error.reason == expected_reason
    assert error.http_status is None
    assert error.__cause__ is fault


def test_a_body_that_cannot_be_decoded_is_a_bad_response() -> None:
    fault = httpx.DecodingError("Error -3 while decompressing data: incorrect header check")

    error = raised_when(fault)

    assert type(error) is BadResponse
    assert error.reason.startswith("undecodable body: Error -3 while decompressing data")
    assert error.__cause__ is fault


def test_no_httpx_exception_escapes() -> None:
    faults = [
        httpx.ReadTimeout("t"),
        httpx.ConnectTimeout("t"),
        httpx.ConnectError("c"),
        httpx.ReadError("r"),
        httpx.RemoteProtocolError("p"),
        httpx.DecodingError("d"),
    ]

    errors = [raised_when(fault) for fault in faults]

    assert all(not isinstance(error, httpx.HTTPError) for error in errors)
    assert all(isinstance(error, TransientError) for error in errors)


def test_a_refused_connection_through_the_default_client() -> None:
    # No server: bind a port, close it, and connect to it. The default client must
    # turn the real socket error into our NetworkError.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    client = UpstreamClient(f"http://127.0.0.1:{port}", KEY, connect_timeout=2.0)
    with client, pytest.raises(UpstreamError) as caught:
        client.reload("my-model")

    assert type(caught.value) is NetworkError
    assert caught.value.reason.startswith("connection failed")
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
