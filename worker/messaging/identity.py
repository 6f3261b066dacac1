"""This worker's identity: who holds a message, a step lock or a limiter lease.

``WORKER_ID`` is made once per worker process start, at import in the main process, and
inherited by its forked pool, so the main process's heartbeat vouches for all its pool holds;
a replacement worker never inherits a dead one's holdings by name.
"""

from __future__ import annotations

import os
import socket
import uuid

__all__ = ["WORKER_ID", "owner_of"]

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

# Separates the owner from the rest of a holder string: "<worker id>|<what>".
SEPARATOR = "|"


def owner_of(holder: str) -> str:
    """The worker id in a holder string.

    Parameters:
        holder: ``"<worker id>|<what>"``, e.g. ``"host:12:ab12cd34|<task id>"``.

    Returns:
        The worker id, or ``""`` if ``holder`` names none.
    """
    owner, found, _ = holder.partition(SEPARATOR)
    return owner if found else ""
