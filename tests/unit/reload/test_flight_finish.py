"""Behaviour: a flight ends once, with one outcome that every attached task reads.

Given a flight, when it finishes, then its outcome is stored for
``RESULT_TTL_SECONDS``, the flight and its step lock are gone, and only a warm
outcome leaves a memo for ``fresh_seconds``. Finishing an old flight never
removes a newer flight of the same model.
"""

from __future__ import annotations

import fakeredis
import pytest

from tests.unit.support.flights import NOW
from worker import constants as c
from worker.reload.flight import FlightStore, Outcome


def start(flights: FlightStore, flight_id: str, task_id: str = "task-1") -> None:
    flights.attach("model-a", task_id, new_id=flight_id, now=NOW, deadline=NOW + 1800)


def test_given_no_outcome_then_outcome_is_none(flights: FlightStore) -> None:
    start(flights, "f1")

    assert flights.outcome("f1") is None


def test_given_a_warm_finish_then_outcome_stored_flight_and_lock_gone_and_memo_set(
    flights: FlightStore, redis_client: fakeredis.FakeRedis
) -> None:
    start(flights, "f1")
    flights.lock("model-a", "task-1")
    warm = Outcome("model-a", "warm", None, 2, "f1", NOW + 125.5)

    flights.finish(warm, fresh_seconds=600)

    assert flights.outcome("f1") == warm
    assert not redis_client.exists(c.flight_key("model-a"))
    assert not redis_client.exists(c.step_lock_key("model-a"))
    ttl = redis_client.ttl(c.outcome_key("f1"))
    assert c.RESULT_TTL_SECONDS - 5 <= ttl <= c.RESULT_TTL_SECONDS
    assert 595 <= redis_client.ttl(c.last_warm_key("model-a")) <= 600
    memo = redis_client.get(c.last_warm_key("model-a"))
    assert memo is not None
    assert Outcome.from_json(memo) == warm


@pytest.mark.parametrize(
    ("state", "fresh_seconds"),
    [pytest.param("failed", 600, id="failed"), pytest.param("warm", 0, id="fresh-off")],
)
def test_given_a_failed_finish_or_no_fresh_window_then_no_memo(
    flights: FlightStore, redis_client: fakeredis.FakeRedis, state: str, fresh_seconds: float
) -> None:
    start(flights, "f1")
    outcome = Outcome("model-a", state, "why", 1, "f1", NOW)  # type: ignore[arg-type]

    flights.finish(outcome, fresh_seconds=fresh_seconds)

    assert flights.outcome("f1") == outcome
    assert not redis_client.exists(c.last_warm_key("model-a"))


def test_given_a_newer_flight_when_an_old_flight_finishes_then_the_newer_one_stays(
    flights: FlightStore,
) -> None:
    start(flights, "f1")
    old = Outcome("model-a", "failed", "deadline exceeded", 1, "f1", NOW)
    flights.finish(old, fresh_seconds=0)
    start(flights, "f2", task_id="task-2")

    # A late, duplicated finish of the old flight.
    flights.finish(old, fresh_seconds=0)

    assert flights.read("model-a", "f2") is not None
    assert flights.outcome("f2") is None


def test_given_an_outcome_then_it_round_trips_through_json_exactly() -> None:
    outcome = Outcome("modèle-ü", "failed", 'HTTP 404: "quoted" \\ reason', 3, "f1", NOW + 0.123)

    assert Outcome.from_json(outcome.to_json()) == outcome
    assert Outcome.from_json(outcome.to_json().encode()) == outcome


def test_given_flight_fields_when_updated_then_read_back_as_text(flights: FlightStore) -> None:
    start(flights, "f1")

    flights.update("model-a", next_at=repr(NOW + 1.5), reason="loading", polls=2, accepted=True)
    first = flights.count_call("model-a")
    second = flights.count_call("model-a")

    flight = flights.read("model-a", "f1")
    assert flight is not None
    assert (first, second) == (1, 2)
    assert flight["calls"] == "2"
    assert float(flight["next_at"]) == NOW + 1.5
    assert flight["reason"] == "loading"
    assert flight["polls"] == "2"
    assert flight["accepted"] == "1"


def test_given_a_value_redis_cannot_store_then_update_refuses_it(flights: FlightStore) -> None:
    start(flights, "f1")

    with pytest.raises(TypeError, match="cannot store list"):
        flights.update("model-a", reason=["not", "a", "scalar"])


def test_given_a_fresh_time_under_a_second_then_the_memo_still_expires_after_it(
    flights: FlightStore, redis_client: fakeredis.FakeRedis
) -> None:
    flights.attach("model-a", "task-1", new_id="f1", now=NOW, deadline=NOW + 1800)
    outcome = Outcome("model-a", "warm", None, 2, "f1", NOW + 5)

    flights.finish(outcome, fresh_seconds=0.5)

    assert 0 < redis_client.pttl(c.last_warm_key("model-a")) <= 500
