"""Behaviour: a batch is claimed and completed by exactly one claimant.

Given a batch, when claimants try to complete it, then it is ``not_final``
while any model works, ``claimed`` by the first once all are final, ``busy``
for others while that claim lasts, claimable again once the claim expires,
completed only by the claim's holder, and ``done`` for everyone after.
"""

from __future__ import annotations

from tests.unit.support.ledgers import NOW, redis_of
from worker import constants as c
from worker.batch.ledger import Ledger

SUMMARY = {"batch_id": "b1", "total": 2}


def all_final(ledger: Ledger) -> None:
    ledger.create("b1", ["m1", "m2"], now=NOW, callback_url=None)
    ledger.set_state("b1", "m1", "warm", now=NOW + 10, calls=2)
    ledger.set_state("b1", "m2", "failed", now=NOW + 11, reason="HTTP 404: nope", calls=1)


def test_given_a_model_still_working_then_not_final(ledger: Ledger) -> None:
    ledger.create("b1", ["m1", "m2"], now=NOW, callback_url=None)
    ledger.set_state("b1", "m1", "warm", now=NOW + 10)
    ledger.set_state("b1", "m2", "reloading", now=NOW + 10)

    assert ledger.claim("b1", "a", now=NOW + 20, seconds=60) == "not_final"
    assert ledger.meta("b1")["status"] == "open"


def test_given_no_batch_then_missing(ledger: Ledger) -> None:
    assert ledger.claim("nope", "a", now=NOW, seconds=60) == "missing"


def test_given_every_model_final_then_the_first_claims_and_the_second_is_busy(
    ledger: Ledger,
) -> None:
    all_final(ledger)

    first = ledger.claim("b1", "a", now=NOW + 20, seconds=60)
    second = ledger.claim("b1", "b", now=NOW + 21, seconds=60)

    assert (first, second) == ("claimed", "busy")
    assert ledger.meta("b1")["status"] == "completing"
    assert ledger.meta("b1")["claim"] == "a"


def test_given_the_holder_claims_again_then_it_still_holds_the_claim(ledger: Ledger) -> None:
    all_final(ledger)
    ledger.claim("b1", "a", now=NOW + 20, seconds=60)

    assert ledger.claim("b1", "a", now=NOW + 30, seconds=60) == "claimed"


def test_given_a_claim_expired_then_another_claimant_takes_over_and_the_first_cannot_complete(
    ledger: Ledger,
) -> None:
    all_final(ledger)
    ledger.claim("b1", "a", now=NOW + 20, seconds=60)

    taken = ledger.claim("b1", "b", now=NOW + 81, seconds=60)

    assert taken == "claimed"
    assert ledger.complete("b1", "a", SUMMARY) is False
    assert ledger.complete("b1", "b", SUMMARY) is True
    assert ledger.summary("b1") == SUMMARY


def test_given_the_holder_completes_then_done_for_everyone_and_exactly_once(
    ledger: Ledger,
) -> None:
    all_final(ledger)
    ledger.claim("b1", "a", now=NOW + 20, seconds=60)

    assert ledger.complete("b1", "a", SUMMARY) is True
    assert ledger.complete("b1", "a", {"other": True}) is False
    assert ledger.claim("b1", "b", now=NOW + 200, seconds=60) == "done"
    assert ledger.claim("b1", "a", now=NOW + 200, seconds=60) == "done"
    assert ledger.summary("b1") == SUMMARY
    assert ledger.meta("b1")["status"] == "done"
    assert ledger.open_batches() == []


def test_given_no_claim_then_complete_does_nothing(ledger: Ledger) -> None:
    all_final(ledger)

    assert ledger.complete("b1", "a", SUMMARY) is False
    assert ledger.summary("b1") is None
    assert ledger.open_batches() == ["b1"]


def test_given_a_completed_batch_then_its_keys_keep_the_result_ttl(ledger: Ledger) -> None:
    all_final(ledger)
    ledger.claim("b1", "a", now=NOW + 20, seconds=60)

    ledger.complete("b1", "a", SUMMARY)

    client = redis_of(ledger)
    for key in (c.batch_key("b1"), c.batch_models_key("b1"), c.batch_counts_key("b1")):
        assert c.RESULT_TTL_SECONDS - 5 <= client.ttl(key) <= c.RESULT_TTL_SECONDS, key
