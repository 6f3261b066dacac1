"""Parked waits: a task that must wait is a score in Redis, not a message in the broker.

A *job* (name, arguments, Celery options; the options many tasks share stored once, as a
*template*) moves one step at a time, each one Lua script (:mod:`worker.messaging.scripts`):

    park ─▶ due ─take_due─▶ sending ─sent─▶ sent ─hold─▶ held:{worker} ─finish/release─▶ gone
             ▲                 │ publish failed    │ not received     │ worker dead, or
             └─────────────────┴───────────────────┴──────────────────┘ no longer in hand

Why: docs/decisions/0001-waits-are-parked-in-redis.md
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from worker import constants as c
from worker.messaging import scripts

__all__ = ["Job", "ParkingLot", "Takeover", "lane_of", "split_options"]

# Options that differ from task to task; everything else is shared through a template.
_PER_TASK = ("task_id", "group_index", "retries")
# Celery execution options a job keeps; anything else (a producer, a connection, the
# delivery info of the message it came in) belongs to one publish and is dropped.
_KEPT = frozenset(
    {
        "task_id",
        "root_id",
        "parent_id",
        "group_id",
        "group_index",
        "shadow",
        "chord",
        "chain",
        "link",
        "link_error",
        "expires",
        "soft_time_limit",
        "time_limit",
        "headers",
        "retries",
        "reply_to",
        "replaced_task_nesting",
        "origin",
        "ignore_result",
        "priority",
        "queue",
    }
)
# How long a template outlives the last job that used it.
TEMPLATE_TTL_SECONDS = c.RESULT_TTL_SECONDS
# A template this process stored less than this long ago is not sent again.
_TEMPLATE_CACHE_SECONDS = 60.0
# A dead worker is remembered this long, so that its leases and locks are known dead.
GONE_FORGET_SECONDS = 3600
# Templates a pump keeps in memory (one per batch in flight, about).
_KNOWN_TEMPLATES = 1024
# Inside ``ParkingLot.gathered()``: the most parks sent in one pipeline.
GATHER_SIZE = 256


@dataclass(frozen=True)
class Job:
    """One task to send again: ``app.send_task(name, args, kwargs, **options)``.

    Parameters:
        name: the task's registered name.
        args: its positional arguments.
        kwargs: its keyword arguments.
        options: its Celery options (``split_options``), ``task_id`` included.
        admission: what its next execution needs before the pump publishes it (JSON-ready,
            opaque to this package: the pump hands it to its admission check), or ``None``:
            published as soon as it is due.
    """

    name: str
    args: list[Any]
    kwargs: dict[str, Any]
    options: dict[str, Any]
    admission: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def task_id(self) -> str:
        """The parked task's id (from its options)."""
        return str(self.options["task_id"])


@dataclass(frozen=True)
class Takeover:
    """The tasks of a dead worker made due again.

    Parameters:
        worker: the dead worker's id.
        tasks: how many of its held tasks were made due.
        silent_for: seconds since its last heartbeat.
    """

    worker: str
    tasks: int
    silent_for: float  # seconds since its last heartbeat


def lane_of(job: Job) -> str:
    """``"high"`` for a task sent with ``priority="high"``, else ``"normal"``."""
    return "high" if job.kwargs.get("priority") == "high" else "normal"


