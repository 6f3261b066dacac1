"""The dashboard beside a running system, for the integration tests: started by pid,
with basic auth, no API key in its environment, and a way to read its pages."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sandbox.embedded_redis import free_port
from sandbox.processes import CeleryProcess

USER, PASSWORD = "ops", "dashboard-test-secret"


@dataclass
class Dashboard:
    url: str
    process: CeleryProcess

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", auth=(USER, PASSWORD), timeout=10, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def start_dashboard(tmp_path: Path) -> Iterator[Callable[[Mapping[str, str]], Dashboard]]:
    """Start ``reloadctl dashboard`` with a worker's environment less the API key."""
    started: list[CeleryProcess] = []

    def start(env: Mapping[str, str]) -> Dashboard:
        port = free_port()
        own = {k: v for k, v in env.items() if k != "MODELSLAB_API_KEY"}
        own["RELOAD_DASHBOARD_AUTH"] = f"{USER}:{PASSWORD}"
        process = CeleryProcess.dashboard(own, port=port, log_path=tmp_path / "dashboard.log")
        process.start()
        started.append(process)
        process.wait_for_log("dashboard: http", timeout=30)
        return Dashboard(f"http://127.0.0.1:{port}", process)

    yield start
    for process in started:
        process.terminate(timeout=10)
