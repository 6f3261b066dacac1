"""How long a batch has left: the rate at which its models became final, carried forward.

Shared by ``reloadctl warmup --wait`` (``worker.cli.progress``, from its polled samples)
and the dashboard (``worker.dashboard.batches``, from the ledger's final times).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["MIN_RATE_SPAN_SECONDS", "estimate_seconds_left"]

# A rate measured over less than this (an unknown model fails at once) is no rate.
MIN_RATE_SPAN_SECONDS = 10.0


def estimate_seconds_left(
    samples: Sequence[tuple[float, int]],
    total: int,
    *,
    min_span: float = MIN_RATE_SPAN_SECONDS,
) -> float | None:
    """Seconds until every model is final, from the rate at which models became final.

    The rate is measured since the first model became final (the first reloads take their
    full load time before anything finishes), or, when nothing more has finished since, as
    final models over elapsed time. Either must span ``min_span`` seconds: one instant
    failure (an unknown model) is no rate.

    Parameters:
        samples: ``(elapsed seconds, final models)`` in time order, the last one now.
        total: the batch's models.
        min_span: the shortest span, in seconds, a rate is measured over.

    Returns:
        The estimate, ``0.0`` once all are final, or ``None`` ("estimating…") until a
        rate can be measured.
    """
    if not samples:
        return None
    now, done = samples[-1]
    if done >= total:
        return 0.0
    if done == 0:
        return None
    first_time, first_done = next((t, d) for t, d in samples if d > 0)
    if done > first_done and now - first_time >= min_span:
        rate = (done - first_done) / (now - first_time)
    elif now >= min_span:
        rate = done / now
    else:
        return None
    return (total - done) / rate
