"""Step locks of a dead worker: a lock held as "<owner>|<task id>" whose owner's heartbeat
(reload:workers) is older than dead_after is taken over at once instead of after its TTL.

Run on a real redis-server and on fakeredis (the ``store`` fixture, tests/unit/conftest.py).
"""

from __future__ import annotations

import time

import redis

from tests.unit.support.stores import Store
from worker import constants as c
from worker.reload.flight import FlightStore

MODEL = "model-a"


def flights(client: redis.Redis, owner: str, *, dead_after: float = 5.0) -> FlightStore:
    return FlightStore(
        client, ttl_seconds=3600, lock_seconds=30, owner=owner, dead_after=dead_after
    )


def beat(client: redis.Redis, owner: str, age: float) -> None:
    """``owner``'s last heartbeat, ``age`` seconds ago by the Redis clock."""
    seconds, micros = client.time()
    client.zadd(c.WORKERS_KEY, {owner: f"{seconds + micros / 1e6 - age:.6f}"})


def holder(client: redis.Redis) -> bytes | None:
    value = client.get(c.step_lock_key(MODEL))
    assert value is None or isinstance(value, bytes)
    return value


def test_given_w1_holds_the_step_lock_and_beats_then_w2_cannot_take_it(store: Store) -> None:
    w1 = flights(store.client, "w1")
    w2 = flights(store.new_client(), "w2")
    beat(store.client, "w1", age=0)
    assert w1.lock(MODEL, "task-1") is True

    assert w2.lock(MODEL, "task-2") is False
    beat(store.client, "w1", age=4)  # late, but within dead_after
    assert w2.lock(MODEL, "task-2") is False
    assert holder(store.client) == b"w1|task-1"


def test_given_w1_holds_the_step_lock_when_its_heartbeat_is_old_then_w2_takes_it(
    store: Store,
) -> None:
    w1 = flights(store.client, "w1", dead_after=0.3)
    w2 = flights(store.new_client(), "w2", dead_after=0.3)
    beat(store.client, "w1", age=0)
    assert w1.lock(MODEL, "task-1") is True

    beat(store.client, "w1", age=1)  # w1 stopped beating...
    assert w2.lock(MODEL, "task-2") is False  # ...but took the lock 0.3 s ago or less
    time.sleep(0.35)
    assert w2.lock(MODEL, "task-2") is True

    assert holder(store.client) == b"w2|task-2"
    assert 0 < store.client.pttl(c.step_lock_key(MODEL)) <= 30_000
    beat(store.client, "w2", age=0)
    assert w1.lock(MODEL, "task-1") is False  # w1 came back late: w2 (alive) keeps it


def test_given_a_holder_that_never_beat_then_its_lock_is_not_taken(store: Store) -> None:
    w1 = flights(store.client, "w1")
    w2 = flights(store.new_client(), "w2")
    assert w1.lock(MODEL, "task-1") is True  # w1 has no heartbeat entry at all

    assert w2.lock(MODEL, "task-2") is False
    assert holder(store.client) == b"w1|task-1"


def test_given_dead_after_0_then_a_dead_holders_lock_is_kept_until_its_ttl(store: Store) -> None:
    w1 = flights(store.client, "w1", dead_after=0)
    w2 = flights(store.new_client(), "w2", dead_after=0)
    assert w1.lock(MODEL, "task-1") is True
    beat(store.client, "w1", age=3600)

    assert w2.lock(MODEL, "task-2") is False


def test_given_w1_holds_the_lock_when_w2_unlocks_then_nothing_happens(store: Store) -> None:
    w1 = flights(store.client, "w1")
    w2 = flights(store.new_client(), "w2")
    beat(store.client, "w1", age=0)
    assert w1.lock(MODEL, "task-1") is True

    w2.unlock(MODEL, "task-1")  # the same task id, another worker
    w2.unlock(MODEL, "task-2")

    assert holder(store.client) == b"w1|task-1"
    w1.unlock(MODEL, "task-1")
    assert holder(store.client) is None


def test_given_a_redis_stall_when_every_heartbeat_is_old_then_a_fresh_lock_is_kept(
    store: Store,
) -> None:
    w1 = flights(store.client, "w1")
    w2 = flights(store.new_client(), "w2")
    beat(store.client, "w1", age=10)  # every heartbeat is old right after a stall
    assert w1.lock(MODEL, "task-1") is True

    assert w2.lock(MODEL, "task-2") is False
