"""``bench.wait_cost`` measures a retry and a return as Celery's tracer runs them."""

from __future__ import annotations

from bench.wait_cost import measure


def test_a_retry_sends_its_traceback_back_and_a_return_does_not() -> None:
    costs = measure(runs=3)

    assert set(costs) == {"retry", "return"}
    assert all(cost[key] > 0 for cost in costs.values() for key in ("trace", "pickle", "unpickle"))
    # The retry's ExceptionInfo (billiard's copy of each frame's code positions) against the
    # repr of a small dict: kilobytes against bytes.
    assert costs["retry"]["bytes"] > 10 * costs["return"]["bytes"]
