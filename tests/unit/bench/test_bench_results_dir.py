"""A quick run writes beside the full run's results, never over them."""

from __future__ import annotations

from pathlib import Path

from bench.__main__ import RESULTS, results_dir


def test_a_quick_run_writes_to_its_own_directory() -> None:
    assert results_dir(None, quick=False) == RESULTS
    assert results_dir(None, quick=True) == RESULTS / "quick"
    assert results_dir(None, quick=True) != results_dir(None, quick=False)


def test_an_explicit_directory_wins(tmp_path: Path) -> None:
    assert results_dir(tmp_path, quick=True) == tmp_path
    assert results_dir(tmp_path, quick=False) == tmp_path
