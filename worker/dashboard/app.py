"""The dashboard's routes (aiohttp), every one behind basic auth and read-only.

``GET /`` is the overview (``pages.overview_page``), ``GET /api/overview`` its JSON (with
the live fragment the page swaps in); ``GET /batch/{id}[?state=failed]`` is one batch, its
models filtered by state, ``GET /api/batch/{id}`` its JSON; ``GET /metrics`` is Prometheus's
text format. Redis is read in a worker thread (redis-py is synchronous), never on the loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from worker.batch.ledger import STATES
from worker.dashboard import pages
from worker.dashboard.account import account_views
from worker.dashboard.auth import Credentials, basic_auth
from worker.dashboard.batches import BatchView, batch_view, open_batches, recent_batches
from worker.dashboard.metrics import registry_for, render
from worker.dashboard.sources import Sources

__all__ = ["build_app"]

SOURCES = web.AppKey("sources", Sources)
FLOWER_URL = web.AppKey("flower_url", str)


def build_app(
    sources: Sources, credentials: Credentials, *, flower_url: str | None = None
) -> web.Application:
    """The dashboard's application.

    Parameters:
        sources: the ledger, the monitor and the Redis clock the dashboard reads.
        credentials: the basic-auth user and password every route asks for.
        flower_url: Flower's base URL, to link each model to its task there (none: no links).
    """
    app = web.Application(middlewares=[basic_auth(credentials)])
    app[SOURCES] = sources
    app[FLOWER_URL] = flower_url or ""
    registry = registry_for(sources)

    async def metrics(request: web.Request) -> web.Response:
        body = await asyncio.to_thread(render, registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/", _overview)
    app.router.add_get("/api/overview", _overview_json)
    app.router.add_get("/batch/{batch_id}", _batch)
    app.router.add_get("/api/batch/{batch_id}", _batch_json)
    app.router.add_get("/metrics", metrics)
    return app


def _overview_data(sources: Sources) -> dict[str, Any]:
    now = sources.clock()
    accounts = account_views(sources, now=now)
    opened = open_batches(sources, now=now)
    recent = recent_batches(sources, now=now)
    return {
        "now": now,
        "updated": pages.updated_text(now),
        "accounts": accounts,
        "open": opened,
        "recent": recent,
    }


async def _overview(request: web.Request) -> web.Response:
    data = await asyncio.to_thread(_overview_data, request.app[SOURCES])
    html = pages.overview_page(data["accounts"], data["open"], data["recent"], now=data["now"])
    return web.Response(text=html, content_type="text/html")


async def _overview_json(request: web.Request) -> web.Response:
    data = await asyncio.to_thread(_overview_data, request.app[SOURCES])
    return web.json_response(
        {
            "now": data["now"],
            "updated": data["updated"],
            "accounts": [a.to_json() for a in data["accounts"]],
            "open": [b.to_json() for b in data["open"]],
            "recent": [b.to_json() for b in data["recent"]],
            "html": pages.overview_live(data["accounts"], data["open"], data["recent"]),
        }
    )


def _state_filter(request: web.Request) -> str | None:
    state = request.query.get("state") or None
    if state is not None and state not in STATES:
        raise web.HTTPBadRequest(text=f"state must be one of {', '.join(STATES)}\n")
    return state


async def _read_batch(request: web.Request) -> tuple[BatchView | None, str | None, float]:
    """The batch the request names (``None``: no such batch), its state filter, the time."""
    sources = request.app[SOURCES]
    state = _state_filter(request)
    now = await asyncio.to_thread(sources.clock)
    batch_id = request.match_info["batch_id"]
    view = await asyncio.to_thread(batch_view, sources, batch_id, now=now, with_models=True)
    return view, state, now


async def _batch(request: web.Request) -> web.Response:
    view, state, now = await _read_batch(request)
    if view is None:
        page = pages.not_found_page(request.match_info["batch_id"], now=now)
        return web.Response(status=404, text=page, content_type="text/html")
    flower = request.app[FLOWER_URL] or None
    html = pages.batch_page(view, state=state, flower_url=flower, now=now)
    return web.Response(text=html, content_type="text/html")


async def _batch_json(request: web.Request) -> web.Response:
    view, state, now = await _read_batch(request)
    if view is None:
        raise web.HTTPNotFound(text=f"no batch {request.match_info['batch_id']}\n")
    models = {
        r.model_id: {"state": r.state, "reason": r.reason, "calls": r.calls, "task_id": r.task_id}
        for r in view.models
        if state is None or r.state == state
    }
    return web.json_response(
        {
            "now": now,
            "updated": pages.updated_text(now),
            "batch": {**view.to_json(), "models": models},
            "html": pages.batch_live(view, state=state, flower_url=request.app[FLOWER_URL] or None),
        }
    )
