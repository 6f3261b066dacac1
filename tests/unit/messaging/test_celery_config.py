"""The Celery configuration follows design rule 7 (docs/design.md) and never carries the API key."""

from __future__ import annotations

from worker.celery import app, celery_config
from worker.settings import Settings


def test_nothing_is_lost_when_a_worker_dies() -> None:
    config = celery_config(Settings.from_env({}))

    assert config["task_acks_late"] is True
    assert config["task_reject_on_worker_lost"] is True
    assert config["worker_prefetch_multiplier"] == 1


def test_visibility_timeout_depends_on_no_reload_setting() -> None:
    # Given very different waits, when the config is derived, then the broker's
    # visibility timeout is the same: no task waits in the broker or in a worker.
    short = celery_config(Settings.from_env({}))
    long = celery_config(
        Settings.from_env({"RELOAD_WARM_SECONDS": "600", "RELOAD_RATE_LIMIT": "300/h"})
    )

    timeout = short["broker_transport_options"]["visibility_timeout"]
    assert timeout == long["broker_transport_options"]["visibility_timeout"]
    assert short["result_backend_transport_options"]["visibility_timeout"] == timeout


def test_json_only_and_events_on_for_flower() -> None:
    config = celery_config(Settings.from_env({}))

    assert config["accept_content"] == ["json"]
    assert config["task_serializer"] == config["result_serializer"] == "json"
    assert config["worker_send_task_events"] is True
    assert config["task_send_sent_event"] is True
    assert config["result_expires"].total_seconds() >= 7 * 24 * 3600


def test_broker_and_backend_overrides() -> None:
    settings = Settings.from_env(
        {
            "REDIS_URL": "redis://state:6379/2",
            "CELERY_BROKER_URL": "amqp://guest:guest@rabbit:5672//",
        }
    )
    config = celery_config(settings)

    assert config["broker_url"] == "amqp://guest:guest@rabbit:5672//"
    assert config["result_backend"] == "worker.messaging.results:ResultBackend+redis://state:6379/2"


def test_the_api_key_is_not_in_the_configuration() -> None:
    config = celery_config(Settings.from_env({"MODELSLAB_API_KEY": "sk-do-not-show"}))

    assert "sk-do-not-show" not in repr(config)


def test_the_contract_task_names_are_registered() -> None:
    app.loader.import_default_modules()

    assert {"reload_model", "warmup_batch", "cancel_batch", "batch_status"} <= set(app.tasks)


def test_waiting_is_not_recorded_but_errors_are() -> None:
    """A task that only waits leaves no RETRY record (memory per model in flight)."""
    from celery import Celery

    from worker.messaging.results import ResultBackend, Waiting

    stored: list[str] = []

    class Recording(ResultBackend):
        def store_result(self, task_id: str, *args: object, **kwargs: object) -> None:
            stored.append(task_id)

    backend = Recording(app=Celery(set_as_current=False), url="redis://localhost:6379/0")
    backend.mark_as_retry("waits", Waiting("model loading"))
    backend.mark_as_retry("fails", RuntimeError("boom"))

    assert stored == ["fails"]
