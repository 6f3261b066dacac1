"""Given Flower's format_task option (flowerconfig.py), a failed model's result reads as a
failure, a warm one as warm, and a wait shows no traceback; other tasks are left alone."""

from __future__ import annotations

import runpy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from flower.views.tasks import TASK_COLUMNS

from worker.dashboard.flower import FAILED_MODELS_SEARCH, format_task, tasks_columns
from worker.messaging.results import Waiting

ROOT = Path(__file__).resolve().parents[3]


def task(name: str, result: Any = None, exception: Any = None) -> Any:
    return SimpleNamespace(name=name, result=result, exception=exception, traceback="Traceback ...")


def reload_result(state: str, reason: str | None, calls: int) -> str:
    # What Celery's task-succeeded event carries: the repr of reload_model's dict.
    return repr(
        {
            "model_id": "m",
            "state": state,
            "reason": reason,
            "upstream_calls": calls,
            "batch_id": "b",
        }
    )


def test_a_failed_model_reads_failed_with_its_reason() -> None:
    shown = format_task(
        task("reload_model", reload_result("failed", "HTTP 404: Model not found", 1))
    )

    assert shown.result == "FAILED: HTTP 404: Model not found (1 upstream call)"


def test_warm_and_cancelled_models_read_so() -> None:
    assert format_task(task("reload_model", reload_result("warm", None, 2))).result == (
        "warm (2 upstream calls)"
    )
    assert format_task(task("reload_model", reload_result("cancelled", "cancelled", 0))).result == (
        "cancelled (0 upstream calls)"
    )


def test_other_tasks_and_unreadable_results_are_left_as_they_are() -> None:
    assert format_task(task("warmup_batch", "'b-1'")).result == "'b-1'"
    assert format_task(task("reload_model", "<truncated {...")).result == "<truncated {..."


def test_a_wait_reads_as_a_wait_and_has_no_traceback() -> None:
    wait = repr(Waiting("accepted; confirming"))
    error = repr(RuntimeError("boom"))

    assert wait == "waiting: accepted; confirming"
    assert format_task(task("reload_model", exception=wait)).traceback is None
    assert format_task(task("reload_model", exception=error)).traceback == "Traceback ..."


def test_the_search_matches_the_raw_result_of_a_failed_model_only() -> None:
    # Flower's search (flower/utils/search.py) matches "result:" against the raw result text.
    value = FAILED_MODELS_SEARCH.split("result:", 1)[1]
    assert value in reload_result("failed", "HTTP 404", 1).casefold()
    assert value not in reload_result("warm", None, 2).casefold()
    assert value not in reload_result("cancelled", "cancelled", 0).casefold()


def test_flowerconfig_hands_flower_these_options() -> None:
    config = runpy.run_path(str(ROOT / "flowerconfig.py"))

    assert config["format_task"] is format_task
    assert config["tasks_columns"] == tasks_columns
    assert tasks_columns.split(",")[:4] == ["name", "args", "state", "result"]
    assert set(tasks_columns.split(",")) <= set(TASK_COLUMNS)  # Flower 2.2's column slugs
