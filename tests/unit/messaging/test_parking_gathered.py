"""Behaviour: ``ParkingLot.gathered()`` sends a burst of parks in a few pipelines.

``warmup_batch`` parks one job per model: 10,000 parks, one round trip each, were half of
its time. Inside ``gathered()`` the parks of this thread go in pipelines that double in
size (the first park alone, at once); every job is parked, in order, with one template;
what was gathered when an error ends the block is parked all the same.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import redis

from tests.unit.messaging.conftest import LotFactory, ids, make_job
from worker import constants as c
from worker.messaging import parking as parking_module


def _count_pipelines(monkeypatch: pytest.MonkeyPatch, client: redis.Redis) -> list[int]:
    """The number of commands of each pipeline the client executes."""
    sizes: list[int] = []
    real = client.pipeline

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = real(*args, **kwargs)
        execute = pipe.execute

        def counted(*a: Any, **k: Any) -> Any:
            sizes.append(len(pipe.command_stack))
            return execute(*a, **k)

        pipe.execute = counted
        return pipe

    monkeypatch.setattr(client, "pipeline", pipeline)
    return sizes


def test_given_1000_parks_gathered_then_they_go_in_few_pipelines_and_all_are_due_in_order(
    client: redis.Redis, lot: LotFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    parking = lot("w1")
    sizes = _count_pipelines(monkeypatch, client)
    with parking.gathered():
        for i in range(1000):
            assert parking.park(make_job(f"t{i:04d}", i, group_id="g"), 0) is None
        first_due_inside = client.zscore(c.DUE_KEY, "t0000")

    assert first_due_inside is not None  # the first is sent at once, not on leaving
    assert sizes[:4] == [1, 2, 4, 8] and max(sizes) == parking_module.GATHER_SIZE
    assert sum(sizes) == 1000 and len(sizes) <= 12
    jobs, broken, _ = parking.take_due(limit=1000, unreceived=1000)
    assert broken == []
    assert sorted(ids(jobs)) == [f"t{i:04d}" for i in range(1000)]
    assert {job.args[0] for job in jobs} == set(range(1000))
    assert len(client.keys(c.template_key("*"))) == 1  # the shared options, stored once


def test_given_an_error_inside_the_block_then_what_was_gathered_is_parked(
    client: redis.Redis, lot: LotFactory
) -> None:
    parking = lot("w1")
    with pytest.raises(RuntimeError), parking.gathered():
        for i in range(5):
            parking.park(make_job(f"t{i}"), 0)
        raise RuntimeError("the chord could not be built")

    assert client.zcard(c.DUE_KEY) == 5


def test_parks_outside_the_block_or_of_another_thread_are_sent_at_once(
    client: redis.Redis, lot: LotFactory
) -> None:
    parking = lot("w1")
    due_from_other: list[float | None] = []
    with parking.gathered(), parking.gathered():  # nested: the outer one sends
        for i in range(4):  # sent as t0, then t1 and t2; t3 waits for three more
            parking.park(make_job(f"t{i}"), 0)
        other = threading.Thread(
            target=lambda: due_from_other.append(parking.park(make_job("other"), 0))
        )
        other.start()
        other.join()
        assert client.zscore(c.DUE_KEY, "t3") is None  # gathered: not sent yet

    assert due_from_other[0] is not None  # the other thread's park was not gathered
    assert client.zcard(c.DUE_KEY) == 5
    assert parking.park(make_job("after"), 0) is not None
