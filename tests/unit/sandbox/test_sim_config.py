"""The simulator's config: validation, ``--fault`` parsing and run-time changes.

``reloadctl sim`` option handling: invalid values are clear click errors.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sandbox.sim.cli import sim
from sandbox.sim.config import SimConfig, SimConfigError, parse_fault


def test_defaults_follow_the_upstream_page() -> None:
    config = SimConfig(keys=("k",))
    assert config.reload_seconds == 120.0
    assert config.retry_after == 30.0
    assert config.queue_limit is None and config.rps_limit is None
    assert dict(config.faults) == {}
    assert config.scaled(120.0) == 120.0


def test_time_scale_divides_durations() -> None:
    assert SimConfig(keys=("k",), time_scale=60.0).scaled(120.0) == 2.0


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"keys": ()}, "keys"),
        ({"keys": ("",)}, "keys"),
        ({"jitter": 1.0}, "jitter"),
        ({"warm_fraction": 1.5}, "warm_fraction"),
        ({"time_scale": 0.0}, "time_scale"),
        ({"reload_seconds": -1.0}, "reload_seconds"),
        ({"latency": float("nan")}, "latency"),
        ({"queue_limit": 0}, "queue_limit"),
        ({"rps_limit": True}, "rps_limit"),
        ({"port": 70000}, "port"),
        ({"faults": {"500": 0.6, "503": 0.6}}, "add up to more than 1"),
        ({"faults": {"teapot": 0.1}}, "unknown kind"),
        ({"warm": frozenset({"x"}), "unknown": frozenset({"x"})}, "both list"),
    ],
)
def test_bad_values_are_refused_naming_the_knob(knobs: dict[str, object], message: str) -> None:
    knobs.setdefault("keys", ("k",))
    with pytest.raises(SimConfigError, match=message):
        SimConfig(**knobs)  # type: ignore[arg-type]


def test_the_fault_table_cannot_be_changed_in_place() -> None:
    config = SimConfig(keys=("k",), faults={"500": 0.5})
    with pytest.raises(TypeError):
        config.faults["503"] = 0.1  # type: ignore[index]


def test_parse_fault_reads_kind_and_probability() -> None:
    assert parse_fault("html502=0.25") == ("html502", 0.25)
    for bad in ("500", "nope=0.1", "500=x", "500=1.5"):
        with pytest.raises(SimConfigError):
            parse_fault(bad)


def test_updated_applies_run_time_knobs_from_json_values() -> None:
    config = SimConfig(keys=("k",), faults={"500": 1.0})
    changed = config.updated(
        {"faults": {"503": 0.5}, "queue_limit": 5, "rps_limit": None, "latency": 1, "eta": False}
    )
    assert dict(changed.faults) == {"503": 0.5}  # the table is replaced, not merged
    assert (changed.queue_limit, changed.latency, changed.eta) == (5, 1.0, False)
    assert dict(config.faults) == {"500": 1.0}  # the original is untouched


@pytest.mark.parametrize(
    "changes",
    [
        {"port": 1},
        {"keys": ["x"]},
        {"queue_limit": "5"},
        {"queue_limit": 2.5},
        {"latency": True},
        {"eta": "no"},
        {"faults": [1]},
        {"faults": {"500": "0.1"}},
        {"jitter": 3},
    ],
)
def test_updated_refuses_fixed_fields_and_wrong_types(changes: dict[str, object]) -> None:
    with pytest.raises(SimConfigError):
        SimConfig(keys=("k",)).updated(changes)


def test_public_view_never_shows_the_raw_keys() -> None:
    view = SimConfig(keys=("raw-secret-key",), faults={"500": 0.1}).public()
    assert "raw-secret-key" not in repr(view)
    assert view["keys"] == ["key-" + view["keys"][0][4:]]  # type: ignore[index]
    assert view["faults"] == {"500": 0.1}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Missing option '--key'"),
        (["--key", "k", "--jitter", "1.2"], "Invalid value for '--jitter'"),
        (["--key", "k", "--time-scale", "0"], "Invalid value for '--time-scale'"),
        (["--key", "k", "--queue-limit", "0"], "Invalid value for '--queue-limit'"),
        (["--key", "k", "--port", "70000"], "Invalid value for '--port'"),
        (["--key", "k", "--fault", "teapot=0.5"], "Invalid value for '--fault'"),
        (["--key", "k", "--fault", "500=2"], "Invalid value for '--fault'"),
        (["--key", "k", "--fault", "500=0.1", "--fault", "500=0.2"], "given twice"),
        (["--key", "k", "--fault", "500=0.6", "--fault", "503=0.6"], "add up to more than 1"),
        (["--key", "k", "--warm", "a,b", "--unknown", "b"], "both list"),
    ],
)
def test_invalid_options_exit_2_with_a_message(args: list[str], message: str) -> None:
    result = CliRunner().invoke(sim, args)
    assert result.exit_code == 2
    assert message in result.output


def test_help_lists_every_knob() -> None:
    result = CliRunner().invoke(sim, ["--help"])
    assert result.exit_code == 0
    for option in (
        "--key", "--reload-seconds", "--jitter", "--warm", "--warm-fraction", "--unknown",
        "--queue-limit", "--loading-counts", "--rps-limit", "--latency", "--latency-jitter",
        "--retry-after", "--time-scale", "--no-eta", "--fault", "--timeout-hold", "--seed",
        "--host", "--port", "--log-requests",
    ):  # fmt: skip
        assert option in result.output
