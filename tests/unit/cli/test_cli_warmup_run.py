"""``reloadctl warmup`` after the input is good: the batch id, ``--wait``, and the exit codes.

A scripted ``Batches`` stands in for Celery and Redis (click's ``obj``).
stderr is not a terminal under CliRunner, so progress comes as plain lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from click.testing import CliRunner, Result

from worker.cli import main
from worker.cli.warmup import Batches, Rejected, Unavailable

ALL_WARM = {
    "batch_id": "batch-1",
    "total": 2,
    "warm": ["m-1", "m-2"],
    "failed": {},
    "started_at": 1000.0,
    "finished_at": 1125.0,
    "duration_s": 125.0,
    "upstream_calls": 4,
}
ONE_FAILED = {
    **ALL_WARM,
    "warm": ["m-1"],
    "failed": {"m-2": "HTTP 404: Model not found"},
    "upstream_calls": 3,
}


class ScriptedBatches:
    """Starts ``batch-1`` (or raises ``start_error``); ``summary`` answers from a script."""

    max_batch = 100

    def __init__(
        self,
        *,
        start_error: BaseException | None = None,
        summaries: list[dict[str, Any] | None] | None = None,
        poll_error: BaseException | None = None,
    ) -> None:
        self.start_error = start_error
        self._summaries: Iterator[dict[str, Any] | None] = iter(summaries or [])
        self.poll_error = poll_error
        self.started: list[tuple[list[str], str | None, float]] = []
        self.polls = 0
        self.priorities: list[str] = []

    def start(
        self,
        model_ids: list[str],
        callback_url: str | None,
        *,
        timeout: float,
        priority: str = "normal",
    ) -> str:
        self.started.append((model_ids, callback_url, timeout))
        self.priorities.append(priority)
        if self.start_error is not None:
            raise self.start_error
        return "batch-1"

    def counts(self, batch_id: str) -> dict[str, int]:
        return {"queued": 1, "waiting": 0, "reloading": 1, "warm": 0, "failed": 0}

    def summary(self, batch_id: str) -> dict[str, Any] | None:
        self.polls += 1
        if self.poll_error is not None:
            raise self.poll_error
        return next(self._summaries)


def warmup(batches: ScriptedBatches, *args: str) -> Result:
    return CliRunner().invoke(main, ["warmup", "m-1", "m-2", *args], obj=batches)


def test_the_scripted_fake_is_a_batches() -> None:
    assert isinstance(ScriptedBatches(), Batches)


def test_without_wait_prints_only_the_batch_id_and_exits_0() -> None:
    batches = ScriptedBatches()
    result = warmup(batches)
    assert result.exit_code == 0
    assert result.stdout == "batch-1\n"
    assert batches.started == [(["m-1", "m-2"], None, 60.0)]


def test_json_prints_the_batch_id_as_an_object() -> None:
    result = warmup(ScriptedBatches(), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"batch_id": "batch-1"}


def test_the_timeout_is_how_long_start_may_wait() -> None:
    batches = ScriptedBatches()
    assert warmup(batches, "--timeout", "2.5").exit_code == 0
    assert batches.started[0][2] == 2.5


def test_priority_high_is_passed_on_and_normal_is_the_default() -> None:
    batches = ScriptedBatches()
    assert warmup(batches).exit_code == 0
    assert warmup(batches, "--priority", "high").exit_code == 0
    assert batches.priorities == ["normal", "high"]


def test_a_priority_that_is_neither_normal_nor_high_exits_2_and_sends_nothing() -> None:
    batches = ScriptedBatches()
    result = warmup(batches, "--priority", "urgent")
    assert result.exit_code == 2
    assert "'urgent' is not one of 'normal', 'high'" in result.stderr
    assert batches.started == []


def test_a_batch_the_workers_reject_exits_2_with_their_message() -> None:
    result = warmup(ScriptedBatches(start_error=Rejected("model_ids[0]: empty id")))
    assert result.exit_code == 2
    assert "error: model_ids[0]: empty id" in result.stderr
    assert result.stdout == ""


def test_no_worker_or_no_broker_exits_1_with_the_reason() -> None:
    result = warmup(ScriptedBatches(start_error=Unavailable("no worker answered within 60s")))
    assert result.exit_code == 1
    assert "error: no worker answered within 60s" in result.stderr
    assert result.stdout == ""


def test_ctrl_c_before_a_worker_answers_exits_130() -> None:
    result = warmup(ScriptedBatches(start_error=KeyboardInterrupt()))
    assert result.exit_code == 130
    assert "interrupted" in result.stderr


def test_wait_with_every_model_warm_prints_the_summary_and_exits_0() -> None:
    result = warmup(ScriptedBatches(summaries=[ALL_WARM]), "--wait")
    assert result.exit_code == 0
    assert result.stdout == "batch batch-1: all 2 models warm in 2m05s (4 upstream calls)\n"


def test_wait_with_a_failed_model_lists_it_with_its_reason_and_exits_1() -> None:
    result = warmup(ScriptedBatches(summaries=[ONE_FAILED]), "--wait")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "batch batch-1: 1 of 2 warm, 1 failed in 2m05s (3 upstream calls)",
        "failed:",
        "  m-2  HTTP 404: Model not found",
    ]


def test_wait_json_prints_the_summary_object_and_keeps_the_exit_code() -> None:
    result = warmup(ScriptedBatches(summaries=[ONE_FAILED]), "--wait", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == ONE_FAILED


def test_wait_shows_plain_progress_on_stderr_when_it_is_not_a_terminal() -> None:
    batches = ScriptedBatches(summaries=[None, ALL_WARM])
    result = warmup(batches, "--wait")
    assert result.exit_code == 0
    assert batches.polls == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("batch batch-1: 0/2 final (queued 1, waiting 0, reloading 1,")
    assert lines[0].endswith("estimating…")
    assert lines[-1].startswith("batch batch-1: 2/2 final")
    assert "\x1b" not in result.stderr
    assert result.stdout.startswith("batch batch-1: all 2 models warm")


def test_ctrl_c_while_waiting_prints_the_batch_id_and_exits_130() -> None:
    result = warmup(ScriptedBatches(poll_error=KeyboardInterrupt()), "--wait")
    assert result.exit_code == 130
    assert result.stdout == "batch-1\n"
    assert "batch batch-1 keeps running" in result.stderr


def test_losing_redis_while_waiting_exits_1_and_says_the_batch_keeps_running() -> None:
    result = warmup(
        ScriptedBatches(poll_error=Unavailable("cannot reach Redis: refused")), "--wait"
    )
    assert result.exit_code == 1
    assert "error: cannot reach Redis: refused; batch batch-1 keeps running" in result.stderr


def test_help_lists_both_commands_and_the_warmup_options() -> None:
    runner = CliRunner()
    top = runner.invoke(main, ["--help"])
    assert "warmup" in top.output
    assert "status" in top.output
    help_text = runner.invoke(main, ["warmup", "--help"]).output
    for option in ("--file", "--wait", "--json", "--callback-url", "--timeout", "Exit codes"):
        assert option in help_text
