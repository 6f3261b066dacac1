"""Behaviour: one bad model id gets a clear, short error that says where and why.

Given an id that is not a string, empty, only whitespace, padded, longer than
256 characters (even 1 MB), or that holds a control or invisible character,
when it is checked, then ``InvalidModelIds`` names the place and the problem
without echoing a huge value; ordinary ids in any script are accepted as they are.
"""

from __future__ import annotations

import pytest

from worker.constants import MAX_MODEL_ID_LENGTH
from worker.validation import InvalidModelIds, check_model_id


@pytest.mark.parametrize(
    "model_id",
    [
        "midjourney",
        "sdxl-v1.0_base",
        "a",
        "x" * MAX_MODEL_ID_LENGTH,
        "modèle-été",
        "модель",
        "模型一号",
        "ﻣﻮﺩﻳﻞ",
        "Ωmega-2",
    ],
)
def test_given_a_usable_id_then_it_is_returned_unchanged(model_id: str) -> None:
    assert check_model_id(model_id) == model_id


@pytest.mark.parametrize(
    ("value", "type_name"),
    [(None, "NoneType"), (42, "int"), (b"bytes-id", "bytes"), (["a"], "list"), ({"a": 1}, "dict")],
)
def test_given_a_non_string_then_the_error_names_its_type(value: object, type_name: str) -> None:
    with pytest.raises(InvalidModelIds) as caught:
        check_model_id(value)

    assert str(caught.value) == f"model_id: expected a string, got {type_name}"


@pytest.mark.parametrize("value", ["", " ", "\t\n", "\u3000", "\u00a0\u00a0"])
def test_given_an_empty_or_whitespace_id_then_it_is_an_empty_id(value: str) -> None:
    with pytest.raises(InvalidModelIds, match=r"^model_id: empty id$"):
        check_model_id(value)


@pytest.mark.parametrize("value", [" model", "model ", "\tmodel", "model\n", "\u00a0model"])
def test_given_a_padded_id_then_the_error_says_leading_or_trailing_whitespace(value: str) -> None:
    with pytest.raises(InvalidModelIds, match="leading or trailing whitespace"):
        check_model_id(value)


def test_given_one_character_too_many_then_too_long() -> None:
    with pytest.raises(InvalidModelIds) as caught:
        check_model_id("x" * (MAX_MODEL_ID_LENGTH + 1))

    assert str(caught.value) == (
        f"model_id: {MAX_MODEL_ID_LENGTH + 1} characters, more than {MAX_MODEL_ID_LENGTH}"
    )


def test_given_a_one_megabyte_id_then_a_short_message_without_the_value() -> None:
    huge = "x" * (1 << 20)

    with pytest.raises(InvalidModelIds) as caught:
        check_model_id(huge, where="model_ids[7]")

    message = str(caught.value)
    assert message == f"model_ids[7]: 1048576 characters, more than {MAX_MODEL_ID_LENGTH}"
    assert len(message) < 100


@pytest.mark.parametrize(
    ("value", "code_point", "position"),
    [
        pytest.param("mod\x00el", "U+0000", 3, id="nul"),
        pytest.param("mo\ndel", "U+000A", 2, id="newline"),
        pytest.param("model\x1b[31m", "U+001B", 5, id="ansi-escape"),
        pytest.param("mod\x7fel", "U+007F", 3, id="delete"),
        pytest.param("mod\x85el", "U+0085", 3, id="next-line"),
        pytest.param("mod\u200bel", "U+200B", 3, id="zero-width-space"),
        pytest.param("mod\u200del", "U+200D", 3, id="zero-width-joiner"),
        pytest.param("\ufeffmodel", "U+FEFF", 0, id="byte-order-mark"),
        pytest.param("mod\u2060el", "U+2060", 3, id="word-joiner"),
        pytest.param("mod\u00adel", "U+00AD", 3, id="soft-hyphen"),
        pytest.param("mod\u202eel", "U+202E", 3, id="right-to-left-override"),
        pytest.param("mod\U000e0041el", "U+E0041", 3, id="tag-character"),
        pytest.param("mod\ue000el", "U+E000", 3, id="private-use"),
    ],
)
def test_given_a_control_or_invisible_character_then_the_error_names_it_and_its_position(
    value: str, code_point: str, position: int
) -> None:
    with pytest.raises(InvalidModelIds) as caught:
        check_model_id(value)

    assert str(caught.value) == (
        f"model_id: control or invisible character {code_point} at position {position}"
    )


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("mod\u2028el", id="line-separator"),
        pytest.param("mod\u2029el", id="paragraph-separator"),
        pytest.param("mod\u3164el", id="hangul-filler"),
        pytest.param("mod\u034fel", id="combining-grapheme-joiner"),
    ],
)
def test_given_a_line_separator_or_invisible_filler_then_it_is_rejected(value: str) -> None:
    with pytest.raises(InvalidModelIds, match="control or invisible character"):
        check_model_id(value)


def test_given_a_where_then_the_message_starts_with_it() -> None:
    with pytest.raises(InvalidModelIds, match=r"^batch_id: empty id$"):
        check_model_id("", where="batch_id")
