"""Behaviour: a batch's completion writes its webhook's outbox record in the same step.

Given a batch with a callback URL, completing it leaves a record in ``reload:outbox``
and ``webhook=pending``; without a URL, nothing. Failed attempts push the record on;
a record whose task looks lost is handed to the sweep once, then pushed on; retries
wait with full jitter.
"""

from __future__ import annotations

import random

from tests.unit.support.ledgers import NOW, redis_of
from worker import constants as c
from worker.batch.completion import OUTBOX_FIRST_WAIT_SECONDS, complete_batch
from worker.batch.ledger import Ledger
from worker.batch.outbox import Outbox, backoff_seconds


def finished(ledger: Ledger, url: str | None) -> None:
    ledger.create("b1", ["m1"], now=NOW, callback_url=url)
    ledger.set_state("b1", "m1", "warm", now=NOW + 10)


def test_given_a_callback_url_when_completed_then_the_outbox_record_is_written(
    ledger: Ledger,
) -> None:
    finished(ledger, "https://hooks.test/x")

    status, _ = complete_batch(ledger, "b1", claimant="a", now=NOW + 20)

    assert status == "completed"
    outbox = Outbox(redis_of(ledger))
    assert outbox.pending("b1")
    assert redis_of(ledger).zscore(c.OUTBOX_KEY, "b1") == NOW + 20 + OUTBOX_FIRST_WAIT_SECONDS
    assert ledger.meta("b1")["webhook"] == "pending"


def test_given_no_callback_url_when_completed_then_no_outbox_record(ledger: Ledger) -> None:
    finished(ledger, None)

    complete_batch(ledger, "b1", claimant="a", now=NOW + 20)

    assert not Outbox(redis_of(ledger)).pending("b1")
    assert "webhook" not in ledger.meta("b1")


def test_given_a_second_completion_then_the_record_is_not_written_again(ledger: Ledger) -> None:
    finished(ledger, "https://hooks.test/x")
    complete_batch(ledger, "b1", claimant="a", now=NOW + 20)
    outbox = Outbox(redis_of(ledger))
    outbox.close("b1", "delivered: HTTP 200")

    status, _ = complete_batch(ledger, "b1", claimant="b", now=NOW + 30)

    assert status == "done"
    assert not outbox.pending("b1")
    assert ledger.meta("b1")["webhook"] == "delivered: HTTP 200"


def test_given_a_failed_attempt_then_it_is_counted_and_pushed_on(ledger: Ledger) -> None:
    finished(ledger, "https://hooks.test/x")
    complete_batch(ledger, "b1", claimant="a", now=NOW + 20)
    outbox = Outbox(redis_of(ledger))

    assert outbox.attempt_failed("b1", retry_at=NOW + 100, reason="HTTP 503") == 1
    assert outbox.attempt_failed("b1", retry_at=NOW + 200, reason="HTTP 503") == 2

    assert redis_of(ledger).zscore(c.OUTBOX_KEY, "b1") == NOW + 200
    assert ledger.meta("b1")["webhook"] == "pending: HTTP 503"


def test_given_a_record_past_its_time_then_the_sweep_gets_it_once(ledger: Ledger) -> None:
    finished(ledger, "https://hooks.test/x")
    complete_batch(ledger, "b1", claimant="a", now=NOW + 20)
    outbox = Outbox(redis_of(ledger))
    late = NOW + 20 + OUTBOX_FIRST_WAIT_SECONDS

    assert outbox.due(now=late - 1, again_in=30) == []
    assert outbox.due(now=late, again_in=30) == ["b1"]
    assert outbox.due(now=late + 1, again_in=30) == []  # pushed on 30 s
    assert outbox.due(now=late + 30, again_in=30) == ["b1"]


def test_given_a_delivery_under_way_then_a_second_cannot_start(ledger: Ledger) -> None:
    outbox = Outbox(redis_of(ledger))
    token = outbox.lock("b1")

    assert token is not None
    assert outbox.lock("b1") is None
    outbox.unlock("b1", token)
    assert outbox.lock("b1") is not None


def test_retries_wait_with_full_jitter_doubling_and_capped() -> None:
    rng = random.Random(7)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (20, c.WEBHOOK_BACKOFF_MAX_SECONDS)]:
        waits = [backoff_seconds(attempt, rng) for _ in range(300)]
        assert all(0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling * 0.9 and min(waits) < ceiling * 0.1
