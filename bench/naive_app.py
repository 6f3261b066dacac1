"""The naive Celery app a user writes first: ``celery -A bench.naive_app worker``.

One task, ``naive_reload(model_id)``, with Celery's built-in ``rate_limit`` (per
worker: ``NAIVE_RATE_LIMIT``, the account's rate divided by the number of
workers) and a blocking ``time.sleep`` while the model loads. Transient errors
(HTTP errors, 429, 5xx, bad bodies) are retried by ``autoretry_for`` with
Celery's exponential backoff. No global limit, no concurrency cap beyond the
pool size, no pause on 429. Everything else is Celery's defaults.

Environment: ``NAIVE_REDIS_URL``, ``MODELSLAB_BASE_URL``, ``MODELSLAB_API_KEY``,
``NAIVE_RATE_LIMIT`` (e.g. ``25/s``), ``NAIVE_WARM_SECONDS``.
"""

from __future__ import annotations

import os
import time
from typing import Any

import httpx
from celery import Celery

REDIS_URL = os.environ.get("NAIVE_REDIS_URL", "redis://localhost:6379/0")
BASE_URL = os.environ.get("MODELSLAB_BASE_URL", "http://127.0.0.1:8000")
WARM_SECONDS = float(os.environ.get("NAIVE_WARM_SECONDS", "120"))

app = Celery("naive", broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(broker_connection_retry_on_startup=True, task_default_queue="naive")

_client = httpx.Client(timeout=httpx.Timeout(10.0, connect=2.0))


class UpstreamHiccup(Exception):
    """The upstream answered something other than success/processing."""


@app.task(
    name="naive_reload",
    rate_limit=os.environ.get("NAIVE_RATE_LIMIT", "5/s"),
    autoretry_for=(httpx.HTTPError, ValueError, UpstreamHiccup),
    retry_backoff=True,
    retry_backoff_max=30,
    max_retries=10,
)
def naive_reload(model_id: str) -> dict[str, Any]:
    key = os.environ["MODELSLAB_API_KEY"]
    accepted = False
    calls = 0
    while True:
        response = _client.post(f"{BASE_URL}/model_reload", json={"key": key, "model_id": model_id})
        calls += 1
        response.raise_for_status()
        body = response.json()
        status = body.get("status") if isinstance(body, dict) else None
        if status == "success":
            if accepted:
                return {"model_id": model_id, "state": "warm", "calls": calls}
            accepted = True
            time.sleep(WARM_SECONDS)  # block this pool process while the model loads
        elif status == "processing":
            accepted = True
            time.sleep(float(body.get("eta") or 5))
        else:
            raise UpstreamHiccup(str(body)[:200])
