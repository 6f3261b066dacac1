"""Helpers for the reliability tests (kills, restarts, faults, secrets, bad input).

Plain functions over the real system: wait for a condition, read the limiter's
leases against Redis ``TIME``, and summarise what the simulator's ledger saw.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

LEASES_PATTERN = "reload:limiter:*:leases"


def wait_until(
    check: Callable[[], bool], *, timeout: float, what: str, every: float = 0.05
) -> None:
    """Poll ``check`` until it is true, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def redis_now(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return float(seconds) + micros / 1e6


def live_leases(client: redis.Redis) -> int:
    """Concurrency leases whose expiry is still ahead of Redis ``TIME``."""
    now = redis_now(client)
    return sum(
        int(client.zcount(key, f"({now}", "+inf")) for key in client.scan_iter(LEASES_PATTERN)
    )


def lease_expiries(client: redis.Redis) -> list[float]:
    """Every lease's expiry (score) in every limiter's leases set."""
    return [
        float(score)
        for key in client.scan_iter(LEASES_PATTERN)
        for _, score in client.zrange(key, 0, -1, withscores=True)
    ]


def assert_no_lease_past_expiry(client: redis.Redis) -> None:
    """No lease is live at the end, and none is held beyond its own expiry."""
    now = redis_now(client)
    held = [score for score in lease_expiries(client) if score > now]
    assert held == [], f"leases still taken at Redis time {now}: {held}"


def max_calls(seen: dict[str, Any]) -> int:
    calls: dict[str, int] = seen["calls_per_model"]
    return max(calls.values(), default=0)


def result_of(app: Any, task_id: str, *, timeout: float, every: float = 0.2) -> Any:
    """A task's result, polled from the backend (no pub/sub subscription left open, which
    would outlive a Redis restart and reconnect in ``__del__``)."""
    meta: dict[str, Any] = {}

    def ready() -> bool:
        meta.clear()
        meta.update(app.backend.get_task_meta(task_id))
        return meta.get("status") == "SUCCESS"

    wait_until(ready, timeout=timeout, what=f"the result of {task_id}", every=every)
    return meta["result"]


def child_pids(pid: int) -> set[int]:
    """The direct children of ``pid`` (a worker's pool processes), from ``/proc``."""
    found: set[int] = set()
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found.update(int(p) for p in (task / "children").read_text().split())
    except FileNotFoundError:
        pass
    return found


def launch_until_a_third_called(
    producer: Any, sim: Any, models: list[str], *, callback_url: str
) -> str:
    """Send ``warmup_batch`` by name, then wait until the upstream has seen a third of its
    models (the batch far from done): the moment the fault tests strike. Returns its id."""
    from tests.integration.conftest import ledger_of

    request = producer.send_task(
        "warmup_batch", args=[models], kwargs={"callback_url": callback_url}
    )
    batch_id: str = result_of(producer, request.id, timeout=30)
    wait_until(
        lambda: len(ledger_of(sim)["calls_per_model"]) >= len(models) // 3,
        timeout=30,
        what="a third of the models called",
    )
    return batch_id
