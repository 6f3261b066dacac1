"""Given the ledger and the workers' counters in Redis, /metrics reports them in Prometheus's
text format, read at scrape time (parsed back with prometheus_client's own parser)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from tests.unit.dashboard.conftest import NOW, Board
from worker.dashboard.metrics import FAMILIES
from worker.limiter.breaker import Breaker


def scrape(board: Board) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """family -> {(sample name, labels): value}."""
    text = board.get_ok("/metrics")
    return {
        family.name: {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}
        for family in text_string_to_metric_families(text)
    }


def test_every_family_is_present_on_an_empty_redis(board: Board) -> None:
    metrics = scrape(board)

    assert set(metrics) >= FAMILIES
    assert metrics["reload_batches_open"] == {("reload_batches_open", ()): 0.0}
    calls = metrics["reload_upstream_calls"]
    assert {dict(labels)["answer"] for _, labels in calls} == {
        "accepted", "loading", "warm", "rate_limited", "transient", "permanent",
    }  # fmt: skip
    assert set(calls.values()) == {0.0}


def test_counters_and_models_per_state_match_what_redis_holds(board: Board) -> None:
    monitor = board.sources.monitor
    for answer, times in {"accepted": 3, "warm": 2, "permanent": 1, "rate_limited": 2}.items():
        for _ in range(times):
            monitor.answered(answer, now=NOW)
    board.batch("b1", {"a": ("warm", None, 2, NOW), "b": ("waiting", "limiter: rate", 0, NOW)})
    board.batch("b2", {"c": ("failed", "HTTP 404", 1, NOW), "d": ("queued", None, 0, NOW)})
    monitor.batch_completed("old-1", duration=45.0, now=NOW)
    monitor.batch_completed("old-2", duration=250.0, now=NOW)

    metrics = scrape(board)

    calls = {
        dict(labels)["answer"]: v for (_, labels), v in metrics["reload_upstream_calls"].items()
    }
    assert calls == {
        "accepted": 3, "loading": 0, "warm": 2, "rate_limited": 2, "transient": 0, "permanent": 1,
    }  # fmt: skip
    models = {dict(labels)["state"]: v for (_, labels), v in metrics["reload_models"].items()}
    assert models == {
        "queued": 1, "waiting": 1, "reloading": 0, "warm": 1, "failed": 1, "cancelled": 0,
    }  # fmt: skip
    assert metrics["reload_batches_open"][("reload_batches_open", ())] == 2
    assert metrics["reload_batches_completed"][("reload_batches_completed_total", ())] == 2
    histogram = metrics["reload_batch_duration_seconds"]
    assert histogram[("reload_batch_duration_seconds_bucket", (("le", "30.0"),))] == 0
    assert histogram[("reload_batch_duration_seconds_bucket", (("le", "60.0"),))] == 1
    assert histogram[("reload_batch_duration_seconds_bucket", (("le", "300.0"),))] == 2
    assert histogram[("reload_batch_duration_seconds_bucket", (("le", "+Inf"),))] == 2
    assert histogram[("reload_batch_duration_seconds_count", ())] == 2
    assert histogram[("reload_batch_duration_seconds_sum", ())] == 295.0


def test_the_limiter_and_breaker_gauges_are_per_key_scope(
    board: Board, publish_account: Callable[..., str]
) -> None:
    scope = publish_account(max_in_flight=3)
    client = board.client
    client.zadd(f"reload:limiter:{scope}:leases", {"w|1": NOW + 5})
    client.set(f"reload:limiter:{scope}:pause", repr(NOW + 4.0))
    client.hset(
        Breaker(client, scope, probe_seconds=1).keys[0], mapping={"state": "open", "until": NOW + 9}
    )

    metrics = scrape(board)

    label = (("account", scope),)
    assert metrics["reload_limiter_in_flight"] == {("reload_limiter_in_flight", label): 1}
    assert metrics["reload_limiter_in_flight_cap"] == {("reload_limiter_in_flight_cap", label): 3}
    assert metrics["reload_limiter_paused_seconds"] == {("reload_limiter_paused_seconds", label): 4}
    assert metrics["reload_breaker_open"] == {("reload_breaker_open", label): 1}
