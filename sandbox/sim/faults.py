"""Fault injection: drawing a fault for a call and the reply that delivers it.

One uniform draw per call picks at most one fault: the kinds are laid end to end
on ``[0, 1)`` in :data:`~sandbox.sim.config.FAULT_KINDS` order, each as wide as its
probability; a draw past them all means no fault. The draw comes from the model's own
seeded stream, so a seed fixes which of a model's calls fail, whatever the interleaving.
With no faults configured no draw is made. A faulted call gets no other processing: no
key check, no limit, no model change, no latency.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping

from sandbox.sim.config import FAULT_KINDS, SimConfig
from sandbox.sim.replies import HTML, Action, Reply, dumps, seconds_value

HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
HTML_504 = HTML_502.replace(b"502 Bad Gateway", b"504 Gateway Time-out")
RATE_MESSAGE = "Rate limit exceeded. Please retry later."


def fault_table(faults: Mapping[str, float]) -> tuple[tuple[float, str], ...]:
    """The cumulative upper bound of each configured fault, in draw order."""
    table: list[tuple[float, str]] = []
    total = 0.0
    for kind in FAULT_KINDS:
        probability = faults.get(kind, 0.0)
        if probability > 0.0:
            total += probability
            table.append((total, kind))
    return tuple(table)


def pick(table: tuple[tuple[float, str], ...], rng: random.Random) -> str | None:
    """Draw one fault kind, or None; with an empty table no draw is made.

    Parameters:
        table: the cumulative bounds of :func:`fault_table`.
        rng: the random source of the call's model.
    """
    if not table:
        return None
    draw = rng.random()
    for bound, kind in table:
        if draw < bound:
            return kind
    return None


def reply(kind: str, config: SimConfig, rng: random.Random) -> Reply:
    """The reply that injects a fault.

    Parameters:
        kind: one of :data:`~sandbox.sim.config.FAULT_KINDS`.
        config: the simulator's settings (``retry_after``, ``time_scale``).
        rng: the random source that picks between a fault's variants.

    Raises:
        ValueError: ``kind`` is not a fault kind.
    """
    ledger_kind = f"fault_{kind}"
    retry_after = config.scaled(config.retry_after)
    if kind in ("500", "503"):
        message = "Internal server error. Please try again."
        if kind == "503":
            message = "Service temporarily unavailable. Please try again."
        body = dumps({"status": "error", "message": message})
        return Reply(ledger_kind, int(kind), body, action=Action.RESPOND_NOW)
    if kind == "html502":
        return Reply(ledger_kind, 502, HTML_502, HTML, action=Action.RESPOND_NOW)
    if kind == "timeout":
        return Reply(ledger_kind, 504, HTML_504, HTML, action=Action.HOLD)
    if kind == "reset":
        return Reply(ledger_kind, 0, b"", action=Action.RESET)
    if kind == "error200":
        body = dumps({"status": "error", "message": "Something went wrong"})
        return Reply(ledger_kind, 200, body, action=Action.RESPOND_NOW)
    if kind == "legacy":
        messege: object = "Server busy"
        if rng.random() < 0.5:
            messege = {"server": ["Server busy"]}
        body = dumps({"status": "error", "messege": messege})
        return Reply(ledger_kind, 500, body, action=Action.RESPOND_NOW)
    if kind == "nonobject":
        data: object = ["error", "Server busy"] if rng.random() < 0.5 else "Server busy"
        return Reply(ledger_kind, 200, dumps(data), action=Action.RESPOND_NOW)
    if kind == "retry_after_string":
        value = seconds_value(retry_after)
        body = dumps({"status": "error", "message": RATE_MESSAGE, "retry_after": str(value)})
        return Reply(ledger_kind, 429, body, action=Action.RESPOND_NOW)
    if kind == "retry_after_header":
        body = dumps({"status": "error", "message": RATE_MESSAGE})
        headers = {"Retry-After": str(math.ceil(retry_after))}
        return Reply(ledger_kind, 429, body, headers=headers, action=Action.RESPOND_NOW)
    raise ValueError(f"unknown fault kind {kind!r}")
