"""The progress display's pieces, fed counts and times: no clock, no Redis, no terminal."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from worker.cli.progress import (
    PlainDisplay,
    ProgressTracker,
    Snapshot,
    estimate_seconds_left,
    format_duration,
    format_progress_line,
    render_snapshot,
    render_summary,
    summary_exit_code,
    watch_batch,
)

COUNTS = {"queued": 4, "waiting": 2, "reloading": 3, "warm": 10, "failed": 1}


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (44.6, "45s"), (60, "1m00s"), (125, "2m05s"), (3725, "1h02m"), (-3, "0s")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_no_estimate_until_a_model_is_final() -> None:
    assert estimate_seconds_left([], 10) is None
    assert estimate_seconds_left([(0.0, 0), (90.0, 0)], 10) is None


def test_an_instant_failure_at_the_start_is_no_rate_yet() -> None:
    # An unknown model fails at once: 1 final after 0.3 s would mean "0s left".
    assert estimate_seconds_left([(0.0, 0), (0.3, 1)], 14) is None
    assert estimate_seconds_left([(0.0, 0), (0.3, 1), (0.8, 2)], 14) is None
    assert estimate_seconds_left([(0.0, 0), (0.3, 1), (10.0, 1)], 14) == pytest.approx(130.0)


def test_a_finished_batch_has_nothing_left() -> None:
    assert estimate_seconds_left([(0.0, 0), (30.0, 10)], 10) == 0.0


def test_with_one_moment_of_progress_the_rate_is_final_models_over_elapsed_time() -> None:
    # 5 of 20 final after 100 s: 0.05 models/s, 15 left -> 300 s.
    assert estimate_seconds_left([(0.0, 0), (100.0, 5)], 20) == pytest.approx(300.0)


def test_the_rate_is_measured_from_the_first_final_model_not_from_the_start() -> None:
    # Nothing for 120 s (the first reload), then 3 more every 10 s: 0.3/s, 14 left.
    samples = [(0.0, 0), (120.0, 3), (130.0, 6), (140.0, 9), (150.0, 12)]
    assert estimate_seconds_left(samples, 26) == pytest.approx(14 / 0.3)


def test_a_stall_after_progress_raises_the_estimate() -> None:
    moving = estimate_seconds_left([(0.0, 0), (10.0, 2), (20.0, 4)], 10)
    stalled = estimate_seconds_left([(0.0, 0), (10.0, 2), (20.0, 4), (60.0, 4)], 10)
    assert moving is not None and stalled is not None
    assert stalled > moving


def test_tracker_turns_counts_into_snapshots_with_an_estimate() -> None:
    tracker = ProgressTracker("b", 4)
    first = tracker.observe({"queued": 4}, 0.0)
    assert (first.done, first.seconds_left) == (0, None)
    tracker.observe({"queued": 2, "warm": 2}, 10.0)
    later = tracker.observe({"queued": 1, "warm": 2, "failed": 1}, 20.0)
    assert later.done == 3
    assert later.seconds_left == pytest.approx(10.0)  # 1 more in 10 s since the first final


def test_progress_line_shows_every_state_done_total_elapsed_and_time_left() -> None:
    line = format_progress_line(Snapshot("b-1", 20, COUNTS, 125.0, 61.0))
    assert line == (
        "batch b-1: 11/20 final (queued 4, waiting 2, reloading 3, warm 10, failed 1); "
        "elapsed 2m05s, about 1m01s left"
    )


def test_progress_line_says_estimating_then_done() -> None:
    assert format_progress_line(Snapshot("b", 3, {"queued": 3}, 1.0, None)).endswith(
        "elapsed 1s, estimating…"
    )
    assert format_progress_line(Snapshot("b", 3, {"warm": 3}, 9.0, 0.0)).endswith(", done")


def test_plain_display_prints_at_most_every_few_seconds_and_always_the_last() -> None:
    stream = io.StringIO()
    display = PlainDisplay(stream, every=5.0)
    for elapsed in (0.0, 0.5, 1.0, 4.9, 5.0, 7.0, 10.1):
        display.update(Snapshot("b", 3, {"queued": 3}, elapsed, None))
    display.update(Snapshot("b", 3, {"warm": 3}, 10.6, 0.0), final=True)
    lines = stream.getvalue().splitlines()
    assert [line.split("elapsed ")[1].split(",")[0] for line in lines] == [
        "0s",
        "5s",
        "10s",
        "11s",
    ]
    assert "\x1b" not in stream.getvalue()


def test_live_panel_shows_the_bar_counts_and_time_left() -> None:
    console = Console(file=io.StringIO(), width=140, color_system=None)
    console.print(render_snapshot(Snapshot("b-1", 20, COUNTS, 125.0, 61.0)))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    for part in ("batch b-1", "11/20", "2m05s elapsed", "about 1m01s left", "reloading 3"):
        assert part in text


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_watch_batch_polls_until_the_summary_and_shows_its_final_counts() -> None:
    clock = FakeClock()
    polled: list[float] = []
    summaries: list[dict[str, Any] | None] = [None, None, {"warm": ["a"], "failed": {"b": "x"}}]
    shown: list[tuple[Snapshot, bool]] = []

    class Recorder(PlainDisplay):
        def update(self, snapshot: Snapshot, *, final: bool = False) -> None:
            shown.append((snapshot, final))

    def counts() -> dict[str, int]:
        polled.append(clock.now)
        return {"queued": 1, "reloading": 1}

    summary = watch_batch(
        "b",
        2,
        counts=counts,
        summary=lambda: summaries.pop(0),
        display=Recorder(io.StringIO()),
        clock=clock,
        sleep=clock.sleep,
    )
    assert summary == {"warm": ["a"], "failed": {"b": "x"}}
    assert polled == [100.0, 100.5]  # about twice a second
    assert [(s.done, s.elapsed, final) for s, final in shown] == [
        (0, 0.0, False),
        (0, 0.5, False),
        (2, 1.0, True),
    ]
    assert shown[-1][0].counts == {"warm": 1, "failed": 1}


def test_summary_rendering_and_exit_code_when_all_are_warm() -> None:
    summary = {"batch_id": "b", "total": 3, "warm": ["a", "b", "c"], "failed": {}, "duration_s": 61}
    assert render_summary(summary) == "batch b: all 3 models warm in 1m01s"
    assert summary_exit_code(summary) == 0


def test_summary_rendering_and_exit_code_when_some_failed() -> None:
    summary = {
        "batch_id": "b",
        "total": 3,
        "warm": ["a"],
        "failed": {"bb": "HTTP 404: not found", "c": "deadline exceeded"},
        "started_at": 10.0,
        "finished_at": 40.0,
        "upstream_calls": 7,
    }
    assert render_summary(summary).splitlines() == [
        "batch b: 1 of 3 warm, 2 failed in 30s (7 upstream calls)",
        "failed:",
        "  bb  HTTP 404: not found",
        "  c   deadline exceeded",
    ]
    assert summary_exit_code(summary) == 1
