"""Behaviour: the API key appears in no reason and nowhere in Redis.

Given an upstream whose error messages echo the API key back, when models are
reloaded through errors, 429s, loading answers and failures, then no
``Later.reason``, no outcome, and no key name or value stored in Redis contains
the key: every echo was replaced before it left the upstream client.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.unit.support.reload_rig import KEY, Rig, error, processing, success
from worker.reload.reloader import Final, Later


def everything_stored(rig: Rig) -> list[Any]:
    """Every key name and every value (string, hash field and value, set member) in Redis."""
    found: list[Any] = []
    for key in rig.redis.scan_iter(match="*"):
        found.append(key)
        kind = rig.redis.type(key)
        if kind == b"string":
            found.append(rig.redis.get(key))
        elif kind == b"hash":
            for field, value in rig.redis.hgetall(key).items():
                found.extend([field, value])
        elif kind == b"zset":
            members: list[Any] = rig.redis.zrange(key, 0, -1)
            found.extend(members)
        else:
            raise AssertionError(f"unexpected type {kind!r} at {key!r}")
    return found


def test_given_an_upstream_that_echoes_the_key_then_it_is_in_no_reason_and_nowhere_in_redis(
    rig: Rig,
) -> None:
    def legacy(request: httpx.Request) -> httpx.Response:
        body = {"status": "error", "messege": {"key": [f"{KEY} is not valid"]}}
        return httpx.Response(401, json=body)

    answers = [
        error(500, f"internal error for key {KEY}"),
        error(429, f"too many requests for {KEY}", retry_after=1),
        processing(eta=10, message=f"loading for {KEY}"),
        error(200, f"key={KEY} queue full"),
        legacy,
    ]
    rig.build(answers, limiter="redis", max_retries=3)

    steps: list[Final | Later] = []
    for _ in range(10):
        step = rig.advance("model-a")
        steps.append(step)
        if isinstance(step, Final):
            break
        # The limiter's pause runs on Redis's own clock: lift it rather than wait for it.
        rig.redis.delete(rig.limiter.pause_key)
        rig.clock.advance(step.seconds)

    final = steps[-1]
    assert isinstance(final, Final)
    assert final.outcome.state == "failed"
    assert rig.upstream.calls == 5
    reasons = [step.reason for step in steps if isinstance(step, Later)]
    reasons.append(final.outcome.reason or "")
    reasons.append(final.outcome.to_json())
    assert all(KEY not in reason for reason in reasons), reasons
    assert "***" in reasons[-2]  # the echo was redacted, not dropped
    stored = everything_stored(rig)
    assert stored, "the run left its outcome in Redis"
    assert all(KEY.encode() not in value for value in stored)


def test_given_a_warm_run_then_no_redis_key_or_value_holds_the_key(rig: Rig) -> None:
    rig.build([success(f"ok {KEY}"), success(f"already loaded {KEY}")])

    final, laters = rig.run("model-a")

    assert final.outcome.state == "warm"
    assert all(KEY not in later.reason for later in laters)
    assert all(KEY.encode() not in value for value in everything_stored(rig))
