"""Shared by the upstream client's tests: a client whose transport returns one canned answer."""

from __future__ import annotations

import httpx
import pytest

from worker.upstream import Accepted, Loading, UpstreamClient, UpstreamError

KEY = "sk-test-0123456789abcdef"
BASE_URL = "https://upstream.test/api/v4/dreambooth"


def reload_answer(response: httpx.Response) -> Accepted | Loading:
    """What ``reload`` returns when the upstream answers ``response``."""
    http = httpx.Client(transport=httpx.MockTransport(lambda request: response))
    with UpstreamClient(BASE_URL, KEY, http=http) as client:
        return client.reload("my-model")


def raised_by(response: httpx.Response) -> UpstreamError:
    """The error ``reload`` raises when the upstream answers ``response``."""
    with pytest.raises(UpstreamError) as caught:
        reload_answer(response)
    return caught.value
