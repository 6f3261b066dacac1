"""Given ``reloadctl warmup`` with bad arguments or files, it exits 2 with the reason on stderr
and enqueues nothing.

Injected at the CLI edge: no ids, an empty id, control characters, an id of
1 MB (argument and file line), a file that does not exist, a file that is not
UTF-8, stdin of binary garbage, ``RELOAD_MAX_BATCH + 1`` ids, a bad callback
URL. Redis (the broker) must hold no message and no batch afterwards. No
worker runs: anything enqueued would stay visible on the queue.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import redis

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
MAX_BATCH = 5
MEGABYTE_ID = "m" * (1 << 20)


def _cases(tmp_path: Path) -> list[tuple[list[str], bytes | None, str]]:
    big_file = tmp_path / "big.txt"
    big_file.write_text(f"ok-1\n{MEGABYTE_ID}\n")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(b"mod\xe8le\n")
    many = tmp_path / "many.txt"
    many.write_text("".join(f"m-{i}\n" for i in range(MAX_BATCH + 1)))
    control = tmp_path / "control.txt"
    control.write_bytes(b"ok\nbad\x07id\n")
    return [
        ([], None, ""),  # click: missing MODEL
        ([""], None, "empty id"),
        (["ok", "bad\x1bid"], None, "U+001B"),
        (["ok", "x" * 300], None, "more than 256"),
        (["--file", str(big_file)], None, "more than 256"),
        (["--file", str(tmp_path / "nope.txt")], None, "nope.txt"),
        (["--file", str(latin1)], None, "latin1.txt"),
        (["--file", "-"], b"\xff\xfe\x00\x01garbage\x00", "stdin"),
        (["--file", str(many)], None, "RELOAD_MAX_BATCH"),
        (["--file", str(control)], None, "U+0007"),
        (["ok", "--callback-url", "ftp://example.com/x"], None, "callback"),
    ]


def test_bad_cli_input_exits_2_with_the_reason_and_enqueues_nothing(
    redis_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "REDIS_URL": redis_url, "RELOAD_MAX_BATCH": str(MAX_BATCH)}
    env.pop("MODELSLAB_API_KEY", None)
    client = redis.Redis.from_url(redis_url)
    try:
        for args, stdin, expected in _cases(tmp_path):
            done = subprocess.run(
                [str(REPO / ".venv" / "bin" / "reloadctl"), "warmup", "--timeout", "5", *args],
                env=env,
                input=stdin,
                capture_output=True,
                timeout=60,
                check=False,
            )
            shown = [a[:40] for a in args]
            stderr = done.stderr.decode(errors="replace")
            assert done.returncode == 2, (shown, done.returncode, stderr[-500:])
            assert expected in stderr, (shown, stderr[-500:])
            assert "Traceback" not in stderr, (shown, stderr[-2000:])
            assert len(stderr) < 2000, (shown, "the error quotes the whole input back")
            assert done.stdout == b"", shown
        assert client.llen("reload") == 0
        assert list(client.scan_iter("reload:*")) == []
        assert list(client.scan_iter("celery-task-meta-*")) == []
    finally:
        client.close()
