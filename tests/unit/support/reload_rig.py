"""A rig for driving ``Reloader.advance`` by hand: fakeredis, a scripted upstream, a fake clock.

Nothing here sleeps or opens a socket. The upstream is an ``httpx.MockTransport``
that hands out the scripted answers in order and fails the test on any call
beyond the script; the clock only moves when a test (or ``Rig.run``) moves it.

The ``rig`` fixture (tests/unit/conftest.py) hands a test a fresh one::

    def test_something(rig: Rig) -> None:
        reloader = rig.build([success()], warm_seconds=120)
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import fakeredis
import httpx

from worker.limiter import Go, Limiter, Wait
from worker.limiter.breaker import Breaker, breaker_key
from worker.reload.flight import FlightStore
from worker.reload.reloader import Final, Later, Reloader
from worker.settings import Rate, Secret, Settings
from worker.upstream import UpstreamClient

KEY = "sk-live-SECRET-0123456789abcdef"
BASE_URL = "https://upstream.test/api/v4/dreambooth"
START = 1_700_000_000.0

Answer = Callable[[httpx.Request], httpx.Response]


# ---- scripted answers -------------------------------------------------------------------


def success(message: str = "Model reload started, it will take 2 minutes") -> Answer:
    return lambda request: httpx.Response(200, json={"status": "success", "message": message})


def processing(eta: float | None = None, message: str = "Model is reloading") -> Answer:
    body: dict[str, Any] = {"status": "processing", "message": message}
    if eta is not None:
        body["eta"] = eta
    return lambda request: httpx.Response(200, json=body)


def error(http_status: int, message: str, **extra: Any) -> Answer:
    body = {"status": "error", "message": message, **extra}
    return lambda request: httpx.Response(http_status, json=body)


def html(http_status: int = 502) -> Answer:
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    headers = {"content-type": "text/html"}
    return lambda request: httpx.Response(http_status, text=page, headers=headers)


def read_timeout() -> Answer:
    def answer(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    return answer


@dataclass
class ScriptedUpstream:
    """Answers each call with the next scripted answer and remembers every request body."""

    answers: list[Answer]
    requests: list[dict[str, Any]] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(json.loads(request.content))
        if not self.answers:
            raise AssertionError(f"unexpected upstream call #{len(self.requests)}")
        return self.answers.pop(0)(request)

    @property
    def calls(self) -> int:
        return len(self.requests)

    def calls_for(self, model_id: str) -> int:
        return sum(1 for body in self.requests if body.get("model_id") == model_id)


# ---- time and the limiter -----------------------------------------------------------------


class FakeClock:
    """Seconds since the epoch that only move when told to."""

    def __init__(self, start: float = START) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        assert seconds >= 0, seconds
        self.now += seconds


class StubLimiter:
    """The limiter's contract on the fake clock: a pause blocks until the clock passes it.

    Used where the real limiter's Redis ``TIME`` (wall-clock) would fight the fake clock.
    """

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.paused_until = 0.0
        self.pauses: list[float] = []
        self.leases: set[str] = set()
        self.granted = 0
        self.started_grants: list[str] = []
        self.shrinks = 0  # 429s reported (Limiter.shrink)
        self.grows = 0  # answers without a 429 (Limiter.grow)
        self.streak_429 = 0
        self.confirming: list[bool] = []  # each acquire's ``confirming``, in order

    def acquire(
        self,
        *,
        hold: str | None = None,
        priority: str = "normal",
        caller: str = "",
        confirming: bool = False,
    ) -> Go | Wait:
        self.confirming.append(confirming)
        left = self.paused_until - self.clock()
        if left > 0:
            return Wait(seconds=left, reason="paused")
        lease = hold if hold in self.leases else uuid.uuid4().hex
        self.leases.add(lease)
        self.granted += 1
        return Go(
            lease=lease,
            at=self.clock(),
            grant=f"grant-{self.granted}",
            cap_lowered=self.shrinks > self.grows,  # as the real one: until an answer after it
        )

    def started(self, grant: str) -> None:
        self.started_grants.append(grant)

    def answered(self, lease: str) -> None:
        """The stub keeps no rate window, so an answer's moment changes nothing."""

    def release(self, lease: str, *, answered_ok: bool = False) -> None:
        self.leases.discard(lease)

    def renew(self, lease: str, seconds: float, *, answered_ok: bool = False) -> bool:
        return lease in self.leases

    def pause(self, seconds: float) -> float:
        self.pauses.append(seconds)
        self.paused_until = max(self.paused_until, self.clock() + seconds)
        return self.paused_until

    def shrink(self) -> tuple[int, int]:
        self.shrinks += 1
        self.streak_429 += 1
        return 1, self.streak_429

    def grow(self) -> int:
        self.grows += 1
        self.streak_429 = 0
        return 100


