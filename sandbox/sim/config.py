"""The simulator's settings: one frozen :class:`SimConfig` holding every knob.

A config is validated when it is made (:class:`SimConfigError`, a ``ValueError``,
names the offending field), so the CLI and ``POST /_sim/config`` share one set of
rules. Durations are *simulated* seconds; :meth:`SimConfig.scaled` turns one into
the real seconds the server waits or reports (divided by ``time_scale``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from sandbox.sim.calls import key_label

#: Every fault the simulator can inject, in the order used to draw one.
FAULT_KINDS: Final = (
    "500",
    "503",
    "html502",
    "timeout",
    "reset",
    "error200",
    "legacy",
    "nonobject",
    "retry_after_string",
    "retry_after_header",
)


class SimConfigError(ValueError):
    """A knob has a value the simulator cannot run with."""


@dataclass(frozen=True)
class SimConfig:
    """Every knob of the simulator; see ``reloadctl sim --help`` for their meaning.

    Raises:
        SimConfigError: a knob's value is out of range (the message names it).
    """

    keys: tuple[str, ...]
    reload_seconds: float = 120.0
    jitter: float = 0.0
    warm: frozenset[str] = frozenset()
    warm_fraction: float = 0.0
    unknown: frozenset[str] = frozenset()
    queue_limit: int | None = None
    loading_counts: bool = False
    rps_limit: int | None = None
    latency: float = 0.0
    latency_jitter: float = 0.0
    retry_after: float = 30.0
    time_scale: float = 1.0
    eta: bool = True
    errors_on_200: bool = False
    faults: Mapping[str, float] = field(default_factory=dict)
    timeout_hold: float = 120.0
    seed: int = 0
    host: str = "127.0.0.1"
    port: int = 0
    log_requests: bool = False

    def __post_init__(self) -> None:
        if not self.keys or not all(isinstance(k, str) and k for k in self.keys):
            raise SimConfigError("keys: at least one non-empty API key is required")
        for name in ("reload_seconds", "latency", "latency_jitter", "retry_after", "timeout_hold"):
            _check_range(name, getattr(self, name), low=0.0)
        _check_range("jitter", self.jitter, low=0.0, below=1.0)
        _check_range("warm_fraction", self.warm_fraction, low=0.0, high=1.0)
        _check_range("time_scale", self.time_scale, above=0.0)
        for name in ("queue_limit", "rps_limit"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 1):
                raise SimConfigError(f"{name}: must be a whole number >= 1 or null, got {value!r}")
        if not 0 <= self.port <= 65535:
            raise SimConfigError(f"port: must be in 0..65535, got {self.port}")
        both = self.warm & self.unknown
        if both:
            raise SimConfigError(f"warm and unknown both list {sorted(both)}")
        object.__setattr__(self, "faults", MappingProxyType(_checked_faults(self.faults)))

    def scaled(self, seconds: float) -> float:
        """Real seconds for ``seconds`` of simulated time."""
        return seconds / self.time_scale

    def updated(self, changes: Mapping[str, object]) -> SimConfig:
        """A copy with the run-time changeable fields in ``changes`` applied.

        Parameters:
            changes: field name -> JSON value; ``faults`` replaces the whole fault table
                (``{}`` turns every fault off).

        Raises:
            SimConfigError: an unknown or fixed field, or a bad value.
        """
        coerced: dict[str, object] = {}
        for name, value in changes.items():
            coerce = _RUNTIME_FIELDS.get(name)
            if coerce is None:
                allowed = ", ".join(sorted(_RUNTIME_FIELDS))
                raise SimConfigError(f"{name}: not changeable at run time (allowed: {allowed})")
            coerced[name] = coerce(name, value)
        return dataclasses.replace(self, **coerced)  # type: ignore[arg-type]

    def public(self) -> dict[str, object]:
        """The config as JSON-ready data, without the raw API keys."""
        data: dict[str, object] = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["keys"] = [key_label(k) for k in self.keys]
        data["warm"] = sorted(self.warm)
        data["unknown"] = sorted(self.unknown)
        data["faults"] = dict(self.faults)
        return data


def parse_fault(text: str) -> tuple[str, float]:
    """Parse ``KIND=P`` (as given to ``--fault``) into ``(kind, probability)``.

    Raises:
        SimConfigError: not ``KIND=P``, an unknown kind, or ``P`` not a number in [0, 1].
    """
    kind, sep, number = text.partition("=")
    kind = kind.strip()
    if not sep or kind not in FAULT_KINDS:
        raise SimConfigError(
            f"expected KIND=P with KIND one of {', '.join(FAULT_KINDS)}; got {text!r}"
        )
    try:
        probability = float(number)
    except ValueError:
        raise SimConfigError(f"{kind}: probability {number!r} is not a number") from None
    _check_range(f"fault {kind}", probability, low=0.0, high=1.0)
    return kind, probability


def _checked_faults(faults: Mapping[str, float]) -> dict[str, float]:
    table: dict[str, float] = {}
    for kind, probability in faults.items():
        if kind not in FAULT_KINDS:
            raise SimConfigError(f"faults: unknown kind {kind!r} (kinds: {', '.join(FAULT_KINDS)})")
        _check_range(f"fault {kind}", probability, low=0.0, high=1.0)
        table[kind] = float(probability)
    if math.fsum(table.values()) > 1.0 + 1e-9:
        raise SimConfigError(f"faults: probabilities add up to more than 1: {table}")
    return table


def _check_range(
    name: str,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    above: float | None = None,
    below: float | None = None,
) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (low is None or value >= low) and (high is None or value <= high)
    ok = ok and (above is None or value > above) and (below is None or value < below)
    if not ok:
        bounds = [
            f">= {low}" if low is not None else "",
            f"<= {high}" if high is not None else "",
            f"> {above}" if above is not None else "",
            f"< {below}" if below is not None else "",
        ]
        raise SimConfigError(
            f"{name}: must be a number {' and '.join(b for b in bounds if b)}, got {value!r}"
        )


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SimConfigError(f"{name}: expected a number, got {value!r}")
    return float(value)


def _optional_int(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise SimConfigError(f"{name}: expected a whole number or null, got {value!r}")
    return value


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise SimConfigError(f"{name}: expected true or false, got {value!r}")
    return value


def _fault_table(name: str, value: object) -> dict[str, float]:
    if not isinstance(value, dict):
        raise SimConfigError(f"{name}: expected an object {{kind: probability}}, got {value!r}")
    return {str(kind): _number(f"fault {kind}", p) for kind, p in value.items()}


_RUNTIME_FIELDS: Final[Mapping[str, Callable[[str, object], object]]] = {
    "reload_seconds": _number,
    "jitter": _number,
    "queue_limit": _optional_int,
    "loading_counts": _flag,
    "rps_limit": _optional_int,
    "latency": _number,
    "latency_jitter": _number,
    "retry_after": _number,
    "eta": _flag,
    "faults": _fault_table,
    "timeout_hold": _number,
}
