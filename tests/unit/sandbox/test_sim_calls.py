"""The simulator's ledger: exact sliding-window maxima, peaks and key labels."""

from __future__ import annotations

import hashlib

import pytest

from sandbox.sim.calls import NO_KEY_LABEL, CallLog, TwoClockMax, WindowMax, key_label
from sandbox.sim.clock import ManualClock


def test_key_label_is_a_short_sha256_and_never_the_key() -> None:
    key = "super-secret-key"
    assert key_label(key) == "key-" + hashlib.sha256(key.encode()).hexdigest()[:8]
    assert key not in key_label(key)
    assert key_label(None) == NO_KEY_LABEL
    assert key_label(42) == NO_KEY_LABEL
    assert key_label("") == NO_KEY_LABEL


def test_window_counts_events_in_the_last_second_only() -> None:
    window = WindowMax()
    assert window.add(10.0) == 1
    assert window.add(10.5) == 2
    assert window.add(10.999) == 3
    assert window.add(11.0) == 3  # the event at 10.0 is exactly one second old: out
    assert window.add(12.5) == 1
    assert window.maximum == 3


@pytest.mark.parametrize("offsets", [[0.0, 0.3, 0.6, 0.9, 1.2, 1.5], [0.0, 0.0, 0.99, 2.0, 2.1]])
def test_window_maximum_matches_a_brute_force_count(offsets: list[float]) -> None:
    window = WindowMax()
    for t in offsets:
        window.add(t)
    brute = max(sum(1 for s in offsets if t - 1.0 < s <= t) for t in offsets)
    assert window.maximum == brute


@pytest.mark.parametrize("step", [0.2, -0.2])
def test_a_wall_clock_step_counts_on_the_clock_it_did_not_crowd(step: float) -> None:
    # Six events 0.19 s apart span 0.95 s: six in one second on both clocks...
    together = TwoClockMax()
    for i in range(6):
        together.add(10 + 0.19 * i, 1000 + 0.19 * i)
    assert together.maximum == 6 and together.by_clock() == {"monotonic": 6, "wall": 6}
    assert together.step == pytest.approx(0.0)
    # ...but 0.21 s apart, with the wall clock stepped between the 3rd and the 4th, only the
    # clock the step crowded sees six: a step forward crowds the monotonic clock's count
    # (the limiter, on the stepped clock, let them go early), a step back the wall clock's.
    stepped = TwoClockMax()
    for i in range(6):
        stepped.add(
            10 + 0.21 * i - (step if i >= 3 and step > 0 else 0.0),
            1000 + 0.21 * i + (step if i >= 3 and step < 0 else 0.0),
        )
    counts = stepped.by_clock()
    crowded, spared = ("monotonic", "wall") if step > 0 else ("wall", "monotonic")
    assert counts[crowded] == 6 and counts[spared] == 5, counts
    assert stepped.maximum == 5
    assert stepped.step == pytest.approx(abs(step))


def test_the_ledger_reports_both_clocks_and_a_step_of_the_wall_clock() -> None:
    clock = ManualClock()
    ledger = CallLog(clock)
    for i in range(6):
        if i == 3:
            clock.step_wall(0.3)  # the host's clock is set 0.3 s forward
        ledger.arrival(clock.monotonic(), "key-a", "m1")
        clock.advance(0.15)
    snap = ledger.snapshot({})
    # 0.75 s on the monotonic clock, 1.05 s on the wall clock: six on one, five on the other.
    assert snap["max_calls_in_any_second_by_clock"] == {"monotonic": 6, "wall": 5}
    assert snap["max_calls_in_any_second"] == 5
    assert snap["max_calls_in_any_second_per_key"] == {"key-a": 5}
    assert snap["wall_clock_step_s"] == pytest.approx(0.3)


def test_arrivals_are_counted_per_model_and_key_with_windows_for_all_and_each_key() -> None:
    clock = ManualClock()
    ledger = CallLog(clock)
    for _ in range(3):
        ledger.arrival(clock.monotonic(), "key-a", "m1")
        clock.advance(0.1)
    ledger.arrival(clock.monotonic(), "key-b", None)  # no usable model id
    clock.advance(2.0)
    ledger.arrival(clock.monotonic(), "key-b", "m2")

    snap = ledger.snapshot({})
    assert snap["calls_total"] == 5
    assert snap["calls_per_model"] == {"m1": 3, "m2": 1}
    assert snap["calls_per_key"] == {"key-a": 3, "key-b": 2}
    assert snap["max_calls_in_any_second"] == 4
    assert snap["max_calls_in_any_second_per_key"] == {"key-a": 3, "key-b": 1}
    assert snap["max_calls_in_any_second_by_clock"] == {"monotonic": 4, "wall": 4}
    assert snap["wall_clock_step_s"] == 0.0
    assert snap["first_call_at"] == pytest.approx(snap["started_at"])
    assert snap["last_call_at"] == pytest.approx(clock.time())


def test_answers_count_429s_and_faults_by_kind() -> None:
    ledger = CallLog(ManualClock())
    ledger.answer("rate_limited", 429)
    ledger.answer("fault_retry_after_header", 429)
    ledger.answer("success_warm", 200)
    ledger.fault("retry_after_header")
    snap = ledger.snapshot({"m": 1.0})
    assert snap["rate_limited"] == 2
    assert snap["answers"] == {"rate_limited": 1, "fault_retry_after_header": 1, "success_warm": 1}
    assert snap["faults"] == {"retry_after_header": 1}
    assert snap["warm_at"] == {"m": 1.0}


def test_occupancy_keeps_the_peaks_per_key() -> None:
    ledger = CallLog(ManualClock())
    ledger.occupancy("key-a", 1, 3)
    ledger.occupancy("key-a", 4, 4)
    ledger.occupancy("key-a", 2, 2)
    ledger.occupancy("key-b", 1, 1)
    snap = ledger.snapshot({})
    assert snap["peak_concurrency_per_key"] == {"key-a": 4, "key-b": 1}
    assert snap["peak_queued_per_key"] == {"key-a": 4, "key-b": 1}


def test_an_arrival_keeps_the_wall_time_read_beside_its_monotonic_time() -> None:
    clock = ManualClock()
    ledger = CallLog(clock)
    read_at = clock.time()
    clock.advance(0.5)  # the simulator was descheduled between the reads and the record

    ledger.arrival(clock.monotonic() - 0.5, "key-a", "m1", wall=read_at)

    assert ledger.snapshot({})["call_times_per_model"] == {"m1": [read_at]}
    assert ledger.snapshot({})["wall_clock_step_s"] == 0.0
