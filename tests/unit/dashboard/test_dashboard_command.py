"""Given no RELOAD_DASHBOARD_AUTH, ``reloadctl dashboard`` refuses to start with one line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from worker.cli import main


@pytest.mark.parametrize("value", [None, "", "no-password"])
def test_the_command_refuses_to_start_without_credentials(value: str | None) -> None:
    # CliRunner removes a variable given as None.
    env = {"RELOAD_DASHBOARD_AUTH": value}

    result = CliRunner().invoke(main, ["dashboard", "--port", "0"], env=env)

    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: RELOAD_DASHBOARD_AUTH"), result.output
