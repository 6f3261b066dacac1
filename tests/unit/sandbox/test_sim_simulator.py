"""The simulated upstream without HTTP: validation, answers, limits and the ledger."""

from __future__ import annotations

import json

import pytest

from sandbox.sim.calls import key_label
from sandbox.sim.clock import ManualClock
from sandbox.sim.config import SimConfig
from sandbox.sim.replies import Reply
from sandbox.sim.simulator import Simulator, Ticket

KEY = "k-secret"
LABEL = key_label(KEY)


def make(clock: ManualClock | None = None, **knobs: object) -> Simulator:
    return Simulator(SimConfig(keys=(KEY,), **knobs), clock or ManualClock())  # type: ignore[arg-type]


def body(model_id: object = "m", key: object = KEY) -> bytes:
    return json.dumps({"key": key, "model_id": model_id}).encode()


def call(sim: Simulator, model_id: object = "m", key: object = KEY) -> Reply:
    """One call answered at once (no latency between admission and answer)."""
    outcome = sim.begin(body(model_id, key))
    return sim.finish(outcome) if isinstance(outcome, Ticket) else outcome


def admit(sim: Simulator, model_id: str = "m") -> Ticket:
    outcome = sim.begin(body(model_id))
    assert isinstance(outcome, Ticket), outcome
    return outcome


def test_a_cold_model_answers_started_then_processing_with_eta_then_warm() -> None:
    clock = ManualClock()
    sim = make(clock, reload_seconds=10.0)
    started = call(sim)
    assert (started.status, started.json()) == (
        200,
        {"status": "success", "message": "Model reload started, it will take 2 minutes"},
    )
    clock.advance(4.0)
    loading = call(sim)
    assert loading.json() == {"status": "processing", "message": "Model is reloading", "eta": 6.0}
    clock.advance(6.0)
    assert call(sim).json() == {"status": "success", "message": "Model already loaded"}
    snap = sim.snapshot()
    assert snap["answers"] == {"success_started": 1, "processing": 1, "success_warm": 1}
    assert snap["reloads_started"] == {"m": 1}
    assert snap["warm_at"] == {"m": pytest.approx(clock.time())}


def test_no_eta_leaves_eta_out_of_processing_answers() -> None:
    sim = make(eta=False)
    call(sim)
    assert call(sim).json() == {"status": "processing", "message": "Model is reloading"}


@pytest.mark.parametrize(
    ("raw", "status", "expected"),
    [
        (body(key="wrong"), 401, {"status": "error", "message": "Invalid API key"}),
        (
            json.dumps({"model_id": "m"}).encode(),
            401,
            {"status": "error", "message": "Invalid API key"},
        ),
        (
            json.dumps({"key": KEY}).encode(),
            400,
            {"status": "error", "messege": {"model_id": ["The model id field is required."]}},
        ),
        (
            body(model_id=""),
            400,
            {"status": "error", "messege": {"model_id": ["The model id field is required."]}},
        ),
        (
            body(model_id=5),
            400,
            {"status": "error", "messege": {"model_id": ["The model id must be a string."]}},
        ),
        (b"not json", 400, {"status": "error", "message": "Request body must be a JSON object"}),
        (b"[1, 2]", 400, {"status": "error", "message": "Request body must be a JSON object"}),
        (b"\xff\xfe", 400, {"status": "error", "message": "Request body must be a JSON object"}),
    ],
)
def test_bad_calls_are_refused_without_touching_any_model(
    raw: bytes, status: int, expected: object
) -> None:
    sim = make()
    reply = sim.begin(raw)
    assert isinstance(reply, Reply)
    assert (reply.status, reply.json()) == (status, expected)
    snap = sim.snapshot()
    assert snap["calls_total"] == 1
    assert snap["reloads_started"] == {}


def test_an_unknown_model_is_a_404_naming_it() -> None:
    sim = make(unknown=frozenset({"ghost"}))
    reply = call(sim, "ghost")
    assert (reply.status, reply.json()) == (
        404,
        {"status": "error", "message": "Model not found: ghost"},
    )
    assert sim.snapshot()["answers"] == {"unknown_model": 1}


def test_the_queue_limit_refuses_calls_beyond_n_in_flight_with_scaled_retry_after() -> None:
    sim = make(queue_limit=2, retry_after=30.0, time_scale=10.0)
    first, _second = admit(sim, "a"), admit(sim, "b")
    refused = sim.begin(body("c"))
    assert isinstance(refused, Reply)
    assert (refused.status, refused.json()) == (
        429,
        {
            "status": "error",
            "message": "Rate limit exceeded. Maximum 2 queued requests allowed.",
            "retry_after": 3,
        },
    )
    sim.finish(first)
    assert isinstance(sim.begin(body("c")), Ticket)  # a slot is free again
    snap = sim.snapshot()
    assert snap["rate_limited"] == 1
    assert snap["peak_concurrency_per_key"] == {LABEL: 2}


def test_loading_models_count_towards_the_queue_only_with_loading_counts() -> None:
    clock = ManualClock()
    counting = make(clock, queue_limit=2, loading_counts=True, reload_seconds=10.0)
    call(counting, "a")
    call(counting, "b")  # two models loading, no call in flight
    refused = counting.begin(body("c"))
    assert isinstance(refused, Reply) and refused.status == 429
    assert counting.snapshot()["peak_queued_per_key"] == {LABEL: 2}
    clock.advance(10.0)  # both warm: the slots are free
    assert call(counting, "c").status == 200

    not_counting = make(clock, queue_limit=2, reload_seconds=10.0)
    call(not_counting, "a")
    call(not_counting, "b")
    assert call(not_counting, "c").json()["status"] == "success"  # type: ignore[index]
    assert not_counting.snapshot()["peak_queued_per_key"] == {LABEL: 1}


