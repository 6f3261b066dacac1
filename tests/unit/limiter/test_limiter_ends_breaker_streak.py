"""The round trip that follows every call (``release`` or ``renew``) ends the key's breaker
streak when the call was answered: no round trip of its own, whenever the call was granted.
An error leaves the streak counting, and an open breaker is left to ``Breaker.succeeded``
(the answer of a call checked after a failure, or the probe's), which the worker logs.

Contract tests on a real redis-server and fakeredis.
"""

from __future__ import annotations

import pytest

from tests.unit.support.stores import Store, expect_go, make_limiter
from worker.limiter import Limiter
from worker.limiter.breaker import Breaker, breaker_key

Report = str  # "release" or "renew": how the call's slot is given back


@pytest.fixture
def limiter(store: Store) -> Limiter:
    return make_limiter(
        store.client, rate_count=100, max_in_flight=5, breaker_key=breaker_key("scope-a")
    )


@pytest.fixture
def breaker(store: Store) -> Breaker:
    return Breaker(store.client, "scope-a", probe_seconds=5)


def fail(brk: Breaker, model: str) -> tuple[str, float]:
    return brk.failed(model_id=model, caller=f"t-{model}", signature="ServerError:500",
                      reason="HTTP 500", permanent=False, account=False)  # fmt: skip


def report(limiter: Limiter, lease: str, how: Report, *, answered_ok: bool) -> None:
    if how == "release":
        limiter.release(lease, answered_ok=answered_ok)
    else:
        assert limiter.renew(lease, 30.0, answered_ok=answered_ok)


@pytest.mark.parametrize("how", ["release", "renew"])
def test_given_an_answer_then_the_streak_counted_while_the_call_was_out_ends(
    store: Store, limiter: Limiter, breaker: Breaker, how: Report
) -> None:
    go = expect_go(limiter.acquire(caller="a"))  # granted before any failure
    limiter.started(go.grant)
    assert fail(breaker, "m1") == ("closed", 1)
    assert fail(breaker, "m2") == ("closed", 2)

    report(limiter, go.lease, how, answered_ok=True)

    assert store.client.exists(*breaker.keys) == 0
    assert fail(breaker, "m3") == ("closed", 1)


@pytest.mark.parametrize("how", ["release", "renew"])
def test_given_an_error_then_the_streak_keeps_counting(
    limiter: Limiter, breaker: Breaker, how: Report
) -> None:
    go = expect_go(limiter.acquire(caller="a"))
    limiter.started(go.grant)
    fail(breaker, "m1")
    fail(breaker, "m2")

    report(limiter, go.lease, how, answered_ok=False)

    assert fail(breaker, "m3")[0] == "opened"


def test_given_an_open_breaker_then_the_release_leaves_it_open(
    limiter: Limiter, breaker: Breaker
) -> None:
    go = expect_go(limiter.acquire(caller="a"))
    limiter.started(go.grant)
    for model in ("m1", "m2", "m3"):
        fail(breaker, model)

    limiter.release(go.lease, answered_ok=True)

    assert breaker.check("b").action == "wait"


def test_without_a_breaker_an_answer_writes_nothing(store: Store) -> None:
    limiter = make_limiter(store.client, rate_count=100, max_in_flight=5)
    go = expect_go(limiter.acquire(caller="a"))
    limiter.started(go.grant)

    limiter.release(go.lease, answered_ok=True)

    assert store.client.exists(limiter.breaker_key, limiter.streak_key) == 0
