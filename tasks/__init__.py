"""Celery task definitions, registered under the names other services use.

Tasks are thin, like web views: they check their arguments, call plain
functions in ``worker``, and turn the outcome into a Celery decision (wait,
parked in Redis; fail; or return).
"""

from tasks.batch import (
    batch_backstop,
    batch_finished,
    batch_status,
    cancel_batch,
    post_batch_webhook,
    warmup_batch,
)
from tasks.keep_warm import keep_warm
from tasks.reload import reload_model

__all__ = [
    "batch_backstop",
    "batch_finished",
    "batch_status",
    "cancel_batch",
    "keep_warm",
    "post_batch_webhook",
    "reload_model",
    "warmup_batch",
]