def test_the_queue_limit_is_per_key() -> None:
    sim = Simulator(SimConfig(keys=("k1", "k2"), queue_limit=1), ManualClock())
    assert isinstance(sim.begin(body("a", "k1")), Ticket)
    assert isinstance(sim.begin(body("b", "k2")), Ticket)
    refused = sim.begin(body("c", "k1"))
    assert isinstance(refused, Reply) and refused.status == 429


def test_the_rps_limit_admits_n_calls_in_any_one_second_window() -> None:
    clock = ManualClock()
    sim = make(clock, rps_limit=3)
    statuses = []
    for _ in range(4):
        statuses.append(call(sim).status)
        clock.advance(0.2)
    assert statuses == [200, 200, 200, 429]
    refused = call(sim)
    assert refused.json()["message"] == (  # type: ignore[index]
        "Rate limit exceeded. Maximum 3 requests per second allowed."
    )
    clock.advance(0.2)  # now 1.0 s after the first admitted call
    assert call(sim).status == 200
    assert sim.snapshot()["answers"]["rate_limited_rps"] == 2  # type: ignore[index]


def test_abandoned_calls_free_their_slot_once() -> None:
    sim = make(queue_limit=1)
    ticket = admit(sim)
    sim.abandon(ticket)
    sim.abandon(ticket)
    second = admit(sim)
    assert sim.limits.in_flight[LABEL] == 1
    sim.finish(second)
    assert sim.limits.in_flight[LABEL] == 0


def test_peak_concurrency_counts_calls_in_flight_at_the_same_moment() -> None:
    sim = make()
    tickets = [admit(sim, f"m{i}") for i in range(5)]
    for ticket in tickets:
        sim.finish(ticket)
    admit(sim)
    assert sim.snapshot()["peak_concurrency_per_key"] == {LABEL: 5}


def test_a_faulted_call_changes_no_model_and_is_counted_by_kind() -> None:
    sim = make(faults={"503": 1.0})
    reply = call(sim)
    assert reply.status == 503
    assert sim.models.state("m")["state"] == "cold"
    snap = sim.snapshot()
    assert snap["faults"] == {"503": 1}
    assert snap["answers"] == {"fault_503": 1}
    assert snap["calls_total"] == 1


def test_faults_come_before_the_key_check() -> None:
    sim = make(faults={"error200": 1.0})
    reply = call(sim, key="wrong")
    assert (reply.status, reply.json()) == (
        200,
        {"status": "error", "message": "Something went wrong"},
    )


def test_latency_is_scaled_and_jittered_within_bounds() -> None:
    assert make().latency() == 0.0
    assert make(latency=2.0, time_scale=4.0).latency() == 0.5
    sim = make(latency=1.0, latency_jitter=0.5)
    samples = [sim.latency() for _ in range(200)]
    assert all(0.5 <= s <= 1.5 for s in samples)
    assert len(set(samples)) > 100


def test_reconfigure_changes_limits_and_faults_at_run_time() -> None:
    sim = make()
    sim.reconfigure({"faults": {"500": 1.0}})
    assert call(sim).status == 500
    sim.reconfigure({"faults": {}, "queue_limit": 1})
    admit(sim)
    assert call(sim).status == 429
    sim.reconfigure({"queue_limit": None})
    assert call(sim).status == 200


def test_reset_forgets_calls_and_models_but_keeps_the_config() -> None:
    clock = ManualClock()
    sim = make(clock, reload_seconds=10.0)
    sim.reconfigure({"reload_seconds": 20.0})
    call(sim)
    pending = admit(sim)
    sim.reset()
    # a call in flight across the reset is answered from the state before it
    assert sim.finish(pending).kind == "processing"
    assert sim.snapshot()["calls_total"] == 0
    assert sim.models.state("m")["state"] == "cold"
    first = call(sim)
    assert first.kind == "success_started"
    assert sim.models.state("m")["eta"] == pytest.approx(20.0)


def test_seeded_fault_selection_repeats_after_reset() -> None:
    sim = make(faults={"500": 0.3, "503": 0.3}, seed=11)

    def statuses() -> list[int]:
        return [call(sim, f"m{i}").status for i in range(50)]

    first = statuses()
    sim.reset()
    assert statuses() == first
    assert {500, 503, 200} <= set(first)


def test_a_models_faults_do_not_depend_on_how_calls_of_models_interleave() -> None:
    def statuses_of(order: list[str]) -> dict[str, list[int]]:
        sim = make(faults={"503": 0.4}, seed=5)
        seen: dict[str, list[int]] = {"a": [], "b": []}
        for model in order:
            seen[model].append(call(sim, model).status)
        return seen

    alternating = statuses_of(["a", "b"] * 20)
    grouped = statuses_of(["a"] * 20 + ["b"] * 20)
    assert alternating == grouped
    assert alternating["a"] != alternating["b"]  # each model has its own stream
    assert 503 in alternating["a"] and 200 in alternating["a"]
