"""``python -m worker.sim``: the same command as ``reloadctl sim``."""

from worker.cli.sim import sim

sim(prog_name="python -m worker.sim")
