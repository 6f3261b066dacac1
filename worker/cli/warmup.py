"""``reloadctl warmup``: start a batch by task name, optionally follow it to its summary.

The command talks to the system through a ``Batches`` object: ``CeleryBatches``
(``send_task("warmup_batch")``, the ledger's counts, the batch's result) unless the caller
passes another as click's ``obj`` (the tests, without a broker or a worker). Errors become one
line on stderr and an exit code (0, 1, 2 or 130, listed in the command's help).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, runtime_checkable

import click
from celery import states

from worker.cli.options import timeout_option

if TYPE_CHECKING:
    from celery import Celery

    from worker.batch.ledger import Ledger

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "Batches",
    "CeleryBatches",
    "Rejected",
    "Unavailable",
    "warmup",
]

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
START_POLL_SECONDS = 0.1


class Rejected(Exception):
    """The workers refused the request (the task failed); nothing was started."""


class Unavailable(Exception):
    """The command could not complete: broker or Redis unreachable, no worker answered."""


@runtime_checkable
class Batches(Protocol):
    """What ``warmup`` needs from the system: start a batch, read its progress and summary."""

    @property
    def max_batch(self) -> int:
        """The most models one batch may have (``RELOAD_MAX_BATCH``)."""
        ...

    def start(
        self,
        model_ids: list[str],
        callback_url: str | None,
        *,
        timeout: float,
        priority: str = "normal",
    ) -> str:
        """Enqueue ``warmup_batch`` and wait for its batch id.

        Parameters:
            model_ids: the checked, unique ids.
            callback_url: the webhook's URL, or None.
            timeout: seconds to wait for a worker's answer.
            priority: ``"normal"`` or ``"high"``.

        Returns:
            The batch id.

        Raises:
            Rejected: the workers refused the request.
            Unavailable: the broker or Redis is unreachable, or no worker answered in time.
        """
        ...

    def counts(self, batch_id: str) -> dict[str, int]:
        """Models per state now.

        Raises:
            Unavailable: Redis cannot be reached.
        """
        ...

    def summary(self, batch_id: str) -> dict[str, Any] | None:
        """The batch summary once every model is final, else ``None``.

        Raises:
            Unavailable: Redis or the result backend cannot be reached.
        """
        ...


def _connection_errors() -> tuple[type[BaseException], ...]:
    import redis
    from kombu.exceptions import OperationalError

    return (OperationalError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class CeleryBatches:
    """``Batches`` over the real system: the Celery app by task name, and the Redis ledger."""

    def __init__(self, app: Celery[Any], ledger: Ledger, *, max_batch: int) -> None:
        self._app = app
        self._ledger = ledger
        self._max_batch = max_batch

    @classmethod
    def from_environment(cls) -> CeleryBatches:
        """Built from ``worker.celery`` (a configuration error exits 2 with one line)."""
        from worker.celery import app, settings
        from worker.producer import producer_ledger

        return cls(app, producer_ledger(), max_batch=settings.max_batch)

    @property
    def max_batch(self) -> int:
        """The most models one batch may have (``RELOAD_MAX_BATCH``)."""
        return self._max_batch

    def start(
        self,
        model_ids: list[str],
        callback_url: str | None,
        *,
        timeout: float,
        priority: str = "normal",
    ) -> str:
        """Send ``warmup_batch`` by name and poll its result for the batch id (``Batches``)."""
        from worker.cli.errors import connection_problem

        kwargs: dict[str, str] = {"callback_url": callback_url} if callback_url else {}
        if priority != "normal":
            kwargs["priority"] = priority
        try:
            sent = self._app.send_task("warmup_batch", args=[model_ids], kwargs=kwargs)
        except Exception as exc:  # the result backend wraps a refused connection in RuntimeError
            problem = connection_problem(exc)
            if problem is None:
                raise
            raise Unavailable(self._unreachable(problem)) from None
        # The result is polled below, so drop the subscription send_task made now: left to
        # AsyncResult.__del__ at interpreter exit, it reconnects and prints a traceback.
        forget_subscription = getattr(self._app.backend, "remove_pending_result", None)
        if forget_subscription is not None:
            with contextlib.suppress(Exception):
                forget_subscription(sent)
        deadline = time.monotonic() + timeout
        while (meta := self._result_record(sent.id))["status"] not in states.READY_STATES:
            if time.monotonic() >= deadline:
                raise Unavailable(
                    f"no worker answered within {timeout:g}s: are the workers running "
                    f"(celery -A worker worker)? The request stays queued as task {sent.id} "
                    "and starts when a worker takes it"
                )
            time.sleep(START_POLL_SECONDS)
        if meta["status"] != states.SUCCESS:
            raise Rejected(str(meta["result"]) or type(meta["result"]).__name__)
        batch_id = meta["result"]
        if not isinstance(batch_id, str):
            raise Unavailable(f"warmup_batch answered {batch_id!r}, not a batch id")
        return batch_id

    def counts(self, batch_id: str) -> dict[str, int]:
        """Models per state now, from the ledger (``Batches.counts``)."""
        try:
            return self._ledger.counts(batch_id)
        except _connection_errors() as exc:
            raise Unavailable(self._ledger_unreachable(exc)) from None

    def summary(self, batch_id: str) -> dict[str, Any] | None:
        """The summary from the result record, else from the ledger (``Batches.summary``)."""
        meta = self._result_record(batch_id)
        if meta["status"] == states.SUCCESS:
            value = meta["result"]
            if not isinstance(value, dict):
                raise Unavailable(f"batch {batch_id} ended with {value!r}, not a summary")
            return value
        if meta["status"] in states.EXCEPTION_STATES:
            raise Unavailable(f"completing batch {batch_id} failed: {meta['result']!r}")
        try:
            # Done in the ledger a moment before the callback's result is stored.
            return self._ledger.summary(batch_id)
        except _connection_errors() as exc:
            raise Unavailable(self._ledger_unreachable(exc)) from None

    def _result_record(self, task_id: str) -> dict[str, Any]:
        """The task's result record (what ``AsyncResult(task_id).get()`` reads), not cached."""
        from worker.cli.errors import connection_problem

        try:
            meta: dict[str, Any] = self._app.backend.get_task_meta(task_id, cache=False)
        except Exception as exc:
            problem = connection_problem(exc)
            if problem is None:
                raise
            raise Unavailable(self._unreachable(problem, "the result backend")) from None
        return meta

    def _ledger_unreachable(self, problem: BaseException) -> str:
        from worker.cli.errors import client_url, describe_unreachable

        return describe_unreachable(problem, client_url(getattr(self._ledger, "client", None)))

    def _unreachable(self, problem: BaseException, what: str = "Redis") -> str:
        """One line naming the URL (password masked) that could not be reached."""
        from worker.cli.errors import describe_unreachable

        conf = getattr(self._app, "conf", None)
        broker = str(getattr(conf, "broker_url", None) or "?")
        backend = str(getattr(conf, "result_backend", None) or "?")
        url = backend if what == "the result backend" else broker
        if what == "Redis" and (broker == "?" or broker != backend.split("+")[-1]):
            what = "the broker or Redis"
        return describe_unreachable(problem, url, what)


