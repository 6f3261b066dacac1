"""Behaviour: cancelling a batch makes its models that are not final 'cancelled', once.

Given an open batch with models in every state, cancelling records ``cancelled`` for
those still queued, waiting or reloading, leaves warm and failed ones alone, keeps the
counts exact, lets the batch complete, and lists them in the summary. A complete batch
is left as it is; an unknown one is said to be missing.
"""

from __future__ import annotations

from tests.unit.support.ledgers import NOW
from worker.batch.completion import complete_batch
from worker.batch.ledger import Ledger


def open_batch(ledger: Ledger) -> None:
    ledger.create("b1", ["q", "w", "r", "ok", "bad"], now=NOW, callback_url=None)
    ledger.set_state("b1", "w", "waiting", now=NOW + 1)
    ledger.set_state("b1", "r", "reloading", now=NOW + 2, calls=1)
    ledger.set_state("b1", "ok", "warm", now=NOW + 3, calls=2)
    ledger.set_state("b1", "bad", "failed", now=NOW + 4, reason="HTTP 404: Model not found")


def test_given_an_open_batch_when_cancelled_then_only_unfinished_models_are_cancelled(
    ledger: Ledger,
) -> None:
    open_batch(ledger)

    status, ids = ledger.cancel("b1", now=NOW + 10)

    assert (status, ids) == ("cancelled", ["q", "w", "r"])
    states = {m: r["state"] for m, r in ledger.models("b1").items()}
    assert states == {"q": "cancelled", "w": "cancelled", "r": "cancelled", "ok": "warm",
                      "bad": "failed"}  # fmt: skip
    assert ledger.models("b1")["r"]["calls"] == 1  # the calls it made are kept
    counts = ledger.counts("b1")
    assert (counts["cancelled"], counts["warm"], counts["failed"]) == (3, 1, 1)
    assert counts["queued"] == counts["waiting"] == counts["reloading"] == 0


def test_given_a_cancelled_model_when_a_late_task_writes_then_nothing_changes(
    ledger: Ledger,
) -> None:
    open_batch(ledger)
    ledger.cancel("b1", now=NOW + 10)

    assert not ledger.set_state("b1", "r", "warm", now=NOW + 11, calls=2)
    assert not ledger.set_state("b1", "q", "waiting", now=NOW + 12)
    assert ledger.cancelled("b1", "r") and not ledger.cancelled("b1", "ok")


def test_a_waiting_model_records_its_stage_and_learns_of_a_cancel_in_one_call(
    ledger: Ledger,
) -> None:
    open_batch(ledger)

    assert ledger.set_waiting("b1", "w", "reloading", now=NOW + 5, reason="loading") is False
    assert ledger.models("b1")["w"]["state"] == "reloading"
    ledger.cancel("b1", now=NOW + 10)

    assert ledger.set_waiting("b1", "w", "waiting", now=NOW + 11, reason="limiter") is True
    assert ledger.models("b1")["w"]["state"] == "cancelled"  # unchanged
    assert ledger.set_waiting("b1", "ok", "waiting", now=NOW + 12, reason="x") is False  # warm


def test_given_a_cancelled_batch_then_it_completes_and_its_summary_lists_them(
    ledger: Ledger,
) -> None:
    open_batch(ledger)
    ledger.cancel("b1", now=NOW + 10)

    status, summary = complete_batch(ledger, "b1", claimant="cb", now=NOW + 11)

    assert status == "completed" and summary is not None
    assert summary["cancelled"] == ["q", "w", "r"]
    assert summary["warm"] == ["ok"] and list(summary["failed"]) == ["bad"]


def test_given_a_complete_batch_or_none_when_cancelled_then_nothing_changes(
    ledger: Ledger,
) -> None:
    ledger.create("b2", ["a"], now=NOW, callback_url=None)
    ledger.set_state("b2", "a", "warm", now=NOW + 1)
    complete_batch(ledger, "b2", claimant="cb", now=NOW + 2)
    before = ledger.models("b2")

    assert ledger.cancel("b2", now=NOW + 3) == ("done", [])
    assert ledger.models("b2") == before
    assert ledger.cancel("nope", now=NOW) == ("missing", [])


def test_given_a_batch_never_cancelled_then_cancelled_reads_nothing_more(ledger: Ledger) -> None:
    ledger.create("b3", ["a"], now=NOW, callback_url=None)
    assert ledger.cancelled("b3", "a") is False
