"""Following a batch until its summary arrives, and showing how it went.

Used by ``reloadctl warmup --wait``: ``watch_batch`` polls the batch's counts and summary
about twice a second and hands each ``Snapshot`` to a display (``open_display``: a rich live
panel on a terminal, else one plain line every few seconds, no escape codes). The estimate
(``worker.batch.estimate``) and the renderings are pure functions, tested without a clock or
Redis.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from worker.batch.estimate import estimate_seconds_left
from worker.batch.ledger import FINAL_STATES, STATES

__all__ = [
    "LiveDisplay",
    "PlainDisplay",
    "ProgressDisplay",
    "ProgressTracker",
    "Snapshot",
    "estimate_seconds_left",
    "format_duration",
    "format_progress_line",
    "open_display",
    "render_summary",
    "summary_exit_code",
    "watch_batch",
]

POLL_SECONDS = 0.5
PLAIN_EVERY_SECONDS = 5.0
_STATE_STYLES = {
    "queued": "dim",
    "waiting": "yellow",
    "reloading": "cyan",
    "warm": "green",
    "failed": "red",
    "cancelled": "magenta",
}


@dataclass(frozen=True)
class Snapshot:
    """A batch's progress at one moment, as the displays show it."""

    batch_id: str
    total: int
    counts: Mapping[str, int]
    elapsed: float
    seconds_left: float | None

    @property
    def done(self) -> int:
        """How many models are final (warm, failed or cancelled)."""
        return sum(self.counts.get(state, 0) for state in FINAL_STATES)


class ProgressTracker:
    """Turns polled counts into snapshots, remembering when the final count changed."""

    def __init__(self, batch_id: str, total: int) -> None:
        self.batch_id = batch_id
        self.total = total
        self._samples: list[tuple[float, int]] = []

    def observe(self, counts: Mapping[str, int], elapsed: float) -> Snapshot:
        """The snapshot for ``counts`` (state -> models) polled ``elapsed`` seconds in."""
        done = sum(counts.get(state, 0) for state in FINAL_STATES)
        if not self._samples or done != self._samples[-1][1]:
            self._samples.append((elapsed, done))
        left = estimate_seconds_left([*self._samples, (elapsed, done)], self.total)
        return Snapshot(self.batch_id, self.total, dict(counts), elapsed, left)


def format_duration(seconds: float) -> str:
    """``45s``, ``2m05s``, ``1h02m``."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def _time_left(snapshot: Snapshot) -> str:
    if snapshot.done >= snapshot.total:
        return "done"
    if snapshot.seconds_left is None:
        return "estimating…"
    return f"about {format_duration(snapshot.seconds_left)} left"


def format_progress_line(snapshot: Snapshot) -> str:
    """One plain line: done/total, the count in every state, elapsed and time left."""
    states = ", ".join(f"{state} {snapshot.counts.get(state, 0)}" for state in _shown(snapshot))
    return (
        f"batch {snapshot.batch_id}: {snapshot.done}/{snapshot.total} final ({states}); "
        f"elapsed {format_duration(snapshot.elapsed)}, {_time_left(snapshot)}"
    )


class ProgressDisplay(Protocol):
    """Where snapshots go; a context manager so a live display can restore the terminal."""

    def update(self, snapshot: Snapshot, *, final: bool = False) -> None:
        """Show ``snapshot``; ``final``: it is the batch's last one."""
        ...

    def __enter__(self) -> ProgressDisplay: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class PlainDisplay:
    """A plain progress line at the first update, every ``every`` seconds, and at the end."""

    def __init__(self, stream: TextIO, *, every: float = PLAIN_EVERY_SECONDS) -> None:
        self._stream = stream
        self._every = every
        self._last: float | None = None

    def update(self, snapshot: Snapshot, *, final: bool = False) -> None:
        """Print a progress line if ``every`` seconds passed since the last, or if ``final``."""
        if final or self._last is None or snapshot.elapsed - self._last >= self._every:
            print(format_progress_line(snapshot), file=self._stream, flush=True)
            self._last = snapshot.elapsed

    def __enter__(self) -> PlainDisplay:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


