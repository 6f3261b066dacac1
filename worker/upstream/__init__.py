"""The upstream client: the one package that speaks ModelsLab's "Reload Model" protocol.

    with UpstreamClient(base_url, api_key) as upstream:
        outcome = upstream.reload("my-model")   # Accepted | Loading, or raises

Any answer but "success" (`Accepted`) or "processing" (`Loading`) is raised as an
`UpstreamError` (the tree: `worker.upstream.errors`). Callers decide with `isinstance`,
`retry_after` and `reason`; they never catch `httpx.*`, read JSON or parse message texts.
"""

from worker.upstream.client import UpstreamClient
from worker.upstream.errors import (
    BadRequest,
    BadResponse,
    Forbidden,
    InvalidKey,
    ModelNotFound,
    NetworkError,
    NoCredits,
    PermanentError,
    RateLimited,
    ServerError,
    TransientError,
    UpstreamError,
    UpstreamTimeout,
)
from worker.upstream.protocol import Accepted, Loading

__all__ = [
    "Accepted",
    "BadRequest",
    "BadResponse",
    "Forbidden",
    "InvalidKey",
    "Loading",
    "ModelNotFound",
    "NetworkError",
    "NoCredits",
    "PermanentError",
    "RateLimited",
    "ServerError",
    "TransientError",
    "UpstreamClient",
    "UpstreamError",
    "UpstreamTimeout",
]
