"""``/metrics``: account-wide figures read from Redis at scrape time, in Prometheus's format.

A custom collector (``prometheus_client``'s ``Collector``: ``collect()`` yields metric
families, listed on ``ReloadCollector``) on a private ``CollectorRegistry``: nothing is
counted in this process, so any number of dashboards and workers report one truth.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from worker.batch.ledger import STATES
from worker.dashboard.account import AccountView, account_views
from worker.dashboard.sources import Sources

__all__ = ["FAMILIES", "ReloadCollector", "registry_for", "render"]

# The families the README documents (a scrape always has them, also on an empty Redis).
FAMILIES = frozenset(
    {
        "reload_upstream_calls",
        "reload_models",
        "reload_batches_open",
        "reload_batches_completed",
        "reload_batch_duration_seconds",
        "reload_limiter_in_flight",
        "reload_limiter_paused_seconds",
        "reload_breaker_open",
    }
)


class ReloadCollector(Collector):
    """Reads the ledger, the monitoring counters and the limiter on every scrape.

    - ``reload_upstream_calls_total{answer}``: upstream calls by answer
      (``worker.monitoring.ANSWERS``);
    - ``reload_models{state}``: models of the open batches per ledger state;
    - ``reload_batches_open``, ``reload_batches_completed_total``,
      ``reload_batch_duration_seconds`` (histogram: first call to last model final);
    - per key scope (``account``, an opaque id, never the key): ``reload_limiter_in_flight``,
      ``reload_limiter_in_flight_cap``, ``reload_limiter_calls_in_window``,
      ``reload_limiter_rate_limit``, ``reload_limiter_paused_seconds``,
      ``reload_rate_limited_last_minute``, ``reload_breaker_open``.

    Parameters:
        sources: what the dashboard reads.
    """

    def __init__(self, sources: Sources) -> None:
        self.sources = sources

    def collect(self) -> Iterable[Metric]:
        """The metric families above, read from Redis now (``prometheus_client``'s hook)."""
        sources = self.sources
        now = sources.clock()
        calls = CounterMetricFamily(
            "reload_upstream_calls",
            "Upstream calls answered, by kind of answer.",
            labels=["answer"],
        )
        for answer, count in sources.monitor.answers().items():
            calls.add_metric([answer], count)
        yield calls

        open_ids = sources.ledger.open_batches()
        per_state = dict.fromkeys(STATES, 0)
        for batch_id in open_ids:
            for state, count in sources.ledger.counts(batch_id).items():
                per_state[state] = per_state.get(state, 0) + count
        models = GaugeMetricFamily(
            "reload_models", "Models of the open batches, by ledger state.", labels=["state"]
        )
        for state, count in per_state.items():
            models.add_metric([state], count)
        yield models
        yield GaugeMetricFamily(
            "reload_batches_open", "Batches not completed yet.", value=len(open_ids)
        )
        yield CounterMetricFamily(
            "reload_batches_completed",
            "Batches completed (summary written).",
            value=sources.monitor.batches_completed(),
        )
        durations = sources.monitor.durations()
        yield HistogramMetricFamily(
            "reload_batch_duration_seconds",
            "Completed batches' durations: start to the last model final.",
            buckets=[("+Inf" if math.isinf(b) else repr(b), n) for b, n in durations.buckets],
            sum_value=durations.total_seconds,
        )
        yield from _limiter_families(sources, now)


# Per key scope: (name, help, the figure of an AccountView).
_ACCOUNT_GAUGES: tuple[tuple[str, str, Callable[[AccountView], float]], ...] = (
    ("reload_limiter_in_flight", "Upstream calls in flight (live leases).", lambda v: v.in_flight),
    (
        "reload_limiter_in_flight_cap",
        "The in-flight cap in force (lowered by 429s, up to RELOAD_MAX_IN_FLIGHT).",
        lambda v: v.cap,
    ),
    (
        "reload_limiter_calls_in_window",
        "Calls granted in the current sliding window.",
        lambda v: v.calls_in_window,
    ),
    ("reload_limiter_rate_limit", "Calls allowed per window.", lambda v: v.rate_count),
    (
        "reload_limiter_paused_seconds",
        "Seconds left of the key's pause (429, retry_after), 0 if none.",
        lambda v: v.paused_for,
    ),
    (
        "reload_rate_limited_last_minute",
        "429 answers in the last minute.",
        lambda v: v.rate_limited_last_minute,
    ),
    (
        "reload_breaker_open",
        "1 while the key's circuit breaker is open.",
        lambda v: 1.0 if v.breaker_open else 0.0,
    ),
)


def _limiter_families(sources: Sources, now: float) -> Iterable[Metric]:
    views = account_views(sources, now=now)
    for name, documentation, figure in _ACCOUNT_GAUGES:
        family = GaugeMetricFamily(name, documentation, labels=["account"])
        for view in views:
            family.add_metric([view.scope], figure(view))
        yield family


def registry_for(sources: Sources) -> CollectorRegistry:
    """A private registry holding only the reload collector (no process metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReloadCollector(sources))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The registry's figures in Prometheus's text format (reads Redis now)."""
    return generate_latest(registry)
