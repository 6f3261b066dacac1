"""``reloadctl``: the command line of the reload worker.

Each sub-command lives in its own module of this package; this module only
assembles the group, importing each command lazily so that ``reloadctl sim``
does not pay for importing Celery.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

# command name -> "module:attribute"
_COMMANDS = {
    "demo": "worker.cli.demo:demo",
    "sim": "worker.cli.sim:sim",
    "status": "worker.cli.status:status",
    "warmup": "worker.cli.warmup:warmup",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        command: Any = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_LazyGroup)
@click.version_option(package_name="modelslab-reload-worker")
def main() -> None:
    """Warm ModelsLab Dreambooth models in bulk, under one account-wide limit."""
