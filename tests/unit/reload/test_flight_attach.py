"""Behaviour: a task attaches to the one flight of its model, atomically.

Given no flight, when a task attaches, then a flight is created with every
field at its start value; a second task joins it; the same task attaches to it
again; and while a warm memo exists no flight is created and the memo is returned.
"""

from __future__ import annotations

import fakeredis

from tests.unit.support.flights import NOW, TTL
from worker import constants as c
from worker.reload.flight import FlightStore, Outcome


def attach(flights: FlightStore, task_id: str, new_id: str, model_id: str = "model-a") -> object:
    return flights.attach(model_id, task_id, new_id=new_id, now=NOW, deadline=NOW + 1800)


def test_given_no_flight_when_a_task_attaches_then_a_flight_is_created_at_its_start(
    flights: FlightStore, redis_client: fakeredis.FakeRedis
) -> None:
    attachment = flights.attach("model-a", "task-1", new_id="f1", now=NOW, deadline=NOW + 1800)

    assert attachment.how == "created"
    assert attachment.flight_id == "f1"
    assert attachment.fresh is None
    flight = flights.read("model-a", "f1")
    assert flight is not None
    assert float(flight["started"]) == NOW
    assert float(flight["next_at"]) == NOW
    assert float(flight["deadline"]) == NOW + 1800
    for field in ("calls", "errors", "polls", "accepted", "loading_seen", "timer"):
        assert flight[field] == "0", field
    assert flight["reason"] == ""
    assert 0 < redis_client.ttl(c.flight_key("model-a")) <= TTL
    assert 0 < redis_client.ttl(c.task_flight_key("task-1", "model-a")) <= TTL


def test_given_a_flight_when_another_task_attaches_then_it_joins_the_same_flight(
    flights: FlightStore,
) -> None:
    flights.attach("model-a", "task-1", new_id="f1", now=NOW, deadline=NOW + 1800)

    joined = flights.attach("model-a", "task-2", new_id="f2", now=NOW + 5, deadline=NOW + 1805)

    assert joined.how == "joined"
    assert joined.flight_id == "f1"
    assert flights.read("model-a", "f2") is None
    flight = flights.read("model-a", "f1")
    assert flight is not None
    assert float(flight["deadline"]) == NOW + 1800  # the joiner does not move the deadline


def test_given_a_task_already_attached_when_it_attaches_again_then_it_finds_its_flight(
    flights: FlightStore,
) -> None:
    flights.attach("model-a", "task-1", new_id="f1", now=NOW, deadline=NOW + 1800)

    again = flights.attach("model-a", "task-1", new_id="f9", now=NOW + 60, deadline=NOW + 1860)

    assert again.how == "attached"
    assert again.flight_id == "f1"


def test_given_a_warm_memo_when_a_new_task_attaches_then_the_memo_is_returned_and_no_flight(
    flights: FlightStore, redis_client: fakeredis.FakeRedis
) -> None:
    warm = Outcome("model-a", "warm", None, 2, "f1", NOW + 130)
    flights.finish(warm, fresh_seconds=600)

    attachment = flights.attach(
        "model-a", "task-2", new_id="f2", now=NOW + 200, deadline=NOW + 2000
    )

    assert attachment.how == "fresh"
    assert attachment.fresh == warm
    assert attachment.flight_id == "f1"
    assert not redis_client.exists(c.flight_key("model-a"))
    assert not redis_client.exists(c.task_flight_key("task-2", "model-a"))


def test_given_a_detached_task_when_it_attaches_again_then_it_starts_or_joins_anew(
    flights: FlightStore,
) -> None:
    flights.attach("model-a", "task-1", new_id="f1", now=NOW, deadline=NOW + 1800)

    flights.detach("task-1", "model-a")
    again = flights.attach("model-a", "task-1", new_id="f2", now=NOW, deadline=NOW + 1800)

    assert again.how == "joined"
    assert again.flight_id == "f1"


def test_given_flights_of_two_models_then_they_do_not_meet(flights: FlightStore) -> None:
    a = flights.attach("model-a", "task-a", new_id="fa", now=NOW, deadline=NOW + 1800)
    b = flights.attach("model-b", "task-b", new_id="fb", now=NOW, deadline=NOW + 1800)

    assert (a.how, b.how) == ("created", "created")
    assert flights.read("model-a", "fb") is None
    assert flights.read("model-b", "fb") is not None


def test_given_a_task_id_reused_for_another_model_then_it_does_not_find_the_first_flight(
    flights: FlightStore,
) -> None:
    flights.attach("model-a", "task-1", new_id="f1", now=NOW, deadline=NOW + 1800)

    other = flights.attach("model-b", "task-1", new_id="f2", now=NOW, deadline=NOW + 1800)

    assert other.how == "created"
    assert other.flight_id == "f2"


def test_attaching_reads_the_flight_in_the_same_round_trip(flights: FlightStore) -> None:
    flights.attach("model-a", "task-1", new_id="f1", now=NOW, deadline=NOW + 1800)
    flights.update("model-a", calls=3, reason="loading")

    again = flights.attach("model-a", "task-1", new_id="f2", now=NOW + 1, deadline=NOW + 1801)

    assert again.how == "attached" and again.flight == flights.read("model-a", "f1")
    assert again.flight is not None and again.flight["calls"] == "3"
    assert again.locked is False  # not asked for


def test_given_a_due_step_when_asked_then_attaching_takes_the_step_lock(
    flights: FlightStore,
) -> None:
    first = flights.attach(
        "model-a", "task-1", new_id="f1", now=NOW, deadline=NOW + 1800, lock_if_due=True
    )
    second = flights.attach(
        "model-a", "task-2", new_id="f2", now=NOW, deadline=NOW + 1800, lock_if_due=True
    )

    assert first.locked is True  # a new flight is due at once
    assert second.how == "joined" and second.locked is False  # task-1 holds it
    assert flights.lock("model-a", "task-3") is False
    flights.unlock("model-a", "task-1")
    assert flights.lock("model-a", "task-3") is True


def test_given_a_step_not_due_then_attaching_takes_no_lock(flights: FlightStore) -> None:
    flights.attach("model-a", "task-1", new_id="f1", now=NOW, deadline=NOW + 1800)
    flights.update("model-a", next_at=repr(NOW + 5))

    later = flights.attach(
        "model-a", "task-1", new_id="f2", now=NOW + 1, deadline=NOW + 1801, lock_if_due=True
    )

    assert later.locked is False and later.flight is not None
    assert flights.lock("model-a", "task-9") is True  # nobody took it


def test_given_the_flight_ended_then_attaching_returns_no_fields(flights: FlightStore) -> None:
    flights.attach("model-a", "task-1", new_id="f1", now=NOW, deadline=NOW + 1800)
    warm = Outcome("model-a", "warm", None, 2, "f1", NOW + 3)
    flights.finish(warm, fresh_seconds=0)

    ended = flights.attach(
        "model-a", "task-1", new_id="f2", now=NOW + 4, deadline=NOW + 1804, lock_if_due=True
    )

    assert ended.how == "attached" and ended.flight_id == "f1"
    assert ended.flight is None and ended.locked is False
    assert flights.outcome("f1") == warm
