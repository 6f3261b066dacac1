"""Given RELOAD_DASHBOARD_AUTH, every route needs its credentials; without it, no dashboard."""

from __future__ import annotations

import pytest
from aiohttp import encode_basic_auth

from tests.unit.dashboard.conftest import Board
from worker.dashboard.auth import ENV, AuthNotSet, Credentials, credentials_from_env


@pytest.mark.parametrize("value", ["", "   ", "no-colon", ":password", "user:"])
def test_a_missing_or_malformed_setting_refuses_with_one_line_naming_it(value: str) -> None:
    with pytest.raises(AuthNotSet) as caught:
        credentials_from_env({ENV: value} if value else {})

    message = str(caught.value)
    assert ENV in message and "\n" not in message


def test_the_password_may_hold_colons_and_is_never_in_the_repr() -> None:
    credentials = credentials_from_env({ENV: "ops:pa:ss"})

    assert credentials == Credentials("ops", "pa:ss")
    assert "pa:ss" not in repr(credentials)


@pytest.mark.parametrize("path", ["/", "/api/overview", "/batch/b1", "/api/batch/b1", "/metrics"])
def test_every_route_answers_401_with_a_basic_challenge_without_credentials(
    board: Board, path: str
) -> None:
    status, body, headers = board.get(path)

    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Basic realm=")
    assert ENV in body


def test_wrong_credentials_are_refused_and_right_ones_let_the_page_through(board: Board) -> None:
    assert board.get("/", auth=("ops", "wrong"))[0] == 401
    assert board.get("/", auth=("other", "dash-secret"))[0] == 401
    assert board.get("/", auth=("ops", "dash-secret"))[0] == 200


def test_a_garbled_authorization_header_is_refused_not_an_error() -> None:
    credentials = Credentials("ops", "dash-secret")

    assert not credentials.accepts("Basic !!!not-base64")
    assert not credentials.accepts("Bearer abc")
    assert not credentials.accepts(None)
    assert credentials.accepts(encode_basic_auth("ops", "dash-secret"))
