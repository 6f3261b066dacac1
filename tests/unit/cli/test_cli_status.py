"""``reloadctl status`` against a batch ledger in fakeredis (passed as click's ``obj``)."""

from __future__ import annotations

import io
import json

import fakeredis
import pytest
from click.testing import CliRunner, Result

from worker.batch.ledger import Ledger
from worker.cli import main
from worker.cli.status import TABLE_LIMIT, print_rich, read_status
from worker.messaging.deadletter import DeadLetters

CREATED = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC


@pytest.fixture
def ledger() -> Ledger:
    return Ledger(fakeredis.FakeRedis(server=fakeredis.FakeServer()))


@pytest.fixture
def batch(ledger: Ledger) -> str:
    """Given a batch of five: one warm, one failed, one reloading, one waiting, one queued."""
    ids = ["m-warm", "m-queued", "m-failed", "m-reloading", "m-waiting"]
    ledger.create("b-1", ids, now=CREATED, callback_url=None)
    ledger.set_state("b-1", "m-warm", "reloading", now=CREATED + 1)
    ledger.set_state("b-1", "m-warm", "warm", now=CREATED + 125, calls=2)
    ledger.set_state("b-1", "m-failed", "failed", now=CREATED + 3, reason="HTTP 404: not found")
    ledger.set_state("b-1", "m-reloading", "reloading", now=CREATED + 4, reason="loading")
    ledger.set_state("b-1", "m-waiting", "waiting", now=CREATED + 5)
    return "b-1"


def status(ledger: Ledger, *args: str) -> Result:
    return CliRunner().invoke(main, ["status", *args], obj=ledger)


def test_human_status_shows_the_batch_counts_and_models_failures_first(
    ledger: Ledger, batch: str
) -> None:
    result = status(ledger, batch)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "batch b-1: open, 5 models, priority normal, created 2026-09-21 14:13:20 UTC"
    assert lines[1] == "queued 1  waiting 1  reloading 1  warm 1  failed 1"
    table = lines[lines.index("") + 1 :]
    assert table[0].split() == ["MODEL", "STATE", "AT", "REASON"]
    assert [row.split()[0] for row in table[1:]] == [
        "m-failed",
        "m-reloading",
        "m-waiting",
        "m-queued",
        "m-warm",
    ]
    assert table[1].split(None, 3) == ["m-failed", "failed", "+3s", "HTTP 404: not found"]
    assert table[5].split() == ["m-warm", "warm", "+2m05s"]
    assert "\x1b" not in result.stdout


def test_a_done_batch_shows_how_it_finished(ledger: Ledger) -> None:
    ledger.create("b-2", ["a"], now=CREATED, callback_url="https://hooks.example/x")
    ledger.set_state("b-2", "a", "warm", now=CREATED + 61, calls=3)
    summary = ledger.build_summary("b-2", completed_at=CREATED + 62)
    assert ledger.claim("b-2", "me", now=CREATED + 62, seconds=60) == "claimed"
    assert ledger.complete("b-2", "me", summary)
    ledger.set_webhook_status("b-2", "delivered: HTTP 200")
    lines = status(ledger, "b-2").stdout.splitlines()
    assert lines[0].startswith("batch b-2: done, 1 models")
    assert "finished in 1m01s, 3 upstream calls" in lines
    assert "callback https://hooks.example/x: delivered: HTTP 200" in lines


