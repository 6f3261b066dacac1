"""The task ids of a batch, derived from its ids (uuid5): the same inputs, the same id.

So a task sent twice is one task, and whoever knows a batch and a model (the
reconciler, the dashboard's links to Flower) can name its task without asking.
"""

from __future__ import annotations

import uuid

__all__ = ["batch_id_for", "header_task_id", "redo_task_id", "webhook_task_id"]

_NAMESPACE = uuid.UUID("6f1d7c36-3a59-4c0e-9d4e-2d6b1f0a9e11")


def batch_id_for(request_id: str) -> str:
    """The batch id of a ``warmup_batch`` task: the same if the task runs twice."""
    return str(uuid.uuid5(_NAMESPACE, f"batch:{request_id}"))


def header_task_id(batch_id: str, model_id: str) -> str:
    """The task id of the batch's ``reload_model`` for ``model_id`` (its chord header)."""
    return str(uuid.uuid5(_NAMESPACE, f"{batch_id}:{model_id}"))


def redo_task_id(batch_id: str, model_id: str, attempt: int) -> str:
    """The task id of the ``attempt``-th plain re-dispatch of a lost model."""
    return str(uuid.uuid5(_NAMESPACE, f"{batch_id}:{model_id}:redo:{attempt}"))


def webhook_task_id(batch_id: str) -> str:
    """One delivery task per batch: sending it again re-parks the same job."""
    return str(uuid.uuid5(_NAMESPACE, f"webhook:{batch_id}"))
