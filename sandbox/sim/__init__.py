"""The upstream simulator: a fake ModelsLab ``model_reload`` endpoint with a ledger.

It implements ``docs/upstream.md``: models that are cold, loading or warm,
per-key queued-request and per-second limits, injected faults, and an exact
ledger of what it saw, readable over HTTP. One concept per module:

- :mod:`~sandbox.sim.config`: the frozen :class:`SimConfig` of every knob;
- :mod:`~sandbox.sim.clock`: the injectable clock;
- :mod:`~sandbox.sim.models`: model states and reloads;
- :mod:`~sandbox.sim.limits`: per-key admission (queue and per-second limits);
- :mod:`~sandbox.sim.faults`: fault drawing and fault replies;
- :mod:`~sandbox.sim.replies`: the normal answers;
- :mod:`~sandbox.sim.ledger`: what the upstream experienced;
- :mod:`~sandbox.sim.simulator`: the above combined, without HTTP;
- :mod:`~sandbox.sim.server`: the aiohttp application and ``run``;
- :mod:`~sandbox.sim.process`: start and stop the simulator as a subprocess.

``reloadctl sim`` (or ``python -m sandbox.sim``) runs it.
"""

from sandbox.sim.config import FAULT_KINDS, ConfigError, SimConfig

__all__ = ["FAULT_KINDS", "ConfigError", "SimConfig"]