def render_snapshot(snapshot: Snapshot) -> RenderableType:
    """The live panel: a bar with done/total, elapsed and time left, then the count per state."""
    top = Table.grid(padding=(0, 2))
    top.add_row(
        Text(f"batch {snapshot.batch_id}", style="bold"),
        ProgressBar(total=max(snapshot.total, 1), completed=snapshot.done, width=40),
        Text(f"{snapshot.done}/{snapshot.total}"),
        Text(f"{format_duration(snapshot.elapsed)} elapsed"),
        Text(_time_left(snapshot)),
    )
    states = Text()
    for state in _shown(snapshot):
        if states:
            states.append("   ")
        states.append(f"{state} {snapshot.counts.get(state, 0)}", style=_STATE_STYLES[state])
    return Group(top, states)


def _shown(snapshot: Snapshot) -> list[str]:
    """The states to show: ``cancelled`` only once a model is."""
    return [s for s in STATES if s != "cancelled" or snapshot.counts.get(s, 0)]


class LiveDisplay:
    """A rich live panel, redrawn at every update, left on screen at the end."""

    def __init__(self, console: Console) -> None:
        self._live = Live(
            console=console,
            auto_refresh=False,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )

    def update(self, snapshot: Snapshot, *, final: bool = False) -> None:
        """Redraw the panel with ``snapshot``."""
        self._live.update(render_snapshot(snapshot), refresh=True)

    def __enter__(self) -> LiveDisplay:
        self._live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._live.stop()


def open_display(stream: TextIO | None = None) -> ProgressDisplay:
    """A live panel if ``stream`` (default stderr) is a terminal, else plain lines."""
    stream = sys.stderr if stream is None else stream
    if stream.isatty():
        return LiveDisplay(Console(file=stream))
    return PlainDisplay(stream)


def watch_batch(
    batch_id: str,
    total: int,
    *,
    counts: Callable[[], Mapping[str, int]],
    summary: Callable[[], dict[str, Any] | None],
    display: ProgressDisplay,
    poll_seconds: float = POLL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Show the batch's progress until ``summary()`` returns it.

    Parameters:
        batch_id: the batch.
        total: its models.
        counts: reads the ledger's counts (state -> models).
        summary: reads the batch's summary, ``None`` until it is complete.
        display: where the snapshots go (``open_display``).
        poll_seconds: the pause between two reads.
        clock: the monotonic clock (tests pass a fake).
        sleep: the pause (tests pass a fake).

    Returns:
        The summary.
    """
    tracker = ProgressTracker(batch_id, total)
    started = clock()
    while True:
        result = summary()
        if result is not None:
            final = {"warm": len(result.get("warm", [])), "failed": len(result.get("failed", {}))}
            if result.get("cancelled"):
                final["cancelled"] = len(result["cancelled"])
            display.update(tracker.observe(final, clock() - started), final=True)
            return result
        display.update(tracker.observe(counts(), clock() - started))
        sleep(poll_seconds)


def summary_exit_code(summary: Mapping[str, Any]) -> int:
    """0 when every model is warm, 1 when any failed."""
    return 1 if summary.get("failed") else 0


def render_summary(summary: Mapping[str, Any]) -> str:
    """The summary for people: how many warm, each failed id with its reason, how long."""
    warm = len(summary.get("warm", []))
    failed: Mapping[str, str] = summary.get("failed", {})
    total = int(summary.get("total", warm + len(failed)))
    duration = summary.get("duration_s")
    if duration is None and "finished_at" in summary and "started_at" in summary:
        duration = float(summary["finished_at"]) - float(summary["started_at"])
    took = f" in {format_duration(float(duration))}" if duration is not None else ""
    calls = summary.get("upstream_calls")
    extra = f" ({calls} upstream calls)" if calls is not None else ""
    if failed:
        head = f"{warm} of {total} warm, {len(failed)} failed{took}{extra}"
    else:
        head = f"all {total} models warm{took}{extra}"
    lines = [f"batch {summary.get('batch_id', '?')}: {head}"]
    if failed:
        lines.append("failed:")
        width = max(len(model_id) for model_id in failed)
        lines.extend(f"  {model_id:<{width}}  {reason}" for model_id, reason in failed.items())
    return "\n".join(lines)
