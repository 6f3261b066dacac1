"""Behaviour: an answer raises a lowered cap and resets the breaker's failures, and only then
costs the Redis round trips that do it.

Given the real limiter and breaker on Redis, when a model goes through its calls with
nothing lowered and no failure counted, then neither ``Limiter.grow`` nor
``Breaker.succeeded`` is called (two round trips per call the scale scenario paid for
nothing); with a cap lowered by a 429, or a failure counted by the breaker, the answer
still raises the one and resets the other.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.support.reload_rig import Rig, success
from worker.reload.reloader import Final


def _spy(monkeypatch: pytest.MonkeyPatch, target: Any, name: str) -> list[object]:
    calls: list[object] = []
    real = getattr(target, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        calls.append(result)
        return result

    monkeypatch.setattr(target, name, spy)
    return calls


def test_given_nothing_to_raise_or_reset_then_answers_make_no_such_call(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    reloader = rig.build([success(), success()], breaker=True)
    assert reloader.breaker is not None
    grows = _spy(monkeypatch, rig.limiter, "grow")
    resets = _spy(monkeypatch, reloader.breaker, "succeeded")

    final, _ = rig.run("model-a")

    assert isinstance(final, Final) and final.outcome.state == "warm"
    assert rig.upstream.calls == 2
    assert (grows, resets) == ([], [])


def test_given_a_cap_lowered_by_a_429_then_an_answer_raises_it(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig.build([success(), success()], breaker=True, max_in_flight=5)
    assert rig.limiter.shrink() == (1, 1)  # nothing in flight: down to 1
    grows = _spy(monkeypatch, rig.limiter, "grow")

    final, _ = rig.run("model-a")

    assert isinstance(final, Final) and final.outcome.state == "warm"
    assert grows == [2, 2]  # 1 -> 2 after one answer; at 2 it takes two
    assert rig.redis.get(rig.limiter.cap_key) == b"2"


def test_given_a_failure_counted_by_the_breaker_then_an_answer_resets_it(rig: Rig) -> None:
    reloader = rig.build([success(), success()], breaker=True)
    breaker = reloader.breaker
    assert breaker is not None
    what, streak = breaker.failed(
        model_id="model-b", caller="task-b", signature="TransientError:502:bad gateway",
        reason="bad gateway", permanent=False, account=False,
    )  # fmt: skip
    assert (what, streak) == ("closed", 1.0)

    final, _ = rig.run("model-a")

    assert isinstance(final, Final) and final.outcome.state == "warm"
    assert not rig.redis.exists(*breaker.keys)  # the streak of model-b's kind is over
