"""Given RELOAD_KEEP_WARM and a schedule compressed to seconds, a real beat starts repeated batches.

``celery -A worker beat`` (schedule file in the test's directory) sends
``keep_warm`` every ``RELOAD_KEEP_WARM_EVERY`` seconds; a worker turns each into
an ordinary batch of the configured models, logs its id, and warms them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import worker_env

pytestmark = pytest.mark.slow

STARTED = re.compile(r"keep-warm batch (\S+) started for 2 models")


def finished_batches(client: redis.Redis, batch_ids: list[str]) -> dict[str, str]:
    """Status in the ledger of each batch id: open, completing or done."""
    statuses = {b: client.hget(f"reload:batch:{b}", "status") for b in batch_ids}
    return {b: s.decode() for b, s in statuses.items() if s is not None}


@pytest.mark.timeout(90)
def test_beat_starts_a_keep_warm_batch_every_period(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    tmp_path: Path,
) -> None:
    sim = start_simulator("--reload-seconds", "0.5")
    env = worker_env(redis_url, sim.base_url, RELOAD_KEEP_WARM="a,b", RELOAD_KEEP_WARM_EVERY="2")
    worker = start_worker(env)
    beat_env = {k: v for k, v in env.items() if k != "MODELSLAB_API_KEY"}
    beat = CeleryProcess(
        ["beat", "--schedule", str(tmp_path / "beat-schedule"), "--loglevel", "INFO"],
        beat_env,
        tmp_path / "beat.log",
    )
    beat.start()
    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + 45
        while True:
            batch_ids = STARTED.findall(worker.log())
            done = [b for b, s in finished_batches(client, batch_ids).items() if s == "done"]
            if len(done) >= 2:
                break
            assert time.monotonic() < deadline, (
                f"keep-warm batches started {batch_ids}, done {done}\n"
                f"beat log:\n{beat.log()[-2000:]}"
            )
            time.sleep(0.5)
        summaries = [json.loads(client.hget(f"reload:batch:{b}", "summary") or "{}") for b in done]
    finally:
        beat.terminate(timeout=10)
        client.close()

    assert len(set(batch_ids)) == len(batch_ids), "each run starts its own batch"
    assert beat.log().count("Sending due task keep-warm (keep_warm)") >= 2
    for summary in summaries:
        assert sorted(summary["warm"]) == ["a", "b"]
        assert summary["failed"] == {}
