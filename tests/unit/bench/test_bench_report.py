"""The Markdown report: one line per row, unfinished runs said plainly, the machine named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import COLUMNS, render_markdown, write_json, write_plot

MACHINE = {"nproc": "2", "cpu": "Test CPU", "python": "3.11.7"}


def row(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {key: None for key, _ in COLUMNS}
    base.update(
        scenario="1-rate-bound",
        contender="project",
        models=200,
        completed=True,
        completion_s=8.8,
        ideal_s=8.0,
        ratio_to_ideal=1.1,
        violations=0,
        warm=200,
    )
    base.update(overrides)
    return base


def test_the_table_has_a_header_a_rule_and_one_line_per_row() -> None:
    text = render_markdown([row(), row(contender="asyncio")], MACHINE, command="python -m bench")
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| scenario"))
    assert lines[header + 1].startswith("|---")
    body = [line for line in lines[header + 2 :] if line.startswith("| ")]
    assert len(body) == 2
    assert body[0].count("|") == len(COLUMNS) + 1
    assert "| 8.8 | 8 | 1.1 |" in body[0]


def test_a_run_that_did_not_finish_says_so_with_its_warm_count() -> None:
    text = render_markdown(
        [row(completed=False, completion_s=None, error="did not finish in 60 s", warm=40)],
        MACHINE,
        command="python -m bench --quick",
    )
    assert "did not finish in 60 s (40/200 warm)" in text


def test_the_machine_and_command_are_named() -> None:
    text = render_markdown([row()], MACHINE, command="python -m bench --quick", notes=["a note"])
    assert "`python -m bench --quick`" in text
    assert "nproc 2" in text and "Test CPU" in text and "python 3.11.7" in text
    assert "- a note" in text


def test_json_is_a_list_of_rows(tmp_path: Path) -> None:
    write_json([row()], tmp_path / "latest.json")
    assert (tmp_path / "latest.json").read_text().lstrip().startswith("[")


def test_the_plot_is_written_as_png(tmp_path: Path) -> None:
    write_plot({"s": {"a": [1.0, 2.0], "b": []}}, {"s": 2.0}, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
