"""``reloadctl status``: a batch's ledger, for people (a table) or programs (``--json``).

The ledger comes from ``worker.producer`` unless the caller passes a ``Ledger`` as click's
``obj`` (the tests, over fakeredis). Models are listed failures first, then those working,
then the warm ones; the table stops after ``TABLE_LIMIT`` rows unless ``--all``. Unreadable
messages kept aside and tasks stranded on the default queue ``celery`` are reported too.
Exit codes: 0 shown; 1 Redis unreachable; 2 no such batch (or a configuration error).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import click

from worker.constants import DEADLETTER_KEY

if TYPE_CHECKING:
    from worker.batch.ledger import Ledger
    from worker.messaging.strays import Strays

__all__ = [
    "TABLE_LIMIT",
    "BatchStatus",
    "ordered_models",
    "print_rich",
    "read_status",
    "render_plain",
    "status",
]

TABLE_LIMIT = 50
_ORDER = {"failed": 0, "reloading": 1, "waiting": 2, "queued": 3, "cancelled": 4, "warm": 5}
_STYLES = {
    "cancelled": "magenta",
    "failed": "red",
    "reloading": "cyan",
    "waiting": "yellow",
    "queued": "dim",
    "warm": "green",
}
_INT_FIELDS = ("total", "launched")
_FLOAT_FIELDS = ("created_at", "last_final_at", "claim_until")


@dataclass(frozen=True)
class BatchStatus:
    """One batch as the ledger holds it; ``models`` is in the batch's order."""

    batch_id: str
    meta: dict[str, Any]
    counts: dict[str, int]
    models: dict[str, dict[str, Any]]
    summary: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        """What ``--json`` prints: ``batch_id``, ``meta``, ``counts``, ``models``, ``summary``."""
        return {
            "batch_id": self.batch_id,
            "meta": self.meta,
            "counts": self.counts,
            "models": self.models,
            "summary": self.summary,
        }


def read_status(ledger: Ledger, batch_id: str) -> BatchStatus | None:
    """The batch's ledger, with typed fields.

    Parameters:
        ledger: the batch ledger.
        batch_id: the batch.

    Returns:
        Its status, or ``None`` if there is no such batch.
    """
    raw = ledger.meta(batch_id)
    if not raw:
        return None
    meta: dict[str, Any] = {k: v for k, v in raw.items() if k != "summary"}
    for name in _INT_FIELDS:
        if name in meta:
            meta[name] = int(meta[name])
    for name in _FLOAT_FIELDS:
        if name in meta:
            meta[name] = float(meta[name])
    meta["ids"] = json.loads(meta.get("ids") or "[]")
    found = ledger.models(batch_id)
    ordered = {m: found[m] for m in meta["ids"] if m in found}
    ordered.update((m, record) for m, record in found.items() if m not in ordered)
    return BatchStatus(batch_id, meta, ledger.counts(batch_id), ordered, ledger.summary(batch_id))


def ordered_models(models: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, Mapping[str, Any]]]:
    """Failed first, then reloading, waiting, queued, cancelled, and warm last; batch order within.

    Parameters:
        models: model id -> its ledger record (``state``, ``reason``, ``at``, ``calls``).

    Returns:
        ``(model id, record)`` pairs; an unknown state sorts with the warm ones.
    """
    rows = list(models.items())
    return sorted(rows, key=lambda row: _ORDER.get(str(row[1].get("state")), 5))


