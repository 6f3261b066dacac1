"""Given a kombu message, its packed form is a small JSON string that expands back to it exactly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from worker.packed import Expanded, Packed, expand, pack, packed_form

ZERO = "00000000-0000-0000-0000-000000000000"


def retried_reload_message(model_id: str, uid: str) -> dict[str, Any]:
    """A retried ``reload_model`` message of a batch, as kombu's Redis transport stores it."""
    chord = {
        "task": "batch_finished",
        "args": [f"{uid}-b"],
        "kwargs": {},
        "options": {"task_id": f"{uid}-b", "reply_to": f"{uid}-r", "group_id": f"{uid}-g"},
        "subtask_type": None,
        "immutable": True,
    }
    embed = {"callbacks": None, "errbacks": None, "chain": None, "chord": chord}
    body = [[model_id, f"{uid}-b"], {}, embed]
    return {
        "body": json.dumps(body),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py",
            "task": "reload_model",
            "id": f"{uid}-t",
            "shadow": None,
            "eta": "2026-11-27T00:34:16.041333+00:00",
            "expires": None,
            "group": f"{uid}-g",
            "group_index": 1408,
            "retries": 3,
            "timelimit": [None, None],
            "root_id": f"{uid}-o",
            "parent_id": f"{uid}-o",
            "argsrepr": repr((model_id, f"{uid}-b")),
            "kwargsrepr": "{}",
            "origin": "gen5199@vm",
            "ignore_result": False,
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
        },
        "properties": {
            "correlation_id": f"{uid}-t",
            "reply_to": f"{uid}-r",
            "origin": "gen5199@vm",
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": "reload"},
            "priority": 0,
            "body_encoding": None,
            "delivery_tag": f"{uid}-d",
        },
    }


@pytest.mark.parametrize("model_id", ["m-01408", "sdxl-ünïcode-模型", "x" * 256])
def test_a_message_expands_back_to_exactly_itself(model_id: str) -> None:
    message = retried_reload_message(model_id, "8824e85a-a811-56e7-90bb")

    packed = pack(message)

    assert expand(json.loads(json.dumps(packed))) == message  # through JSON, as Redis stores it


def test_a_waiting_reload_message_packs_to_under_a_quarter_of_its_json() -> None:
    message = retried_reload_message("m-01408", "8824e85a-a811-56e7-90bb")

    packed = pack(message)

    assert len(json.dumps(packed)) < len(json.dumps(message)) / 4


def test_the_packed_form_is_a_json_string_that_remembers_its_message() -> None:
    message = retried_reload_message("m-1", "u")

    packed = pack(message)

    assert isinstance(packed, Packed)
    assert isinstance(json.loads(json.dumps(packed)), str)
    assert packed.message is message


def test_an_expanded_message_keeps_the_string_it_was_read_as_for_storing_again() -> None:
    message = retried_reload_message("m-1", "u")
    stored = str(pack(message))

    expanded = expand(stored)

    assert isinstance(expanded, Expanded)
    assert packed_form(expanded) is stored
    assert expand(str(packed_form(message))) == message  # a plain message is packed now


def test_a_plain_message_is_read_as_it_is() -> None:
    message = retried_reload_message("m-1", "u")

    assert expand(message) is message


def test_a_message_packed_by_an_earlier_release_still_expands() -> None:
    """Messages wait in Redis across upgrades: the v1 dictionary must never change."""
    stored = "z1:c=`Upi~g%dEvR)35hX8bZYMTFQ=Ekjm9RuCQWzN5)&c-wqcuq"

    assert expand(stored) == {
        "body": '[["m-1"], {}, {}]',
        "content-type": "application/json",
        "headers": {"task": "reload_model", "id": "00000000-0000-0000-0000-000000000001"},
        "properties": {"priority": 3},
    }


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        ("hello", "not a packed message"),
        ("z2:abc", "not a packed message"),
        ("z1:not base85 ~~~ \\", "damaged"),
        ("z1:" + "0" * 20, "damaged"),
    ],
)
def test_a_string_that_is_not_a_packed_message_is_refused(stored: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        expand(stored)
