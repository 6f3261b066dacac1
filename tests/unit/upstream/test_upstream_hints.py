"""Behaviour: one table of message hints, which an operator can extend.

Given an error answer's message, the table says whether it names a bad key, missing
credits, a plan restriction, an unknown model or a validation problem (permanent), and
given a success's message, whether the model is already loaded (confirm it soon).
"""

from __future__ import annotations

import httpx
import pytest

from worker.upstream import InvalidKey, ServerError, UpstreamClient
from worker.upstream.hints import Hints, parse_hints

KEY = "sk-test-hints"


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("Invalid API key", "key"),
        ("API key required", "key"),
        ("Unauthorized", "key"),
        ("Insufficient credits. Please add more credits to continue.", "credits"),
        ("You have no credits left", "credits"),
        ("This feature requires a premium subscription", "plan"),
        ("Please upgrade your plan", "plan"),
        ("Model not found: my-model", "model"),
        ("The model you requested does not exist", "model"),
        ("model_id is required", "invalid"),
        ("Model already loaded", "ready"),
        ("model is ready", "ready"),
        ("Internal server error. Please try again.", None),
        ("Model reload started, it will take 2 minutes", None),
        ("Rate limit exceeded. Maximum 5 queued requests allowed.", None),
    ],
)
def test_the_built_in_table_reads_the_documented_messages(message: str, kind: str | None) -> None:
    assert Hints.build().kind(message) == kind


def test_an_operator_entry_is_read_before_the_built_in_table() -> None:
    hints = Hints.build(parse_hints("key=token (is )?revoked;;ready=good to go"))

    assert hints.kind("Your token is revoked") == "key"
    assert hints.kind("GOOD TO GO") == "ready"  # case-insensitive


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("nonsense", "expected kind=regular expression"),
        ("colour=blue", "kind must be one of"),
        ("key=((", "missing )"),
        ("key=", "expected kind=regular expression"),
    ],
)
def test_a_bad_operator_entry_is_refused_naming_it(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_hints(text)


def test_the_client_classifies_with_the_operators_table() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"status": "error", "message": "token revoked"})

    def client(hints: Hints) -> UpstreamClient:
        http = httpx.Client(transport=httpx.MockTransport(answer))
        return UpstreamClient("https://upstream.test/api", KEY, http=http, hints=hints)

    with client(Hints.build()) as plain, client(Hints.build(parse_hints("key=revoked"))) as told:
        with pytest.raises(ServerError):
            plain.reload("m")  # no hint: a transient error
        with pytest.raises(InvalidKey):
            told.reload("m")  # the operator's hint: permanent, like a 401
