"""Fault injection: seeded selection by probability and the reply of each kind."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from sandbox.sim.config import FAULT_KINDS, SimConfig
from sandbox.sim.faults import fault_table, pick, reply
from sandbox.sim.replies import Action

CONFIG = SimConfig(keys=("k",), retry_after=30.0, time_scale=4.0)


def test_no_faults_means_no_draw() -> None:
    rng = random.Random(1)
    state = rng.getstate()
    assert pick(fault_table({}), rng) is None
    assert rng.getstate() == state


def test_faults_are_drawn_in_proportion_to_their_probability() -> None:
    table = fault_table({"500": 0.2, "reset": 0.1})
    rng = random.Random(5)
    counts = Counter(pick(table, rng) for _ in range(20_000))
    assert 0.18 < counts["500"] / 20_000 < 0.22
    assert 0.08 < counts["reset"] / 20_000 < 0.12
    assert set(counts) == {"500", "reset", None}


def test_a_probability_of_one_always_faults() -> None:
    table = fault_table({"timeout": 1.0})
    rng = random.Random(0)
    assert {pick(table, rng) for _ in range(1000)} == {"timeout"}


def test_the_same_seed_draws_the_same_faults() -> None:
    table = fault_table(dict.fromkeys(FAULT_KINDS, 0.05))
    rng_a, rng_b = random.Random(3), random.Random(3)
    drawn = [pick(table, rng_a) for _ in range(300)]
    assert drawn == [pick(table, rng_b) for _ in range(300)]
    assert len(set(drawn)) == len(FAULT_KINDS) + 1  # every kind, and no fault


@pytest.mark.parametrize(
    ("kind", "status", "action"),
    [
        ("500", 500, Action.RESPOND_NOW),
        ("503", 503, Action.RESPOND_NOW),
        ("html502", 502, Action.RESPOND_NOW),
        ("timeout", 504, Action.HOLD),
        ("reset", 0, Action.RESET),
        ("error200", 200, Action.RESPOND_NOW),
        ("legacy", 500, Action.RESPOND_NOW),
        ("nonobject", 200, Action.RESPOND_NOW),
        ("retry_after_string", 429, Action.RESPOND_NOW),
        ("retry_after_header", 429, Action.RESPOND_NOW),
    ],
)
def test_every_kind_has_its_reply(kind: str, status: int, action: Action) -> None:
    r = reply(kind, CONFIG, random.Random(0))
    assert (r.kind, r.status, r.action) == (f"fault_{kind}", status, action)


def test_html502_is_an_html_page() -> None:
    r = reply("html502", CONFIG, random.Random(0))
    assert r.content_type == "text/html"
    assert b"<h1>502 Bad Gateway</h1>" in r.body


def test_legacy_bodies_use_messege_as_text_or_object() -> None:
    rng = random.Random(0)
    bodies = [reply("legacy", CONFIG, rng).json() for _ in range(50)]
    assert all(b["status"] == "error" and "message" not in b for b in bodies)  # type: ignore[index,operator]
    assert {type(b["messege"]) for b in bodies} == {str, dict}  # type: ignore[index]


def test_nonobject_bodies_are_json_but_not_objects() -> None:
    rng = random.Random(0)
    bodies = [reply("nonobject", CONFIG, rng).json() for _ in range(50)]
    assert {type(b) for b in bodies} == {list, str}


def test_retry_after_string_and_header_carry_the_scaled_seconds() -> None:
    as_string = reply("retry_after_string", CONFIG, random.Random(0))
    assert as_string.json()["retry_after"] == "7.5"  # type: ignore[index]
    as_header = reply("retry_after_header", CONFIG, random.Random(0))
    assert as_header.headers == {"Retry-After": "8"}  # whole seconds, rounded up
    assert "retry_after" not in as_header.json()  # type: ignore[operator]
