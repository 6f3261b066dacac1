"""``reloadctl dashboard``: the batch dashboard and ``/metrics`` (``worker.dashboard``).

Reads Redis only (``REDIS_URL``) and never builds the Celery app, so any number
of dashboards can run beside any number of workers. Refuses to start without
``RELOAD_DASHBOARD_AUTH=user:password`` (one line, exit 2).
"""

from __future__ import annotations

import os

import click
from aiohttp import web

from worker import producer
from worker.cli.setup import settings
from worker.dashboard.app import build_app
from worker.dashboard.auth import AuthNotSet, credentials_from_env
from worker.dashboard.sources import Sources

__all__ = ["dashboard"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
def dashboard(host: str, port: int) -> None:
    """Serve the batch dashboard and /metrics (basic auth: RELOAD_DASHBOARD_AUTH=user:password).

    FLOWER_URL (optional) links each model to its task in Flower.
    """
    try:
        credentials = credentials_from_env(os.environ)
    except AuthNotSet as exc:
        click.echo(f"error: {exc}", err=True)
        raise click.exceptions.Exit(2) from None
    settings()
    sources = Sources.of(producer.redis_client(), producer.redis_clock())
    sources.clock()  # Redis unreachable: one line and exit 1 (reloadctl's own handling)
    flower_url = os.environ.get("FLOWER_URL", "").strip() or None
    app = build_app(sources, credentials, flower_url=flower_url)
    click.echo(f"dashboard: http://{host}:{port}/  (basic auth as {credentials.user}; /metrics)")
    web.run_app(app, host=host, port=port, print=None, access_log=None)
