"""POSTing a batch summary to the caller's ``callback_url``."""

from __future__ import annotations

from typing import Any

import httpx

from worker.constants import WEBHOOK_TIMEOUT_SECONDS

__all__ = ["WebhookError", "post_json"]


class WebhookError(Exception):
    """The webhook could not be delivered this time (network error or non-2xx answer)."""


def post_json(url: str, payload: dict[str, Any], *, client: httpx.Client | None = None) -> int:
    """POST ``payload`` as JSON; return the HTTP status, or raise ``WebhookError``."""
    try:
        if client is None:
            with httpx.Client(timeout=WEBHOOK_TIMEOUT_SECONDS) as own:
                response = own.post(url, json=payload)
        else:
            response = client.post(url, json=payload)
    except httpx.HTTPError as exc:
        raise WebhookError(f"{type(exc).__name__}: {exc}") from None
    if not response.is_success:
        raise WebhookError(f"HTTP {response.status_code}")
    return response.status_code