def split_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options of ``options`` that a job keeps, JSON-ready (``None`` values dropped).

    Parameters:
        options: Celery execution options, as ``apply_async`` or a request has them.

    Raises:
        TypeError: a kept option is not JSON-serialisable.
    """
    kept = {k: v for k, v in options.items() if k in _KEPT and v is not None}
    json.dumps(kept)  # raises TypeError now rather than in the pump
    return kept


class ParkingLot:
    """The Redis side of parked waits and held messages; each method is one atomic step.

    Parameters:
        client: the Redis that holds the shared state (``REDIS_URL``).
        worker_id: who holds what this process holds (``worker.messaging.identity.WORKER_ID``).
        dead_after: seconds without a heartbeat after which a worker is dead.
        sending_lease: seconds a pump's claim on a job it publishes lasts.
        receive_within: seconds a published message may wait unreceived before it is
            published again.
    """

    def __init__(
        self,
        client: redis.Redis,
        worker_id: str,
        *,
        dead_after: float = c.WORKER_DEAD_SECONDS,
        sending_lease: float = c.SENDING_LEASE_SECONDS,
        receive_within: float = c.RECEIVE_WITHIN_SECONDS,
    ) -> None:
        self.redis = client
        self.worker_id = worker_id
        self.dead_after = dead_after
        self.sending_lease = sending_lease
        self.receive_within = receive_within
        self._templates: dict[str, float] = {}  # digest -> when this process stored it
        self._known: dict[str, dict[str, Any]] = {}  # digest -> template, read once
        self._gathering = threading.local()  # this thread's parks not sent yet (gathered)
        self._park = client.register_script(scripts.PARK)
        self._take_due = client.register_script(scripts.TAKE_DUE)
        self._sent = client.register_script(scripts.SENT)
        self._unsend = client.register_script(scripts.UNSEND)
        self._hold = client.register_script(scripts.HOLD)
        self._finish = client.register_script(scripts.FINISH)
        self._release = client.register_script(scripts.RELEASE)
        self._heartbeat = client.register_script(scripts.HEARTBEAT)
        self._takeover = client.register_script(scripts.TAKEOVER)
        self._leave = client.register_script(scripts.LEAVE)
        self._regrasp = client.register_script(scripts.REGRASP)
        self._reclaim = client.register_script(scripts.RECLAIM)
        self._wake_all = client.register_script(scripts.WAKE_ALL)
        self._wake = client.register_script(scripts.WAKE)

    # ---- jobs in and out -------------------------------------------------------------

    def park(self, job: Job, delay: float) -> float | None:
        """Make ``job`` due in ``delay`` seconds (Redis time); this worker stops holding it.

        A job whose ``priority`` keyword argument is ``"high"`` is due in the high lane:
        published before every normal job.

        Parameters:
            job: the task to send again.
            delay: seconds from now.

        Returns:
            The due time, or ``None`` if the task has finished already (not parked) or the
            park is gathered (``gathered``: sent later).

        Raises:
            redis.RedisError: Redis cannot be reached.
        """
        digest, entry, template = self._encode(job)
        fresh = self._templates.get(digest, 0.0) > time.monotonic() - _TEMPLATE_CACHE_SECONDS
        keys = [
            c.JOBS_KEY,
            c.template_key(digest),
            c.held_key(self.worker_id),
            c.done_key(job.task_id),
        ]
        args: list[str | int] = [
            job.task_id,
            entry,
            "" if fresh else template,
            repr(delay),
            TEMPLATE_TTL_SECONDS,
            lane_of(job),
            "" if job.admission is None else json.dumps(job.admission),
        ]
        gathered: _Gathered | None = getattr(self._gathering, "parks", None)
        if gathered is not None:
            gathered.add(keys, args)
            self._template_sent(digest)  # with this park, ahead of the next
            if gathered.full():
                self._send_gathered(gathered)
            return None
        due = _text(self._park(keys=keys, args=args))
        self._template_sent(digest)
        return float(due) if due else None

    def _template_sent(self, digest: str) -> None:
        """Remember that the template ``digest`` is in Redis: the next parks leave it out."""
        if len(self._templates) > _KNOWN_TEMPLATES:
            self._templates.clear()
        self._templates[digest] = time.monotonic()

    @contextlib.contextmanager
    def gathered(self) -> Iterator[None]:
        """Within it, this thread's ``park`` calls go to Redis in pipelines, not one round
        trip each: ``warmup_batch`` parks a whole batch's models (10,000 parks took 3 of its 7
        seconds). The first park is sent at once, so the first job is due without waiting for
        the rest; pipelines then double, up to ``GATHER_SIZE`` parks; the rest is sent on
        leaving, also when an error ends the block (what was parked before it stays parked).
        Inside, ``park`` returns ``None`` (the due time is not known yet). Nested: the
        outermost sends.

        Raises:
            redis.RedisError: Redis cannot be reached (from the block, or on leaving it).
        """
        if getattr(self._gathering, "parks", None) is not None:
            yield
            return
        gathered = _Gathered()
        self._gathering.parks = gathered
        try:
            yield
        finally:
            self._gathering.parks = None
            if gathered.parks:
                self._send_gathered(gathered)

    def _send_gathered(self, gathered: _Gathered) -> None:
        """Send the gathered parks in one pipeline (their scripts are loaded first if Redis
        lost them: redis-py's pipeline checks)."""
        pipe = self.redis.pipeline(transaction=False)
        for keys, args in gathered.take():
            self._park(keys=keys, args=args, client=pipe)
        try:
            pipe.execute()
        except redis.RedisError:
            self._templates.clear()  # a template sent in it may not be stored: send again
            raise

    def take_due(
        self, *, limit: int, unreceived: int
    ) -> tuple[list[Job], list[tuple[str, str]], float | None]:
        """Claim due jobs for publishing, high lane first.

        Parameters:
            limit: the most jobs to claim.
            unreceived: the most published messages left waiting for a worker.

        Returns:
            The jobs; the ``(task id, reason)`` of entries that could not be read (cleared:
            the caller reports them); and the seconds until the next entry is due (``None``:
            nothing is parked).
        """
        reply = self._take_due(
            keys=[c.SENDING_KEY, c.SENT_KEY, c.JOBS_KEY],
            args=[limit, self.sending_lease, unreceived, self.receive_within],
        )
        now = float(_text(reply[0]))
        next_due = float(_text(reply[1])) - now if reply[1] else None
        jobs: list[Job] = []
        broken: list[tuple[str, str]] = []
        entries = zip(reply[2::3], reply[3::3], reply[4::3], strict=True)
        for raw_id, raw, admission in entries:
            task_id = _text(raw_id)
            try:
                if raw is None:
                    raise LookupError("its job is gone")
                jobs.append(self._decode(raw, admission))
            except (LookupError, ValueError, KeyError, TypeError) as exc:
                broken.append((task_id, f"{type(exc).__name__}: {exc}"))
        if broken:
            ids = [task_id for task_id, _ in broken]
            self.redis.zrem(c.SENDING_KEY, *ids)
            self.redis.hdel(c.JOBS_KEY, *ids)
            self.redis.hdel(c.ADMISSIONS_KEY, *ids)
        return jobs, broken, next_due

    def sent(self, task_ids: Sequence[str]) -> None:
        """These jobs were published: count them as waiting in the broker.

        Parameters:
            task_ids: the ids of the jobs published, as claimed by ``take_due``.
        """
        if task_ids:
            self._sent(keys=[c.SENDING_KEY, c.SENT_KEY], args=list(task_ids))

    def unsend(self, task_id: str, delay: float) -> None:
        """Publishing this job failed: it is due again in ``delay`` seconds.

        Parameters:
            task_id: the job claimed by ``take_due``.
            delay: seconds from now.
        """
        self._unsend(keys=[c.SENDING_KEY], args=[task_id, repr(delay)])

    def hold(self, task_id: str, build: Any) -> bool:
        """This worker received ``task_id``: hold it (a dead worker's holds are taken over).

        Parameters:
            task_id: the received task's id.
            build: called with no arguments for the ``Job`` only when Redis has none for the
                task (a message from an outside producer); may return ``None``.

        Returns:
            False if the job was needed and ``build`` returned ``None``.
        """
        keys = [
            c.held_key(self.worker_id),
            c.SENDING_KEY,
            c.SENT_KEY,
            c.JOBS_KEY,
            c.JOBS_KEY,
        ]
        if int(self._hold(keys=keys, args=[task_id, "", "", 0])) == 1:
            return True
        job = build()
        if job is None:
            return False
        digest, entry, template = self._encode(job)
        keys[-1] = c.template_key(digest)
        self._hold(keys=keys, args=[task_id, entry, template, TEMPLATE_TTL_SECONDS])
        return True

    def finish(self, task_id: str) -> tuple[bool, str, bool]:
        """Claim the one return of ``task_id``; clears its job and hold either way.

        Every call is a new execution: a second call never claims.

        Parameters:
            task_id: the task that is returning.

        Returns:
            ``(claimed, holder, holder_alive)``: when not claimed, ``holder`` is the execution
            that finished it and ``holder_alive`` whether its worker still heartbeats.
        """
        execution = f"{self.worker_id}|{uuid.uuid4().hex}"
        keys = [
            c.done_key(task_id),
            c.JOBS_KEY,
            c.held_key(self.worker_id),
            c.WORKERS_KEY,
        ]
        reply = self._finish(
            keys=keys, args=[task_id, execution, c.DONE_TTL_SECONDS, self.dead_after]
        )
        if int(reply[0]) == 1:
            return True, execution, True
        return False, _text(reply[1]), int(reply[2]) == 1

    def reclaim(self, task_id: str, dead_holder: str) -> bool:
        """Take over the finish of a task whose finisher died before storing its result.

        Parameters:
            task_id: the task.
            dead_holder: the dead execution, as ``finish`` returned it.

        Returns:
            False if another execution took it over first.
        """
        execution = f"{self.worker_id}|{uuid.uuid4().hex}"
        args: list[str | int] = [dead_holder, execution, c.DONE_TTL_SECONDS]
        return int(self._reclaim(keys=[c.done_key(task_id)], args=args)) == 1

    def release(self, task_id: str) -> None:
        """The task ended (failed, or returned with no result to guard): forget it.

        Parameters:
            task_id: the task.
        """
        self._release(keys=[c.JOBS_KEY, c.held_key(self.worker_id)], args=[task_id])

    def wake(self, task_ids: Sequence[str], *, admitted: bool = True) -> int:
        """Make these parked jobs due now (those not parked are left alone).

        Parameters:
            task_ids: the tasks to wake.
            admitted: whether their admission still holds (a task a freed slot waits for);
                False: they are published without one (a cancelled batch's tasks, which end
                with no call).

        Returns:
            How many were parked.
        """
        woken = 0
        mode = "admitted" if admitted else "unadmitted"
        for start in range(0, len(task_ids), 1000):
            chunk = list(task_ids[start : start + 1000])
            woken += int(self._wake(args=[mode, *chunk]))
        return woken

    def wake_all(self) -> int:
        """Make every parked job due now, without admission; returns how many were waiting."""
        return int(self._wake_all())

    # ---- workers -----------------------------------------------------------------------

    def heartbeat(self, slots: int = 0) -> int:
        """Record that this worker is alive.

        Parameters:
            slots: this worker's pool processes.

        Returns:
            The pool slots of all live workers together.
        """
        reply = self._heartbeat(
            keys=[c.WORKERS_KEY, c.WORKER_SLOTS_KEY],
            args=[self.worker_id, slots, self.dead_after],
        )
        return int(reply[1])

    def take_over(self) -> list[Takeover]:
        """Make every task held by a dead worker due now.

        Returns:
            One entry per worker taken over.
        """
        reply = self._takeover(
            keys=[c.WORKERS_KEY, c.GONE_WORKERS_KEY, c.JOBS_KEY, c.WORKER_SLOTS_KEY],
            args=[self.dead_after, c.KEY_PREFIX, self.worker_id, GONE_FORGET_SECONDS],
        )
        return [
            Takeover(_text(w), int(n), float(_text(age)))
            for w, n, age in zip(reply[0::3], reply[1::3], reply[2::3], strict=True)
        ]

    def held(self) -> set[str]:
        """The ids this worker holds, as Redis knows them."""
        return {_text(m) for m in self.redis.smembers(c.held_key(self.worker_id))}

    def regrasp(self, task_ids: Sequence[str]) -> int:
        """These held tasks are no longer in this worker's hands: make them due now.

        Parameters:
            task_ids: the tasks.

        Returns:
            How many were held and made due.
        """
        if not task_ids:
            return 0
        keys = [c.held_key(self.worker_id), c.JOBS_KEY]
        return int(self._regrasp(keys=keys, args=list(task_ids)))

    def leave(self) -> None:
        """A clean shutdown: drop this worker's holds and heartbeat."""
        keys = [c.WORKERS_KEY, c.held_key(self.worker_id), c.WORKER_SLOTS_KEY]
        self._leave(keys=keys, args=[self.worker_id])

    # ---- reading ------------------------------------------------------------------------

    def template(self, digest: str) -> dict[str, Any] | None:
        """The template stored under ``digest`` (``name`` and shared ``options``), or None."""
        raw = self.redis.get(c.template_key(digest))
        return None if raw is None else dict(json.loads(raw))

    def counts(self) -> dict[str, int]:
        """How many jobs are parked, being sent, and waiting in the broker.

        Returns:
            ``due`` (both lanes), ``high``, ``sending``, ``sent`` and ``jobs`` (all stored).
        """
        pipe = self.redis.pipeline(transaction=False)
        for key in (c.DUE_KEY, c.DUE_HIGH_KEY, c.SENDING_KEY, c.SENT_KEY):
            pipe.zcard(key)
        pipe.hlen(c.JOBS_KEY)
        due, high, sending, sent, jobs = pipe.execute()
        return {"due": due + high, "high": high, "sending": sending, "sent": sent, "jobs": jobs}

    # ---- encoding -----------------------------------------------------------------------

    def _encode(self, job: Job) -> tuple[str, str, str]:
        shared = {k: v for k, v in job.options.items() if k not in _PER_TASK}
        template = json.dumps({"name": job.name, "options": shared}, sort_keys=True)
        digest = hashlib.sha1(template.encode(), usedforsecurity=False).hexdigest()[:20]
        own = {k: job.options[k] for k in _PER_TASK if k in job.options}
        entry = json.dumps({"t": digest, "a": job.args, "k": job.kwargs, "o": own})
        return digest, entry, template

    def _decode(self, raw: bytes | str, admission: bytes | str | None = None) -> Job:
        entry = json.loads(raw)
        template = self._known.get(entry["t"]) or self.template(entry["t"])
        if template is not None and len(self._known) < _KNOWN_TEMPLATES:
            self._known[entry["t"]] = template  # content-addressed: it never changes
        if template is None:
            raise LookupError(f"template {entry['t']} of task {entry['o'].get('task_id')} is gone")
        options = {**template["options"], **entry["o"]}
        needs = None if admission is None else dict(json.loads(admission))
        return Job(template["name"], list(entry["a"]), dict(entry["k"]), options, needs)


class _Gathered:
    """Parks gathered by ``ParkingLot.gathered``: sent when as many as the next pipeline
    holds (1, then twice as many each time, up to ``GATHER_SIZE``)."""

    def __init__(self) -> None:
        self.parks: list[tuple[list[str], list[str | int]]] = []
        self._size = 1

    def add(self, keys: list[str], args: list[str | int]) -> None:
        self.parks.append((keys, args))

    def full(self) -> bool:
        return len(self.parks) >= self._size

    def take(self) -> list[tuple[list[str], list[str | int]]]:
        parks, self.parks = self.parks, []
        self._size = min(GATHER_SIZE, self._size * 2)
        return parks


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


_provider: Callable[[], ParkingLot] | None = None


def provide(factory: Callable[[], ParkingLot]) -> None:
    """Make ``factory`` the source of this process's parking lot.

    Called by the wiring (``worker.producer.configure``), so this package never imports it.

    Parameters:
        factory: returns the process's ``ParkingLot``, called on each ``current_lot()``.
    """
    global _provider
    _provider = factory


def current_lot() -> ParkingLot:
    """This process's parking lot, from the factory given to ``provide``.

    Raises:
        RuntimeError: nothing was provided (``worker.producer.configure`` was not called).
    """
    if _provider is None:
        raise RuntimeError("no parking lot: worker.producer.configure(settings) was not called")
    return _provider()
