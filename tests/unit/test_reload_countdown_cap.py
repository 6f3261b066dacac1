"""Behaviour: no countdown is longer than ``Settings.longest_countdown`` (design rule 7).

Given a wait longer than the longest countdown (a 429 asking for an hour, a
load whose eta is beyond it), when the task is rescheduled, then its countdown
is capped; coming back early it is told the rest of the wait, and no call is
made before the flight's next step is due.
"""

from __future__ import annotations

from tests.unit.reload_harness import Rig, error, rig_fixture, success  # noqa: F401
from worker.reload import Later


def test_given_a_429_asking_for_an_hour_then_countdowns_are_capped_and_no_early_call(
    rig: Rig,
) -> None:
    rig.build(
        [error(429, "Rate limit exceeded.", retry_after=3600), success(), success()],
        limiter="stub",
        warm_seconds=120.0,
        backoff_max_seconds=60.0,
        deadline_seconds=7200.0,
    )
    longest = rig.settings.longest_countdown

    steps = []
    for _ in range(40):
        step = rig.advance("model-a")
        assert isinstance(step, Later)
        steps.append(step)
        if rig.upstream.calls > 1:
            break
        rig.clock.advance(step.seconds)

    assert longest == 120.0
    assert all(step.seconds <= longest for step in steps)
    assert steps[0].seconds == longest
    # The second call came only after the hour the upstream asked for.
    assert sum(step.seconds for step in steps[:-1]) >= 3600.0
    assert rig.upstream.calls == 2
