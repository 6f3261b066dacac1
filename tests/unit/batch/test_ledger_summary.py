"""Behaviour: the batch summary follows docs/design.md's contract and the input order.

Given a batch whose models ended warm or failed in any order, when its summary
is built, then ``warm`` lists the warm ids and ``failed`` maps the failed ids to
their reasons, both in the order the ids were given; ``started_at`` is when the
batch was created, ``finished_at`` when its last model became final, and the
upstream calls are summed.
"""

from __future__ import annotations

import json

from tests.unit.support.ledgers import NOW
from worker.batch.ledger import Ledger

IDS = ["m5", "m1", "m4", "m2", "m3"]


def finish_out_of_order(ledger: Ledger) -> None:
    ledger.create("b1", IDS, now=NOW, callback_url=None)
    ledger.set_state("b1", "m3", "warm", now=NOW + 50, calls=2)
    ledger.set_state("b1", "m4", "failed", now=NOW + 10, reason="HTTP 404: m4", calls=1)
    ledger.set_state("b1", "m1", "warm", now=NOW + 140.5, calls=2)
    ledger.set_state("b1", "m2", "failed", now=NOW + 30, reason=None, calls=0)
    ledger.set_state("b1", "m5", "warm", now=NOW + 20, calls=0)


def test_given_models_final_in_any_order_then_the_summary_keeps_input_order(
    ledger: Ledger,
) -> None:
    finish_out_of_order(ledger)

    summary = ledger.build_summary("b1", completed_at=NOW + 200)

    assert summary["batch_id"] == "b1"
    assert summary["total"] == 5
    assert summary["warm"] == ["m5", "m1", "m3"]
    assert list(summary["failed"]) == ["m4", "m2"]
    assert summary["failed"] == {"m4": "HTTP 404: m4", "m2": "failed"}


def test_given_a_finished_batch_then_times_and_calls_come_from_the_ledger(ledger: Ledger) -> None:
    finish_out_of_order(ledger)

    summary = ledger.build_summary("b1", completed_at=NOW + 200)

    assert summary["started_at"] == NOW
    assert summary["finished_at"] == NOW + 140.5
    assert summary["completed_at"] == NOW + 200
    assert summary["duration_s"] == 140.5
    assert summary["upstream_calls"] == 5


def test_given_a_summary_then_it_is_plain_json(ledger: Ledger) -> None:
    finish_out_of_order(ledger)

    summary = ledger.build_summary("b1", completed_at=NOW + 200)

    assert json.loads(json.dumps(summary)) == summary
