"""Behaviour: the broker never redelivers a message while its countdown runs (rule 7).

Given any settings, the longest countdown a task asks for covers every wait
the tasks schedule, and the visibility timeout is longer than it, with room for
one upstream call.
"""

from __future__ import annotations

import pytest

from worker.settings import ConfigError, Rate, Settings

CASES = [
    pytest.param(Settings(), id="defaults"),
    pytest.param(Settings(warm_seconds=900.0), id="slow-reload"),
    pytest.param(Settings(backoff_max_seconds=600.0), id="long-backoff"),
    pytest.param(Settings(rate=Rate(100, 3600.0)), id="hourly-rate"),
    pytest.param(
        Settings(warm_seconds=0.1, backoff_max_seconds=0.2, rate=Rate(5, 0.5)), id="all-tiny"
    ),
]


@pytest.mark.parametrize("settings", CASES)
def test_given_settings_then_the_visibility_timeout_exceeds_the_longest_countdown(
    settings: Settings,
) -> None:
    longest = settings.longest_countdown

    assert settings.visibility_timeout > longest
    assert settings.visibility_timeout >= longest + settings.read_timeout
    assert longest >= max(settings.warm_seconds, settings.backoff_max_seconds)
    assert longest >= settings.rate.period
    assert longest >= 1.0


def test_given_env_settings_then_the_same_holds() -> None:
    settings = Settings.from_env(
        {
            "RELOAD_WARM_SECONDS": "300",
            "RELOAD_BACKOFF_MAX_SECONDS": "30",
            "RELOAD_RATE_LIMIT": "1/m",
        }
    )

    assert settings.longest_countdown == 300.0
    assert settings.visibility_timeout > 300.0


def test_given_a_long_batch_grace_then_the_visibility_timeout_still_covers_it() -> None:
    settings = Settings.from_env({"RELOAD_BATCH_GRACE_SECONDS": "600"})

    assert settings.longest_countdown >= settings.batch_grace_seconds
    assert settings.visibility_timeout > settings.batch_grace_seconds


def test_given_a_deadline_shorter_than_a_reload_then_refused_at_start() -> None:
    with pytest.raises(ConfigError, match=r"^RELOAD_DEADLINE_SECONDS=100: expected more than"):
        Settings.from_env({"RELOAD_WARM_SECONDS": "120", "RELOAD_DEADLINE_SECONDS": "100"})
