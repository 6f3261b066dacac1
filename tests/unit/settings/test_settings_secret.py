"""Behaviour: the API key never shows itself when settings are printed or logged.

Given settings read with ``MODELSLAB_API_KEY``, when they (or the key's
``Secret``) are turned into text in any of the usual ways, then the key is
masked; only ``reveal()`` (through ``require_api_key``) gives it back.
"""

from __future__ import annotations

import dataclasses
import logging

import pytest

from worker.settings import Secret, Settings

KEY = "sk-live-SECRET-0123456789abcdef"


def renderings(value: object) -> list[str]:
    return [repr(value), str(value), f"{value}", f"{value!r}", "%s" % (value,), format(value)]  # noqa: UP031


def test_given_a_secret_then_every_rendering_is_masked() -> None:
    secret = Secret(KEY)

    assert all(text == "Secret('********')" for text in renderings(secret))


def test_given_settings_with_a_key_then_no_rendering_shows_it() -> None:
    settings = Settings.from_env({"MODELSLAB_API_KEY": KEY})

    texts = [*renderings(settings), str(dataclasses.asdict(settings))]

    assert all(KEY not in text for text in texts)
    assert "Secret('********')" in repr(settings)


def test_given_settings_logged_then_the_record_does_not_show_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings.from_env({"MODELSLAB_API_KEY": KEY})

    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("starting with %s / %r", settings, settings.api_key)

    assert caplog.records
    assert KEY not in caplog.text


def test_given_a_secret_then_reveal_and_require_give_the_key_back() -> None:
    settings = Settings.from_env({"MODELSLAB_API_KEY": KEY})

    assert settings.api_key is not None
    assert settings.api_key.reveal() == KEY
    assert settings.require_api_key() == KEY


def test_given_two_secrets_then_equal_by_value_and_never_equal_to_the_plain_string() -> None:
    assert Secret(KEY) == Secret(KEY)
    assert hash(Secret(KEY)) == hash(Secret(KEY))
    assert Secret(KEY) != Secret(KEY + "x")
    assert Secret(KEY) != KEY
