"""The pump: in every worker, publishes parked jobs when due, and keeps the worker's holds alive.

``PumpStep``, a worker bootstep, runs one thread that heartbeats twice a second (keeping alive
what the worker holds), takes over dead workers' holdings and publishes due jobs in Celery's
standard format, at most two per live pool slot waiting in the broker. A thread, not a timer
on the event loop: the heartbeat must not wait on a busy loop (a solo pool runs tasks on it).
``on_task_received`` (Celery's ``task_received`` signal) holds each received message.

Why: docs/decisions/0001-waits-are-parked-in-redis.md, 0002-holdings-live-as-long-as-a-heartbeat.md
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import redis
from celery import bootsteps, signals
from celery.app.task import Context
from celery.worker import state
from kombu.serialization import loads

from worker import constants as c
from worker.messaging.parking import Job, ParkingLot, current_lot
from worker.messaging.task import ParkingTask, job_from_signature

__all__ = ["Admission", "Pump", "PumpStep", "on_task_received", "provide_admission"]

logger = logging.getLogger(__name__)

# Seconds between two looks at the due set when nothing is due sooner.
IDLE_SECONDS = 0.1
# The shortest sleep between two looks (a busy pump loops at once instead).
MIN_SLEEP_SECONDS = 0.001
# A job whose publish failed is due again after this long.
REPUBLISH_SECONDS = 1.0
# Published messages per pool slot that may wait in the broker for a worker: with the one
# each slot has in hand (prefetch 1, late acks), at most 2 per slot in the broker.
UNRECEIVED_PER_SLOT = 1
# Seconds between two comparisons of what Redis says this worker holds with what it has.
HOLD_CHECK_SECONDS = 2.0
# With due jobs and no room for them in the broker, the pump waits for this worker to
# receive a message (its room comes back then); at most this long, for room another worker
# makes, or a message no worker received in time.
ROOM_WAIT_SECONDS = 0.05

# Set by each message this worker receives (``on_task_received``): room in the broker.
_received = threading.Event()


class Admission(Protocol):
    """What the pump asks before it publishes a due job with an admission (``Job.admission``):
    ``worker.reload.admission.PumpAdmission``, handed in by the wiring (``provide_admission``)."""

    def admit(self, job: Job) -> float:
        """0.0 to publish ``job`` now; else the seconds it stays parked (its turn)."""

    def free_slots(self) -> list[str]:
        """Hand every free slot to the task first in line for one; their ids, to wake."""


class Pump:
    """One worker's publisher of due jobs; ``run_once`` is one look (tested without a thread).

    Parameters:
        app: the Celery app whose ``send_task`` publishes.
        lot: the parking lot (its ``worker_id`` is this worker's).
        slots: the worker's pool size. At most ``UNRECEIVED_PER_SLOT`` x the pool slots of
            all live workers wait in the broker at a time, and this pump publishes at most
            ``UNRECEIVED_PER_SLOT`` x ``slots`` per look.
        in_hand: the ids of the tasks this worker has received and not finished (``None``:
            unknown now); held tasks missing from it twice in a row are made due again.
        admission: the admission check of a due job that has one (``Job.admission``, see
            ``Admission``); ``None``: every due job is published when due.
        received: an event set whenever this worker receives a message; cleared at each
            look. After a look that found due jobs but no room for them (``waiting_for_room``)
            the caller waits for it rather than look again every millisecond.
    """

    def __init__(
        self,
        app: Any,
        lot: ParkingLot,
        *,
        slots: int,
        in_hand: Callable[[], set[str] | None] = lambda: None,
        admission: Admission | None = None,
        received: threading.Event | None = None,
    ) -> None:
        self.app = app
        self.lot = lot
        self.slots = max(1, slots)
        self.in_hand = in_hand
        self.admission = admission
        self.received = received
        #: The last look left due jobs for want of room in the broker.
        self.waiting_for_room = False
        self._next_beat = 0.0
        self._fleet_slots = self.slots  # pool slots of every live worker, from heartbeats
        self._next_check = 0.0
        self._not_in_hand: set[str] = set()
        # Since when this pump has beaten without a Redis failure (-inf: from the start).
        self._beating_since: float | None = float("-inf")
        self._last_beat = float("inf")  # monotonic time of the last heartbeat written
        self._failing = False

    def run_once(self) -> float:
        """Heartbeat, take over, publish what is due; a Redis error is logged, never raised.

        Returns:
            The seconds to sleep before the next look (0.0: look again at once); with
            ``waiting_for_room`` set, at most that long, until this worker receives a message.
        """
        self.waiting_for_room = False
        if self.received is not None:
            self.received.clear()  # a message received from now on makes room for the next
        limit = UNRECEIVED_PER_SLOT * self.slots
        try:
            self._beat()
            self._check_holds()
            jobs, broken, next_due = self.lot.take_due(
                limit=limit,
                unreceived=UNRECEIVED_PER_SLOT * max(self.slots, self._fleet_slots),
            )
            looked_at = time.monotonic()
        except redis.RedisError as exc:
            self._note_failure(exc)
            return REPUBLISH_SECONDS
        if self._failing:
            logger.warning("pump: Redis is reachable again")
            self._failing = False
        for task_id, reason in broken:
            logger.error("pump: dropped parked task %s that cannot be read (%s)", task_id, reason)
        admitted, turns = [], []
        for job in jobs:
            turn = self._admission_wait(job)
            if turn is None:
                admitted.append(job)
            else:
                turns.append(turn)
        published = self._publish(admitted)
        if (published or turns) and len(jobs) == limit:
            return 0.0  # there may be more due and room for them: look again at once
        if next_due is not None and next_due <= 0 and len(jobs) < limit:
            # Due jobs left behind: the broker holds all the unreceived messages it may.
            # Room comes back when a worker receives one: this one says so (``received``).
            self.waiting_for_room = True
            return ROOM_WAIT_SECONDS
        # The next look is when the next job is due: one parked again for its turn just now,
        # or the earliest in the due set; counted from the look, not from now.
        nexts = [*turns, *([] if next_due is None else [next_due])]
        if not nexts:
            return IDLE_SECONDS
        due_in = min(nexts) - (time.monotonic() - looked_at)
        # Nothing due yet: look when the first is (never a busy loop on TAKE_DUE).
        return min(IDLE_SECONDS, max(MIN_SLEEP_SECONDS, due_in))

    def _admission_wait(self, job: Job) -> float | None:
        """``None`` to publish ``job`` now; else it is parked again until its admission's
        turn, that many seconds from now.

        A failing admission check publishes the job all the same: its task then asks the
        limiter itself, as a task from an outside producer does.
        """
        if self.admission is None or job.admission is None:
            return None
        try:
            wait = self.admission.admit(job)
        except Exception as exc:
            logger.warning("pump: admission of %s failed (%s); publishing it", job.task_id, exc)
            return None
        if wait <= 0:
            return None
        try:
            self.lot.unsend(job.task_id, wait)
        except redis.RedisError as exc:  # its claim lapses and it is due again: never lost
            self._note_failure(exc)
            return REPUBLISH_SECONDS
        return wait

    def _publish(self, jobs: list[Job]) -> int:
        sent: list[str] = []
        for job in jobs:
            try:
                self.app.send_task(job.name, job.args, job.kwargs, **job.options)
            except Exception as exc:  # the broker is unreachable: keep the job, try again
                logger.warning("pump: could not publish %s[%s]: %s", job.name, job.task_id, exc)
                # If even that fails, its claim lapses and it is due again: never lost.
                with contextlib.suppress(redis.RedisError):
                    self.lot.unsend(job.task_id, REPUBLISH_SECONDS)
            else:
                sent.append(job.task_id)
        try:
            self.lot.sent(sent)
        except redis.RedisError as exc:
            self._note_failure(exc)
        return len(sent)

    def _beat(self) -> None:
        now = time.monotonic()
        if now < self._next_beat:
            return
        self._fleet_slots = self.lot.heartbeat(self.slots)
        beaten = time.monotonic()
        # A heartbeat that took long (the client rode out an outage) or came long after the
        # last one (Redis was unreachable) means every other worker's is old too.
        if self._beating_since is None or beaten - self._last_beat > self.lot.dead_after:
            self._beating_since = beaten
        self._last_beat = beaten
        self._next_beat = beaten + c.WORKER_HEARTBEAT_SECONDS
        self._hand_free_slots()
        # After a Redis outage, take over only once we have beaten for a while again: the
        # live workers need a moment to beat again.
        if beaten - self._beating_since >= self.lot.dead_after:
            for gone in self.lot.take_over():
                logger.warning(
                    "took over %d task(s) from worker %s (no heartbeat for %.1f s)",
                    gone.tasks,
                    gone.worker,
                    gone.silent_for,
                )

    def _hand_free_slots(self) -> None:
        """A free slot never waits long for a task in line: wake those it is handed to.

        A failing hand-off costs only this heartbeat's: the look, the heartbeat and the
        take-over go on (the next heartbeat tries again).
        """
        if self.admission is None:
            return
        try:
            handed = self.admission.free_slots()
        except (redis.ConnectionError, redis.TimeoutError):
            raise  # Redis unreachable: the look notes it and waits
        except Exception as exc:  # a script's error, say
            logger.warning("pump: handing free slots failed (%s)", exc)
            return
        if handed:
            self.lot.wake(handed)

    def _check_holds(self) -> None:
        """Tasks Redis says we hold but we do not have (seen twice in a row) go on elsewhere."""
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + HOLD_CHECK_SECONDS
        mine = self.in_hand()
        if mine is None:
            return
        missing = self.lot.held() - mine
        lost = sorted(missing & self._not_in_hand)
        self._not_in_hand = missing - set(lost)
        if lost and (count := self.lot.regrasp(lost)):
            logger.warning("re-queued %d task(s) this worker held but no longer has", count)

    def _note_failure(self, exc: Exception) -> None:
        self._beating_since = None
        if not self._failing:
            logger.warning("pump: Redis unreachable (%s); parked jobs wait until it is back", exc)
            self._failing = True


class Bell:
    """The pumps' bell: a wake that makes parked jobs due now (``ParkingLot.wake``) publishes
    on ``PUMP_BELL_CHANNEL``, and a pump between two looks listens to it, so that a task a
    freed slot waits for is published at once, not at the pump's next look.

    Parameters:
        client: the Redis of the shared state.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._pubsub: Any = None

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds``, less if the bell rings (the timeout is the socket's, so
        it is kept to the millisecond, unlike a blocking command's on the server).

        Returns:
            False if the bell could not be listened to (Redis unreachable): nothing waited.
        """
        try:
            if self._pubsub is None:
                self._pubsub = self.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
                self._pubsub.subscribe(c.PUMP_BELL_CHANNEL)
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                message = self._pubsub.get_message(timeout=left)
                if message is not None:
                    while self._pubsub.get_message(timeout=0.0) is not None:
                        pass  # several rings are one look
                    return True
            return True
        except redis.RedisError:
            self.close()
            return False

    def close(self) -> None:
        """Stop listening (the next ``wait`` subscribes again)."""
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                self._pubsub.close()
            self._pubsub = None


class PumpStep(bootsteps.StartStopStep):
    """The worker bootstep that runs the ``Pump`` in a thread."""

    requires = ("celery.worker.components:Pool",)

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pump: Pump | None = None
        self._bell: Bell | None = None

    def start(self, worker: Any) -> None:
        """Start the pump's thread (Celery calls it once the pool is up).

        The worker's own publishes are the pump's, and they send no ``task-sent`` event:
        a parked task is published only when a pool slot waits for it, so its
        ``task-received`` follows within milliseconds, and Flower knows the task from its
        first send anyway (a producer's, with the event). One event less per wake-up.
        """
        worker.app.conf.task_send_sent_event = False
        self._pump = Pump(
            worker.app,
            current_lot(),
            slots=worker.concurrency or 1,
            in_hand=_requests_in_hand,
            admission=_build_admission(),
            received=_received,
        )
        self._bell = Bell(self._pump.lot.redis)
        self._thread = threading.Thread(target=self._run, name="reload-pump", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self._pump is not None
        while not self._stop.is_set():
            try:
                pause = self._pump.run_once()
            except Exception:  # a bug must not stop the pump for good
                logger.exception("pump: unexpected error")
                pause = REPUBLISH_SECONDS
            if pause > 0:
                self._sleep(pause)

    def _sleep(self, seconds: float) -> None:
        """Until the next look: ``seconds``, or less if a wake rings the bell (or, when the
        broker has no room, if this worker receives a message: a wake could not be published
        before then)."""
        assert self._bell is not None and self._pump is not None
        if self._pump.waiting_for_room:
            _received.wait(seconds)
            return
        if not self._bell.wait(seconds):
            self._stop.wait(seconds)

    def stop(self, worker: Any) -> None:
        """Stop the thread and leave: drop this worker's holds and heartbeat."""
        self._stop.set()
        _received.set()  # a pump waiting for room looks once more, and sees the stop
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._bell is not None:
            self._bell.close()
        if self._pump is not None:
            # If Redis is unreachable, the others take over once the heartbeat is old.
            with contextlib.suppress(redis.RedisError):
                self._pump.lot.leave()

    shutdown = stop


_admission: Callable[[], Admission] | None = None


def provide_admission(factory: Callable[[], Admission]) -> None:
    """Make ``factory`` build each worker's admission check (``Pump``'s ``admission``).

    Called by the wiring (``worker.celery``), so this package never imports the limiter.

    Parameters:
        factory: called once per worker, as its pump starts.
    """
    global _admission
    _admission = factory


def _build_admission() -> Admission | None:
    """This worker's admission check, or ``None`` (every due job is published) if there is
    none or it cannot be built (its tasks then ask the limiter themselves)."""
    if _admission is None:
        return None
    try:
        return _admission()
    except Exception as exc:
        logger.warning("pump: no admission check (%s); due tasks ask the limiter themselves", exc)
        return None


def _requests_in_hand() -> set[str] | None:
    """Ids of the tasks this worker has received and not finished (``None``: unknown now)."""
    for _ in range(3):
        try:
            return {r.id for r in list(state.reserved_requests) + list(state.active_requests)}
        except RuntimeError:  # the consumer changed the set while we copied it
            continue
    return None


def job_from_request(request: Any) -> Job | None:
    """The job that sends a received message's task again.

    Parameters:
        request: the worker's ``celery.worker.request.Request`` for the message.

    Returns:
        The job, or ``None`` if the message cannot be read (logged).
    """
    try:
        args, kwargs, embed = loads(
            request.body,
            request.content_type,
            request.content_encoding,
            accept={request.content_type},
        )
        context = {**request.request_dict, **(embed or {}), "args": args, "kwargs": kwargs}
        return job_from_signature(request.task.signature_from_request(Context(context)))
    except Exception:
        logger.exception("cannot keep a copy of received task %s", request.id)
        return None


@signals.task_received.connect(weak=False)
def on_task_received(sender: Any = None, request: Any = None, **_: Any) -> None:
    """Hold each received task of ours, so that a dead worker's tasks are taken over.

    Parameters:
        sender: the consumer that received it (unused).
        request: the received message's request; tasks other than ``ParkingTask``'s are
            ignored.
    """
    if request is None or not isinstance(request.task, ParkingTask):
        return
    try:
        current_lot().hold(request.id, lambda: job_from_request(request))
    except redis.RedisError as exc:
        logger.warning("could not record that this worker holds %s: %s", request.id, exc)
    _received.set()  # room in the broker for the next: the pump may publish it
