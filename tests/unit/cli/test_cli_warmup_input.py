"""``reloadctl warmup`` input: ids from arguments, a file or stdin, checked before anything is sent.

The command runs with a recording ``Batches`` passed as click's ``obj``: no
broker, no worker. Every rejected input must leave ``sent`` empty.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from worker.cli import main
from worker.cli.input import IdList, parse_id_lines


class RecordingBatches:
    """Accepts every batch and remembers what it was asked to start."""

    def __init__(self, max_batch: int = 100) -> None:
        self.max_batch = max_batch
        self.sent: list[tuple[list[str], str | None]] = []

    def start(
        self,
        model_ids: list[str],
        callback_url: str | None,
        *,
        timeout: float,
        priority: str = "normal",
    ) -> str:
        self.sent.append((model_ids, callback_url))
        return "batch-1"

    def counts(self, batch_id: str) -> dict[str, int]:
        raise AssertionError("not waiting")

    def summary(self, batch_id: str) -> dict[str, Any] | None:
        raise AssertionError("not waiting")


def warmup(batches: RecordingBatches, *args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(main, ["warmup", *args], obj=batches, input=stdin)


def test_ids_from_arguments_are_sent_in_order() -> None:
    batches = RecordingBatches()
    result = warmup(batches, "m-2", "m-1", "m-3")
    assert result.exit_code == 0, result.output
    assert batches.sent == [(["m-2", "m-1", "m-3"], None)]
    assert result.stdout == "batch-1\n"


def test_ids_from_a_file_skip_blank_lines_comments_and_surrounding_space(tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("# campaign models\nm-1\n\n   \n  m-2  \r\n#m-3\nm-4\n", encoding="utf-8")
    batches = RecordingBatches()
    result = warmup(batches, "--file", str(ids))
    assert result.exit_code == 0, result.output
    assert batches.sent == [(["m-1", "m-2", "m-4"], None)]


def test_arguments_come_before_the_files_ids(tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("from-file\n", encoding="utf-8")
    batches = RecordingBatches()
    result = warmup(batches, "from-arg", "-f", str(ids))
    assert result.exit_code == 0, result.output
    assert batches.sent == [(["from-arg", "from-file"], None)]


def test_dash_reads_ids_from_stdin() -> None:
    batches = RecordingBatches()
    result = warmup(batches, "--file", "-", stdin=b"m-1\n# skip\nm-2\n")
    assert result.exit_code == 0, result.output
    assert batches.sent == [(["m-1", "m-2"], None)]


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_id(tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_bytes(b"\xef\xbb\xbfm-1\nm-2\n")
    batches = RecordingBatches()
    assert warmup(batches, "-f", str(ids)).exit_code == 0
    assert batches.sent == [(["m-1", "m-2"], None)]


def test_duplicates_collapse_keeping_the_first_occurrences_order() -> None:
    batches = RecordingBatches()
    result = warmup(batches, "b", "a", "b", "c", "a")
    assert result.exit_code == 0, result.output
    assert batches.sent == [(["b", "a", "c"], None)]
    assert "2 duplicate" in result.stderr


def test_the_callback_url_is_passed_on() -> None:
    batches = RecordingBatches()
    result = warmup(batches, "m-1", "--callback-url", "https://hooks.example/done")
    assert result.exit_code == 0, result.output
    assert batches.sent == [(["m-1"], "https://hooks.example/done")]


def bad_file(tmp_path: Path, content: bytes) -> str:
    path = tmp_path / "ids.txt"
    path.write_bytes(content)
    return str(path)


@pytest.mark.parametrize(
    ("args", "stdin", "reason"),
    [
        ([], None, "error: no model ids given"),
        (["a", "", "b"], None, "error: argument 2: empty id"),
        (["ok", "bad\x00id"], None, "error: argument 2: control or invisible character U+0000"),
        ([" padded"], None, "error: argument 1: leading or trailing whitespace"),
        (["x" * 300], None, "error: argument 1: 300 characters, more than 256"),
        (["a", "--callback-url", "ftp://x"], None, "error: callback_url: expected an http(s) URL"),
        (["--file", "-"], b"# only a comment\n\n", "error: stdin holds no model id"),
        (
            ["--file", "-"],
            b"m-1\n\xff\xfe\n",
            "error: stdin: not UTF-8 text (byte 0xff at offset 4)",
        ),
        (["--file", "-"], b"m-1\nm\x07x\n", "error: stdin line 2: control or invisible character"),
        (["--file", "-"], b"m-1\nm\x0cx\n", "error: stdin line 2: control or invisible char"),
        (["--file", "/nonexistent/ids.txt"], None, "error: /nonexistent/ids.txt: no such file"),
    ],
)
def test_bad_input_exits_2_with_the_reason_and_sends_nothing(
    args: list[str], stdin: bytes | None, reason: str
) -> None:
    batches = RecordingBatches()
    result = warmup(batches, *args, stdin=stdin)
    assert result.exit_code == 2
    assert reason in result.stderr
    assert result.stdout == ""
    assert batches.sent == []


def test_a_directory_given_as_the_file_is_a_clear_error(tmp_path: Path) -> None:
    batches = RecordingBatches()
    result = warmup(batches, "--file", str(tmp_path))
    assert result.exit_code == 2
    assert f"error: {tmp_path}: is a directory" in result.stderr
    assert batches.sent == []


def test_a_bad_line_in_a_file_is_named_by_file_and_line(tmp_path: Path) -> None:
    path = bad_file(tmp_path, b"m-1\n# comment\n\nm\tx\n")
    batches = RecordingBatches()
    result = warmup(batches, "first-arg", "--file", path)
    assert result.exit_code == 2
    assert f"error: {path} line 4: control or invisible character U+0009" in result.stderr
    assert batches.sent == []


def test_more_ids_than_the_batch_limit_are_refused_before_sending() -> None:
    batches = RecordingBatches(max_batch=3)
    result = warmup(batches, "a", "b", "c", "d")
    assert result.exit_code == 2
    assert "error: model_ids: 4 ids, more than the limit of 3" in result.stderr
    assert batches.sent == []


def test_parse_id_lines_keeps_line_numbers_of_real_ids() -> None:
    assert parse_id_lines(["# head", "", "a", "  b  ", "#c", "d"]) == [(3, "a"), (4, "b"), (6, "d")]


def test_explain_leaves_messages_without_a_position_alone() -> None:
    given = IdList(["a"], ["argument 1"])
    assert given.explain("model_ids: the list is empty") == "model_ids: the list is empty"
    assert given.explain("model_ids[0]: empty id") == "argument 1: empty id"
    assert given.explain("model_ids[9]: empty id") == "model_ids[9]: empty id"
