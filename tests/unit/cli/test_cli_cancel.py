"""Behaviour: ``reloadctl cancel BATCH_ID`` sends cancel_batch by name and says what happened.

The workers' answer is scripted (a fake result in place of the Celery app's send_task).
"""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from worker.celery import app
from worker.cli import main


class Answer:
    def __init__(self, value: Any, *, failed: bool = False) -> None:
        self.value, self._failed = value, failed

    def get(self, timeout: float, propagate: bool) -> Any:
        return self.value

    def failed(self) -> bool:
        return self._failed


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[Any]]]:
    calls: list[tuple[str, list[Any]]] = []
    answers: dict[str, Answer] = {
        "b-open": Answer({"batch_id": "b-open", "cancelled": ["m1", "m2"], "finished": False}),
        "b-done": Answer({"batch_id": "b-done", "cancelled": [], "finished": True}),
        "b-none": Answer(ValueError("no batch 'b-none' in the ledger"), failed=True),
    }

    def send_task(name: str, args: list[Any]) -> Answer:
        calls.append((name, args))
        return answers[args[0]]

    monkeypatch.setattr(app, "send_task", send_task)
    return calls


def test_an_open_batch_is_cancelled_by_name_and_the_count_printed(sent: list[Any]) -> None:
    result = CliRunner().invoke(main, ["cancel", "b-open"])

    assert result.exit_code == 0
    assert result.stdout == "batch b-open: 2 model(s) cancelled; its summary follows\n"
    assert sent == [("cancel_batch", ["b-open"])]


def test_a_finished_batch_says_so_and_exits_0(sent: list[Any]) -> None:
    result = CliRunner().invoke(main, ["cancel", "b-done"])

    assert result.exit_code == 0
    assert "had finished: nothing changed" in result.stdout


def test_an_unknown_batch_exits_2_with_the_workers_reason(sent: list[Any]) -> None:
    result = CliRunner().invoke(main, ["cancel", "b-none"])

    assert result.exit_code == 2
    assert "error: no batch 'b-none' in the ledger" in result.stderr
