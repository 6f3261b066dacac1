"""The simulator's call log: an exact record of what the upstream experienced.

Tests and benchmarks read it (``GET /_sim/ledger``) to assert on the load the
worker really produced. Keys are recorded only as labels (:func:`key_label`),
never raw. The one-second windows are real seconds, counted on the monotonic and
the wall clock (:class:`TwoClockMax`), and ignore the simulator's time scale.
"""

from __future__ import annotations

import hashlib
from collections import Counter, deque
from collections.abc import Mapping
from functools import lru_cache

from sandbox.sim.clock import Clock

#: The label of a request that carried no usable key.
NO_KEY_LABEL = "key-missing"


@lru_cache(maxsize=1024)
def _label(key: str) -> str:
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:8]


def key_label(key: object) -> str:
    """``"key-"`` + the first 8 hex digits of sha256(key); :data:`NO_KEY_LABEL` if not a string."""
    if not isinstance(key, str) or not key:
        return NO_KEY_LABEL
    return _label(key)


class WindowMax:
    """The most events seen in any one-second sliding window, counted exactly.

    Each event's time is kept until it is a second old; after every event the
    number of events in ``(t - 1, t]`` is compared with the maximum so far.
    """

    __slots__ = ("_times", "maximum")

    def __init__(self) -> None:
        self._times: deque[float] = deque()
        self.maximum = 0

    def add(self, now: float) -> int:
        """Record an event at monotonic time ``now``; return the count in the last second."""
        times = self._times
        times.append(now)
        horizon = now - 1.0
        while times[0] <= horizon:
            times.popleft()
        count = len(times)
        if count > self.maximum:
            self.maximum = count
        return count


class TwoClockMax:
    """The most events in any one second, counted on the monotonic and the wall clock.

    The two clocks tick together unless the host's wall clock is stepped (a virtual
    machine's clock set after a pause, an NTP step). The limiter keeps time in Redis's
    clock, which is this host's wall clock in every test and benchmark, so a step moves
    the limiter's window and one of the two counts, never both the same way: a burst the
    worker really sent shows on both clocks, one that only a step makes shows on one.
    ``maximum`` is the smaller count; ``step`` tells how far the clocks moved apart.
    """

    __slots__ = ("_monotonic", "_offset", "_wall", "step")

    def __init__(self) -> None:
        self._monotonic = WindowMax()
        self._wall = WindowMax()
        self._offset: float | None = None
        self.step = 0.0

    def add(self, monotonic: float, wall: float) -> None:
        """Record an event at ``monotonic`` and ``wall`` time (read together)."""
        self._monotonic.add(monotonic)
        self._wall.add(wall)
        offset = wall - monotonic
        if self._offset is None:
            self._offset = offset
        self.step = max(self.step, abs(offset - self._offset))

    @property
    def maximum(self) -> int:
        """The most events in one second on whichever clock counts fewer."""
        return min(self._monotonic.maximum, self._wall.maximum)

    def by_clock(self) -> dict[str, int]:
        """The most events in one second on each clock."""
        return {"monotonic": self._monotonic.maximum, "wall": self._wall.maximum}


class CallLog:
    """Counters, windows and peaks of one simulator run (until ``POST /_sim/reset``)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.started_at = clock.time()
        self.first_call_at: float | None = None
        self.last_call_at: float | None = None
        self.calls_total = 0
        self.calls_per_model: Counter[str] = Counter()
        self.call_times_per_model: dict[str, list[float]] = {}
        self.calls_per_key: Counter[str] = Counter()
        self.reloads_started: Counter[str] = Counter()
        self.answers: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.rate_limited = 0
        self.peak_concurrency_per_key: dict[str, int] = {}
        self.peak_queued_per_key: dict[str, int] = {}
        self._window = TwoClockMax()
        self._window_per_key: dict[str, TwoClockMax] = {}

    def arrival(
        self, now: float, label: str, model_id: str | None, wall: float | None = None
    ) -> None:
        """A reload call arrived (recorded before any fault or check).

        Parameters:
            now: its monotonic time, for the one-second windows.
            label: its key's label (:func:`key_label`).
            model_id: the model it names, or ``None`` if the body names none.
            wall: its Unix time, read right after ``now`` (a busy host could otherwise
                deschedule the simulator between the two); ``None``: read now.
        """
        if wall is None:
            wall = self._clock.time()
        if self.first_call_at is None:
            self.first_call_at = wall
        self.last_call_at = wall
        self.calls_total += 1
        self.calls_per_key[label] += 1
        if model_id is not None:
            self.calls_per_model[model_id] += 1
            self.call_times_per_model.setdefault(model_id, []).append(wall)
        self._window.add(now, wall)
        window = self._window_per_key.get(label)
        if window is None:
            window = self._window_per_key[label] = TwoClockMax()
        window.add(now, wall)

    def answer(self, kind: str, http_status: int) -> None:
        """The call was answered (or will be).

        Parameters:
            kind: the reply's ledger name (``Reply.kind``).
            http_status: the reply's HTTP status; a 429 is also counted in ``rate_limited``.
        """
        self.answers[kind] += 1
        if http_status == 429:
            self.rate_limited += 1

    def fault(self, kind: str) -> None:
        """A fault of ``kind`` was injected instead of a normal answer."""
        self.faults[kind] += 1

    def reload_started(self, model_id: str) -> None:
        """A cold model began loading."""
        self.reloads_started[model_id] += 1

    def occupancy(self, label: str, concurrent: int, queued: int) -> None:
        """A call of ``label`` was admitted: note the new concurrency and queue length.

        Parameters:
            label: the key's label.
            concurrent: the key's calls in flight, this one included.
            queued: the key's queue length, loading models included when they count.
        """
        if concurrent > self.peak_concurrency_per_key.get(label, 0):
            self.peak_concurrency_per_key[label] = concurrent
        if queued > self.peak_queued_per_key.get(label, 0):
            self.peak_queued_per_key[label] = queued

    def snapshot(self, warm_at: Mapping[str, float]) -> dict[str, object]:
        """The ledger as JSON-ready data; ``warm_at`` comes from the model book."""
        return {
            "started_at": self.started_at,
            "first_call_at": self.first_call_at,
            "last_call_at": self.last_call_at,
            "calls_total": self.calls_total,
            "calls_per_model": dict(self.calls_per_model),
            "call_times_per_model": {m: list(t) for m, t in self.call_times_per_model.items()},
            "calls_per_key": dict(self.calls_per_key),
            "reloads_started": dict(self.reloads_started),
            "answers": dict(self.answers),
            "faults": dict(self.faults),
            "rate_limited": self.rate_limited,
            "max_calls_in_any_second": self._window.maximum,
            "max_calls_in_any_second_per_key": {
                label: window.maximum for label, window in self._window_per_key.items()
            },
            "max_calls_in_any_second_by_clock": self._window.by_clock(),
            "wall_clock_step_s": round(self._window.step, 6),
            "peak_concurrency_per_key": dict(self.peak_concurrency_per_key),
            "peak_queued_per_key": dict(self.peak_queued_per_key),
            "warm_at": dict(warm_at),
        }