def _fail(ctx: click.Context, message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    ctx.exit(code)


def _print_batch_id(batch_id: str, as_json: bool) -> None:
    click.echo(json.dumps({"batch_id": batch_id}) if as_json else batch_id)


@click.command()
@click.argument("model_ids", nargs=-1, metavar="MODEL...")
@click.option(
    "--file",
    "-f",
    "file",
    metavar="PATH|-",
    help="Also read ids from PATH (- for stdin), one per line; blank and # lines are skipped.",
)
@click.option("--wait", is_flag=True, help="Show progress until every model is final.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--callback-url", metavar="URL", help="POST the batch summary here when done.")
@click.option(
    "--priority",
    type=click.Choice(["normal", "high"]),
    default="normal",
    show_default=True,
    help="high: overtakes normal batches in the queue and in the limiter.",
)
@timeout_option("accept the batch")
@click.pass_context
def warmup(
    ctx: click.Context,
    model_ids: tuple[str, ...],
    file: str | None,
    wait: bool,
    as_json: bool,
    callback_url: str | None,
    priority: str,
    timeout: float,
) -> None:
    """Warm the given models as one batch and print its batch id.

    The ids (MODEL arguments, then those in --file) are checked here before
    anything is sent; duplicates collapse. With --wait, progress goes to stderr
    and the summary to stdout.

    Exit codes: 0 enqueued, or (with --wait) all warm; 1 some model failed, or the
    command could not complete (broker/Redis unreachable, no worker answered
    within --timeout); 2 bad input or the workers rejected the batch;
    130 interrupted (the batch keeps running).
    """
    from worker.batch.completion import InvalidBatch, check_batch
    from worker.cli.input import InputError, collect_ids

    try:
        given = collect_ids(model_ids, file, stdin=getattr(sys.stdin, "buffer", None))
    except InputError as exc:
        _fail(ctx, str(exc), EXIT_BAD_INPUT)
    batches = ctx.obj if isinstance(ctx.obj, Batches) else CeleryBatches.from_environment()
    try:
        ids = check_batch(given.ids, callback_url, max_batch=batches.max_batch)
    except InvalidBatch as exc:
        _fail(ctx, given.explain(str(exc)), EXIT_BAD_INPUT)
    if len(ids) < len(given.ids):
        click.echo(f"note: {len(given.ids) - len(ids)} duplicate id(s) ignored", err=True)
    try:
        batch_id = batches.start(ids, callback_url, timeout=timeout, priority=priority)
    except Rejected as exc:
        _fail(ctx, str(exc), EXIT_BAD_INPUT)
    except Unavailable as exc:
        _fail(ctx, str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        _fail(
            ctx, "interrupted before a worker answered; the batch may still start", EXIT_INTERRUPTED
        )
    if not wait:
        _print_batch_id(batch_id, as_json)
        return
    from worker.cli.progress import render_summary, summary_exit_code

    summary = _follow(ctx, batches, batch_id, len(ids), as_json)
    click.echo(json.dumps(summary, indent=2) if as_json else render_summary(summary))
    ctx.exit(summary_exit_code(summary))


def _follow(
    ctx: click.Context, batches: Batches, batch_id: str, total: int, as_json: bool
) -> dict[str, Any]:
    """Progress on stderr until the summary arrives; Ctrl-C leaves the batch running."""
    from worker.cli.progress import open_display, watch_batch

    try:
        with open_display() as display:
            return watch_batch(
                batch_id,
                total,
                counts=lambda: batches.counts(batch_id),
                summary=lambda: batches.summary(batch_id),
                display=display,
            )
    except KeyboardInterrupt:
        _print_batch_id(batch_id, as_json)
        click.echo(
            f"interrupted: batch {batch_id} keeps running; follow it with "
            f"'reloadctl status {batch_id}'",
            err=True,
        )
        ctx.exit(EXIT_INTERRUPTED)
    except Unavailable as exc:
        _fail(ctx, f"{exc}; batch {batch_id} keeps running", EXIT_FAILED)
