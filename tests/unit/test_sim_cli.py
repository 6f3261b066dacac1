"""``reloadctl sim`` option handling: invalid values are clear click errors."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sandbox.sim.cli import sim


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
