"""The Celery app: ``celery -A worker worker|beat|flower`` finds ``app`` here.

Every task is a ``ParkingTask`` (``worker.messaging``): what waits is parked in Redis and
published by the pump, a bootstep of every worker, when due (docs/design.md rule 2).
The settings are read from the environment once, here, at import, and handed to the wiring
(``worker.producer.configure``); a bad value stops the process with one line naming the
variable.
"""

from __future__ import annotations

import gc
import logging
import sys
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from celery import Celery, signals

from worker import producer
from worker.batch.keepwarm import tick_seconds
from worker.client import QUEUE
from worker.constants import RESULT_TTL_SECONDS, VISIBILITY_TIMEOUT_SECONDS
from worker.messaging.events import FlushEventsStep
from worker.messaging.pump import PumpStep, provide_admission
from worker.messaging.strays import StrayWatchStep
from worker.messaging.task import ParkingTask
from worker.redis_url import SENTINEL_SCHEME, is_sentinel_url
from worker.runtime import close_runtime, pump_admission, runtime
from worker.settings import ConfigError, Settings
from worker.upstream.client import preload as preload_http

__all__ = ["app", "create_app", "settings"]


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings derived from ours. Never holds the API key.

    Late acks, reject on worker lost, prefetch 1, results kept longer than the longest
    batch, JSON only, and task events on so that Flower sees every reload, retry and failure.

    Parameters:
        settings: the worker's settings.

    Returns:
        The mapping for ``Celery.config_from_object``.
    """
    # A last resort only: a dead worker's tasks are taken over through its heartbeat
    # (worker.messaging) within seconds; no task waits in the broker or in a worker.
    transport_options: dict[str, Any] = {"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS}
    # Sentinel URLs: kombu's and Celery's Sentinel clients need the master's name (and the
    # sentinels' password) as transport options.
    sentinel = settings.sentinel.transport_options()
    broker_sentinel = is_sentinel_url(settings.broker_url)
    return {
        "broker_url": settings.broker_url,
        "broker_transport": _broker_transport(settings.broker_url),
        "result_backend": _result_backend(settings.result_backend),
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {**transport_options, **(sentinel if broker_sentinel else {})},
        "result_backend_transport_options": {
            **transport_options,
            **(sentinel if is_sentinel_url(settings.result_backend) else {}),
        },
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # Celery's consumer, keeping the messages it cannot decode or run in the dead-letter list.
        "worker_consumer": "worker.messaging.deadletter:Consumer",
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "result_expires": timedelta(seconds=RESULT_TTL_SECONDS),
        "result_extended": False,  # results hold the return value only: less Redis per model
        "task_track_started": False,  # STARTED is in Flower's events; not a write per wake-up
        "task_send_sent_event": True,
        "worker_send_task_events": True,
        "task_default_queue": QUEUE,
        "worker_hijack_root_logger": True,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "timezone": "UTC",
        "enable_utc": True,
        "include": ["tasks"],
    }


def _broker_transport(url: str) -> str | None:
    """A Redis broker uses kombu's transport with a fix for surviving a Redis restart, a
    dead-letter list for unreadable messages and connections that follow a failover
    (``worker.messaging.broker``); messages stay kombu's standard envelopes."""
    scheme = urlsplit(url).scheme
    if scheme == SENTINEL_SCHEME:
        return "worker.messaging.broker:SentinelTransport"
    return "worker.messaging.broker:Transport" if scheme in {"redis", "rediss"} else None


def _result_backend(url: str) -> str:
    """Redis results go through ``worker.messaging.results`` (no records for mere waits)."""
    scheme = urlsplit(url).scheme
    if scheme == SENTINEL_SCHEME:
        return f"worker.messaging.results:SentinelResultBackend+{url}"
    if scheme in {"redis", "rediss"}:
        return f"worker.messaging.results:ResultBackend+{url}"
    return url


def create_app(settings: Settings) -> Celery[ParkingTask]:
    """Build the Celery app: its configuration, the pump and stray-watch bootsteps, beat.

    Parameters:
        settings: the worker's settings.

    Returns:
        The app; every task it defines is a ``ParkingTask``.
    """
    # Task events published in batches (worker.messaging.events): one PUBLISH per 50 ms.
    celery_app = Celery("worker", task_cls=ParkingTask, events="worker.messaging.events:Events")
    celery_app.config_from_object(celery_config(settings))
    celery_app.steps["worker"].add(PumpStep)
    celery_app.steps["worker"].add(StrayWatchStep)  # our tasks sent to the default queue
    celery_app.steps["consumer"].add(FlushEventsStep)  # held task events sent as it stops
    celery_app.conf.beat_schedule = _beat_schedule(settings)
    return celery_app


def _beat_schedule(settings: Settings) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "batch-backstop": {
            "task": "batch_backstop",
            "schedule": max(5.0, settings.batch_grace_seconds / 2),
        },
    }
    if settings.keep_warm:
        # A look every minute (and one at beat's start, tasks.keep_warm): keep_warm itself
        # decides in Redis which models are due, so a restarted or second beat changes nothing.
        schedule["keep-warm"] = {
            "task": "keep_warm",
            "schedule": tick_seconds(settings.keep_warm_every),
        }
    return schedule


def _load_settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


settings = _load_settings()
producer.configure(settings)
provide_admission(pump_admission)
app = create_app(settings)

# Task executions between two garbage collections in a pool process (see _collect_garbage).
GC_EVERY_TASKS = 10
_executions = 0


@signals.worker_init.connect
def _refuse_to_start_without_a_key(**_: Any) -> None:
    """A worker with no API key could only fail every model: say so and stop."""
    try:
        settings.require_api_key()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


@signals.worker_before_create_process.connect
def _share_memory_with_pool_processes(**_: Any) -> None:
    """Just before the prefork pool forks a process: import what its HTTP client will
    import on first use, then move the worker's objects out of the garbage collector's
    reach (``gc.freeze``, Python's advice for ``fork()`` without ``exec()``). Pool processes
    then share those modules instead of importing their own, and their collections no longer
    write to every object they inherited (which copies the pages it shares). Measured: 44 ->
    30 MB PSS per idle pool process (docs/decisions/0012-prefork-stays-the-pool.md)."""
    preload_http()
    gc.freeze()


@signals.worker_process_init.connect
def _open_process_resources(**_: Any) -> None:
    """A pool process builds its resources (Redis, the httpx client, the limiter) as it
    starts, before its first task, then takes what it has so far out of the garbage
    collector's scans (``gc.freeze``): what stays is this process's for good."""
    try:
        runtime()
    except Exception:  # Redis not reachable yet: built on first use instead
        logging.getLogger(__name__).warning("could not build the runtime yet", exc_info=True)
    gc.freeze()


@signals.task_postrun.connect
def _collect_garbage(**_: Any) -> None:
    """Every GC_EVERY_TASKS executions, collect the reference cycles they leave behind.

    Each parked wait ends in a Celery ``Retry`` whose exception info copies the whole
    traceback (billiard's ``ExceptionInfo``, tens of KB) into a cycle; left to the
    collector's own schedule, thousands of them pile up in every pool process.
    """
    global _executions
    _executions += 1
    if _executions % GC_EVERY_TASKS == 0:
        gc.collect()


@signals.worker_process_shutdown.connect
def _close_process_resources(**_: Any) -> None:
    close_runtime()
