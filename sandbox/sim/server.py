"""The simulator's HTTP face: the aiohttp application (:func:`create_app`) and its runners.

Handlers never block: latency and held (``timeout``) requests are ``asyncio.sleep`` calls,
cancelled when the client disconnects. :func:`serve` and :func:`run` start it; the routes are
listed on :func:`create_app`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import struct
import sys
from typing import TextIO

from aiohttp import web

from sandbox.sim.config import SimConfig, SimConfigError
from sandbox.sim.replies import Action, Reply
from sandbox.sim.simulator import Simulator, Ticket

RELOAD_PATHS = (
    "/model_reload",
    "/api/v4/dreambooth/model_reload",
    "/api/v6/images/model_reload",
)
SIMULATOR = web.AppKey("simulator", Simulator)
LOG_REQUESTS = web.AppKey("log_requests", bool)
logger = logging.getLogger("sandbox.sim")


async def model_reload(request: web.Request) -> web.StreamResponse:
    """The reload call."""
    sim = request.app[SIMULATOR]
    outcome = sim.begin(await request.read())
    if isinstance(outcome, Ticket):
        try:
            delay = sim.latency()
            if delay:
                await asyncio.sleep(delay)
        except BaseException:
            sim.abandon(outcome)
            raise
        reply = sim.finish(outcome)
    else:
        reply = outcome
        if reply.action is Action.RESPOND:
            delay = sim.latency()
            if delay:
                await asyncio.sleep(delay)
        elif reply.action is Action.HOLD:
            await asyncio.sleep(sim.config.timeout_hold)
        elif reply.action is Action.RESET:
            _reset_connection(request)
    if request.app[LOG_REQUESTS]:
        logger.info("%s %s -> %s %s", request.method, request.path, reply.status, reply.kind)
    if reply.action is Action.RESET:
        return web.Response(status=500)  # never sent: the connection is gone
    return _response(reply)


async def ledger(request: web.Request) -> web.Response:
    """``GET /_sim/ledger``."""
    return web.json_response(request.app[SIMULATOR].snapshot())


async def reset(request: web.Request) -> web.Response:
    """``POST /_sim/reset``."""
    request.app[SIMULATOR].reset()
    return web.json_response({"status": "ok"})


async def get_config(request: web.Request) -> web.Response:
    """``GET /_sim/config``."""
    return web.json_response(request.app[SIMULATOR].config.public())


async def set_config(request: web.Request) -> web.Response:
    """``POST /_sim/config`` with a JSON object of run-time knobs; answers the new config."""
    try:
        changes = json.loads(await request.read())
    except ValueError:
        changes = None
    if not isinstance(changes, dict):
        return web.json_response(
            {"status": "error", "message": "expected a JSON object"}, status=400
        )
    try:
        config = request.app[SIMULATOR].reconfigure(changes)
    except SimConfigError as exc:
        return web.json_response({"status": "error", "message": str(exc)}, status=400)
    return web.json_response(config.public())


async def model_state(request: web.Request) -> web.Response:
    """``GET /_sim/models/{model_id}``."""
    return web.json_response(request.app[SIMULATOR].models.state(request.match_info["model_id"]))


def create_app(simulator: Simulator, *, log_requests: bool = False) -> web.Application:
    """The aiohttp application serving ``simulator``.

    Routes (the reload call is served under each prefix a base URL may carry):
    ``POST /model_reload``, ``/api/v4/dreambooth/model_reload`` and
    ``/api/v6/images/model_reload``: the reload call (docs/upstream.md); ``GET /_sim/ledger``:
    the ledger; ``POST /_sim/reset``: forget every call; ``GET`` / ``POST /_sim/config``: read /
    change run-time knobs; ``GET /_sim/models/{id}``: one model's state.

    Parameters:
        simulator: the simulated upstream the routes call.
        log_requests: log one line per reload call (path, HTTP status, answer kind).
    """
    app = web.Application()
    app[SIMULATOR] = simulator
    app[LOG_REQUESTS] = log_requests
    for path in RELOAD_PATHS:
        app.router.add_post(path, model_reload)
    app.router.add_get("/_sim/ledger", ledger)
    app.router.add_post("/_sim/reset", reset)
    app.router.add_get("/_sim/config", get_config)
    app.router.add_post("/_sim/config", set_config)
    app.router.add_get("/_sim/models/{model_id:.+}", model_state)
    return app


async def serve(config: SimConfig, out: TextIO, stop: asyncio.Event | None = None) -> None:
    """Serve a new simulator until ``stop`` is set.

    Parameters:
        config: the simulator's settings, its host and port among them.
        out: where ``simulator listening on URL`` is written, as one line, once listening.
        stop: the event that ends serving (``None``: SIGINT or SIGTERM does).
    """
    runner = web.AppRunner(
        create_app(Simulator(config), log_requests=config.log_requests),
        handle_signals=False,
        access_log=None,
        handler_cancellation=True,  # a client that disconnects cancels its held request
        shutdown_timeout=1.0,
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, config.host, config.port).start()
        print(f"simulator listening on {_url(runner.addresses[0])}", file=out, flush=True)
        if stop is None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def run(config: SimConfig, out: TextIO = sys.stdout) -> int:
    """Run the simulator in a new event loop until SIGINT or SIGTERM.

    Parameters:
        config: the simulator's settings.
        out: where the ``simulator listening on URL`` line is written.

    Returns:
        The exit code, 0.
    """
    asyncio.run(serve(config, out))
    return 0


def _response(reply: Reply) -> web.Response:
    return web.Response(
        status=reply.status,
        body=reply.body,
        content_type=reply.content_type,
        headers=reply.headers or None,
    )


def _reset_connection(request: web.Request) -> None:
    """Abort the connection with a TCP RST (SO_LINGER 0), sending nothing."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _url(address: object) -> str:
    if not isinstance(address, tuple):
        raise RuntimeError(f"not a TCP address: {address!r}")
    host, port = address[0], address[1]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"
