"""Behaviour: a batch of ids is checked whole, and duplicates collapse in order.

Given a value that is not a list of strings (a str, bytes, a dict, a set, None),
an empty list, more ids than the limit, or a list with one bad id, when it is
validated, then ``InvalidModelIds`` says what is wrong (naming the first bad
entry by position); a good list comes back with duplicates removed, first
occurrences kept in input order.
"""

from __future__ import annotations

import pytest

from worker.validation import InvalidModelIds, validate_model_ids


def test_given_duplicates_then_they_collapse_keeping_first_occurrence_order() -> None:
    ids = ["c", "a", "c", "b", "a", "c", "d"]

    assert validate_model_ids(ids, max_count=10) == ["c", "a", "b", "d"]


def test_given_a_tuple_then_it_is_accepted_as_a_list() -> None:
    assert validate_model_ids(("x", "y"), max_count=10) == ["x", "y"]


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        pytest.param("model-a", "str", id="str"),
        pytest.param("a,b,c", "str", id="comma-str"),
        pytest.param(b"model-a", "bytes", id="bytes"),
        pytest.param({"model-a": 1}, "dict", id="dict"),
        pytest.param({"model-a"}, "set", id="set"),
        pytest.param(None, "NoneType", id="none"),
        pytest.param(7, "int", id="int"),
    ],
)
def test_given_not_a_list_then_expected_a_list_of_strings(value: object, type_name: str) -> None:
    with pytest.raises(InvalidModelIds) as caught:
        validate_model_ids(value, max_count=10)

    assert str(caught.value) == f"model_ids: expected a list of strings, got {type_name}"


def test_given_an_empty_list_then_the_list_is_empty() -> None:
    with pytest.raises(InvalidModelIds, match=r"^model_ids: the list is empty$"):
        validate_model_ids([], max_count=10)


def test_given_exactly_the_limit_then_accepted() -> None:
    ids = [f"m{n}" for n in range(50)]

    assert validate_model_ids(ids, max_count=50) == ids


def test_given_one_more_than_the_limit_then_the_error_names_the_count_and_the_setting() -> None:
    ids = [f"m{n}" for n in range(51)]

    with pytest.raises(InvalidModelIds) as caught:
        validate_model_ids(ids, max_count=50)

    assert str(caught.value) == "model_ids: 51 ids, more than the limit of 50 (RELOAD_MAX_BATCH)"


def test_given_a_limit_counted_before_duplicates_collapse_then_max_plus_one_is_refused() -> None:
    # The limit guards the request's size, so it counts what was sent.
    with pytest.raises(InvalidModelIds, match="51 ids"):
        validate_model_ids(["same"] * 51, max_count=50)


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        pytest.param(["ok", "", "also-ok"], "model_ids[1]: empty id", id="empty"),
        pytest.param(["ok", "   "], "model_ids[1]: empty id", id="whitespace"),
        pytest.param(
            ["ok", "fine", None], "model_ids[2]: expected a string, got NoneType", id="none"
        ),
        pytest.param([3], "model_ids[0]: expected a string, got int", id="int"),
        pytest.param(
            ["ok", "x" * (1 << 20)], "model_ids[1]: 1048576 characters, more than 256", id="1mb"
        ),
        pytest.param(
            ["a", "b", "bad\x00id"],
            "model_ids[2]: control or invisible character U+0000 at position 3",
            id="nul",
        ),
    ],
)
def test_given_one_bad_id_then_the_whole_batch_is_refused_naming_its_position(
    ids: list[object], message: str
) -> None:
    with pytest.raises(InvalidModelIds) as caught:
        validate_model_ids(ids, max_count=10)

    assert str(caught.value) == message


def test_given_several_bad_ids_then_the_first_is_named() -> None:
    with pytest.raises(InvalidModelIds, match=r"^model_ids\[1\]: "):
        validate_model_ids(["ok", "", "\x00"], max_count=10)
