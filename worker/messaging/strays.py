"""This project's tasks stranded on Celery's default queue ``celery``: a producer forgot the queue.

``StrayWatchStep``, a worker bootstep, reads the newest and oldest ``PEEK`` items of the
list ``celery`` (and its priority lists) every ``CHECK_SECONDS``; each message of this app's
tasks is logged with the fix and moved, unchanged but for its routing key, to the ``reload``
queue (``MOVE``: atomic, so one worker moves it once). Other task names are never touched;
only a Redis broker is watched. ``reloadctl status`` reports them too (``find_strays``).
Why: docs/decisions/0006-the-default-queue-is-watched-not-consumed.md.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import redis
from celery import bootsteps

from worker.client import QUEUE
from worker.redis_url import SENTINEL_SCHEME, SentinelOptions, connect

__all__ = ["DEFAULT_QUEUE", "StrayWatchStep", "Strays", "find_strays", "fix_hint", "our_tasks"]

logger = logging.getLogger(__name__)

DEFAULT_QUEUE = "celery"
CHECK_SECONDS = 5.0
# Items read from each end of each list per look.
PEEK = 500
# kombu's Redis transport keeps priorities 3, 6 and 9 on lists "<queue>\x06\x16<n>".
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")

# KEYS[1] the list the message is on, KEYS[2] the list to move it to
# ARGV[1] the message as it is, ARGV[2] the message as it goes. 1 if moved, 0 if gone.
MOVE = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then
  redis.call('LPUSH', KEYS[2], ARGV[2])
  return 1
end
return 0
"""


def fix_hint(name: str) -> str:
    """The corrected call for task ``name``: ``send_task(name, ..., queue="reload")``."""
    return f'send_task("{name}", ..., queue="{QUEUE}")'


@dataclass
class Strays:
    """Our messages found on the default queue: counts per task name, and the raw items."""

    counts: Counter[str] = field(default_factory=Counter)
    items: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # list, raw, msg

    def describe(self) -> str:
        """One line: what waits where, and the fix."""
        parts = ", ".join(f"{n} {name}" for name, n in sorted(self.counts.items()))
        names = sorted(self.counts)
        return (
            f"{parts} message(s) wait on Celery's default queue '{DEFAULT_QUEUE}', which reload "
            f"workers do not consume: the producer left out the queue; send with "
            f"{fix_hint(names[0] if len(names) == 1 else '<task>')} "
            f"(or set task_default_queue='{QUEUE}')"
        )


def our_tasks(app: Any) -> frozenset[str]:
    """This app's task names (Celery's own ``celery.*`` tasks excluded)."""
    return frozenset(name for name in app.tasks if not name.startswith("celery."))


def find_strays(client: redis.Redis, names: Collection[str], *, peek: int = PEEK) -> Strays:
    """Messages for ``names`` among the newest and oldest ``peek`` items of the default queue.

    Parameters:
        client: the broker's Redis.
        names: the task names that are this app's (``our_tasks``).
        peek: how many items to read from each end of each list.

    Returns:
        What was found; nothing is moved.
    """
    lists = [DEFAULT_QUEUE + suffix for suffix in _PRIORITY_SUFFIXES]
    with client.pipeline(transaction=False) as pipe:
        for name in lists:
            pipe.lrange(name, 0, peek - 1)
            pipe.lrange(name, -peek, -1)
        replies = pipe.execute()
    found = Strays()
    for i, name in enumerate(lists):
        seen: set[bytes] = set()
        for raw in [*replies[2 * i], *replies[2 * i + 1]]:
            if raw in seen:
                continue
            seen.add(raw)
            message = _message(raw)
            task = message and message["headers"].get("task")
            if message is not None and isinstance(task, str) and task in names:
                found.counts[task] += 1
                found.items.append((name, raw.decode() if isinstance(raw, bytes) else raw, message))
    return found


def _message(raw: bytes | str) -> dict[str, Any] | None:
    try:
        message = json.loads(raw)
    except ValueError:
        return None
    if isinstance(message, dict) and isinstance(message.get("headers"), dict):
        return message
    return None


def rerouted(message: dict[str, Any]) -> str:
    """The message routed to the reload queue (a restore after a lost worker goes there too)."""
    moved = json.loads(json.dumps(message))
    info = (moved.get("properties") or {}).get("delivery_info")
    if isinstance(info, dict):
        info["exchange"] = ""
        info["routing_key"] = QUEUE
    return json.dumps(moved)


def move_strays(client: redis.Redis, strays: Strays) -> int:
    """Move each found message to the reload queue (same priority list), atomically.

    Parameters:
        client: the broker's Redis.
        strays: what ``find_strays`` found there.

    Returns:
        How many were moved (a message consumed or moved meanwhile is skipped).
    """
    move = client.register_script(MOVE)
    moved = 0
    for source, raw, message in strays.items:
        target = QUEUE + source[len(DEFAULT_QUEUE) :]
        moved += int(move(keys=[source, target], args=[raw, rerouted(message)]))
    return moved


def watch_once(client: redis.Redis, names: Collection[str]) -> int:
    """One look: warn about and move what is stranded.

    Parameters:
        client: the broker's Redis.
        names: the task names that are this app's (``our_tasks``).

    Returns:
        How many messages were moved.
    """
    strays = find_strays(client, names)
    if not strays.counts:
        return 0
    moved = move_strays(client, strays)
    logger.warning(
        "MISROUTED TASKS: %s. Moved %d of them to the '%s' queue so they run; fix the producer.",
        strays.describe(),
        moved,
        QUEUE,
    )
    return moved


def broker_redis(broker_url: str, sentinel: SentinelOptions | None = None) -> redis.Redis | None:
    """A client on the broker's Redis, or ``None`` when the broker is not Redis.

    Parameters:
        broker_url: ``CELERY_BROKER_URL`` (or ``REDIS_URL``).
        sentinel: the master's name and the sentinels' password, for a ``sentinel://`` URL.
    """
    if urlsplit(broker_url).scheme not in {"redis", "rediss", "unix", SENTINEL_SCHEME}:
        return None
    return connect(broker_url, sentinel, socket_connect_timeout=2, socket_timeout=5)


class StrayWatchStep(bootsteps.StartStopStep):
    """The worker bootstep that looks at the default queue every ``CHECK_SECONDS``."""

    requires = ("celery.worker.components:Pool",)

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, worker: Any) -> None:
        """Start the watch thread (nothing when the broker is not Redis)."""
        conf = worker.app.conf
        sentinel = SentinelOptions.from_transport_options(conf.broker_transport_options)
        client = broker_redis(str(conf.broker_url), sentinel)
        if client is None:
            return
        names = our_tasks(worker.app)
        self._thread = threading.Thread(
            target=self._run, args=(client, names), name="reload-strays", daemon=True
        )
        self._thread.start()

    def _run(self, client: redis.Redis, names: frozenset[str]) -> None:
        while True:
            try:
                watch_once(client, names)
            except redis.RedisError as exc:  # the broker is down: the worker says so already
                logger.debug("stray watch: %s", exc)
            except Exception:  # a bug must not stop the watch for good
                logger.exception("stray watch: unexpected error")
            if self._stop.wait(CHECK_SECONDS):
                break
        client.close()

    def stop(self, worker: Any) -> None:
        """Stop the watch thread, waiting up to 5 s for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    shutdown = stop
