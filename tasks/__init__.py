"""Celery task definitions, registered under the names other services use.

Tasks are thin, like web views: they check their arguments, call plain
functions in ``worker``, and turn the outcome into a Celery decision (retry
with a countdown, fail, or return).
"""

from tasks.batch import batch_backstop, batch_finished, post_batch_webhook, warmup_batch
from tasks.keep_warm import keep_warm
from tasks.reload import reload_model

__all__ = [
    "batch_backstop",
    "batch_finished",
    "keep_warm",
    "post_batch_webhook",
    "reload_model",
    "warmup_batch",
]
