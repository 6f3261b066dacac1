"""``CeleryBatches``: how ``reloadctl warmup`` talks to Celery, against a stand-in app.

The stand-in records ``send_task`` calls and answers ``backend.get_task_meta``
from a script of result records, the way the Redis result backend would.
"""

from __future__ import annotations

from typing import Any

import fakeredis
import pytest
import redis
from kombu.exceptions import OperationalError

from worker.batch.completion import InvalidBatch
from worker.batch.ledger import Ledger
from worker.cli.warmup import CeleryBatches, Rejected, Unavailable


class Sent:
    def __init__(self, task_id: str) -> None:
        self.id = task_id


class Backend:
    def __init__(self, records: dict[str, Any]) -> None:
        self.records = records
        self.released: list[str] = []

    def get_task_meta(self, task_id: str, cache: bool = True) -> dict[str, Any]:
        assert cache is False
        script = self.records.get(task_id, [])
        if isinstance(script, Exception):
            raise script
        return script.pop(0) if len(script) > 1 else (script or [{"status": "PENDING"}])[0]

    def remove_pending_result(self, result: Sent) -> None:
        self.released.append(result.id)


class App:
    def __init__(self, records: Any = None, send_error: Exception | None = None) -> None:
        self.backend = Backend(records or {})
        self.send_error = send_error
        self.sent: list[tuple[str, list[Any], dict[str, Any]]] = []

    def send_task(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> Sent:
        if self.send_error is not None:
            raise self.send_error
        self.sent.append((name, args, kwargs))
        return Sent("task-1")


def batches(app: App, ledger: Ledger | None = None) -> CeleryBatches:
    ledger = ledger or Ledger(fakeredis.FakeRedis(server=fakeredis.FakeServer()))
    return CeleryBatches(app, ledger, max_batch=100)  # type: ignore[arg-type]


def test_start_sends_warmup_batch_by_name_and_returns_the_batch_id() -> None:
    app = App({"task-1": [{"status": "PENDING"}, {"status": "SUCCESS", "result": "batch-9"}]})
    assert batches(app).start(["a", "b"], None, timeout=5) == "batch-9"
    assert app.sent == [("warmup_batch", [["a", "b"]], {})]
    assert app.backend.released == ["task-1"]  # its result subscription is dropped at once


def test_start_passes_the_callback_url_as_a_keyword() -> None:
    app = App({"task-1": [{"status": "SUCCESS", "result": "batch-9"}]})
    batches(app).start(["a"], "https://hooks.example/x", timeout=5)
    assert app.sent[0][2] == {"callback_url": "https://hooks.example/x"}


def test_a_task_that_failed_is_a_rejection_with_its_message() -> None:
    error = InvalidBatch("model_ids[0]: empty id")
    app = App({"task-1": [{"status": "FAILURE", "result": error}]})
    with pytest.raises(Rejected, match=r"^model_ids\[0\]: empty id$"):
        batches(app).start(["a"], None, timeout=5)


def test_no_answer_within_the_timeout_says_the_workers_may_not_be_running() -> None:
    app = App({"task-1": [{"status": "PENDING"}]})
    with pytest.raises(Unavailable, match=r"are the workers running.*task task-1"):
        batches(app).start(["a"], None, timeout=0.05)


@pytest.mark.parametrize(
    "error", [OperationalError("Connection refused"), redis.exceptions.ConnectionError("refused")]
)
def test_an_unreachable_broker_is_unavailable(error: Exception) -> None:
    with pytest.raises(Unavailable, match="cannot reach the broker"):
        batches(App(send_error=error)).start(["a"], None, timeout=5)


def test_summary_is_none_while_the_batch_runs_then_the_callbacks_result() -> None:
    summary = {"batch_id": "b", "warm": ["a"], "failed": {}}
    app = App({"b": [{"status": "PENDING"}, {"status": "SUCCESS", "result": summary}]})
    celery_batches = batches(app)
    assert celery_batches.summary("b") is None
    assert celery_batches.summary("b") == summary


def test_summary_comes_from_the_ledger_when_it_is_done_before_the_result_is_stored() -> None:
    ledger = Ledger(fakeredis.FakeRedis(server=fakeredis.FakeServer()))
    ledger.create("b", ["a"], now=1.0, callback_url=None)
    ledger.set_state("b", "a", "warm", now=2.0)
    summary = ledger.build_summary("b", completed_at=3.0)
    assert ledger.claim("b", "me", now=3.0, seconds=60) == "claimed"
    assert ledger.complete("b", "me", summary)
    celery_batches = batches(App({"b": [{"status": "PENDING"}]}), ledger)
    assert celery_batches.summary("b") == summary
    assert celery_batches.counts("b")["warm"] == 1


def test_a_failed_completion_is_unavailable() -> None:
    app = App({"b": [{"status": "FAILURE", "result": InvalidBatch("no batch 'b'")}]})
    with pytest.raises(Unavailable, match="completing batch b failed"):
        batches(app).summary("b")


def test_losing_redis_while_polling_is_unavailable() -> None:
    server = fakeredis.FakeServer()
    server.connected = False
    celery_batches = batches(App(), Ledger(fakeredis.FakeRedis(server=server)))
    with pytest.raises(Unavailable, match="cannot reach Redis"):
        celery_batches.counts("b")
    with pytest.raises(Unavailable, match="cannot reach Redis"):
        celery_batches.summary("b")


def test_an_unreachable_result_backend_is_unavailable() -> None:
    app = App({"task-1": redis.exceptions.ConnectionError("refused")})
    with pytest.raises(Unavailable, match="cannot reach the result backend"):
        batches(app).start(["a"], None, timeout=5)
