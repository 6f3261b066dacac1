"""Given a worker, when other services send bad arguments or a malformed message by name,
each gets a clear error, nothing is enqueued for a rejected batch, and the worker keeps serving.

Injected: ``warmup_batch`` and ``reload_model`` sent by task name (as any
service would) with an empty list, non-string ids, a string or a dict instead
of a list, ``RELOAD_MAX_BATCH + 1`` ids, a 1 MB id, control characters,
whitespace-only ids, a bad ``callback_url``, missing arguments and unknown
keyword arguments; raw garbage pushed straight onto the broker's ``reload``
list in Redis (not JSON, JSON that is no kombu message, envelopes whose body
Celery cannot decode or run); a task name nobody registered. Each of those is
kept in the dead-letter list ``reload:deadletter`` with its reason, in order.
Valid unicode ids must work.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
from celery import Celery

from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import ledger_of, worker_env
from tests.integration.reliability import wait_until
from worker.messaging.deadletter import DeadLetters

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

MAX_BATCH = 5
MEGABYTE_ID = "m" * (1 << 20)

# (args, kwargs, a piece of the error the caller must see)
BAD_BATCHES: list[tuple[list[Any], dict[str, Any], str]] = [
    ([[]], {}, "the list is empty"),
    ([[1, 2]], {}, "model_ids[0]: expected a string, got int"),
    ([["ok", None]], {}, "model_ids[1]: expected a string, got NoneType"),
    (["model-1"], {}, "expected a list of strings, got str"),
    ([{"model-1": True}], {}, "expected a list of strings, got dict"),
    ([42], {}, "expected a list of strings, got int"),
    ([[f"m-{i}" for i in range(MAX_BATCH + 1)]], {}, "more than the limit of 5 (RELOAD_MAX_BATCH)"),
    ([["ok", MEGABYTE_ID]], {}, "model_ids[1]: 1048576 characters, more than 256"),
    ([["ok", "bad\x00id"]], {}, "model_ids[1]: control or invisible character U+0000"),
    ([["ok", "bad\nid"]], {}, "model_ids[1]: control or invisible character U+000A"),
    ([["ok", "bad\u200bid"]], {}, "model_ids[1]: control or invisible character U+200B"),
    ([["ok", ""]], {}, "model_ids[1]: empty id"),
    ([["ok", "   "]], {}, "model_ids[1]: empty id"),
    ([["ok"]], {"callback_url": "ftp://example.com/x"}, "callback_url: expected an http(s) URL"),
    ([["ok"]], {"callback_url": 7}, "callback_url: expected a string"),
    ([], {}, "missing 1 required positional argument: 'model_ids'"),
    ([["ok"]], {"priority_boost": 3}, "unexpected keyword argument 'priority_boost'"),
]

BAD_RELOADS: list[tuple[list[Any], dict[str, Any], str]] = [
    ([""], {}, "model_id: empty id"),
    ([123], {}, "model_id: expected a string, got int"),
    ([["a", "b"]], {}, "model_id: expected a string, got list"),
    ([MEGABYTE_ID], {}, "model_id: 1048576 characters, more than 256"),
    (["bad\x1bid"], {}, "model_id: control or invisible character U+001B"),
    (["ok", 5], {}, "batch_id: expected a string, got int"),
    ([], {}, "missing 1 required positional argument: 'model_id'"),
    (["ok"], {"key": "sk-should-never-be-an-argument"}, "unexpected keyword argument 'key'"),
]


def envelope(body: str, task: str = "reload_model") -> str:
    """A kombu envelope on the ``reload`` queue for ``task`` with this (base64'd) body."""
    return json.dumps(
        {
            "body": base64.b64encode(body.encode()).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {"lang": "py", "task": task, "id": "bad-1"},
            "properties": {
                "delivery_info": {"exchange": "", "routing_key": "reload"},
                "body_encoding": "base64",
                "delivery_tag": "bad-tag",
                "priority": 0,
            },
        }
    )


_NO_PROPERTIES = json.dumps({"body": "bm9wZQ==", "headers": {}})
_NOT_JSON_BODY = envelope("not json")
_NOT_ARGS_BODY = envelope("[1]")
# (pushed onto the list, the raw text kept, a piece of the reason)
GARBAGE: list[tuple[str | bytes, str, str]] = [
    (b"not json at all", "not json at all", "not JSON: Expecting value"),
    (_NO_PROPERTIES, _NO_PROPERTIES, "no 'properties' object"),
    ("[1, 2, 3]", "[1, 2, 3]", "JSON list, not an object"),
    (b"\xff\xfe\x00garbage", "\ufffd\ufffd\x00garbage", "not JSON"),
    ('"z1:not a packed message"', '"z1:not a packed message"', "JSON str, not an object"),
    (_NOT_JSON_BODY, _NOT_JSON_BODY, "cannot decode: "),
    (_NOT_ARGS_BODY, _NOT_ARGS_BODY, "invalid task message: the body is not [args, kwargs"),
]


def _error_of(producer: Celery, name: str, args: list[Any], kwargs: dict[str, Any]) -> str:
    result = producer.send_task(name, args=args, kwargs=kwargs)
    result.get(timeout=20, propagate=False)
    assert result.state == "FAILURE", (name, args, kwargs, result.result)
    return f"{type(result.result).__name__}: {result.result}"


def test_bad_arguments_get_clear_errors_and_the_worker_keeps_serving(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    producer: Celery,
) -> None:
    sim = start_simulator("--reload-seconds", "0.5")
    worker = start_worker(
        worker_env(redis_url, sim.base_url, RELOAD_MAX_BATCH=str(MAX_BATCH)), concurrency=2
    )
    pid = worker.pid
    client = redis.Redis.from_url(redis_url)
    try:
        # When bad batches and bad reloads are sent by name...
        for args, kwargs, expected in BAD_BATCHES:
            error = _error_of(producer, "warmup_batch", args, kwargs)
            assert expected in error, (args if len(str(args)) < 200 else "(large)", error[:300])
            assert len(error) < 500, "the error quotes the whole input back"
        for args, kwargs, expected in BAD_RELOADS:
            error = _error_of(producer, "reload_model", args, kwargs)
            assert expected in error, (args if len(str(args)) < 200 else "(large)", error[:300])

        # ...then nothing was enqueued or recorded for them, and the upstream saw nothing.
        assert list(client.scan_iter("reload:batch*")) == []
        assert list(client.scan_iter("reload:flight:*")) == []
        assert client.llen("reload") == 0
        assert ledger_of(sim)["calls_total"] == 0

        # When garbage lands on the broker's queue list, envelopes Celery cannot run arrive,
        # and an unknown task is sent...
        for raw, _, _ in GARBAGE:
            client.lpush("reload", raw)
        producer.send_task("no_such_task", args=["x"])
        wait_until(lambda: client.llen("reload") == 0, timeout=20, what="the queue to drain")

        # ...then each is kept aside in the dead-letter list with its reason, none is lost...
        expected = len(GARBAGE) + 1
        wait_until(
            lambda: DeadLetters(client).count() == expected, timeout=20, what="the dead letters"
        )
        records = list(reversed(DeadLetters(client).latest(expected)))
        for record, (_, kept, reason) in zip(records, GARBAGE, strict=False):
            assert record["raw"] == kept and reason in record["reason"], record
            assert record["queue"] == "reload" and record["at"] > 0
        unknown = records[-1]
        assert unknown["reason"] == "unknown task: 'no_such_task'"
        assert json.loads(unknown["raw"])["headers"]["task"] == "no_such_task"
        assert worker.log().count("kept an unreadable broker message") == expected

        # ...then the same worker process still serves a good batch, unicode ids included.
        good = ["модель-1", "模型-2", "modèle-3", "model-🙂"]
        batch_id = producer.send_task("warmup_batch", args=[good]).get(timeout=30)
        summary = producer.AsyncResult(batch_id).get(timeout=60)
        assert summary["warm"] == good
        single = producer.send_task("reload_model", args=["نموذج-5"]).get(timeout=30)
        assert single["state"] == "warm" and single["model_id"] == "نموذج-5"
        assert worker.running() and worker.pid == pid
        assert "Unrecoverable error" not in worker.log()
        assert set(ledger_of(sim)["reloads_started"]) == {*good, "نموذج-5"}
    finally:
        client.close()
