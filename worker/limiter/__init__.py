"""The account-wide limiter and circuit breaker, shared by every worker through Redis.

``Limiter.acquire()`` answers ``Go`` or ``Wait`` (rate, in-flight cap, 429 pause, priority);
``breaker.Breaker`` stops the key once on an account-level error; ``scripts`` holds their Lua.
"""

from worker.limiter.limiter import Go, Limiter, Wait

__all__ = ["Go", "Limiter", "Wait"]
