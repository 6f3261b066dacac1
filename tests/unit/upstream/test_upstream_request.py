"""Behaviour: the request the client sends is the one docs/upstream.md documents.

Given any base URL, when the worker reloads a model, then the upstream receives
`POST {base}/model_reload` with `{"key": ..., "model_id": ...}` as JSON, and the
key travels in the body only.
"""

from __future__ import annotations

import json

import httpx
import pytest

from worker.upstream import UpstreamClient

KEY = "sk-test-0123456789abcdef"


def capture_request(base_url: str, model_id: str = "my-model") -> httpx.Request:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "success", "message": "Model already loaded"})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    with UpstreamClient(base_url, KEY, http=http) as client:
        client.reload(model_id)
    assert len(seen) == 1, "exactly one request per reload call"
    return seen[0]


@pytest.mark.parametrize(
    ("base_url", "expected_url"),
    [
        (
            "https://stablediffusionapi.com/api/v4/dreambooth",
            "https://stablediffusionapi.com/api/v4/dreambooth/model_reload",
        ),
        (
            "https://stablediffusionapi.com/api/v4/dreambooth/",
            "https://stablediffusionapi.com/api/v4/dreambooth/model_reload",
        ),
        (
            "https://stablediffusionapi.com/api/v4/dreambooth//",
            "https://stablediffusionapi.com/api/v4/dreambooth/model_reload",
        ),
        ("https://modelslab.com/api/v6/images", "https://modelslab.com/api/v6/images/model_reload"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765/model_reload"),
        ("http://127.0.0.1:8765/", "http://127.0.0.1:8765/model_reload"),
    ],
)
def test_posts_to_model_reload_under_the_base_url(base_url: str, expected_url: str) -> None:
    request = capture_request(base_url)

    assert request.method == "POST"
    assert str(request.url) == expected_url


def test_body_is_json_with_the_key_and_the_model_id() -> None:
    request = capture_request("https://upstream.test/api/v4/dreambooth", model_id="my-model")

    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"
    assert json.loads(request.content) == {"key": KEY, "model_id": "my-model"}


@pytest.mark.parametrize("model_id", ["sdxl-v1.0", "Model With Spaces", "modèle-ü", 'quo"te'])
def test_model_id_is_sent_verbatim(model_id: str) -> None:
    request = capture_request("https://upstream.test/api", model_id=model_id)

    assert json.loads(request.content)["model_id"] == model_id


def test_key_is_not_in_the_url_or_headers() -> None:
    request = capture_request("https://upstream.test/api")

    assert KEY not in str(request.url)
    assert all(KEY not in value for value in request.headers.values())
