"""Behaviour: an accepted reload is checked at the moment it should be over, not later, and
one still loading then is checked again soon, not after an eighth of the reload time.

The model keeps one of the account's queued slots until a check says it is warm: every
second between its end and that check is a second the account cannot use
(docs/decisions/0019-a-reload-is-checked-when-it-should-be-done.md).
"""

from __future__ import annotations

import pytest

from tests.unit.support.reload_rig import Rig, processing, success
from worker.reload import backoff
from worker.reload.reloader import Final, Later

WARM = 120.0


def later(step: Final | Later) -> Later:
    assert isinstance(step, Later), step
    return step


def test_given_an_accepted_reload_then_it_is_checked_when_it_should_be_over(rig: Rig) -> None:
    rig.build([success()], warm_seconds=WARM)

    step = later(rig.advance("model-a"))

    # RELOAD_WARM_SECONDS after the call, 0.1 % and 10 ms for the clocks: not 2.4 s later.
    assert step.seconds == pytest.approx(WARM * 1.001 + 0.01)


def test_given_a_reload_still_loading_at_its_end_then_it_is_checked_again_soon(
    rig: Rig,
) -> None:
    rig.build([success(), processing(), processing(), processing(), success()], warm_seconds=WARM)
    rig.advance("model-a")
    rig.clock.advance(WARM * 1.001 + 0.01)

    steps = []
    for _ in range(3):
        step = later(rig.advance("model-a"))
        steps.append(step.seconds)
        rig.clock.advance(step.seconds)
    final = rig.advance("model-a")

    # 2 % of the reload time, doubling: 2.45, 4.85, 9.65 s (was 15 s, then 22.5, 33.8).
    assert steps == pytest.approx([2.45, 4.85, 9.65])
    assert isinstance(final, Final) and final.outcome.state == "warm"


def test_given_an_overdue_reload_with_an_eta_then_it_is_checked_at_the_eta(rig: Rig) -> None:
    rig.build([success(), processing(eta=1.0)], warm_seconds=WARM)
    rig.advance("model-a")
    rig.clock.advance(WARM * 1.001 + 0.01)

    step = later(rig.advance("model-a"))

    # Never sooner than 2 % of the reload time (2.4 s), though the eta says 1 s.
    assert step.seconds == pytest.approx(2.4 * 1.02 + 0.05)


def test_a_model_found_loading_by_its_first_call_is_polled_as_before(rig: Rig) -> None:
    # Its load was not ours to time: an eighth of the reload time, growing.
    rig.build([processing()], warm_seconds=WARM)

    step = later(rig.advance("model-a"))

    assert step.seconds == pytest.approx(WARM / 8 + 0.05)


def test_overdue_checks_grow_to_half_the_reload_time() -> None:
    delays = [backoff.poll_delay(None, n, warm_seconds=WARM, overdue=True) for n in range(1, 12)]

    assert delays == sorted(delays)
    assert delays[0] == pytest.approx(WARM * backoff.OVERDUE_STEP + 0.05)
    assert delays[-1] == pytest.approx(WARM / 2 + 0.05)
