"""``reloadctl``: the command line of the reload worker.

Each sub-command lives in its own module of this package (``demo`` and
``sim`` in the local tooling, ``sandbox``); this module only assembles the
group, importing each command lazily so that ``reloadctl sim`` does not pay
for importing Celery, and so that a production install without the sandbox
extra still runs every other command.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

# command name -> "module:attribute"
_COMMANDS = {
    "cancel": "worker.cli.cancel:cancel",
    "dashboard": "worker.cli.dashboard:dashboard",
    "demo": "sandbox.demo:demo",
    "sim": "sandbox.sim.cli:sim",
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
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if not module_name.startswith("sandbox") or exc.name is None:
                raise
            return _needs_sandbox(cmd_name, exc.name)
        command: Any = getattr(module, attribute)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        """Redis or the broker unreachable ends any command with one line and exit code 1."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise  # the command's own ending (click.exceptions.Exit is a RuntimeError)
        except Exception as exc:
            from worker.cli.errors import connection_problem, describe_unreachable, state_url

            problem = connection_problem(exc)
            if problem is None:
                raise
            click.echo(f"error: {describe_unreachable(problem, state_url())}", err=True)
            ctx.exit(1)


def _needs_sandbox(name: str, missing: str) -> click.Command:
    """A stand-in for a sandbox command on an install without the sandbox extra."""

    def explain(args: tuple[str, ...]) -> None:
        click.echo(
            f"error: 'reloadctl {name}' is local tooling and needs the sandbox extra "
            f"({missing} is not installed): pip install 'modelslab-reload-worker[sandbox]'",
            err=True,
        )
        raise click.exceptions.Exit(2)

    return click.Command(
        name,
        callback=explain,
        context_settings={"ignore_unknown_options": True},
        params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
        help="Needs the sandbox extra.",
    )


@click.group(cls=_LazyGroup)
@click.version_option(package_name="modelslab-reload-worker")
def main() -> None:
    """Warm ModelsLab Dreambooth models in bulk, under one account-wide limit."""
