"""Behaviour: a completed batch is counted once for monitoring, whoever completes it.

Given a batch whose models are all final, when the chord's callback and a backstop both
try to complete it, then ``reload:metrics:batches`` counts it once, with its duration in
the histogram, and it heads the recent batches the dashboard lists.
"""

from __future__ import annotations

import fakeredis

from worker.batch.completion import complete_batch
from worker.batch.ledger import Ledger
from worker.monitoring import Monitor

NOW = 1_800_000_000.0


def test_a_batch_completed_twice_is_counted_once_with_its_duration() -> None:
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    ledger = Ledger(client)
    ledger.create("b1", ["a", "b"], now=NOW, callback_url=None)
    ledger.set_state("b1", "a", "warm", now=NOW + 40)
    ledger.set_state("b1", "b", "failed", now=NOW + 75, reason="HTTP 404")

    first, _ = complete_batch(ledger, "b1", claimant="callback", now=NOW + 80)
    second, _ = complete_batch(ledger, "b1", claimant="backstop", now=NOW + 90)

    monitor = Monitor(client)
    assert (first, second) == ("completed", "done")
    assert monitor.batches_completed() == 1
    durations = monitor.durations()
    assert durations.count == 1 and durations.total_seconds == 75.0
    assert dict(durations.buckets)[60.0] == 0 and dict(durations.buckets)[120.0] == 1
    assert monitor.recent_batches() == ["b1"]
    client.close()
