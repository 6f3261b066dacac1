"""How Flower shows this project's tasks (``flowerconfig.py`` at the project root uses it).

``tasks_columns`` and ``format_task`` are Flower options; ``FAILED_MODELS_SEARCH`` lists the
failed models in Flower's search; ``task_url`` links the dashboard to a task's page.
"""

from __future__ import annotations

import ast
from typing import Any
from urllib.parse import quote

__all__ = ["FAILED_MODELS_SEARCH", "format_task", "task_url", "tasks_columns"]

tasks_columns = "name,args,state,result,retries,received,runtime,worker"
"""Flower's task-list columns, with each task's arguments (a ``reload_model``'s model and batch
ids) and its result."""

FAILED_MODELS_SEARCH = "name:reload_model result:failed"
"""The search (Flower's search box, or ``/api/tasks?search=``) that lists the failed models:
it matches the ``'state': 'failed'`` of their results."""

WAIT_PREFIX = "waiting: "  # worker.messaging.results.Waiting's repr


def _reload_result(text: str) -> str | None:
    """``reload_model``'s result as a short line, or ``None`` if it is not a result dict."""
    try:
        result = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(result, dict) or "state" not in result:
        return None
    calls = result.get("upstream_calls")
    suffix = f" ({calls} upstream call{'' if calls == 1 else 's'})" if calls is not None else ""
    state = result["state"]
    if state == "failed":
        return f"FAILED: {result.get('reason') or 'failed'}{suffix}"
    if state == "cancelled":
        return f"cancelled{suffix}"
    return f"{state}{suffix}"


def format_task(task: Any) -> Any:
    """Flower's ``format_task`` option: called with a copy of each task it shows.

    A ``reload_model`` result reads ``FAILED: <reason>``, ``warm`` or ``cancelled`` (the task
    itself succeeds, so its chord goes on; the result backend and Flower's API keep the dict),
    and a wait (a ``Waiting`` retry) shows no traceback.

    Parameters:
        task: Flower's copy of the task.

    Returns:
        ``task``, changed in place.
    """
    if getattr(task, "name", None) == "reload_model" and isinstance(task.result, str):
        line = _reload_result(task.result)
        if line is not None:
            task.result = line
    exception = getattr(task, "exception", None)
    if isinstance(exception, str) and exception.startswith(WAIT_PREFIX):
        task.traceback = None
    return task


def task_url(flower_url: str, task_id: str) -> str:
    """The page of a task in Flower.

    Parameters:
        flower_url: Flower's base URL (``FLOWER_URL``).
        task_id: the task's id.
    """
    return f"{flower_url.rstrip('/')}/task/{quote(task_id)}"
