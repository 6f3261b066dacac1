"""Fixtures of the dashboard's unit tests: its sources on fakeredis at a fixed Redis time,
batches written through the real ledger, and a way to call the aiohttp app over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import fakeredis
import pytest
from aiohttp import encode_basic_auth
from aiohttp.test_utils import TestClient, TestServer

from worker.dashboard.app import build_app
from worker.dashboard.auth import Credentials
from worker.dashboard.sources import Sources

NOW = 1_800_000_000.0
CREDENTIALS = Credentials("ops", "dash-secret")


@dataclass
class Clock:
    now: float = NOW

    def __call__(self) -> float:
        return self.now


@dataclass
class Board:
    """The dashboard's sources over one fakeredis, and a clock the test moves."""

    sources: Sources
    clock: Clock

    @property
    def client(self) -> fakeredis.FakeRedis:
        client: fakeredis.FakeRedis = self.sources.client
        return client

    def batch(
        self,
        batch_id: str,
        states: Mapping[str, tuple[str, str | None, int, float]],
        *,
        created_at: float = NOW - 60,
        priority: str = "normal",
    ) -> None:
        """Write a batch whose models are in ``states``: id -> (state, reason, calls, at)."""
        ledger = self.sources.ledger
        ledger.create(batch_id, list(states), now=created_at, callback_url=None)
        ledger.mark_launched(batch_id, priority=priority)
        for model_id, (state, reason, calls, at) in states.items():
            if state != "queued":
                ledger.set_state(batch_id, model_id, state, now=at, reason=reason, calls=calls)

    def get(
        self, path: str, *, auth: tuple[str, str] | None = None, flower_url: str | None = None
    ) -> tuple[int, str, Mapping[str, str]]:
        """``GET path`` on the dashboard app; the status, the body and the headers."""

        async def run() -> tuple[int, str, Mapping[str, str]]:
            app = build_app(self.sources, CREDENTIALS, flower_url=flower_url)
            async with TestClient(TestServer(app)) as client:
                headers = {"Authorization": encode_basic_auth(*auth)} if auth else {}
                response = await client.get(path, headers=headers)
                return response.status, await response.text(), dict(response.headers)

        return asyncio.run(run())

    def get_ok(self, path: str, **kwargs: Any) -> str:
        status, body, _ = self.get(path, auth=("ops", "dash-secret"), **kwargs)
        assert status == 200, body
        return body


@pytest.fixture
def board() -> Iterator[Board]:
    clock = Clock()
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    try:
        yield Board(Sources.of(client, clock), clock)
    finally:
        client.close()


@pytest.fixture
def publish_account(board: Board) -> Callable[..., str]:
    """Publish a key scope's limits, as a worker does at start; returns the scope."""

    def publish(scope: str = "scope0123456789ab", **limits: Any) -> str:
        values = {"rate_count": 10, "rate_period": 1.0, "window": 1.05, "max_in_flight": 5}
        values.update(limits)
        board.sources.monitor.publish_account(scope, now=board.clock.now, **values)
        return scope

    return publish
