"""Fixtures of the ledger and batch tests: ``ledger``, a batch ledger on a fresh fakeredis."""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest

from worker.batch.ledger import Ledger


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    try:
        yield Ledger(client)
    finally:
        client.close()
