"""``--py-spy DIR``: sample the project's workers with py-spy while a run goes on.

One ``py-spy record --subprocesses --format raw`` per worker (its pool
processes included), stopped by its pid with SIGINT when the run ends, so
that py-spy writes its collapsed stacks (one ``frame;frame;... count`` line
per stack) to ``DIR/<worker>.txt``. :func:`summary` folds them into the share
of samples spent under each frame (inclusive), the figures the profiling
notes in ``bench/README.md`` quote.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

__all__ = ["PySpy", "summary"]


class PySpy:
    """py-spy processes attached to worker pids; a context manager that stops them."""

    def __init__(self, out_dir: Path, rate: int = 67) -> None:
        self.out_dir = out_dir
        self.rate = rate
        self._children: list[subprocess.Popen[bytes]] = []

    def attach(self, pid: int, name: str) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        py_spy = Path(sys.executable).parent / "py-spy"
        command = [
            str(py_spy), "record", "--pid", str(pid), "--subprocesses", "--nonblocking",
            "--format", "raw", "--rate", str(self.rate),
            "--output", str(self.out_dir / f"{name}.txt"),
        ]  # fmt: skip
        log = (self.out_dir / f"{name}.py-spy.log").open("wb")
        self._children.append(
            subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        )

    def __enter__(self) -> PySpy:
        return self

    def __exit__(self, *exc: object) -> None:
        for child in self._children:  # SIGINT: py-spy writes what it sampled, then exits
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in self._children:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(5)


def summary(files: Iterable[Path], top: int = 40) -> list[tuple[str, float]]:
    """The ``top`` frames by inclusive share of all samples (0..1), from py-spy raw files."""
    inclusive: Counter[str] = Counter()
    total = 0
    for path in files:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            total += count
            for frame in set(stack.split(";")):
                inclusive[frame] += count
    if not total:
        return []
    return [(frame, count / total) for frame, count in inclusive.most_common(top)]


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.profiling FILE...``: print the top frames of py-spy raw files."""
    paths = [Path(arg) for arg in (argv if argv is not None else sys.argv[1:])]
    for frame, share in summary(paths, top=60):
        print(f"{share * 100:5.1f} %  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
