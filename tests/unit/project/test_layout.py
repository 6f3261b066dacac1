"""The layout's promises, run for real: commands that need only Redis never build the Celery
app, the wiring refuses to guess its settings, and an install without the sandbox extra says
which extra ``reloadctl demo`` needs. (``make lint`` checks the import graph itself.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sandbox.embedded_redis import EmbeddedRedis
from worker import producer


def _run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_given_a_batch_id_when_status_runs_then_it_reads_redis_without_the_celery_app(
    redis_server: EmbeddedRedis,
) -> None:
    code = """
import json, sys
from click.testing import CliRunner
from worker.cli import main
result = CliRunner().invoke(main, ["status", "no-such-batch", "--json"])
print(json.dumps({"exit": result.exit_code, "output": result.output,
                  "app": "worker.celery" in sys.modules, "tasks": "tasks" in sys.modules}))
"""
    done = _run(code, {"REDIS_URL": redis_server.url_for_db(15)})

    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["exit"] == 2, seen  # no such batch: it did read Redis
    assert "no-such-batch" in seen["output"]
    assert seen["app"] is False and seen["tasks"] is False


def test_given_no_settings_handed_over_then_the_wiring_raises_instead_of_exiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(producer, "_settings", None)
    monkeypatch.setattr(producer, "_clients", {})

    with pytest.raises(RuntimeError, match=r"configure\(settings\) was not called"):
        producer.redis_client()


def test_given_no_sandbox_installed_when_demo_runs_then_it_names_the_extra() -> None:
    code = """
import sys
sys.modules["sandbox"] = None  # as on the production image: the package is not installed
from click.testing import CliRunner
from worker.cli import main
result = CliRunner().invoke(main, ["demo"])
print(result.exit_code)
print(result.output)
"""
    done = _run(code, {})

    assert done.returncode == 0, done.stderr
    code_line, *message = done.stdout.splitlines()
    assert code_line == "2"
    assert "needs the sandbox extra" in "\n".join(message)
    assert "modelslab-reload-worker[sandbox]" in "\n".join(message)
