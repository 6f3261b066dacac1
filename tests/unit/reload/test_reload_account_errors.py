"""Behaviour: an error that is the account's stops the key once, not model by model.

Given a wrong key answered with HTTP 200 (ModelsLab's way, legacy ``messege``), the first
model fails with the upstream's reason, the key's waiting models are woken, and the next
model fails without calling. Given the same unknown error for several models, the key
waits for a probe instead of every model retrying. A 429 without ``retry_after`` pauses the
key longer each time in a row. A model "already loaded" is confirmed in seconds.
"""

from __future__ import annotations

import httpx

from tests.unit.support.reload_rig import Rig, error, success
from worker.reload.reloader import Final, Later


def legacy_bad_key(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"status": "error", "messege": "Invalid API key"})


def test_given_a_wrong_key_on_http_200_then_one_call_stops_the_key_for_every_model(
    rig: Rig,
) -> None:
    rig.build([legacy_bad_key], breaker=True)

    first = rig.advance("m1", "t1")
    second = rig.advance("m2", "t2")

    assert isinstance(first, Final) and first.outcome.state == "failed"
    assert first.outcome.reason == "HTTP 200: Invalid API key"
    assert isinstance(second, Final) and second.outcome.reason == "HTTP 200: Invalid API key"
    assert rig.upstream.calls == 1  # the second model was never called
    assert len(rig.key_stops) == 1  # the waiters were woken once


def test_given_an_unknown_model_then_the_key_goes_on(rig: Rig) -> None:
    rig.build([error(404, "Model not found: m1"), success()], breaker=True)

    assert isinstance(rig.advance("m1", "t1"), Final)
    later = rig.advance("m2", "t2")

    assert isinstance(later, Later)  # m2 was called and accepted
    assert rig.upstream.calls == 2
    assert rig.key_stops == []


def test_given_the_same_unknown_error_for_three_models_then_the_fourth_waits_without_a_call(
    rig: Rig,
) -> None:
    oops = error(200, "Oops (E42)")
    rig.build([oops, oops, oops], breaker=True)

    for model in ("m1", "m2", "m3"):
        assert isinstance(rig.advance(model, f"t-{model}"), Later)
    fourth = rig.advance("m4", "t-m4")

    assert isinstance(fourth, Later)
    assert "circuit breaker" in fourth.reason
    assert rig.upstream.calls == 3  # a pause, not a storm
    assert rig.key_stops == []  # transient: models wait, they do not fail


def test_given_429s_without_retry_after_in_a_row_then_each_pause_is_twice_as_long(
    rig: Rig,
) -> None:
    rate_limited = error(429, "Rate limit exceeded")
    rig.build([rate_limited, rate_limited, rate_limited, success()], limiter="stub")

    for _ in range(3):
        step = rig.advance("m1")
        assert isinstance(step, Later)
        rig.clock.advance(step.seconds)

    assert rig.limiter.pauses == [1.0, 2.0, 4.0]  # base 1 s, doubling, reset by an answer


def test_given_a_model_already_loaded_then_it_is_confirmed_in_about_a_second(rig: Rig) -> None:
    rig.build([success("Model already loaded"), success("Model already loaded")])

    final, laters = rig.run("m1")

    assert final.outcome.state == "warm"
    assert [round(later.seconds, 2) for later in laters] == [1.05]  # not RELOAD_WARM_SECONDS
    assert final.outcome.upstream_calls == 2
