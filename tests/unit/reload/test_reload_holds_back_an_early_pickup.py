"""Behaviour: a grant taken ahead counts from a moment after it was taken (the pump's lead),
and a task that picks it up sooner sends its call no sooner than that moment."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.unit.support.reload_rig import Rig, success
from tests.unit.support.stores import expect_go, redis_now
from worker.limiter import limiter as limiter_module
from worker.reload.reloader import Later
from worker.settings import Rate

LEAD = 0.3


def test_given_a_grant_picked_up_before_its_moment_then_the_call_waits_for_it(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limiter_module, "AHEAD_LEAD_SECONDS", LEAD)
    rig.build([success()], rate=Rate(1, 1.0))
    sent_at: list[float] = []
    answer = rig.upstream.answers[0]

    def timed(request: httpx.Request) -> httpx.Response:
        sent_at.append(redis_now(rig.redis))
        return answer(request)

    rig.upstream.answers[0] = timed
    first = expect_go(rig.limiter.acquire())  # the window's one grant leaves it within the lead
    time.sleep(max(0.0, first.at + rig.limiter.window - LEAD / 2 - redis_now(rig.redis)))
    ahead = expect_go(rig.limiter.acquire(caller="task-1", ahead=rig.limiter.ahead_seconds))
    counted_from = first.at + rig.limiter.window
    assert counted_from > ahead.at

    step = rig.advance("model-a", "task-1")

    assert isinstance(step, Later) and step.reason == "accepted; confirming"
    assert sent_at and sent_at[0] >= counted_from
    assert sent_at[0] < counted_from + 0.2  # held back until then, not much longer