# ---- the rig ------------------------------------------------------------------------------

DEFAULTS: dict[str, Any] = {
    "api_key": Secret(KEY),
    "base_url": BASE_URL,
    "rate": Rate(1000, 1.0),
    "max_in_flight": 100,
    "warm_seconds": 120.0,
    "deadline_seconds": 1800.0,
    "warm_policy": "confirm",
    "max_retries": 3,
    "backoff_base_seconds": 1.0,
    "backoff_max_seconds": 60.0,
    "fresh_seconds": 600.0,
}


@dataclass
class Rig:
    """One fakeredis server, one fake clock, one scripted upstream per ``build``."""

    redis: fakeredis.FakeRedis
    clock: FakeClock = field(default_factory=FakeClock)
    upstream: ScriptedUpstream = field(default_factory=lambda: ScriptedUpstream([]))
    settings: Settings = field(default_factory=Settings)
    flights: FlightStore | None = None
    limiter: Any = None
    reloader: Reloader | None = None
    key_stops: list[float] = field(default_factory=list)  # when the breaker stopped the key
    _clients: list[UpstreamClient] = field(default_factory=list)

    def build(
        self,
        answers: list[Answer],
        *,
        limiter: str = "redis",
        lock_seconds: float = 30.0,
        breaker: bool = False,
        **overrides: Any,
    ) -> Reloader:
        """A Reloader as a worker process would build it, on this rig's Redis and clock."""
        self.settings = Settings(**{**DEFAULTS, **overrides})
        self.upstream = ScriptedUpstream(list(answers))
        http = httpx.Client(transport=httpx.MockTransport(self.upstream.handle))
        client = UpstreamClient(BASE_URL, KEY, http=http)
        self._clients.append(client)
        self.flights = FlightStore(
            self.redis,
            ttl_seconds=self.settings.deadline_seconds + 600,
            lock_seconds=lock_seconds,
        )
        if limiter == "stub":
            self.limiter = StubLimiter(self.clock)
        else:
            self.limiter = Limiter(
                self.redis,
                "scope",
                rate_count=self.settings.rate.count,
                rate_period=self.settings.rate.period,
                max_in_flight=self.settings.max_in_flight,
                lease_seconds=60.0,
                breaker_key=breaker_key("scope") if breaker else "",  # as worker.runtime does
            )
        self.reloader = Reloader(
            self.settings,
            self.flights,
            self.limiter,
            client,
            clock=self.clock,
            rng=random.Random(0),
            breaker=Breaker(self.redis, "scope", probe_seconds=40.0) if breaker else None,
            on_key_stopped=lambda: self.key_stops.append(self.clock()),
        )
        return self.reloader

    def advance(
        self, model_id: str, task_id: str = "task-1", *, priority: str = "normal"
    ) -> Final | Later:
        assert self.reloader is not None, "call rig.build() first"
        return self.reloader.advance(model_id, task_id, priority=priority)

    def run(
        self, model_id: str, task_id: str = "task-1", *, max_steps: int = 200
    ) -> tuple[Final, list[Later]]:
        """Advance as the task would, moving the clock by each countdown, until Final."""
        laters: list[Later] = []
        for _ in range(max_steps):
            step = self.advance(model_id, task_id)
            if isinstance(step, Final):
                return step, laters
            laters.append(step)
            self.clock.advance(step.seconds)
        raise AssertionError(f"no final outcome after {max_steps} steps: {laters[-3:]}")

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self.redis.close()