def _when(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _offset(record: Mapping[str, Any], created_at: float | None) -> str:
    from worker.cli.progress import format_duration

    at = record.get("at")
    if not isinstance(at, int | float) or created_at is None:
        return ""
    return "+" + format_duration(float(at) - created_at)


def header_lines(view: BatchStatus) -> list[str]:
    """The batch's status, creation time, counts, and (when done) how it ended."""
    from worker.cli.progress import format_duration

    meta = view.meta
    created = meta.get("created_at")
    lines = [
        f"batch {view.batch_id}: {meta.get('status', '?')}, "
        f"{meta.get('total', len(view.models))} models, "
        f"priority {meta.get('priority') or 'normal'}, "
        f"created {_when(created) if created is not None else '?'}",
        "  ".join(
            f"{state} {count}"
            for state, count in view.counts.items()
            if count or state != "cancelled"  # cancelled only once a batch was cancelled
        ),
    ]
    if view.summary is not None:
        parts = []
        if view.summary.get("duration_s") is not None:
            parts.append(f"finished in {format_duration(float(view.summary['duration_s']))}")
        if view.summary.get("upstream_calls") is not None:
            parts.append(f"{view.summary['upstream_calls']} upstream calls")
        lines.append(", ".join(parts))
    if meta.get("callback_url"):
        lines.append(f"callback {meta['callback_url']}: {meta.get('webhook', 'not sent yet')}")
    return [line for line in lines if line]


def _rows(view: BatchStatus, show_all: bool) -> tuple[list[tuple[str, str, str, str]], int]:
    rows = ordered_models(view.models)
    hidden = 0 if show_all else max(0, len(rows) - TABLE_LIMIT)
    shown = rows if show_all else rows[:TABLE_LIMIT]
    created = view.meta.get("created_at")
    return [
        (model_id, str(r.get("state", "?")), _offset(r, created), str(r.get("reason") or ""))
        for model_id, r in shown
    ], hidden


def render_plain(view: BatchStatus, *, show_all: bool = False) -> str:
    """The whole status as plain text: header, then an aligned table of models.

    Parameters:
        view: the batch, from ``read_status``.
        show_all: list every model, not the first ``TABLE_LIMIT``.
    """
    rows, hidden = _rows(view, show_all)
    table = [("MODEL", "STATE", "AT", "REASON"), *rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    lines = [*header_lines(view), ""]
    for row in table:
        cells = [row[i].ljust(widths[i]) for i in range(3)]
        lines.append("  ".join([*cells, row[3]]).rstrip())
    if hidden:
        lines.append(f"… {hidden} more (--all lists every model)")
    return "\n".join(lines)


def print_rich(view: BatchStatus, stream: TextIO, *, show_all: bool) -> None:
    """The whole status as a rich table on ``stream`` (a terminal).

    Parameters:
        view: the batch, from ``read_status``.
        stream: where the table is printed.
        show_all: list every model, not the first ``TABLE_LIMIT``.
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=stream, highlight=False)
    for line in header_lines(view):
        console.print(Text(line))
    rows, hidden = _rows(view, show_all)
    table = Table("model", "state", "at", "reason")
    for model_id, state, at, reason in rows:
        table.add_row(Text(model_id), Text(state, style=_STYLES.get(state, "")), at, Text(reason))
    console.print(table)
    if hidden:
        console.print(Text(f"… {hidden} more (--all lists every model)", style="dim"))


@click.command()
@click.argument("batch_id")
@click.option("--json", "as_json", is_flag=True, help="Print meta, counts, models and summary.")
@click.option(
    "--all", "show_all", is_flag=True, help=f"List every model, not the first {TABLE_LIMIT}."
)
@click.pass_context
def status(ctx: click.Context, batch_id: str, as_json: bool, show_all: bool) -> None:
    """Show a batch's ledger: its status, counts per state and each model's state.

    Exit codes: 0 shown; 1 Redis unreachable; 2 no such batch.
    """
    import redis

    from worker.batch.ledger import Ledger
    from worker.messaging.deadletter import DeadLetters

    if isinstance(ctx.obj, Ledger):
        ledger = ctx.obj
    else:
        from worker.cli.setup import settings
        from worker.producer import producer_ledger

        settings()
        ledger = producer_ledger()
    try:
        view = read_status(ledger, batch_id)
        dead_letters = DeadLetters(ledger.client).count()
        strays = _strays(ledger, ctx.obj is ledger)
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        from worker.cli.errors import client_url, describe_unreachable

        click.echo(f"error: {describe_unreachable(exc, client_url(ledger.client))}", err=True)
        ctx.exit(1)
    if view is None:
        click.echo(f"error: no batch {batch_id}", err=True)
        if strays is not None and strays.counts:
            click.echo(f"warning: {strays.describe()}", err=True)
        ctx.exit(2)
    if as_json:
        stranded = dict(strays.counts) if strays is not None else {}
        click.echo(
            json.dumps(
                {
                    **view.to_json(),
                    "deadletter_count": dead_letters,
                    "stranded_on_default_queue": stranded,
                },
                indent=2,
            )
        )
        return
    if sys.stdout.isatty():
        print_rich(view, sys.stdout, show_all=show_all)
    else:
        click.echo(render_plain(view, show_all=show_all))
    if strays is not None and strays.counts:
        click.echo(f"warning: {strays.describe()}")
    if dead_letters:
        messages = "message" if dead_letters == 1 else "messages"
        click.echo(
            f"dead-letter: {dead_letters} unreadable broker {messages} kept in {DEADLETTER_KEY} "
            "(LRANGE to read them)"
        )


def _strays(ledger: Ledger, given: bool) -> Strays | None:
    """This project's tasks waiting on the default queue ``celery`` (``None``: not Redis).

    The broker is the ledger's Redis when the caller passed the ledger or the URLs match.
    """
    from worker.messaging.strays import broker_redis, find_strays

    if given:
        return find_strays(ledger.client, _TASK_NAMES)
    from worker.cli.setup import settings as command_settings

    settings = command_settings()
    names = _TASK_NAMES
    if settings.broker_url == settings.redis_url:
        return find_strays(ledger.client, names)
    client = broker_redis(settings.broker_url, settings.sentinel)
    if client is None:
        return None
    try:
        return find_strays(client, names)
    finally:
        client.close()


# This project's task names: the public ones of docs/design.md, and beat's keep_warm.
_TASK_NAMES = frozenset(
    {"reload_model", "warmup_batch", "cancel_batch", "batch_status", "keep_warm"}
)
