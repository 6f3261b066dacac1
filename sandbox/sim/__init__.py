"""The upstream simulator: a fake ModelsLab ``model_reload`` endpoint with a call log.

It implements docs/upstream.md: models that are cold, loading or warm, per-key queued-request
and per-second limits, injected faults, and an exact log of what it saw, readable over HTTP.
``simulator`` combines the parts without HTTP, ``server`` serves it (aiohttp), ``process``
runs it as a child; ``reloadctl sim`` (or ``python -m sandbox.sim``) starts it.
"""

from sandbox.sim.config import FAULT_KINDS, SimConfig, SimConfigError

__all__ = ["FAULT_KINDS", "SimConfig", "SimConfigError"]
