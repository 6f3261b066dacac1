"""Given the Redis broker, a killed worker's unacked messages are swept back every few seconds."""

from __future__ import annotations

from worker.celery import RESTORE_SWEEP_SECONDS, celery_config
from worker.settings import Settings


def test_the_broker_sweeps_for_abandoned_messages_every_few_seconds() -> None:
    settings = Settings()
    options = celery_config(settings)["broker_transport_options"]

    # kombu's default sweep period is interval x throttle = 10 x 10 s: recovery after a
    # SIGKILL would take up to 100 s past the visibility timeout.
    assert options["unacked_restore_interval"] * options["unacked_restore_throttle"] <= 5
    assert RESTORE_SWEEP_SECONDS <= 5
    assert options["visibility_timeout"] == int(settings.visibility_timeout) + 1
    assert (
        "unacked_restore_interval"
        not in celery_config(settings)["result_backend_transport_options"]
    )
