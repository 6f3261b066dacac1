"""The scenarios, their limits and the ideal bound each is measured against.

The ideal bound is what the upstream's limits allow at best, with zero
overhead anywhere (a true lower bound: no contender can beat it):

- rate-bound: every cold model needs two calls (the reload and the
  confirmation). The last call comes no earlier than ``2 * models / rate``,
  and the last model's confirmation no earlier than its reload call
  (``models / rate`` at best) plus one reload time: the bound is the larger;
  if the in-flight cap binds before the rate (``in_flight / latency < rate``)
  the call term uses that throughput instead;
- queue-bound: a loading model holds one of the ``queue_limit`` slots for a
  reload time, and the slots start together, so they go in rounds:
  ``ceil(models / queue_limit) * reload`` (or the rate bound, if larger). 100
  models on 15 slots take 7 rounds, not 6.67.

Issue 6 words the bound as "calls needed / rate (or models x reload / queue
limit), plus one reload time"; :func:`issue_ideal_seconds` computes that
looser figure too, and both are reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

__all__ = [
    "CONTENDERS",
    "Scenario",
    "ideal_seconds",
    "issue_ideal_seconds",
    "scenarios",
]

Bound = Literal["rate", "queue"]
CONTENDERS = ("project", "asyncio", "dramatiq", "naive")

MIXED_FAULTS = (("500", 0.03), ("503", 0.03), ("reset", 0.02), ("error200", 0.02))


@dataclass(frozen=True)
class Scenario:
    """One simulator configuration and the limits the contenders are given."""

    name: str
    bound: Bound
    models: int
    rate: int  # upstream calls per second, account-wide
    in_flight: int  # concurrent upstream requests (queue-bound: queued incl. loading)
    reload_s: float  # real seconds, as the contenders see it (simulated: x time_scale)
    latency_s: float = 0.02
    time_scale: float = 1.0  # the simulator's --time-scale: simulated seconds per real one
    queue_limit: int | None = None  # enforced by the simulator (429 over it)
    loading_counts: bool = False
    faults: tuple[tuple[str, float], ...] = ()
    contenders: tuple[str, ...] = CONTENDERS
    naive_models: int | None = None  # naive Celery runs this many models (None: all)
    timeout_s: float = 600.0  # any contender still running after this is stopped
    measure_redis: bool = False
    note: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)

    def models_for(self, contender: str) -> int:
        if contender == "naive" and self.naive_models is not None:
            return min(self.naive_models, self.models)
        return self.models

    def ideal_s(self, models: int | None = None) -> float:
        return ideal_seconds(
            self.bound,
            models=self.models if models is None else models,
            rate=self.rate,
            in_flight=self.in_flight,
            reload_s=self.reload_s,
            latency_s=self.latency_s,
            queue_limit=self.queue_limit,
        )

    def issue_ideal_s(self, models: int | None = None) -> float:
        return issue_ideal_seconds(
            self.bound,
            models=self.models if models is None else models,
            rate=self.rate,
            reload_s=self.reload_s,
            queue_limit=self.queue_limit,
        )

    def sim_args(self, key: str) -> list[str]:
        scale = self.time_scale  # the simulator divides every duration it is given by this
        args = [
            "--key", key,
            "--reload-seconds", f"{self.reload_s * scale:g}",
            "--latency", f"{self.latency_s * scale:g}",
            "--retry-after", f"{2 * scale:g}",
            "--timeout-hold", f"{scale:g}",
            "--seed", "1",
        ]  # fmt: skip
        if scale != 1.0:
            args += ["--time-scale", f"{scale:g}"]
        if self.queue_limit is not None:
            args += ["--queue-limit", str(self.queue_limit)]
        args.append("--loading-counts" if self.loading_counts else "--no-loading-counts")
        for kind, probability in self.faults:
            args += ["--fault", f"{kind}={probability:g}"]
        return args


def ideal_seconds(
    bound: Bound,
    *,
    models: int,
    rate: float,
    in_flight: int,
    reload_s: float,
    latency_s: float = 0.0,
    queue_limit: int | None = None,
) -> float:
    """The physical lower bound on warming ``models`` cold models (see the module docstring)."""
    if models <= 0:
        return 0.0
    throughput = rate if latency_s <= 0 else min(rate, in_flight / latency_s)
    rate_bound = max(2 * models / throughput, models / throughput + reload_s)
    if bound == "queue":
        if not queue_limit:
            raise ValueError("a queue-bound scenario needs a queue limit")
        return max(math.ceil(models / queue_limit) * reload_s, rate_bound)
    return rate_bound


def issue_ideal_seconds(
    bound: Bound, *, models: int, rate: float, reload_s: float, queue_limit: int | None = None
) -> float:
    """Issue 6's wording: calls needed / rate (or models x reload / queue limit) + one reload."""
    if models <= 0:
        return 0.0
    if bound == "queue":
        if not queue_limit:
            raise ValueError("a queue-bound scenario needs a queue limit")
        return models * reload_s / queue_limit + reload_s
    return 2 * models / rate + reload_s


def scenarios(quick: bool) -> list[Scenario]:
    """The four scenarios of issue 6 and issue 14's real-world shaped fifth; ``quick`` shrinks
    the counts (and skips naive Celery and Dramatiq in the faulty scenario) so that the whole
    run takes a few minutes, with bounds of about 20 s: long enough that a fixed second of
    start-up or of the last confirmation does not dominate the ratios."""
    rate_bound = Scenario(
        name="1-rate-bound",
        bound="rate",
        models=500 if quick else 2000,
        rate=50,
        in_flight=10,
        reload_s=3.0,
        naive_models=16 if quick else 200,
    )
    queue_bound = Scenario(
        name="2-queue-bound",
        bound="queue",
        models=100 if quick else 300,
        rate=50,
        in_flight=15,
        reload_s=3.0,
        queue_limit=15,
        loading_counts=True,
        naive_models=16 if quick else 120,
        extra_env={"RELOAD_LOADING_HOLDS_SLOT": "true"},
    )
    faulty = replace(
        rate_bound,
        name="3-faulty",
        faults=MIXED_FAULTS,
        contenders=("project", "asyncio", "naive") if not quick else ("project", "asyncio"),
        note="10 % transient faults (500, 503, reset, HTTP-200 error); ideal assumes none",
    )
    scale = Scenario(
        name="4-scale",
        bound="rate",
        models=1000 if quick else 10_000,
        rate=200,
        in_flight=20,
        reload_s=6.0 if quick else 60.0,
        contenders=("project", "dramatiq"),
        measure_redis=True,
        note="every model is in flight at once: the last is accepted before the first is warm",
    )
    # Real-world shaped: ModelsLab's two-minute reloads and a queue of 10, the simulator's
    # clock 30 times faster so that 1,000 models take minutes (a reload: 4 real seconds).
    real_world = Scenario(
        name="5-real-world",
        bound="queue",
        models=100 if quick else 1000,
        rate=50,
        in_flight=10,
        reload_s=4.0,
        time_scale=30.0,
        queue_limit=10,
        loading_counts=True,
        contenders=("project", "asyncio"),
        extra_env={"RELOAD_LOADING_HOLDS_SLOT": "true"},
        note="reload 120 s simulated at --time-scale 30 (4 s real), queue limit 10 incl. loading",
    )
    return [rate_bound, queue_bound, faulty, scale, real_world]
