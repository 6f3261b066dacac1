"""Defaults and the Redis key names of the shared state.

Every key this project writes to Redis starts with ``KEY_PREFIX``, so ``redis-cli --scan
--pattern 'reload:*'`` finds all of the project's state. The keys are spelled here, each
documented with its Redis type and contents; the limiter's, the breaker's and the outbox
lock's are spelled beside their code (``worker.limiter``, ``worker.batch.outbox``).
"""

from __future__ import annotations

KEY_PREFIX = "reload:"

DEFAULT_REDIS_URL = "redis://localhost:6379/0"
DEFAULT_BASE_URL = "https://stablediffusionapi.com/api/v4/dreambooth"
DEFAULT_RATE_LIMIT = "5/s"
DEFAULT_MAX_IN_FLIGHT = 3
DEFAULT_WARM_SECONDS = 120.0
DEFAULT_DEADLINE_SECONDS = 1800.0
DEFAULT_MAX_BATCH = 10_000
DEFAULT_MAX_RETRIES = 8
DEFAULT_BACKOFF_BASE_SECONDS = 1.0
DEFAULT_BACKOFF_MAX_SECONDS = 60.0
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_FRESH_SECONDS = 600.0
DEFAULT_BATCH_GRACE_SECONDS = 60.0
DEFAULT_KEEP_WARM_EVERY = 6 * 24 * 3600.0

MAX_MODEL_ID_LENGTH = 256
# How long a batch's ledger and results are kept after it ends (and Celery's result_expires).
RESULT_TTL_SECONDS = 7 * 24 * 3600
# Seconds to wait for a free concurrency slot or a step lock before looking again.
BUSY_RETRY_SECONDS = 0.25
WEBHOOK_TIMEOUT_SECONDS = 10.0
DEFAULT_WEBHOOK_RETRY_SECONDS = 3600.0
# Webhook retries: full-jitter backoff from 1 s doubling, each wait at most 5 minutes.
WEBHOOK_BACKOFF_BASE_SECONDS = 1.0
WEBHOOK_BACKOFF_MAX_SECONDS = 300.0
# A model with no task, flight or outcome for this long (Redis time) is dispatched again.
RECONCILE_GRACE_SECONDS = 30.0


def flight_key(model_id: str) -> str:
    """Hash: the one reload of ``model_id`` in progress (single-flight)."""
    return f"{KEY_PREFIX}flight:{model_id}"


def step_lock_key(model_id: str) -> str:
    """String with a TTL: held by the task that is advancing ``model_id``'s flight."""
    return f"{KEY_PREFIX}steplock:{model_id}"


def task_flight_key(task_id: str, model_id: str) -> str:
    """String: the id of the flight the task is attached to for the model.

    Parameters:
        task_id: the Celery task id.
        model_id: the model; a task id reused for another model must not find this flight.
    """
    return f"{KEY_PREFIX}task:{task_id}:{model_id}"


def outcome_key(flight_id: str) -> str:
    """String (JSON): how the finished flight ``flight_id`` ended."""
    return f"{KEY_PREFIX}outcome:{flight_id}"


def last_warm_key(model_id: str) -> str:
    """String (JSON) with a TTL: ``model_id``'s last confirmed-warm outcome."""
    return f"{KEY_PREFIX}warm:{model_id}"


def batch_key(batch_id: str) -> str:
    """Hash: ``batch_id``'s metadata (total, created_at, status, summary...)."""
    return f"{KEY_PREFIX}batch:{batch_id}"


def batch_models_key(batch_id: str) -> str:
    """Hash: model id -> JSON record of its state in ``batch_id``."""
    return f"{KEY_PREFIX}batch:{batch_id}:models"


def batch_counts_key(batch_id: str) -> str:
    """Hash: state -> number of ``batch_id``'s models in it."""
    return f"{KEY_PREFIX}batch:{batch_id}:counts"


WARMED_KEY = f"{KEY_PREFIX}warmed"
"""Sorted set: model id -> Redis time its last flight ended warm (whichever batch asked)."""

KEEP_WARM_ASKED_KEY = f"{KEY_PREFIX}keepwarm:asked"
"""Sorted set: model id -> Redis time keep-warm last put it in a batch (worker.batch.keepwarm)."""


def keep_warm_run_key(task_id: str) -> str:
    """String (JSON) with a TTL: what keep_warm run ``task_id`` chose (a redelivery finds it)."""
    return f"{KEY_PREFIX}keepwarm:run:{task_id}"


OPEN_BATCHES_KEY = f"{KEY_PREFIX}batches:open"
"""Sorted set: ids of batches not yet completed, scored by creation time."""

OUTBOX_KEY = f"{KEY_PREFIX}outbox"
"""Sorted set: batches whose webhook is not delivered yet, scored by when the sweep sends
their delivery task again if it was lost (worker.batch.outbox)."""

DEADLETTER_KEY = f"{KEY_PREFIX}deadletter"
"""List, newest first: JSON records {at, reason, raw, queue} of broker messages no worker
could read (worker.messaging.deadletter), capped at DEADLETTER_MAX_ENTRIES."""

