"""Resources owned by one worker process: a Redis client, the upstream client, the limiter.

Created on first use in each process (after the prefork pool forks, never
before, so no socket is shared between processes) and closed at process
shutdown. Tasks get them from ``runtime()``; plain functions receive them as
arguments and never look them up.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass

import redis

from worker import constants as c
from worker import producer
from worker.batch.ledger import Ledger
from worker.clock import Clock
from worker.limiter import Limiter
from worker.limiter.breaker import Breaker, breaker_key
from worker.messaging.identity import WORKER_ID
from worker.monitoring import Monitor, record
from worker.producer import parking_lot, producer_ledger, redis_client, redis_clock
from worker.reload.admission import PumpAdmission
from worker.reload.flight import FlightStore
from worker.reload.reloader import Reloader
from worker.settings import Settings
from worker.upstream import UpstreamClient
from worker.upstream.hints import Hints

__all__ = ["Runtime", "build_limiter", "close_runtime", "key_scope", "pump_admission", "runtime"]

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    """One worker process's settings, clients and domain objects (see ``build_runtime``)."""

    settings: Settings
    redis: redis.Redis
    upstream: UpstreamClient
    limiter: Limiter
    ledger: Ledger
    reloader: Reloader
    clock: Clock

    def close(self) -> None:
        """Close the upstream client's connections."""
        self.upstream.close()


def key_scope(api_key: str) -> str:
    """An opaque, stable id of the API key for Redis key names: never the key itself."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def build_limiter(settings: Settings, client: redis.Redis) -> Limiter:
    """The account's limiter, as this worker uses it.

    Parameters:
        settings: the process's settings.
        client: the Redis of the shared state.

    Raises:
        ConfigError: ``MODELSLAB_API_KEY`` is not set.
    """
    scope = key_scope(settings.require_api_key())
    return Limiter(
        client,
        scope,
        rate_count=settings.rate.count,
        rate_period=settings.rate.period,
        max_in_flight=settings.max_in_flight,
        lease_seconds=settings.call_seconds,
        owner=WORKER_ID,
        workers_key=c.WORKERS_KEY,
        dead_after=c.WORKER_DEAD_SECONDS,
        breaker_key=breaker_key(scope),
    )


def pump_admission() -> PumpAdmission:
    """The pump's side of the limiter (``worker.reload.admission``): the grant for a due
    ``reload_model``'s next step, taken before the task is published, and free slots handed
    to the tasks in line for one.

    Raises:
        ConfigError: ``MODELSLAB_API_KEY`` is not set.
    """
    return PumpAdmission(build_limiter(producer.settings(), redis_client()))


def build_runtime(settings: Settings) -> Runtime:
    """Build this process's resources and publish the account's limits for the dashboard.

    Parameters:
        settings: the process's settings.

    Raises:
        ConfigError: ``MODELSLAB_API_KEY`` is not set.
    """
    api_key = settings.require_api_key()
    client = redis_client()
    call_seconds = settings.call_seconds
    clock = redis_clock()
    upstream = UpstreamClient(
        settings.base_url,
        api_key,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        max_connections=max(4, settings.max_in_flight),
        hints=Hints.build(settings.message_hints),
    )
    limiter = build_limiter(settings, client)
    monitor = Monitor(client)
    # The dashboard reads the limiter's keys by this scope: published, never the key itself.
    record(
        "the account's limits",
        lambda: monitor.publish_account(
            limiter.scope,
            rate_count=limiter.rate_count,
            rate_period=limiter.rate_period,
            window=limiter.window,
            max_in_flight=limiter.max_in_flight,
            now=clock(),
        ),
    )
    flights = FlightStore(
        client,
        ttl_seconds=settings.deadline_seconds + call_seconds + 120,
        lock_seconds=call_seconds,
        owner=WORKER_ID,
        dead_after=c.WORKER_DEAD_SECONDS,
    )
    return Runtime(
        settings=settings,
        redis=client,
        upstream=upstream,
        limiter=limiter,
        ledger=producer_ledger(),
        reloader=Reloader(
            settings,
            flights,
            limiter,
            upstream,
            clock=clock,
            breaker=Breaker(client, key_scope(api_key), probe_seconds=call_seconds),
            on_key_stopped=_wake_waiters,
            on_slot_freed=_wake_for_a_slot,
            monitor=monitor,
        ),
        clock=clock,
    )


def _wake_for_a_slot(task_id: str) -> None:
    """A release freed the slot ``task_id`` waits for: make its parked job due now (the
    pump takes the slot for it, as its admission says)."""
    parking_lot().wake([task_id])


def _wake_waiters() -> None:
    """The key is stopped for good (a bad key, no credits): its waiting models fail now."""
    woken = parking_lot().wake_all()
    logger.warning("the key is stopped: %d waiting task(s) woken to fail at once", woken)


_current: tuple[int, Runtime] | None = None


def runtime() -> Runtime:
    """This process's resources, built on first use (and again after a fork)."""
    global _current
    if _current is None or _current[0] != os.getpid():
        _current = (os.getpid(), build_runtime(producer.settings()))
    return _current[1]


def close_runtime() -> None:
    """Close this process's resources, if it built them; the next ``runtime()`` builds anew."""
    global _current
    if _current is not None and _current[0] == os.getpid():
        _current[1].close()
    _current = None
