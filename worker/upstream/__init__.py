"""The upstream client: the one package that speaks ModelsLab's "Reload Model" protocol.

    with UpstreamClient(base_url, api_key) as upstream:
        outcome = upstream.reload("my-model")   # Accepted | Loading, or raises

`Accepted` means the upstream said "success" (a reload started, or the model was
already loaded: not proof that it is warm); `Loading` means it said
"processing". Everything else is raised as one of the exceptions below. Code
outside this package never catches `httpx.*`, never reads JSON and never parses
message texts: it decides with `isinstance`, `retry_after` and `reason`.

Exception tree:

* UpstreamError            .reason (API key redacted, <= 300 chars), .http_status
  + TransientError         .retry_after (seconds, clamped to [0, 3600], or None)
  | + RateLimited          HTTP 429, or any transient error answer with retry_after
  | + ServerError          HTTP 5xx, 409, 425; "status": "error" with HTTP 2xx
  | + UpstreamTimeout      connect / read / write / pool timeout; HTTP 408
  | + NetworkError         connection refused or reset, protocol errors
  | + BadResponse          2xx with an HTML / empty / non-object body, a missing or
  |                        unknown "status" (e.g. "failed"); HTTP 1xx / 3xx
  + PermanentError         calling again will not help
    + BadRequest           HTTP 400, and 4xx without a class of their own
    + InvalidKey           HTTP 401
    + NoCredits            HTTP 402
    + Forbidden            HTTP 403
    + ModelNotFound        HTTP 404

Modules: `errors` (the tree), `protocol` (reading a response), `client` (the
HTTP call and the mapping of httpx's exceptions).
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