DEADLETTER_COUNT_KEY = f"{KEY_PREFIX}deadletter:count"
"""Counter: how many broker messages were ever kept aside (the list keeps the latest)."""

DEADLETTER_MAX_ENTRIES = 10_000
# How much of an unreadable message its dead-letter record keeps (characters).
DEADLETTER_RAW_CHARS = 10 * 1024


# ---- parked waits and the messages workers hold (worker.messaging) ----------------------

JOBS_KEY = f"{KEY_PREFIX}jobs"
"""Hash: task id -> JSON of what is needed to send the task again (see worker.messaging)."""

DUE_KEY = f"{KEY_PREFIX}due"
"""Sorted set: parked task ids scored by the Redis time they are due (the normal lane)."""

DUE_HIGH_KEY = f"{KEY_PREFIX}due:high"
"""Sorted set: the same for high-priority tasks, published before any normal one."""

HIGH_IDS_KEY = f"{KEY_PREFIX}high"
"""Set: ids of the parked or held tasks that are high priority (their lane)."""

ADMISSIONS_KEY = f"{KEY_PREFIX}admissions"
"""Hash: task id -> JSON of what its next execution needs before the pump publishes it (a
grant of the limiter, taken ahead): a parked job's admission (see worker.messaging.pump)."""

PUMP_BELL_CHANNEL = f"{KEY_PREFIX}pump:bell"
"""Pub/sub channel: a message for each wake that made parked jobs due now; a pump waiting
for its next look is subscribed and looks at once."""

SENDING_KEY = f"{KEY_PREFIX}sending"
"""Sorted set: task ids a pump is publishing, scored by when its claim on them lapses."""

SENT_KEY = f"{KEY_PREFIX}sent"
"""Sorted set: task ids published and not yet received by a worker, scored by send time."""

WORKERS_KEY = f"{KEY_PREFIX}workers"
"""Sorted set: worker id -> its last heartbeat (Redis time)."""

WORKER_SLOTS_KEY = f"{KEY_PREFIX}workers:slots"
"""Hash: worker id -> its pool slots (the pumps' flow control adds up the live ones)."""

GONE_WORKERS_KEY = f"{KEY_PREFIX}workers:gone"
"""Sorted set: dead workers already taken over, scored by their last heartbeat."""

# A worker whose heartbeat is older than this is dead: its holdings are taken over.
WORKER_DEAD_SECONDS = 3.0
WORKER_HEARTBEAT_SECONDS = 0.5
# A pump that claimed due entries and died: after this long they are due again.
SENDING_LEASE_SECONDS = 10.0
# A published message no worker received within this long is published again (it was
# lost with a dying worker between the broker and the worker's hold, or purged).
RECEIVE_WITHIN_SECONDS = 5.0
# How long "task finished" is remembered, so a redelivered copy never finishes it again.
DONE_TTL_SECONDS = 24 * 3600
# The broker's visibility timeout: a last resort for a dead worker's unacked messages
# (the heartbeat takeover comes first). Longer than any one execution of a task.
VISIBILITY_TIMEOUT_SECONDS = 900


def template_key(digest: str) -> str:
    """String (JSON) with a TTL: the options parked tasks share (e.g. a batch's), by ``digest``.

    Parameters:
        digest: the first 20 hex digits of the SHA-1 of the options' JSON.
    """
    return f"{KEY_PREFIX}tpl:{digest}"


def held_key(worker_id: str) -> str:
    """Set: ids of the tasks ``worker_id`` has received and not finished or parked."""
    return f"{KEY_PREFIX}held:{worker_id}"


def done_key(task_id: str) -> str:
    """String with a TTL: the worker that finished ``task_id`` (it returns once)."""
    return f"{KEY_PREFIX}done:{task_id}"


# ---- monitoring: what the workers record for the dashboard and /metrics (worker.monitoring) --

ANSWERS_KEY = f"{KEY_PREFIX}metrics:answers"
"""Hash: kind of upstream answer (accepted, loading, warm, rate_limited, transient,
permanent) -> how many calls were answered so (ever, for every key)."""

RATE_LIMITED_TIMES_KEY = f"{KEY_PREFIX}metrics:429s"
"""Sorted set: one member per 429, scored by its Redis time; older than a minute is dropped."""

BATCH_METRICS_KEY = f"{KEY_PREFIX}metrics:batches"
"""Hash: ``completed`` (batches ever completed), ``sum`` (their durations, seconds) and one
``le:<bound>`` field per duration bucket (batches whose duration fell in it, not cumulative)."""

RECENT_BATCHES_KEY = f"{KEY_PREFIX}batches:recent"
"""Sorted set: the latest completed batch ids, scored by completion time (the dashboard)."""

RECENT_BATCHES_KEPT = 50

ACCOUNTS_KEY = f"{KEY_PREFIX}accounts"
"""Hash: key scope (``worker.runtime.key_scope``: an opaque hash, never the key) -> JSON of
the limits the workers enforce for it; published by each worker process at start, so that
the dashboard finds the limiter's keys without knowing the API key."""
