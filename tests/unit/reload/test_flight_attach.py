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
