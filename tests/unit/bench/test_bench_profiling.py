"""py-spy's raw stacks folded into inclusive shares; grant delays matched in time order."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.grant_delay import delays
from bench.profiling import summary


def test_inclusive_shares_count_each_frame_once_per_stack(tmp_path: Path) -> None:
    raw = tmp_path / "worker.txt"
    raw.write_text(
        "main;loop;redis_call 6\nmain;loop;http_call 3\nmain;loop;redis_call;redis_call 1\n"
    )

    shares = dict(summary([raw]))

    assert shares["main"] == 1.0
    assert shares["redis_call"] == pytest.approx(0.7)  # the recursive stack counted once
    assert shares["http_call"] == pytest.approx(0.3)


def test_no_samples_give_no_shares(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert summary([empty]) == []


def test_delays_match_counted_and_arrival_times_in_order() -> None:
    counted = [10.0, 10.5, 10.2]
    arrived = [10.21, 10.003, 10.52]
    assert delays(counted, arrived) == pytest.approx([0.003, 0.01, 0.02])
