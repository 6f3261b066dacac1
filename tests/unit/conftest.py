"""Fixtures shared by the unit tests of several areas.

``store``: the same test against a real redis-server (the session's, db 15) and
fakeredis (``tests.unit.support.stores.Store``). ``rig``: a reloader driven by
hand over fakeredis, a scripted upstream and a fake clock
(``tests.unit.support.reload_rig.Rig``).
"""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest
import redis

from tests.unit.support.reload_rig import Rig
from tests.unit.support.stores import Store


@pytest.fixture(params=["redis", "fakeredis"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """The same contract test against a real redis-server 6.2 (db 15) and fakeredis."""
    if request.param == "redis":
        client: redis.Redis = request.getfixturevalue("real_redis")
        url = request.getfixturevalue("redis_server").url_for_db(15)
        store = Store("redis", client, lambda: redis.Redis.from_url(url))
    else:
        server = fakeredis.FakeServer()
        client = fakeredis.FakeRedis(server=server)
        store = Store("fakeredis", client, lambda: fakeredis.FakeRedis(server=server))
        store._opened.append(client)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def rig() -> Iterator[Rig]:
    """A fresh ``Rig`` on its own fakeredis."""
    rig = Rig(fakeredis.FakeRedis(server=fakeredis.FakeServer()))
    try:
        yield rig
    finally:
        rig.close()
