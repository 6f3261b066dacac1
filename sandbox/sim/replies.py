"""What the simulator sends back: the :class:`Reply` type and the normal answers.

A reply is plain data (HTTP status, body bytes, headers) plus the ledger's name
for it (``kind``) and what the server must do with it (``action``). Bodies follow
docs/upstream.md: ``{"status": ..., "message": ...}``, with the legacy ``messege``
spelling for validation errors.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

JSON = "application/json"
HTML = "text/html"

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class Action(enum.Enum):
    """How the server delivers a reply."""

    RESPOND = "respond"  # send it after the configured latency
    RESPOND_NOW = "respond_now"  # send it at once (injected faults)
    HOLD = "hold"  # keep the request open for timeout_hold seconds, then send it
    RESET = "reset"  # abort the TCP connection; the reply is never sent


@dataclass(frozen=True, slots=True)
class Reply:
    """One HTTP answer and its ledger kind."""

    kind: str
    status: int
    body: bytes
    content_type: str = JSON
    headers: Mapping[str, str] = field(default_factory=lambda: _NO_HEADERS)
    action: Action = Action.RESPOND

    def json(self) -> object:
        """The body decoded as JSON (for tests and logs)."""
        return json.loads(self.body)


def dumps(data: object) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(data, separators=(",", ":")).encode()


def seconds_value(seconds: float) -> int | float:
    """A duration for a JSON body: a whole number when it is one, else rounded to ms."""
    if seconds == math.floor(seconds):
        return int(seconds)
    return round(seconds, 3)


def _fixed(kind: str, status: int, data: object) -> Reply:
    return Reply(kind=kind, status=status, body=dumps(data))


STARTED = _fixed(
    "success_started",
    200,
    {"status": "success", "message": "Model reload started, it will take 2 minutes"},
)
WARM = _fixed("success_warm", 200, {"status": "success", "message": "Model already loaded"})
LOADING_NO_ETA = _fixed(
    "processing", 200, {"status": "processing", "message": "Model is reloading"}
)
INVALID_KEY = _fixed("invalid_key", 401, {"status": "error", "message": "Invalid API key"})
NOT_JSON = _fixed(
    "bad_request", 400, {"status": "error", "message": "Request body must be a JSON object"}
)
MODEL_ID_REQUIRED = _fixed(
    "bad_request",
    400,
    {"status": "error", "messege": {"model_id": ["The model id field is required."]}},
)
MODEL_ID_NOT_STRING = _fixed(
    "bad_request",
    400,
    {"status": "error", "messege": {"model_id": ["The model id must be a string."]}},
)


def on_200(reply: Reply) -> Reply:
    """The same error answered with HTTP 200, ``"status": "error"`` and the legacy
    ``messege`` field (ModelsLab answers many errors this way)."""
    data = json.loads(reply.body)
    body = {"status": "error", "messege": data.get("message") or data.get("messege")}
    return Reply(kind=reply.kind, status=200, body=dumps(body))


def loading(eta: float | None) -> Reply:
    """``processing``, with ``eta`` (real seconds left) unless ``eta`` is None."""
    if eta is None:
        return LOADING_NO_ETA
    body = {"status": "processing", "message": "Model is reloading", "eta": round(eta, 3)}
    return Reply(kind="processing", status=200, body=dumps(body))


def unknown_model(model_id: str) -> Reply:
    """HTTP 404 for a model that does not exist."""
    body = {"status": "error", "message": f"Model not found: {model_id}"}
    return Reply(kind="unknown_model", status=404, body=dumps(body))


def rate_limited(kind: str, message: str, retry_after: float) -> Reply:
    """HTTP 429 with ``retry_after`` as a number.

    Parameters:
        kind: the reply's ledger name.
        message: the body's ``message``.
        retry_after: real seconds the caller should wait.
    """
    body = {"status": "error", "message": message, "retry_after": seconds_value(retry_after)}
    return Reply(kind=kind, status=429, body=dumps(body))
