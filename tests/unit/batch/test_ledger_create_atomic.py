"""Behaviour: creating a batch is one atomic step (one Lua script), never half a ledger.

A kill between two writes used to leave a meta hash without TTL or ``launched``;
now the meta, models and counts (each with its TTL) and the open-set entry are
written by one script, or nothing is.
"""

from __future__ import annotations

from typing import Any

from tests.unit.support.ledgers import NOW, redis_of
from worker import constants as c
from worker.batch.ledger import Ledger


def test_given_a_new_batch_when_created_then_one_command_reaches_redis(
    ledger: Ledger, monkeypatch: Any
) -> None:
    client = redis_of(ledger)
    ledger.create("warmup", ["m0"], now=NOW, callback_url=None)  # loads the script once
    sent: list[str] = []
    original = client.execute_command

    def spy(*args: Any, **kwargs: Any) -> Any:
        sent.append(str(args[0]))
        return original(*args, **kwargs)

    monkeypatch.setattr(client, "execute_command", spy)

    assert ledger.create("b1", ["m1", "m2"], now=NOW, callback_url="https://h.test/x") is True

    assert sent == ["EVALSHA"]
    meta = ledger.meta("b1")
    assert meta["launched"] == "0" and meta["status"] == "open" and meta["total"] == "2"
    for key in (c.batch_key("b1"), c.batch_models_key("b1"), c.batch_counts_key("b1")):
        assert 0 < client.ttl(key) <= c.RESULT_TTL_SECONDS, key
    assert client.zscore(c.OPEN_BATCHES_KEY, "b1") == NOW


def test_given_a_half_written_legacy_batch_when_created_again_then_it_is_left_alone(
    ledger: Ledger,
) -> None:
    client = redis_of(ledger)
    client.hset(c.batch_key("b1"), "status", "open")  # what a kill mid-create used to leave

    assert ledger.create("b1", ["m1"], now=NOW, callback_url=None) is False

    assert client.exists(c.batch_models_key("b1")) == 0
    assert client.zscore(c.OPEN_BATCHES_KEY, "b1") is None


def test_given_a_launched_batch_then_the_header_template_is_kept(ledger: Ledger) -> None:
    ledger.create("b1", ["m1"], now=NOW, callback_url=None)

    ledger.mark_launched("b1", header_template="abc123")

    assert ledger.meta("b1")["launched"] == "1"
    assert ledger.meta("b1")["header_tpl"] == "abc123"
