"""Behaviour: a ``warmup_batch`` request is checked whole before anything is enqueued.

Given a request, when it is checked, then a good one gives its unique ids in
input order; bad ids or a bad ``callback_url`` raise ``InvalidBatch`` with the
reason, and never a different exception type.
"""

from __future__ import annotations

import pytest

from worker.batch.completion import InvalidBatch, check_batch, check_callback_url


def test_given_good_ids_and_no_callback_then_the_unique_ids_in_order() -> None:
    assert check_batch(["b", "a", "b", "c"], None, max_batch=10) == ["b", "a", "c"]


@pytest.mark.parametrize(
    "url", ["http://hooks.test/done", "https://hooks.test:8443/batch?token=x", "https://h.test"]
)
def test_given_an_http_callback_then_accepted(url: str) -> None:
    assert check_batch(["a"], url, max_batch=10) == ["a"]
    assert check_callback_url(url) == url


@pytest.mark.parametrize(
    ("model_ids", "message"),
    [
        pytest.param("model-a", "model_ids: expected a list of strings, got str", id="str"),
        pytest.param([], "model_ids: the list is empty", id="empty"),
        pytest.param(["a", 5], "model_ids[1]: expected a string, got int", id="int-id"),
        pytest.param(
            ["a", "b", "c"],
            "model_ids: 3 ids, more than the limit of 2 (RELOAD_MAX_BATCH)",
            id="too-many",
        ),
    ],
)
def test_given_bad_ids_then_invalid_batch_with_the_reason(model_ids: object, message: str) -> None:
    with pytest.raises(InvalidBatch) as caught:
        check_batch(model_ids, None, max_batch=2)

    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(42, "callback_url: expected a string, got int", id="int"),
        pytest.param(["http://x.test"], "callback_url: expected a string, got list", id="list"),
        pytest.param("ftp://x.test/a", "expected an http(s) URL", id="ftp"),
        pytest.param("hooks.test/done", "expected an http(s) URL", id="no-scheme"),
        pytest.param("http://", "expected an http(s) URL", id="no-host"),
        pytest.param("", "expected an http(s) URL", id="empty"),
        pytest.param("https://h.test/" + "a" * 2100, "expected an http(s) URL", id="too-long"),
    ],
)
def test_given_a_bad_callback_url_then_invalid_batch(url: object, expected: str) -> None:
    with pytest.raises(InvalidBatch, match=expected.replace("(", r"\(").replace(")", r"\)")):
        check_batch(["a"], url, max_batch=10)


def test_given_a_huge_bad_callback_url_then_the_message_stays_short() -> None:
    url = "gopher://h.test/" + "a" * 100_000

    with pytest.raises(InvalidBatch) as caught:
        check_batch(["a"], url, max_batch=10)

    assert len(str(caught.value)) < 200


def test_given_bad_ids_and_a_bad_url_then_the_ids_are_reported_first() -> None:
    with pytest.raises(InvalidBatch, match=r"^model_ids"):
        check_batch([], "ftp://x", max_batch=10)
