"""Given Redis unreachable (a port nothing listens on), reloadctl ends with one line and exit 1.

The line names the URL with its password masked; no traceback. Celery's result
backend wraps the refused connection in a RuntimeError (its reconnect limit),
which is recognised through the exception's causes.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery
from click.testing import CliRunner

from worker.batch.ledger import Ledger
from worker.cli import main
from worker.cli.errors import connection_problem, redact
from worker.cli.warmup import CeleryBatches
from worker.client import client_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(name="url")
def url_fixture() -> str:
    return f"redis://:s3cret@127.0.0.1:{free_port()}/0"


@pytest.fixture(name="app")
def app_fixture(url: str) -> Iterator[Celery]:
    app = client_app(url, url, name="unreachable")
    quick = {"max_retries": 1, "interval_start": 0, "interval_step": 0.05, "interval_max": 0.05}
    app.conf.result_backend_transport_options = {"retry_policy": quick}
    app.conf.broker_connection_max_retries = 1
    try:
        yield app
    finally:
        app.close()


def one_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


def test_warmup_with_redis_down_prints_one_line_naming_the_url_and_exits_1(
    app: Celery, url: str
) -> None:
    ledger = Ledger(redis.Redis.from_url(url, socket_connect_timeout=1))
    batches = CeleryBatches(app, ledger, max_batch=10)

    result = CliRunner().invoke(main, ["warmup", "m1"], obj=batches)

    assert result.exit_code == 1
    line = one_line(result.output)
    assert line.startswith(f"error: cannot reach Redis at {redact(url)}: ")
    assert "s3cret" not in result.output and ":***@" in line
    assert "Connection refused" in line


def test_status_with_redis_down_prints_one_line_and_exits_1(url: str) -> None:
    ledger = Ledger(redis.Redis.from_url(url, socket_connect_timeout=1))

    result = CliRunner().invoke(main, ["status", "some-batch"], obj=ledger)

    assert result.exit_code == 1
    assert one_line(result.output).startswith("error: cannot reach Redis at ")
    assert "s3cret" not in result.output


class _Wrapped:
    """A ``Batches`` whose start fails the way Celery's result backend does."""

    max_batch = 10

    def start(
        self,
        model_ids: list[str],
        callback_url: str | None,
        *,
        timeout: float,
        priority: str = "normal",
    ) -> str:
        try:
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")
        except redis.ConnectionError as exc:
            raise RuntimeError("\nRetry limit exceeded while trying to reconnect\n") from exc

    def counts(self, batch_id: str) -> dict[str, int]:
        raise AssertionError

    def summary(self, batch_id: str) -> dict[str, Any] | None:
        raise AssertionError


def test_any_command_failing_on_a_wrapped_connection_error_ends_with_one_line() -> None:
    result = CliRunner().invoke(main, ["warmup", "m1"], obj=_Wrapped())

    assert result.exit_code == 1
    assert one_line(result.output).startswith("error: cannot reach Redis at ")
    assert "Connection refused" in result.output


def test_other_errors_are_not_mistaken_for_an_unreachable_redis() -> None:
    try:
        try:
            raise KeyError("x")
        except KeyError as exc:
            raise RuntimeError("boom") from exc
    except RuntimeError as exc:
        assert connection_problem(exc) is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://user:pw@host:6379/0", "redis://user:***@host:6379/0"),
        ("amqp://guest:guest@rabbit:5672//", "amqp://guest:***@rabbit:5672//"),
        ("redis://host:6379/0", "redis://host:6379/0"),
        ("worker.messaging.results:ResultBackend+redis://:pw@h/1", "redis://:***@h/1"),
        (
            "sentinel://:a@h1:26379;sentinel://:b@h2:26379",
            "sentinel://:***@h1:26379;sentinel://:***@h2:26379",
        ),
    ],
)
def test_urls_are_shown_without_their_password(url: str, shown: str) -> None:
    assert redact(url) == shown
