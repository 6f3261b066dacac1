"""Model ids from the command line: arguments plus a file (or stdin), one id per line.

Each id remembers where it came from, so that a validation message about
``model_ids[7]`` can be told to the user as ``ids.txt line 12``. Reading is
strict about the file (missing, unreadable, not UTF-8: an ``InputError``) and
lenient about its layout (blank lines, ``#`` comments, surrounding whitespace,
Windows line ends and a UTF-8 byte-order mark are all fine).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["IdList", "InputError", "collect_ids", "parse_id_lines", "read_id_file"]

STDIN = "-"
_POSITION = re.compile(r"^model_ids\[(\d+)\]")


class InputError(ValueError):
    """The ids cannot be read; the message says which file and why, on one line."""


@dataclass(frozen=True)
class IdList:
    """Ids in the order given (duplicates kept) and, for each, where it came from."""

    ids: list[str]
    origins: list[str]

    def explain(self, message: str) -> str:
        """Replace a leading ``model_ids[N]`` in a validation message with the id's origin."""
        match = _POSITION.match(message)
        if match is None or int(match[1]) >= len(self.origins):
            return message
        return self.origins[int(match[1])] + message[match.end() :]


def parse_id_lines(lines: Iterable[str]) -> list[tuple[int, str]]:
    """``(line number, id)`` for each line that holds an id: stripped, blanks and ``#`` skipped."""
    found = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if text and not text.startswith("#"):
            found.append((number, text))
    return found


def read_id_file(path: str, *, stdin: BinaryIO | None) -> list[tuple[int, str]]:
    """The ids in a file, with their line numbers.

    Parameters:
        path: the file, or ``-`` for stdin.
        stdin: the binary stdin to read for ``-`` (None: not available).

    Returns:
        ``(line number, id)`` pairs (``parse_id_lines``).

    Raises:
        InputError: the file is missing, a directory, unreadable or not UTF-8.
    """
    name = "stdin" if path == STDIN else path
    if path == STDIN and stdin is None:
        raise InputError("stdin: not available to read ids from")
    try:
        data = stdin.read() if stdin is not None and path == STDIN else Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory, not a file of ids") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read it ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
    # Lines end at \n only (\r\n is stripped with the rest of the whitespace): a form feed
    # or U+2028 inside a line stays in its id for validation to judge, not split it in two.
    return parse_id_lines(text.split("\n"))


def collect_ids(args: Sequence[str], file: str | None, *, stdin: BinaryIO | None) -> IdList:
    """The ids from the arguments, then from the file, each with where it came from.

    Parameters:
        args: the MODEL arguments.
        file: ``--file`` (``-`` for stdin), or None.
        stdin: as for ``read_id_file``.

    Raises:
        InputError: the file cannot be read, or there are no ids at all.
    """
    ids = list(args)
    origins = [f"argument {position}" for position in range(1, len(args) + 1)]
    if file is not None:
        name = "stdin" if file == STDIN else file
        for number, model_id in read_id_file(file, stdin=stdin):
            ids.append(model_id)
            origins.append(f"{name} line {number}")
        if not ids:
            raise InputError(f"{name} holds no model id (blank lines and # comments are skipped)")
    if not ids:
        raise InputError("no model ids given: pass them as arguments or with --file PATH|-")
    return IdList(ids, origins)
