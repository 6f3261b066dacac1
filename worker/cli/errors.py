"""Redis or the broker unreachable, for the command line: one line naming the URL, exit 1.

Redis, kombu and Celery's result backend each wrap a refused connection in their
own exception (the result backend even in a ``RuntimeError``), so
``connection_problem`` walks an exception's causes for the first connection
error. URLs are shown with their password masked.
"""

from __future__ import annotations

from worker import producer
from worker.redis_url import redact as redact_url

__all__ = ["client_url", "connection_problem", "describe_unreachable", "redact", "state_url"]


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (every URL of a ``;`` list too).

    A result backend URL loses its ``worker.messaging.results:`` scheme prefix.
    """
    url = url.split("+", 1)[1] if url.startswith("worker.messaging.results:") else url
    return redact_url(url)


def _connection_errors() -> tuple[type[BaseException], ...]:
    import redis
    from kombu.exceptions import OperationalError

    return (
        OperationalError,
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        ConnectionError,  # the OS's: refused, reset
    )


def connection_problem(exc: BaseException) -> BaseException | None:
    """The connection error in ``exc`` or its causes, or ``None`` if it is something else."""
    kinds = _connection_errors()
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kinds):
            return current
        seen.add(id(current))
        suppressed = current.__suppress_context__
        current = current.__cause__ or (None if suppressed else current.__context__)
    return None


def describe_unreachable(problem: BaseException, url: str, what: str = "Redis") -> str:
    """``cannot reach Redis at redis://host:6379/0: <the error>`` on one line.

    Parameters:
        problem: the connection error (``connection_problem``'s answer).
        url: the URL that could not be reached; its password is masked.
        what: what the URL names (``Redis``, ``the result backend``, ``the broker or Redis``).
    """
    detail = " ".join(str(problem).split()) or type(problem).__name__
    return f"cannot reach {what} at {redact(url)}: {detail}"


def state_url() -> str:
    """The Redis URL of the configured settings (``REDIS_URL``), or ``?`` before they are read."""
    return producer.settings().redis_url if producer.configured() else "?"


def client_url(client: object) -> str:
    """``redis://host:port/db`` of a redis-py client (no password), or ``state_url()``."""
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", None) or {}
    if "host" not in kwargs:
        return state_url()
    return f"redis://{kwargs['host']}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
