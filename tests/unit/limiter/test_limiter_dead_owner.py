"""Limiter leases of a dead worker: "<owner>|<id>" leases of an owner whose heartbeat (a
score in reload:workers) is older than dead_after are dropped when the cap is reached."""

from __future__ import annotations

import time

import redis

from tests.unit.support.stores import Store, expect_go, expect_wait, make_limiter
from worker import constants as c
from worker.limiter import Limiter

DEAD_AFTER = 5.0


def worker_limiter(client: redis.Redis, owner: str, *, dead_after: float = DEAD_AFTER) -> Limiter:
    return make_limiter(
        client,
        rate_count=100,
        max_in_flight=1,
        lease_seconds=30.0,
        owner=owner,
        workers_key=c.WORKERS_KEY,
        dead_after=dead_after,
    )


def beat(client: redis.Redis, owner: str, age: float) -> None:
    """``owner``'s last heartbeat, ``age`` seconds ago by the Redis clock."""
    seconds, micros = client.time()
    client.zadd(c.WORKERS_KEY, {owner: f"{seconds + micros / 1e6 - age:.6f}"})


def test_given_w1_holds_the_only_slot_and_beats_then_w2_waits(store: Store) -> None:
    w1 = worker_limiter(store.client, "w1")
    w2 = worker_limiter(store.new_client(), "w2")
    beat(store.client, "w1", age=0)
    lease = expect_go(w1.acquire()).lease
    assert lease.startswith("w1|")

    expect_wait(w2.acquire(), "in_flight")
    beat(store.client, "w1", age=DEAD_AFTER - 1)  # late, but not dead
    expect_wait(w2.acquire(), "in_flight")
    assert w1.renew(lease, 30.0) is True


def test_given_w1_holds_the_only_slot_when_its_heartbeat_is_old_then_w2_goes_at_once(
    store: Store,
) -> None:
    w1 = worker_limiter(store.client, "w1", dead_after=0.3)
    w2 = worker_limiter(store.new_client(), "w2", dead_after=0.3)
    beat(store.client, "w1", age=0)
    dead_lease = expect_go(w1.acquire()).lease
    expect_wait(w2.acquire(), "in_flight")

    beat(store.client, "w1", age=1)  # w1 stopped beating...
    expect_wait(w2.acquire(), "in_flight")  # ...but granted this lease 0.3 s ago or less
    time.sleep(0.35)
    granted = expect_go(w2.acquire())

    assert granted.lease.startswith("w2|")
    assert w2.in_flight() == 1
    assert w1.renew(dead_lease, 30.0) is False  # its slot is gone


def test_given_a_lease_of_an_owner_that_never_beat_then_it_is_not_dropped(store: Store) -> None:
    ghost = worker_limiter(store.client, "ghost")  # no entry in reload:workers
    w2 = worker_limiter(store.new_client(), "w2")
    beat(store.client, "w2", age=0)
    expect_go(ghost.acquire())

    expect_wait(w2.acquire(), "in_flight")  # only its TTL frees it
    assert w2.in_flight() == 1


def test_given_dead_after_0_then_even_a_dead_owners_lease_is_kept(store: Store) -> None:
    w1 = worker_limiter(store.client, "w1", dead_after=0)
    w2 = worker_limiter(store.new_client(), "w2", dead_after=0)
    expect_go(w1.acquire())
    beat(store.client, "w1", age=3600)

    expect_wait(w2.acquire(), "in_flight")
    assert w2.in_flight() == 1


def test_given_slots_free_then_a_dead_owners_lease_is_left_to_its_ttl(store: Store) -> None:
    # Dropping happens only when the cap is reached: below it, leases are not scanned.
    w1 = make_limiter(
        store.client,
        rate_count=100,
        max_in_flight=2,
        lease_seconds=30.0,
        owner="w1",
        workers_key=c.WORKERS_KEY,
        dead_after=DEAD_AFTER,
    )
    w1.acquire()
    beat(store.client, "w1", age=DEAD_AFTER + 1)
    w2 = make_limiter(
        store.new_client(),
        rate_count=100,
        max_in_flight=2,
        lease_seconds=30.0,
        owner="w2",
        workers_key=c.WORKERS_KEY,
        dead_after=DEAD_AFTER,
    )

    expect_go(w2.acquire())
    assert w2.in_flight() == 2


def test_given_a_redis_stall_when_every_heartbeat_is_old_then_a_fresh_lease_is_kept(
    store: Store,
) -> None:
    # Right after a Redis stall every worker's heartbeat is old until the pumps beat again;
    # a lease granted since then belongs to a worker that is plainly alive.
    w1 = worker_limiter(store.client, "w1")
    w2 = worker_limiter(store.new_client(), "w2")
    beat(store.client, "w1", age=DEAD_AFTER + 5)
    expect_go(w1.acquire())

    expect_wait(w2.acquire(), "in_flight")
