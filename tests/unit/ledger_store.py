"""A batch ledger on a fresh fakeredis, for the ledger and batch-completion tests.

A test module imports the fixture by its function name and asks for ``ledger``::

    from tests.unit.ledger_store import ledger_fixture  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest

from worker.batch.ledger import Ledger

NOW = 1_700_000_000.0


@pytest.fixture(name="ledger")
def ledger_fixture() -> Iterator[Ledger]:
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    try:
        yield Ledger(client)
    finally:
        client.close()


def redis_of(ledger: Ledger) -> fakeredis.FakeRedis:
    """The client behind a ledger, to look at what it stored."""
    return ledger._redis  # type: ignore[return-value]
