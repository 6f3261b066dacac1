"""Flower's configuration for this project: ``celery -A worker flower`` reads it from the
working directory (``make flower``); the demo, the tests and compose pass ``--conf=`` it.

Options are Flower's own (flower/options.py); the values live in
``worker/dashboard/flower.py``: the task list shows each task's arguments (the model id)
and result, a failed model's result reads ``FAILED: <reason>``, a wait shows no traceback.
Basic auth comes from ``FLOWER_BASIC_AUTH`` (never written here).
"""

from worker.dashboard.flower import format_task, tasks_columns

__all__ = ["format_task", "tasks_columns"]
