"""The upstream simulator: a fake ModelsLab ``model_reload`` endpoint with a ledger.

It implements ``shared/UPSTREAM.md``: models that are cold, loading or warm,
per-key queued-request and per-second limits, injected faults, and an exact
ledger of what it saw, readable over HTTP. One concept per module:

- :mod:`~worker.sim.config`: the frozen :class:`SimConfig` of every knob;
- :mod:`~worker.sim.clock`: the injectable clock;
- :mod:`~worker.sim.models`: model states and reloads;
- :mod:`~worker.sim.limits`: per-key admission (queue and per-second limits);
- :mod:`~worker.sim.faults`: fault drawing and fault replies;
- :mod:`~worker.sim.replies`: the normal answers;
- :mod:`~worker.sim.ledger`: what the upstream experienced;
- :mod:`~worker.sim.simulator`: the above combined, without HTTP;
- :mod:`~worker.sim.server`: the aiohttp application and ``run``;
- :mod:`~worker.sim.process`: start and stop the simulator as a subprocess.

``reloadctl sim`` (or ``python -m worker.sim``) runs it.
"""

from worker.sim.config import FAULT_KINDS, ConfigError, SimConfig

__all__ = ["FAULT_KINDS", "ConfigError", "SimConfig"]
