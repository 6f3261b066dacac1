"""Behaviour: an unexpected exception during a step leaves no slot or lock behind.

Given the call fails in a way the upstream client does not map (a bug in a
transport, a library error), when a model's task advances, then the exception
reaches the task (which fails the model as an internal error), and the model's
step lock and its limiter lease are both given back at once, not only when their
TTLs run out.
"""

from __future__ import annotations

import httpx
import pytest

from tests.unit.reload_harness import Rig, rig_fixture  # noqa: F401
from worker import constants as c


def exploding(request: httpx.Request) -> httpx.Response:
    raise RuntimeError("a bug below the upstream client")


def test_given_an_unexpected_exception_then_it_propagates_and_the_step_lock_is_freed(
    rig: Rig,
) -> None:
    rig.build([exploding])

    with pytest.raises(RuntimeError, match="a bug below"):
        rig.advance("model-a")

    assert rig.upstream.calls == 1
    assert not rig.redis.exists(c.step_lock_key("model-a"))


def test_given_an_unexpected_exception_then_the_limiter_lease_is_given_back(rig: Rig) -> None:
    rig.build([exploding], max_in_flight=2)

    with pytest.raises(RuntimeError):
        rig.advance("model-a")

    assert rig.limiter.in_flight() == 0
