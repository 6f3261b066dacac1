"""``reloadctl sim``: run the upstream simulator (a fake ModelsLab reload endpoint)."""

from __future__ import annotations

import logging
import sys

import click

from sandbox.sim.config import FAULT_KINDS, SimConfig, SimConfigError, parse_fault

_NON_NEGATIVE = click.FloatRange(min=0.0)


def _id_list(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> frozenset[str]:
    """Split repeated, comma-separated model ids; blanks are dropped."""
    return frozenset(part.strip() for item in value for part in item.split(",") if part.strip())


def _fault_table(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> dict[str, float]:
    """Parse repeated ``--fault KIND=P`` into a table; a bad or repeated kind is a usage error."""
    table: dict[str, float] = {}
    for text in value:
        try:
            kind, probability = parse_fault(text)
        except SimConfigError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
        if kind in table:
            raise click.BadParameter(f"fault {kind} given twice", ctx=ctx, param=param)
        table[kind] = probability
    return table


@click.command()
@click.option(
    "--key",
    "keys",
    multiple=True,
    required=True,
    metavar="KEY",
    help="An API key the simulator accepts (repeatable; at least one).",
)
@click.option(
    "--reload-seconds",
    type=_NON_NEGATIVE,
    default=120.0,
    show_default=True,
    help="How long a cold model takes to load, in simulated seconds.",
)
@click.option(
    "--jitter",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=0.0,
    show_default=True,
    help="Reload time varies uniformly by +- this fraction (seeded).",
)
@click.option(
    "--warm",
    multiple=True,
    callback=_id_list,
    metavar="IDS",
    help="Comma-separated model ids that start warm (repeatable).",
)
@click.option(
    "--warm-fraction",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    show_default=True,
    help="Fraction of the other ids that start warm, chosen by hashing id and seed.",
)
@click.option(
    "--unknown",
    multiple=True,
    callback=_id_list,
    metavar="IDS",
    help="Comma-separated model ids that do not exist (404); every other id exists.",
)
@click.option(
    "--queue-limit",
    type=click.IntRange(min=1),
    default=None,
    help="Per-key limit on queued (concurrent) requests; over it a 429. Default: none.",
)
@click.option(
    "--loading-counts/--no-loading-counts",
    default=False,
    show_default=True,
    help="Whether models a key has loading count towards its queue limit.",
)
@click.option(
    "--rps-limit",
    type=click.IntRange(min=1),
    default=None,
    help="Per-key limit on requests admitted in any 1 s sliding window. Default: none.",
)
@click.option(
    "--latency",
    type=_NON_NEGATIVE,
    default=0.0,
    show_default=True,
    help="Seconds (simulated) before each non-fault answer.",
)
@click.option(
    "--latency-jitter",
    type=_NON_NEGATIVE,
    default=0.0,
    show_default=True,
    help="Latency varies uniformly by +- this many seconds (never below 0).",
)
@click.option(
    "--retry-after",
    type=_NON_NEGATIVE,
    default=30.0,
    show_default=True,
    help="Seconds (simulated) sent as retry_after with a 429.",
)
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0.0, min_open=True),
    default=1.0,
    show_default=True,
    help="Divide every simulated duration (reload, latency, retry_after, eta) by this.",
)
@click.option(
    "--errors-on-200/--errors-on-status",
    "errors_on_200",
    default=False,
    show_default=True,
    help="Answer a bad key and an unknown model with HTTP 200, status error and the legacy "
    "messege field (as many ModelsLab endpoints do) instead of 401/404.",
)
@click.option(
    "--eta/--no-eta",
    default=True,
    show_default=True,
    help="Whether a 'processing' answer carries eta (real seconds left).",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    callback=_fault_table,
    metavar="KIND=P",
    help=f"Inject fault KIND with probability P (repeatable; sum <= 1). "
    f"Kinds: {', '.join(FAULT_KINDS)}.",
)
@click.option(
    "--timeout-hold",
    type=_NON_NEGATIVE,
    default=120.0,
    show_default=True,
    help="Real seconds a 'timeout' fault holds the request (then a 504) unless the client leaves.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random choice.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port to listen on; 0 picks a free one. The URL is printed as the first stdout line.",
)
@click.option(
    "--log-requests",
    is_flag=True,
    default=False,
    help="Log every reload call to stderr (slows the simulator down).",
)
def sim(**options: object) -> None:
    """Run the upstream simulator until SIGINT or SIGTERM.

    It serves POST /model_reload (also under /api/v4/dreambooth and
    /api/v6/images) and the control routes /_sim/ledger, /_sim/reset,
    /_sim/config and /_sim/models/ID. The first line on stdout is
    "simulator listening on URL".
    """
    from sandbox.sim.server import run  # aiohttp is imported only when the command runs

    try:
        config = SimConfig(**options)  # type: ignore[arg-type]
    except SimConfigError as exc:
        raise click.UsageError(str(exc)) from None
    if config.log_requests:
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        code = run(config)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {config.host}:{config.port}: {exc}") from None
    sys.exit(code)
