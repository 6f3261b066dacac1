"""``reloadctl cancel BATCH_ID``: stop a batch's pending models, by task name.

It sends ``cancel_batch`` to the workers (as any outside service would) and prints what was
cancelled. A model another live batch also wants goes on for that batch; a call in progress is
not interrupted. Exit codes: 0 cancelled (or already finished); 1 the broker or Redis
unreachable, or no worker answered within ``--timeout``; 2 no such batch (or a bad id).
"""

from __future__ import annotations

import json
from typing import Any

import click

from worker.cli.options import timeout_option

__all__ = ["cancel"]


@click.command()
@click.argument("batch_id")
@click.option("--json", "as_json", is_flag=True, help="Print the workers' answer as JSON.")
@timeout_option("answer")
@click.pass_context
def cancel(ctx: click.Context, batch_id: str, as_json: bool, timeout: float) -> None:
    """Cancel BATCH_ID: its models that are not final stop, and its summary arrives."""
    from celery.exceptions import TimeoutError as CeleryTimeout

    from worker.celery import app

    sent = app.send_task("cancel_batch", args=[batch_id])
    try:
        answer: Any = sent.get(timeout=timeout, propagate=False)
    except CeleryTimeout:
        click.echo(
            f"error: no worker answered within {timeout:g}s (the request stays queued)", err=True
        )
        ctx.exit(1)
    if sent.failed():
        click.echo(f"error: {answer}", err=True)
        ctx.exit(2)
    if as_json:
        click.echo(json.dumps(answer, indent=2))
    elif answer.get("finished"):
        click.echo(f"batch {batch_id} had finished: nothing changed")
    else:
        count = len(answer.get("cancelled", []))
        click.echo(f"batch {batch_id}: {count} model(s) cancelled; its summary follows")
