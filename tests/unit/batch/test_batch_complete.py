"""Behaviour: ``complete_batch`` completes a batch exactly once, whoever calls it.

Given the chord's callback, the watchdog and the sweep may all call it, when a
batch has every model final, then the first call returns ``completed`` with
the summary and every later call ``done`` with the same stored summary; while
another holds the claim it is ``busy``; while models work it is ``not_final``;
an unknown batch is ``missing``.
"""

from __future__ import annotations

from tests.unit.support.ledgers import NOW
from worker.batch.completion import CLAIM_SECONDS, complete_batch
from worker.batch.ledger import Ledger


def make(ledger: Ledger, *, finish: bool) -> None:
    ledger.create("b1", ["m2", "m1"], now=NOW, callback_url=None)
    ledger.set_state("b1", "m2", "warm", now=NOW + 60, calls=2)
    if finish:
        ledger.set_state("b1", "m1", "failed", now=NOW + 70, reason="HTTP 402: no credits")


def test_given_every_model_final_then_completed_once_then_done_with_the_same_summary(
    ledger: Ledger,
) -> None:
    make(ledger, finish=True)

    first = complete_batch(ledger, "b1", claimant="callback", now=NOW + 80)
    second = complete_batch(ledger, "b1", claimant="watchdog", now=NOW + 90)
    third = complete_batch(ledger, "b1", claimant="callback", now=NOW + 95)

    assert first[0] == "completed"
    assert first[1] is not None
    assert first[1]["warm"] == ["m2"]
    assert first[1]["failed"] == {"m1": "HTTP 402: no credits"}
    assert first[1]["completed_at"] == NOW + 80
    assert second == ("done", first[1])
    assert third == ("done", first[1])
    assert ledger.summary("b1") == first[1]


def test_given_a_model_still_working_then_not_final_and_no_summary(ledger: Ledger) -> None:
    make(ledger, finish=False)

    status, summary = complete_batch(ledger, "b1", claimant="callback", now=NOW + 80)

    assert (status, summary) == ("not_final", None)
    assert ledger.summary("b1") is None
    assert ledger.meta("b1")["status"] == "open"


def test_given_the_last_model_ends_then_the_next_call_completes(ledger: Ledger) -> None:
    make(ledger, finish=False)
    complete_batch(ledger, "b1", claimant="callback", now=NOW + 80)
    ledger.set_state("b1", "m1", "warm", now=NOW + 100, calls=2)

    status, summary = complete_batch(ledger, "b1", claimant="callback", now=NOW + 101)

    assert status == "completed"
    assert summary is not None
    assert summary["warm"] == ["m2", "m1"]
    assert summary["finished_at"] == NOW + 100


def test_given_another_claimant_holds_the_claim_then_busy(ledger: Ledger) -> None:
    make(ledger, finish=True)
    assert ledger.claim("b1", "sweep", now=NOW + 80, seconds=CLAIM_SECONDS) == "claimed"

    status, summary = complete_batch(ledger, "b1", claimant="callback", now=NOW + 81)

    assert (status, summary) == ("busy", None)
    assert ledger.summary("b1") is None


def test_given_a_claimant_died_then_another_completes_after_the_claim_expires(
    ledger: Ledger,
) -> None:
    make(ledger, finish=True)
    ledger.claim("b1", "dead-worker", now=NOW + 80, seconds=CLAIM_SECONDS)

    status, summary = complete_batch(
        ledger, "b1", claimant="backstop", now=NOW + 80 + CLAIM_SECONDS + 1
    )

    assert status == "completed"
    assert summary is not None
    assert ledger.summary("b1") == summary


def test_given_an_unknown_batch_then_missing(ledger: Ledger) -> None:
    assert complete_batch(ledger, "nope", claimant="callback", now=NOW) == ("missing", None)
