"""Start the upstream simulator for a test: ``with start_simulator("--key", "k") as url:``.

The simulator runs as a real child process (``reloadctl sim``'s command, via
``python -m sandbox.sim``) on a free port. On entry the context manager reads the
URL from the child's first stdout line and waits until it answers; on exit it
stops the child by its pid (SIGTERM, then SIGKILL), reaps it and closes its
pipes, whatever happened in the block. See :mod:`sandbox.sim.process`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from sandbox.sim.process import SimulatorProcess


@contextmanager
def start_simulator(*args: str) -> Iterator[str]:
    """Run ``reloadctl sim ARGS`` (``--port 0`` unless given) and yield its base URL."""
    with SimulatorProcess(args) as process:
        yield process.base_url


def ledger(base_url: str) -> dict[str, Any]:
    """The simulator's ledger (``GET /_sim/ledger``)."""
    response = httpx.get(f"{base_url}/_sim/ledger", timeout=5.0)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def configure(base_url: str, **changes: object) -> dict[str, Any]:
    """Change run-time knobs (``POST /_sim/config``); returns the config now in force."""
    response = httpx.post(f"{base_url}/_sim/config", json=changes, timeout=5.0)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data
