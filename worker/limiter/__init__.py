"""The account-wide limiter: ``Limiter.acquire()`` answers ``Go`` or ``Wait``."""

from worker.limiter.limiter import Go, Limiter, Wait

__all__ = ["Go", "Limiter", "Wait"]
