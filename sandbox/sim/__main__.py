"""``python -m sandbox.sim``: the same command as ``reloadctl sim``."""

from sandbox.sim.cli import sim

sim(prog_name="python -m sandbox.sim")
