"""Behaviour: a batch ledger is written once, with every model queued.

Given a new batch id, when the ledger is created, then every model is queued,
the counts say so, the ids keep their input order, the batch is open and every
key expires; creating it again changes nothing and says so.
"""

from __future__ import annotations

import json

from tests.unit.support.ledgers import NOW, redis_of
from worker import constants as c
from worker.batch.ledger import STATES, Ledger


def test_given_a_new_batch_when_created_then_every_model_is_queued_and_counted(
    ledger: Ledger,
) -> None:
    created = ledger.create("b1", ["m3", "m1", "m2"], now=NOW, callback_url=None)

    assert created is True
    assert ledger.counts("b1") == {state: 0 for state in STATES} | {"queued": 3}
    models = ledger.models("b1")
    assert set(models) == {"m1", "m2", "m3"}
    assert all(
        m == {"state": "queued", "reason": None, "at": NOW, "calls": 0} for m in models.values()
    )
    meta = ledger.meta("b1")
    assert meta["status"] == "open"
    assert meta["total"] == "3"
    assert json.loads(meta["ids"]) == ["m3", "m1", "m2"]
    assert float(meta["created_at"]) == NOW
    assert meta["callback_url"] == ""
    assert ledger.open_batches() == ["b1"]


def test_given_a_callback_url_then_it_is_kept(ledger: Ledger) -> None:
    ledger.create("b1", ["m1"], now=NOW, callback_url="https://hooks.test/x")

    assert ledger.meta("b1")["callback_url"] == "https://hooks.test/x"


def test_given_a_new_batch_then_all_its_keys_expire(ledger: Ledger) -> None:
    ledger.create("b1", ["m1", "m2"], now=NOW, callback_url=None)

    client = redis_of(ledger)
    for key in (c.batch_key("b1"), c.batch_models_key("b1"), c.batch_counts_key("b1")):
        assert 0 < client.ttl(key) <= c.RESULT_TTL_SECONDS, key


def test_given_an_existing_batch_when_created_again_then_false_and_nothing_is_reset(
    ledger: Ledger,
) -> None:
    ledger.create("b1", ["m1", "m2"], now=NOW, callback_url=None)
    ledger.set_state("b1", "m1", "warm", now=NOW + 130, calls=2)

    again = ledger.create("b1", ["m1", "m2", "m3"], now=NOW + 200, callback_url="https://x.test")

    assert again is False
    assert ledger.models("b1")["m1"]["state"] == "warm"
    assert "m3" not in ledger.models("b1")
    assert ledger.counts("b1")["warm"] == 1
    assert ledger.meta("b1")["total"] == "2"
    assert ledger.meta("b1")["callback_url"] == ""


def test_given_two_batches_then_open_batches_lists_them_by_creation_time(ledger: Ledger) -> None:
    ledger.create("later", ["m1"], now=NOW + 10, callback_url=None)
    ledger.create("earlier", ["m1"], now=NOW, callback_url=None)

    assert ledger.open_batches() == ["earlier", "later"]


def test_given_a_batch_when_marked_launched_then_meta_says_so(ledger: Ledger) -> None:
    ledger.create("b1", ["m1"], now=NOW, callback_url=None)
    assert ledger.meta("b1")["launched"] == "0"

    ledger.mark_launched("b1")

    assert ledger.meta("b1")["launched"] == "1"


def test_given_an_unknown_batch_then_meta_is_empty_and_counts_are_zero(ledger: Ledger) -> None:
    assert ledger.meta("nope") == {}
    assert ledger.counts("nope") == dict.fromkeys(STATES, 0)
    assert ledger.models("nope") == {}
    assert ledger.summary("nope") is None
