"""A tiny HTTP server in a thread that records the JSON bodies POSTed to it."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


class WebhookReceiver:
    """Records every POST; answers ``status`` (200 by default), or 503 to the first
    ``fail_first`` POSTs. ``requests`` keeps each one's headers, raw body and answer."""

    def __init__(self, status: int = 200, *, fail_first: int = 0) -> None:
        self.status = status
        self.fail_first = fail_first
        self.bodies: list[dict[str, Any]] = []
        self.requests: list[tuple[dict[str, str], bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                receiver.bodies.append(json.loads(raw))
                status = 503 if len(receiver.requests) < receiver.fail_first else receiver.status
                receiver.requests.append((dict(self.headers.items()), raw, status))
                self.send_response(status)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
