"""Behaviour: the upstream's message, whatever its shape, becomes a readable reason.

Given an error body whose `message` (or legacy `messege`) is a string, an object
of field -> texts, a list, a number or null, when the worker reloads a model,
then the reason is one readable line, at most ~300 characters.
"""

from __future__ import annotations

import httpx
import pytest

from tests.unit.upstream.answers import raised_by
from worker.upstream import BadRequest, RateLimited


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"message": "model_id is required"}, "model_id is required", id="string"),
        pytest.param({"messege": "model_id is required"}, "model_id is required", id="legacy"),
        pytest.param(
            {"messege": {"model_id": ["model_id is required"]}},
            "model_id: model_id is required",
            id="legacy-validation-object",
        ),
        pytest.param(
            {"messege": {"model_id": ["model_id is required", "must be a string"], "key": ["x"]}},
            "model_id: model_id is required, must be a string; key: x",
            id="object-several-fields",
        ),
        pytest.param(
            {"message": {"model_id": "model_id is required"}},
            "model_id: model_id is required",
            id="object-of-strings",
        ),
        pytest.param({"message": {"model_id": []}}, "model_id", id="object-empty-list"),
        pytest.param({"message": ["first", "second"]}, "first, second", id="list"),
        pytest.param({"message": ["first", None, "", "second"]}, "first, second", id="list-gaps"),
        pytest.param({"message": 42}, "42", id="integer"),
        pytest.param({"message": 1.5}, "1.5", id="float"),
        pytest.param({"message": False}, "false", id="boolean"),
        pytest.param({"message": None, "messege": "legacy text"}, "legacy text", id="null-then"),
        pytest.param({"message": "", "messege": "legacy text"}, "legacy text", id="empty-then"),
        pytest.param({"message": "  ", "messege": "legacy text"}, "legacy text", id="blank-then"),
        pytest.param({"message": [], "messege": "legacy text"}, "legacy text", id="list-then"),
        pytest.param({"message": "current", "messege": "legacy"}, "current", id="message-first"),
        pytest.param({"message": "line one\nline two\r\n\tend"}, "line one line two end", id="ws"),
        pytest.param(
            {"message": {"a": {"b": {"c": {"d": {"e": "deep"}}}}}}, "a: b: c: d: ...", id="deep"
        ),
    ],
)
def test_message_shapes_render_to_one_readable_line(
    fields: dict[str, object], expected: str
) -> None:
    error = raised_by(httpx.Response(400, json={"status": "error", **fields}))

    assert type(error) is BadRequest
    assert error.reason == f"HTTP 400: {expected}"


def test_a_long_message_is_truncated() -> None:
    error = raised_by(httpx.Response(400, json={"status": "error", "message": "x" * 5000}))

    assert len(error.reason) <= 300
    assert error.reason.startswith("HTTP 400: xxxx")
    assert error.reason.endswith("...")


def test_truncation_keeps_the_retry_hint() -> None:
    body = {"status": "error", "message": "limit " * 1000, "retry_after": 30}

    error = raised_by(httpx.Response(429, json=body))

    assert isinstance(error, RateLimited)
    assert len(error.reason) <= 300
    assert error.reason.endswith("... (retry after 30s)")
