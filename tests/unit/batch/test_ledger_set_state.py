"""Behaviour: a model's state in a batch never leaves a final state, and counts stay exact.

Given a batch, when a model's state is set, then the record and the counts
change together; a final state (warm or failed) never changes again, whatever
late or duplicated task writes; unknown models and unchanged states are no-ops;
and after any sequence of writes the counts equal the states of the models.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from tests.unit.support.ledgers import NOW
from worker.batch.ledger import FINAL_STATES, STATES, Ledger


def make(ledger: Ledger, ids: list[str]) -> None:
    ledger.create("b1", ids, now=NOW, callback_url=None)


def test_given_a_queued_model_when_it_moves_forward_then_record_and_counts_follow(
    ledger: Ledger,
) -> None:
    make(ledger, ["m1", "m2"])

    assert ledger.set_state("b1", "m1", "waiting", now=NOW + 1, reason="limiter: rate")
    assert ledger.counts("b1")["waiting"] == 1
    assert ledger.set_state("b1", "m1", "reloading", now=NOW + 2, reason="accepted")
    assert ledger.set_state("b1", "m1", "warm", now=NOW + 130, calls=2)

    assert ledger.models("b1")["m1"] == {
        "state": "warm",
        "reason": None,
        "at": NOW + 130,
        "calls": 2,
    }
    assert ledger.counts("b1") == dict.fromkeys(STATES, 0) | {"queued": 1, "warm": 1}
    assert float(ledger.meta("b1")["last_final_at"]) == NOW + 130


@pytest.mark.parametrize("final", FINAL_STATES)
@pytest.mark.parametrize("later", STATES)
def test_given_a_final_model_when_any_state_is_written_then_nothing_changes(
    ledger: Ledger, final: str, later: str
) -> None:
    make(ledger, ["m1"])
    ledger.set_state("b1", "m1", final, now=NOW + 10, reason="first", calls=1)
    before = (ledger.models("b1"), ledger.counts("b1"), ledger.meta("b1"))

    changed = ledger.set_state("b1", "m1", later, now=NOW + 20, reason="late", calls=9)

    assert changed is False
    assert (ledger.models("b1"), ledger.counts("b1"), ledger.meta("b1")) == before


def test_given_the_same_non_final_state_again_then_no_change_and_counts_unchanged(
    ledger: Ledger,
) -> None:
    make(ledger, ["m1"])
    ledger.set_state("b1", "m1", "waiting", now=NOW + 1, reason="first")

    changed = ledger.set_state("b1", "m1", "waiting", now=NOW + 2, reason="second")

    assert changed is False
    assert ledger.counts("b1")["waiting"] == 1
    assert ledger.models("b1")["m1"]["reason"] == "first"


def test_given_a_model_not_in_the_batch_then_no_change(ledger: Ledger) -> None:
    make(ledger, ["m1"])

    assert ledger.set_state("b1", "stranger", "warm", now=NOW) is False
    assert ledger.set_state("no-such-batch", "m1", "warm", now=NOW) is False
    assert ledger.counts("b1") == dict.fromkeys(STATES, 0) | {"queued": 1}
    assert "stranger" not in ledger.models("b1")


def test_given_an_unknown_state_then_value_error_and_no_change(ledger: Ledger) -> None:
    make(ledger, ["m1"])

    with pytest.raises(ValueError, match="unknown state 'done'"):
        ledger.set_state("b1", "m1", "done", now=NOW)

    assert ledger.models("b1")["m1"]["state"] == "queued"


def test_given_any_sequence_of_writes_then_counts_equal_the_models_states(ledger: Ledger) -> None:
    ids = [f"m{n}" for n in range(12)]
    make(ledger, ids)
    rng = random.Random(42)
    first_final: dict[str, str] = {}

    for step in range(400):
        model, state = rng.choice(ids), rng.choice(STATES)
        ledger.set_state("b1", model, state, now=NOW + step)
        if state in FINAL_STATES:
            first_final.setdefault(model, state)

    models = ledger.models("b1")
    tally = Counter(record["state"] for record in models.values())
    assert ledger.counts("b1") == {state: tally.get(state, 0) for state in STATES}
    assert sum(ledger.counts("b1").values()) == len(ids)
    assert {m: models[m]["state"] for m in first_final} == first_final
