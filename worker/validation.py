"""Validation of model ids at every edge: task arguments, the CLI, files, settings.

A bad batch is rejected whole, before anything is enqueued, with a message
that names the first offending entry by position::

    model_ids[3]: empty id
    model_ids[7]: 1048576 characters, more than 256
    model_ids[2]: control or invisible character U+0000 at position 4
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from worker.constants import MAX_MODEL_ID_LENGTH

__all__ = ["InvalidModelIds", "check_model_id", "validate_model_ids"]


class InvalidModelIds(ValueError):
    """The ids (or one of them) cannot be reloaded; the message says which and why."""


# Default_Ignorable code points that Unicode files outside category C (fillers, joiners,
# variation selectors): they render as nothing, so two different ids would look the same.
_IGNORABLE = frozenset(
    [
        0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0,
        *range(0x180B, 0x1810),
        *range(0xFE00, 0xFE10),
        *range(0xE0100, 0xE01F0),
    ]
)  # fmt: skip


def _invisible(char: str) -> bool:
    """Control, format, unassigned, surrogate or private-use characters, line and paragraph
    separators, and the invisible fillers above."""
    category = unicodedata.category(char)
    return category[0] == "C" or category in ("Zl", "Zp") or ord(char) in _IGNORABLE


def check_model_id(value: object, *, where: str = "model_id") -> str:
    """Check one model id: a non-empty string, at most 256 characters, nothing invisible.

    Parameters:
        value: the candidate id.
        where: how the message names it (``model_ids[3]``).

    Returns:
        ``value``, unchanged.

    Raises:
        InvalidModelIds: naming ``where`` and the first problem found.
    """
    if not isinstance(value, str):
        raise InvalidModelIds(f"{where}: expected a string, got {type(value).__name__}")
    if value == "" or value.isspace():
        raise InvalidModelIds(f"{where}: empty id")
    if len(value) > MAX_MODEL_ID_LENGTH:
        raise InvalidModelIds(f"{where}: {len(value)} characters, more than {MAX_MODEL_ID_LENGTH}")
    if value != value.strip():
        raise InvalidModelIds(f"{where}: leading or trailing whitespace in {value!r}")
    for position, char in enumerate(value):
        if _invisible(char):
            raise InvalidModelIds(
                f"{where}: control or invisible character U+{ord(char):04X} at position {position}"
            )
    return value


def validate_model_ids(value: object, *, max_count: int) -> list[str]:
    """Check a whole batch and collapse duplicates, keeping the first occurrence's order.

    Parameters:
        value: the batch's ids, a list (or another non-string sequence) of strings.
        max_count: ``RELOAD_MAX_BATCH``, the most ids allowed.

    Returns:
        The unique ids, in order.

    Raises:
        InvalidModelIds: not a list, empty, too long, or an id refused by ``check_model_id``.
    """
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise InvalidModelIds(f"model_ids: expected a list of strings, got {type(value).__name__}")
    if len(value) == 0:
        raise InvalidModelIds("model_ids: the list is empty")
    if len(value) > max_count:
        raise InvalidModelIds(
            f"model_ids: {len(value)} ids, more than the limit of {max_count} (RELOAD_MAX_BATCH)"
        )
    unique = dict.fromkeys(
        check_model_id(item, where=f"model_ids[{index}]") for index, item in enumerate(value)
    )
    return list(unique)


PRIORITIES = ("normal", "high")


def check_priority(value: object) -> str:
    """Check a task's priority.

    Returns:
        ``"normal"`` or ``"high"``.

    Raises:
        InvalidModelIds: (a ``ValueError``) any other value.
    """
    if value not in PRIORITIES:
        raise InvalidModelIds(f"priority: expected 'normal' or 'high', got {value!r:.60}")
    return str(value)
