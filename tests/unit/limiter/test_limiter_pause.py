"""Pause: one worker's pause (after a 429) blocks every worker on the scope until it ends."""

from __future__ import annotations

import time

import pytest

from tests.unit.support.stores import Store, expect_go, expect_wait, make_limiter


def test_given_one_worker_pauses_then_every_worker_on_the_scope_waits(store: Store) -> None:
    pausing = make_limiter(store.client)
    other = make_limiter(store.new_client())

    end = pausing.pause(1.0)

    for limiter in (pausing, other):
        wait = expect_wait(limiter.acquire(), "paused")
        assert wait.seconds == pytest.approx(1.0, abs=0.1)
        assert limiter.paused_for() == pytest.approx(1.0, abs=0.1)
    seconds, micros = store.client.time()
    assert end == pytest.approx(seconds + micros / 1e6 + 1.0, abs=0.1)


def test_given_a_pause_when_it_ends_then_calls_are_granted(store: Store) -> None:
    limiter = make_limiter(store.client)
    limiter.pause(0.2)
    wait = expect_wait(limiter.acquire(), "paused")

    time.sleep(wait.seconds + 0.01)

    assert limiter.paused_for() == 0.0
    expect_go(limiter.acquire())


def test_a_smaller_pause_never_shortens_a_longer_one(store: Store) -> None:
    first = make_limiter(store.client)
    second = make_limiter(store.new_client())
    end = first.pause(1.0)

    assert second.pause(0.1) == end
    assert second.pause(0) == end

    assert first.paused_for() > 0.8
    assert expect_wait(second.acquire(), "paused").seconds > 0.8


def test_a_longer_pause_extends_a_shorter_one(store: Store) -> None:
    limiter = make_limiter(store.client)
    short_end = limiter.pause(0.2)

    long_end = limiter.pause(1.0)

    assert long_end > short_end + 0.7
    assert limiter.paused_for() > 0.8


def test_scopes_are_independent(store: Store) -> None:
    paused = make_limiter(store.client, scope="key-hash-a")
    free = make_limiter(store.new_client(), scope="key-hash-b")

    paused.pause(1.0)

    expect_wait(paused.acquire(), "paused")
    assert free.paused_for() == 0.0
    expect_go(free.acquire())


def test_given_no_pause_then_paused_for_is_zero_and_a_zero_pause_changes_nothing(
    store: Store,
) -> None:
    limiter = make_limiter(store.client)

    assert limiter.paused_for() == 0.0
    limiter.pause(0)

    assert limiter.paused_for() == 0.0
    assert store.client.exists(limiter.pause_key) == 0
    expect_go(limiter.acquire())


def test_pause_rejects_a_negative_duration(store: Store) -> None:
    with pytest.raises(ValueError, match="seconds"):
        make_limiter(store.client).pause(-1)
