"""Scripts survive SCRIPT FLUSH (as after a Redis restart): EVALSHA reloads on NOSCRIPT."""

from __future__ import annotations

import hashlib

from tests.unit.support.stores import Store, expect_go, expect_wait, make_limiter
from worker.limiter import scripts


def test_given_the_script_cache_is_flushed_then_every_operation_still_works(store: Store) -> None:
    store.skip_unless_real("SCRIPT FLUSH / NOSCRIPT reload is checked against a real server")
    limiter = make_limiter(store.client, rate_count=2, max_in_flight=1)
    first = expect_go(limiter.acquire())
    sha = hashlib.sha1(scripts.ACQUIRE.encode()).hexdigest()
    assert store.client.script_exists(sha) == [True]

    store.client.script_flush()
    assert store.client.script_exists(sha) == [False]

    # State in the keys is untouched: the cap still blocks after the reload.
    expect_wait(limiter.acquire(), "in_flight")
    assert store.client.script_exists(sha) == [True]
    assert limiter.renew(first.lease, 5.0) is True
    assert limiter.in_flight() == 1
    limiter.release(first.lease)
    store.client.script_flush()
    expect_go(limiter.acquire())
    expect_wait(limiter.acquire(), "rate")
    store.client.script_flush()
    assert limiter.pause(0.5) > 0
    store.client.script_flush()
    assert limiter.paused_for() > 0


def test_given_a_second_limiter_after_a_flush_then_it_loads_the_same_script(store: Store) -> None:
    store.skip_unless_real("SCRIPT FLUSH / NOSCRIPT reload is checked against a real server")
    before = make_limiter(store.client)
    store.client.script_flush()

    after = make_limiter(store.new_client())
    expect_go(after.acquire())

    assert store.client.script_exists(hashlib.sha1(scripts.ACQUIRE.encode()).hexdigest()) == [True]
    expect_go(before.acquire())