def test_json_status_has_meta_counts_models_in_batch_order_and_summary(
    ledger: Ledger, batch: str
) -> None:
    result = status(ledger, batch, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {
        "batch_id",
        "meta",
        "counts",
        "models",
        "summary",
        "deadletter_count",
        "stranded_on_default_queue",
    }
    assert data["deadletter_count"] == 0
    assert data["batch_id"] == "b-1"
    assert data["meta"]["status"] == "open"
    assert data["meta"]["total"] == 5
    assert data["meta"]["created_at"] == CREATED
    assert data["meta"]["ids"][0] == "m-warm"
    assert data["counts"] == {
        "queued": 1,
        "waiting": 1,
        "reloading": 1,
        "warm": 1,
        "failed": 1,
        "cancelled": 0,
    }
    assert list(data["models"]) == ["m-warm", "m-queued", "m-failed", "m-reloading", "m-waiting"]
    assert data["models"]["m-failed"] == {
        "state": "failed",
        "reason": "HTTP 404: not found",
        "at": CREATED + 3,
        "calls": 0,
    }
    assert data["summary"] is None


def test_unreadable_broker_messages_are_counted_in_one_line_and_in_json(
    ledger: Ledger, batch: str
) -> None:
    assert "dead-letter" not in status(ledger, batch).stdout
    dead_letters = DeadLetters(ledger.client)
    for reason in ("not JSON", "unknown task: 'x'", "not JSON"):
        dead_letters.add("garbage", reason, "reload")

    lines = status(ledger, batch).stdout.splitlines()
    assert lines[-1] == (
        "dead-letter: 3 unreadable broker messages kept in reload:deadletter (LRANGE to read them)"
    )
    assert json.loads(status(ledger, batch, "--json").stdout)["deadletter_count"] == 3


def test_an_unknown_batch_exits_2(ledger: Ledger) -> None:
    for args in (["nope"], ["nope", "--json"]):
        result = status(ledger, *args)
        assert result.exit_code == 2
        assert result.stderr == "error: no batch nope\n"
        assert result.stdout == ""


def test_unreachable_redis_is_one_line_and_exit_1() -> None:
    server = fakeredis.FakeServer()
    server.connected = False
    result = status(Ledger(fakeredis.FakeRedis(server=server)), "b-1")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot reach Redis at ")
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.output


def big_batch(ledger: Ledger, size: int) -> list[str]:
    ids = [f"m{i:03d}" for i in range(size)]
    ledger.create("big", ids, now=CREATED, callback_url=None)
    for model_id in ids[: size - 2]:
        ledger.set_state("big", model_id, "warm", now=CREATED + 10)
    ledger.set_state("big", ids[-1], "failed", now=CREATED + 11, reason="deadline")
    return ids


def test_a_big_batch_lists_the_first_rows_failures_first_then_says_how_many_more(
    ledger: Ledger,
) -> None:
    ids = big_batch(ledger, TABLE_LIMIT + 10)
    lines = status(ledger, "big").stdout.splitlines()
    rows = lines[lines.index("") + 2 : -1]
    assert len(rows) == TABLE_LIMIT
    assert rows[0].split()[:2] == [ids[-1], "failed"]
    assert rows[1].split()[:2] == [ids[-2], "queued"]
    assert lines[-1] == "… 10 more (--all lists every model)"


def test_all_lists_every_model(ledger: Ledger) -> None:
    ids = big_batch(ledger, TABLE_LIMIT + 10)
    lines = status(ledger, "big", "--all").stdout.splitlines()
    rows = lines[lines.index("") + 2 :]
    assert sorted(row.split()[0] for row in rows) == sorted(ids)


def test_on_a_terminal_the_models_are_a_rich_table_that_shows_ids_literally(
    ledger: Ledger,
) -> None:
    ledger.create("b-3", ["[bold]odd", "plain"], now=CREATED, callback_url=None)
    ledger.set_state("b-3", "plain", "failed", now=CREATED + 2, reason="[red]boom")
    view = read_status(ledger, "b-3")
    assert view is not None
    stream = io.StringIO()
    print_rich(view, stream, show_all=False)
    text = stream.getvalue()
    assert text.startswith("batch b-3: open, 2 models")
    assert "┃ model" in text
    assert text.index("plain") < text.index("[bold]odd")  # the failure first
    assert "[red]boom" in text  # rich markup in data is shown, not interpreted
