"""Options that several ``reloadctl`` commands share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "timeout_option"]

DEFAULT_TIMEOUT_SECONDS = 60.0


def timeout_option(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--timeout SECONDS``: how long to wait for a worker to ``what``."""
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=DEFAULT_TIMEOUT_SECONDS,
        show_default=True,
        metavar="SECONDS",
        help=f"How long to wait for a worker to {what}.",
    )
