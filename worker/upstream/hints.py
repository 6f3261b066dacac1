"""Message hints: the one table that reads meaning into the upstream's message texts.

Texts are hints, never relied on for success (docs/upstream.md). An error answer on any
status whose message names a bad key, missing credits, a plan restriction, an unknown model
or a validation problem is permanent, like its 4xx twin; a ``success`` saying the model is
already loaded (``ready``) is confirmed soon. ``RELOAD_MESSAGE_HINTS`` adds entries, matched
first (``parse_hints``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ["DEFAULT_HINTS", "ERROR_KINDS", "Hints", "Kind", "parse_hints"]

Kind = Literal["key", "credits", "plan", "model", "invalid", "ready"]
KINDS: tuple[str, ...] = get_args(Kind)
#: The kinds that make an error answer permanent.
ERROR_KINDS: frozenset[str] = frozenset({"key", "credits", "plan", "model", "invalid"})

DEFAULT_HINTS: tuple[tuple[Kind, str], ...] = (
    (
        "key",
        r"\b(invalid|missing|wrong|incorrect|expired|revoked|bad)\b[\w\s]{0,12}\b(api[ _-]?)?key\b"
        r"|\bapi[ _-]?key\b[\w\s]{0,20}\b(required|missing|invalid|not (valid|found|provided))\b"
        r"|\bunauthori[sz]ed\b|\bauthentication failed\b",
    ),
    (
        "credits",
        r"\b(insufficient|no|not enough|out of)\b[\w\s]{0,12}\b(credits?|balance|funds)\b"
        r"|\badd (more )?credits\b|\bpayment required\b|\bcredits? (exhausted|exceeded)\b",
    ),
    (
        "plan",
        r"\b(premium|paid|higher|enterprise)\b[\w\s]{0,20}\b(subscription|plan)\b"
        r"|\bupgrade (your )?(plan|subscription)\b"
        r"|\b(subscription|plan)\b[\w\s]{0,20}\b(required|does not (allow|include))\b"
        r"|\bnot (available|allowed|included) (on|in|with) your (plan|subscription)\b",
    ),
    (
        "model",
        r"\bmodel\b[^.]{0,60}\b(not found|does ?n[o']t exist|not exist|unknown)\b"
        r"|\b(unknown|invalid|no such)\b \bmodel\b",
    ),
    (
        "invalid",
        r"\bis required\b|\bvalidation (error|failed)\b"
        r"|\binvalid (request|parameter|input|value)\b",
    ),
    (
        "ready",
        r"\balready (loaded|warm|ready|running|available|reloaded)\b"
        r"|\bmodel is (ready|loaded|warm|available)\b",
    ),
)


@dataclass(frozen=True)
class Hints:
    """The compiled table; ``kind(message)`` is the first kind whose pattern matches.

    Parameters:
        entries: ``(kind, compiled pattern)`` pairs, in matching order.
    """

    entries: tuple[tuple[Kind, re.Pattern[str]], ...]

    @classmethod
    def build(cls, extra: Iterable[tuple[Kind, str]] = ()) -> Hints:
        """The operator's ``extra`` entries first, then the built-in table, compiled.

        Parameters:
            extra: ``(kind, regular expression)`` entries (``parse_hints``).

        Raises:
            ValueError: naming the entry whose pattern does not compile.
        """
        compiled: list[tuple[Kind, re.Pattern[str]]] = []
        for kind, pattern in (*extra, *DEFAULT_HINTS):
            try:
                compiled.append((kind, re.compile(pattern, re.IGNORECASE)))
            except re.error as exc:
                raise ValueError(f"{kind}={pattern!r}: {exc}") from None
        return cls(tuple(compiled))

    def kind(self, message: str, *, among: frozenset[str] | None = None) -> Kind | None:
        """The hint ``message`` carries, or ``None``.

        Parameters:
            message: the upstream's message text.
            among: only these kinds are looked for (all when None).
        """
        for kind, pattern in self.entries:
            if (among is None or kind in among) and pattern.search(message):
                return kind
        return None


def parse_hints(text: str) -> tuple[tuple[Kind, str], ...]:
    """Read ``RELOAD_MESSAGE_HINTS``: matched case-insensitively, before the built-in table.

    Parameters:
        text: ``kind=regular expression`` entries separated by ``;;`` or new lines (blank
            entries skipped), e.g. ``key=token (is )?(invalid|revoked);;ready=good to go``.

    Returns:
        The ``(kind, pattern)`` entries, for ``Hints.build``.

    Raises:
        ValueError: naming a bad entry (unknown kind, no ``=``, a pattern that does not compile).
    """
    entries: list[tuple[Kind, str]] = []
    for raw in re.split(r";;|\n", text):
        item = raw.strip()
        if not item:
            continue
        kind, found, pattern = item.partition("=")
        kind = kind.strip()
        if not found or not pattern.strip():
            raise ValueError(f"{item!r}: expected kind=regular expression")
        if kind not in KINDS:
            raise ValueError(f"{item!r}: kind must be one of {', '.join(KINDS)}")
        entries.append((kind, pattern.strip()))  # type: ignore[arg-type]
    Hints.build(entries)  # every pattern compiles
    return tuple(entries)
