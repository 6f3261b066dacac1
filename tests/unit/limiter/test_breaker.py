"""Behaviour: the account's circuit breaker stops the key once, for every worker.

Contract tests on a real redis-server and fakeredis (the breaker's time is Redis's).
"""

from __future__ import annotations

import time

import pytest

from tests.unit.support.stores import Store
from worker.limiter import breaker as breaker_module
from worker.limiter.breaker import Breaker


def failed(brk: Breaker, model: str, *, caller: str = "t", sig: str = "ServerError:500:boom",
           permanent: bool = False, account: bool = False) -> tuple[str, float]:  # fmt: skip
    return brk.failed(
        model_id=model,
        caller=caller,
        signature=sig,
        reason=f"HTTP 500: {sig}",
        permanent=permanent,
        account=account,
    )


def test_given_a_bad_key_when_one_model_fails_then_every_caller_fails_at_once(
    store: Store,
) -> None:
    brk = Breaker(store.client, "scope", probe_seconds=5)
    assert brk.check("a").action == "go"

    assert failed(brk, "m1", sig="InvalidKey", permanent=True, account=True)[0] == "opened"

    other_worker = Breaker(store.new_client(), "scope", probe_seconds=5)
    verdict = other_worker.check("b")
    assert verdict.action == "fail"
    assert verdict.reason == "HTTP 500: InvalidKey"
    assert verdict.seconds > 50  # the next probe only after about a minute


def test_given_the_same_transient_error_for_three_different_models_then_the_key_waits(
    store: Store,
) -> None:
    brk = Breaker(store.client, "scope", probe_seconds=5)

    assert failed(brk, "m1") == ("closed", 1)
    assert failed(brk, "m1") == ("closed", 1)  # the same model again is not "several"
    assert failed(brk, "m2") == ("closed", 2)
    assert failed(brk, "m3")[0] == "opened"

    verdict = brk.check("any")
    assert verdict.action == "wait"
    assert 0 < verdict.seconds <= breaker_module.TRANSIENT_OPEN[0]


def test_given_a_success_or_another_error_between_then_the_streak_starts_again(
    store: Store,
) -> None:
    brk = Breaker(store.client, "scope", probe_seconds=5)
    failed(brk, "m1")
    failed(brk, "m2")
    assert brk.succeeded() is False  # it was not open
    assert failed(brk, "m3") == ("closed", 1)
    assert failed(brk, "m4", sig="UpstreamTimeout:None:timed out") == ("closed", 1)
    assert brk.check("x").action == "go"


def test_a_closed_breaker_says_whether_a_success_has_failures_to_reset(store: Store) -> None:
    # A clean "go" lets the reloader skip ``succeeded`` (a round trip per call).
    brk = Breaker(store.client, "scope", probe_seconds=5)
    assert brk.check("x") == breaker_module.Verdict("go", clean=True)

    failed(brk, "m1")
    assert brk.check("x") == breaker_module.Verdict("go", clean=False)

    brk.succeeded()
    assert brk.check("x").clean is True


def test_given_an_open_breaker_past_its_interval_then_one_probe_goes_and_its_failure_doubles(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(breaker_module, "TRANSIENT_OPEN", (0.2, 10.0))
    brk = Breaker(store.client, "scope", probe_seconds=5)
    for model in ("m1", "m2", "m3"):
        failed(brk, model)
    assert brk.check("early").action == "wait"
    time.sleep(0.25)

    assert brk.check("probe-task").action == "probe"
    assert brk.check("another").action == "wait"  # only one probe at a time
    assert failed(brk, "m9", caller="straggler") == ("open", 0)  # not the probe: ignored
    what, seconds = failed(brk, "m4", caller="probe-task")
    assert (what, seconds) == ("reopened", pytest.approx(0.4))


def half_open(store: Store, monkeypatch: pytest.MonkeyPatch, *, probe_seconds: float) -> Breaker:
    """A breaker opened by a transient error, its 0.1 s open interval over."""
    monkeypatch.setattr(breaker_module, "TRANSIENT_OPEN", (0.1, 10.0))
    brk = Breaker(store.client, "scope", probe_seconds=probe_seconds)
    for model in ("m1", "m2", "m3"):
        failed(brk, model)
    time.sleep(0.15)
    return brk


def test_given_the_probe_waited_for_the_limiter_when_it_asks_again_then_it_is_still_the_probe(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    brk = half_open(store, monkeypatch, probe_seconds=0.5)
    assert brk.check("probe-task").action == "probe"

    # Told to wait for a slot, it comes back: still the probe; nobody else is.
    assert brk.check("other").action == "wait"
    assert brk.check("probe-task").action == "probe"
    # Once its probe time is up, the probe goes to whoever asks first.
    time.sleep(0.55)
    assert brk.check("other").action == "probe"
    assert brk.check("probe-task").action == "wait"


def test_given_a_probe_answered_then_the_breaker_closes_for_everyone(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    brk = half_open(store, monkeypatch, probe_seconds=5)
    assert brk.check("probe").action == "probe"

    assert brk.succeeded() is True
    assert Breaker(store.new_client(), "scope", probe_seconds=5).check("x").action == "go"
