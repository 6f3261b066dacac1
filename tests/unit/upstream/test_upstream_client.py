"""Behaviour: the client's construction, lifecycle and local input checks.

Given settings, the client builds one httpx.Client with explicit timeouts; it
closes the client it owns; it refuses a base URL that is not http(s) and a
model id that is not a non-empty string without calling the upstream; its
exceptions survive pickling (Celery stores them).
"""

from __future__ import annotations

import pickle

import httpx
import pytest

from worker.upstream import (
    BadRequest,
    InvalidKey,
    NetworkError,
    RateLimited,
    ServerError,
    UpstreamClient,
    UpstreamError,
    UpstreamTimeout,
)

KEY = "sk-test-0123456789abcdef"
BASE_URL = "https://upstream.test/api/v4/dreambooth"


def test_default_http_client_has_explicit_timeouts() -> None:
    client = UpstreamClient(BASE_URL, KEY, connect_timeout=3.0, read_timeout=20.0)
    try:
        # Private access on purpose: there is no other way to see what was built.
        assert client._http.timeout == httpx.Timeout(connect=3.0, read=20.0, write=20.0, pool=3.0)
    finally:
        client.close()


def test_default_timeouts_are_5s_connect_and_30s_read() -> None:
    with UpstreamClient(BASE_URL, KEY) as client:
        assert client._http.timeout == httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)


def test_closing_the_client_closes_the_http_client_it_was_given() -> None:
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200)))

    with UpstreamClient(BASE_URL, KEY, http=http):
        assert not http.is_closed

    assert http.is_closed


def test_close_is_idempotent() -> None:
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    client = UpstreamClient(BASE_URL, KEY, http=http)

    client.close()
    client.close()

    assert http.is_closed


def test_one_client_serves_many_calls() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, json={"status": "success"})

    with UpstreamClient(
        BASE_URL, KEY, http=httpx.Client(transport=httpx.MockTransport(handler))
    ) as client:
        for model_id in ("a", "b", "c"):
            client.reload(model_id)

    assert calls == ["/api/v4/dreambooth/model_reload"] * 3


@pytest.mark.parametrize(
    "base_url",
    ["", "stablediffusionapi.com/api", "ftp://upstream.test/api", "http://", "https:///x"],
)
def test_a_base_url_that_is_not_http_is_refused(base_url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        UpstreamClient(base_url, KEY)


@pytest.mark.parametrize("model_id", ["", "   ", None, 42])
def test_an_invalid_model_id_is_a_bad_request_without_calling_upstream(model_id: object) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"status": "success"})

    with (
        UpstreamClient(
            BASE_URL, KEY, http=httpx.Client(transport=httpx.MockTransport(handler))
        ) as client,
        pytest.raises(BadRequest, match="model_id") as caught,
    ):
        client.reload(model_id)  # type: ignore[arg-type]

    assert calls == []
    assert caught.value.http_status is None


@pytest.mark.parametrize(
    "error",
    [
        InvalidKey("HTTP 401: Invalid API key", http_status=401),
        RateLimited("HTTP 429: slow down (retry after 30s)", http_status=429, retry_after=30.0),
        ServerError("HTTP 502: non-JSON body (text/html)", http_status=502),
        UpstreamTimeout("read timeout after 30s"),
        NetworkError("connection failed: [Errno 111] Connection refused"),
    ],
)
def test_exceptions_survive_pickling(error: UpstreamError) -> None:
    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is type(error)
    assert copy.args == (error.reason,)
    assert vars(copy) == vars(error)  # reason, http_status and retry_after


@pytest.mark.parametrize("error_type", [InvalidKey, ServerError, NetworkError])
def test_exceptions_rebuild_from_their_args_alone(error_type: type[UpstreamError]) -> None:
    # Celery's JSON result serialiser stores exc_type + args and calls cls(*args).
    copy = error_type(*error_type("HTTP 500: Oops", http_status=500).args)

    assert copy.reason == "HTTP 500: Oops"
    assert copy.http_status is None


def test_exception_repr_shows_the_fields() -> None:
    error = RateLimited("HTTP 429: slow down", http_status=429, retry_after=30.0)

    assert repr(error) == "RateLimited('HTTP 429: slow down', http_status=429, retry_after=30.0)"
    assert (
        repr(InvalidKey("HTTP 401: x", http_status=401))
        == "InvalidKey('HTTP 401: x', http_status=401)"
    )
