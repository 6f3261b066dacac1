"""Behaviour: ``RELOAD_KEEP_WARM`` is a comma list or the path of a file of ids.

Given a comma-separated value, its ids are kept in order, blanks skipped and
duplicates collapsed. Given a path to a file, one id per line is read, blank
lines and ``#`` comments skipped. A missing file or a bad id is a one-line
``ConfigError`` that names the variable and the problem.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.settings import ConfigError, Settings


def keep_warm(value: str) -> tuple[str, ...]:
    return Settings.from_env({"RELOAD_KEEP_WARM": value}).keep_warm


def test_given_a_comma_list_then_ids_in_order_without_blanks_or_duplicates() -> None:
    assert keep_warm("b, a,,c , b,") == ("b", "a", "c")


def test_given_a_single_id_then_a_list_of_one() -> None:
    assert keep_warm("only-model") == ("only-model",)


def test_given_a_file_path_then_one_id_per_line_without_blanks_or_comments(
    tmp_path: Path,
) -> None:
    ids = tmp_path / "keep-warm.txt"
    ids.write_text("# campaign models\nmodel-b\n\n  model-a  \nmodel-b\n# end\n", encoding="utf-8")

    assert keep_warm(str(ids)) == ("model-b", "model-a")


def test_given_a_relative_file_path_then_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ids.txt").write_text("model-x\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    assert keep_warm("./ids.txt") == ("model-x",)


def test_given_a_missing_file_then_the_error_names_the_variable_and_the_problem(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "nope.txt"

    with pytest.raises(ConfigError) as caught:
        keep_warm(str(missing))

    message = str(caught.value)
    assert message.startswith(f"RELOAD_KEEP_WARM={str(missing)!r}: expected ")
    assert "No such file or directory" in message
    assert "\n" not in message


def test_given_a_file_with_a_bad_id_then_the_error_names_the_file_and_the_entry(
    tmp_path: Path,
) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("good\nbad\u200bid\n", encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        keep_warm(str(ids))

    message = str(caught.value)
    assert str(ids) in message
    assert "model_ids[1]: control or invisible character U+200B at position 3" in message


def test_given_a_file_with_only_comments_then_it_holds_no_model_id(tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("# nothing yet\n\n", encoding="utf-8")

    with pytest.raises(ConfigError, match="holds no model id"):
        keep_warm(str(ids))
