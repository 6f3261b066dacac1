"""The settings of a ``reloadctl`` command: read from the environment once, handed to the wiring.

A command that needs only Redis (``status``, ``dashboard``) calls ``settings()``
and never builds the Celery app; a command that sends tasks imports
``worker.celery``, which does the same at import.
"""

from __future__ import annotations

import click

from worker import producer
from worker.settings import ConfigError, Settings

__all__ = ["settings"]


def settings() -> Settings:
    """This process's settings, read from the environment and configured on first call.

    Returns:
        The settings ``worker.producer`` was configured with.

    Raises:
        click.exceptions.Exit: with code 2 after one line naming the bad variable.
    """
    if not producer.configured():
        try:
            producer.configure(Settings.from_env())
        except ConfigError as exc:
            click.echo(f"configuration error: {exc}", err=True)
            raise click.exceptions.Exit(2) from None
    return producer.settings()
