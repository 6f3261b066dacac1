"""Behaviour: the sweep prunes open-set ids whose ledger is gone, and one bad batch
(a corrupt ledger) is logged and skipped: the others are still looked at."""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest

import tasks.batch as tb
from worker import constants as c
from worker.batch.ledger import Ledger
from worker.messaging.parking import ParkingLot

NOW = 1_700_000_000.0


@pytest.fixture
def ledger(monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    lot = ParkingLot(client, "w-test")
    clock = {"now": NOW}
    monkeypatch.setattr(tb, "parking_lot", lambda: lot)
    monkeypatch.setattr(tb, "redis_clock", lambda: lambda: clock["now"])
    sent: list[str] = []
    monkeypatch.setattr(tb, "_send_webhook", sent.append)
    led = Ledger(client)
    led.sent_webhooks = sent  # type: ignore[attr-defined]
    led.clock = clock  # type: ignore[attr-defined]
    yield led
    client.close()


def test_given_a_gone_a_corrupt_and_a_lost_batch_then_each_is_handled_and_the_sweep_goes_on(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    client = ledger.client
    client.zadd(c.OPEN_BATCHES_KEY, {"gone": NOW - 10})  # its ledger expired
    ledger.create("corrupt", ["m1"], now=NOW - 5, callback_url=None)
    client.hset(c.batch_key("corrupt"), "ids", "{not json")
    ledger.create("lost", ["m1"], now=NOW, callback_url=None)  # its task never parked
    ledger.clock["now"] = NOW + 100  # type: ignore[attr-defined]

    done = tb.sweep(ledger)

    assert done["gone"] == "missing"
    assert done["corrupt"].startswith("error: ")
    assert done["lost"] == "waiting"
    assert ledger.open_batches() == ["corrupt", "lost"]  # pruned: gone
    assert client.hexists(c.JOBS_KEY, tb.redo_task_id("lost", "m1", 1))  # dispatched again
    assert "corrupt" in caplog.text and "skipped" in caplog.text


def test_given_a_webhook_whose_task_was_lost_then_the_sweep_sends_it_again_once(
    ledger: Ledger,
) -> None:
    ledger.create("b1", ["m1"], now=NOW, callback_url="https://hooks.test/x")
    ledger.set_state("b1", "m1", "warm", now=NOW + 1)
    ledger.claim("b1", "x", now=NOW + 2, seconds=60)
    ledger.complete("b1", "x", {"batch_id": "b1"}, webhook_due=NOW + 30)
    ledger.clock["now"] = NOW + 31  # type: ignore[attr-defined]

    assert tb.sweep(ledger) == {"b1": "webhook sent again"}
    assert tb.sweep(ledger) == {}

    assert ledger.sent_webhooks == ["b1"]  # type: ignore[attr-defined]
