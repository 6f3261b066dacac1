"""The packed form of broker messages: what Redis holds for each waiting task.

Every model in flight has one Celery message in Redis for as long as it waits
(on the queue's list, or in kombu's ``unacked`` hash while a worker holds it
until its countdown ends). As kombu stores it, that message is about 1.4 KB of
JSON, two thirds of it the same keys and values in every message (header
names, ``"reload_model"``, the chord callback's shape, ...). zlib with a *preset
dictionary* of those common parts packs it into about 250 bytes; base85 keeps
it a JSON string (kombu's transport stores JSON), about 320 bytes in all.

Written here because nothing does it for us: kombu's compression covers only
a message's body (then base64s it), never the headers nor the unacked copy.

A packed message is the string ``"z1:" + base85(zlib(json))``; a message is
otherwise always a JSON object, so ``expand`` tells the two apart and passes
plain messages (from producers that do not pack, or stored before an upgrade)
through untouched.

Never edit ``DICTIONARY_V1``: stored messages need exactly those bytes to be
read back. A better dictionary is a new version, with the old one kept for
reading.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

from kombu.utils.json import dumps, loads

__all__ = ["DICTIONARY_V1", "Expanded", "Packed", "expand", "pack", "packed_form"]

PREFIX_V1 = "z1:"
_ZERO = "00000000-0000-0000-0000-000000000000"

# A retried ``reload_model`` message of a batch's chord as kombu stores it, with
# placeholder ids: zlib finds the repeated parts of real messages in it.
DICTIONARY_V1 = json.dumps(
    {
        "body": json.dumps(
            [
                ["model-id", _ZERO],
                {},
                {
                    "callbacks": None,
                    "errbacks": None,
                    "chain": None,
                    "chord": {
                        "task": "batch_finished",
                        "args": [_ZERO],
                        "kwargs": {},
                        "options": {"task_id": _ZERO, "reply_to": _ZERO, "group_id": _ZERO},
                        "subtask_type": None,
                        "immutable": True,
                    },
                },
            ]
        ),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py",
            "task": "reload_model",
            "id": _ZERO,
            "shadow": None,
            "eta": "2026-01-01T00:00:00.000000+00:00",
            "expires": None,
            "group": _ZERO,
            "group_index": 0,
            "retries": 1,
            "timelimit": [None, None],
            "root_id": _ZERO,
            "parent_id": _ZERO,
            "argsrepr": f"('model-id', '{_ZERO}')",
            "kwargsrepr": "{}",
            "origin": "gen0@host",
            "ignore_result": False,
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
        },
        "properties": {
            "correlation_id": _ZERO,
            "reply_to": _ZERO,
            "origin": "gen0@host",
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": "reload"},
            "priority": 0,
            "body_encoding": None,
            "delivery_tag": _ZERO,
        },
    }
).encode()


class Packed(str):
    """A packed message (a ``str``, stored as a JSON string) that still knows its message."""

    message: dict[str, Any]


class Expanded(dict[str, Any]):
    """An expanded message that still knows the packed string it was read as."""

    packed: str


def pack(message: dict[str, Any]) -> Packed:
    """The packed form of a kombu message (``{"body": ..., "headers": ..., ...}``)."""
    compressor = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zdict=DICTIONARY_V1)
    data = compressor.compress(dumps(message).encode()) + compressor.flush()
    packed = Packed(PREFIX_V1 + base64.b85encode(data).decode("ascii"))
    packed.message = message
    return packed


def expand(stored: Any) -> Any:
    """The message ``pack`` packed; a plain (dict) message is returned as it is.

    Raises ``ValueError`` for a string that is not a packed message.
    """
    if not isinstance(stored, str):
        return stored
    if not stored.startswith(PREFIX_V1):
        raise ValueError(f"not a packed message: {stored[:40]!r}")
    try:
        data = base64.b85decode(stored[len(PREFIX_V1) :])
        decompressor = zlib.decompressobj(zdict=DICTIONARY_V1)
        text = decompressor.decompress(data) + decompressor.flush()
    except (ValueError, zlib.error) as exc:
        raise ValueError(f"a damaged packed message ({exc})") from None
    expanded = Expanded(loads(text))
    expanded.packed = stored
    return expanded


def packed_form(message: dict[str, Any]) -> str:
    """``message`` packed: the string it was expanded from if it has one, else packed now.

    Only for a message unchanged since it was read (a worker keeping the copy it
    just received): the string kept is not updated if the message changes.
    """
    return message.packed if isinstance(message, Expanded) else pack(message)
