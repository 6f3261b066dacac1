"""Rendering the results: ``latest.json`` (the rows), ``latest.md`` (a table), ``latest.png``."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["machine", "readme_table", "render_markdown", "write_json", "write_plot"]

COLUMNS: tuple[tuple[str, str], ...] = (
    ("scenario", "scenario"),
    ("contender", "contender"),
    ("models", "models"),
    ("completion_s", "completion s"),
    ("ideal_s", "ideal s"),
    ("ratio_to_ideal", "x ideal"),
    ("ratio_to_asyncio", "x asyncio"),
    ("ratio_to_dramatiq", "x dramatiq"),
    ("issue_ideal_s", "issue ideal s"),
    ("ratio_to_issue_ideal", "x issue ideal"),
    ("violations", "violations"),
    ("rate_limited", "429s"),
    ("max_calls_in_any_second", "max calls/s"),
    ("peak_concurrency", "peak in flight"),
    ("peak_queued", "peak queued"),
    ("calls_per_model", "calls/model"),
    ("peak_rss_mb", "peak RSS MB"),
    ("peak_pss_mb", "peak PSS MB"),
    ("cpu_s_per_1000_models", "CPU s/1000 models"),
    ("redis_bytes_per_model", "Redis B/model"),
)


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        redis_version = subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, check=False
        ).stdout.split()[2]
    except (OSError, IndexError):
        redis_version = "unknown"
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "redis": redis_version,
        "load_average_at_start": " ".join(f"{x:.2f}" for x in load),
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _completion(row: Mapping[str, Any]) -> str:
    if row.get("completed"):
        return _cell(row.get("completion_s"))
    reason = row.get("error") or "did not finish"
    return f"{reason} ({row.get('warm', 0)}/{row.get('models')} warm)"


def render_markdown(
    rows: Sequence[Mapping[str, Any]],
    machine_info: Mapping[str, str],
    *,
    command: str,
    notes: Sequence[str] = (),
) -> str:
    """The results table with the machine it ran on, as Markdown."""
    header = "| " + " | ".join(title for _, title in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    lines = [f"Command: `{command}`", "", header, rule]
    for row in rows:
        cells = [
            _completion(row) if key == "completion_s" else _cell(row.get(key)) for key, _ in COLUMNS
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Machine: " + ", ".join(f"{key} {value}" for key, value in machine_info.items()) + ".",
    ]
    if notes:
        lines += ["", *[f"- {note}" for note in notes]]
    return "\n".join(lines) + "\n"


def write_json(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(list(rows), indent=2) + "\n")


def write_plot(
    curves: Mapping[str, Mapping[str, Sequence[float]]],
    ideals: Mapping[str, float],
    path: Path,
    rows: Sequence[Mapping[str, Any]] = (),
) -> None:
    """Models warm over time (from the simulator's ``warm_at``), one subplot per scenario,
    and, given the ``rows``, a last one of CPU seconds per 1,000 models."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(curves)
    panels = len(names) + (1 if rows else 0)
    fig, axes = plt.subplots(1, panels, figsize=(4.5 * panels, 3.6), squeeze=False)
    if rows:
        _cpu_bars(axes[0][-1], rows)
    for ax, name in zip(axes[0], names, strict=False):
        for contender, times in curves[name].items():
            if times:
                ax.step(list(times), range(1, len(times) + 1), where="post", label=contender)
        if name in ideals:
            ax.axvline(ideals[name], color="grey", linestyle="--", linewidth=1, label="ideal")
        ax.set_title(name)
        ax.set_xlabel("seconds since first enqueue")
        ax.set_ylabel("models warm")
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _cpu_bars(ax: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """Grouped bars: CPU s per 1,000 models, per scenario (groups) and contender (bars)."""
    scenarios = list(dict.fromkeys(str(r["scenario"]) for r in rows))
    contenders = list(dict.fromkeys(str(r["contender"]) for r in rows))
    width = 0.8 / max(1, len(contenders))
    for i, contender in enumerate(contenders):
        values = {
            str(r["scenario"]): r.get("cpu_s_per_1000_models") or 0.0
            for r in rows
            if r["contender"] == contender
        }
        xs = [j + i * width for j in range(len(scenarios))]
        ax.bar(xs, [values.get(s, 0.0) for s in scenarios], width, label=contender)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(scenarios))])
    ax.set_xticklabels([s.split("-")[0] for s in scenarios])
    ax.set_title("CPU s per 1,000 models")
    ax.set_xlabel("scenario")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3, axis="y")


README_COLUMNS: tuple[tuple[str, str], ...] = (
    ("scenario", "scenario"),
    ("contender", "contender"),
    ("models", "models"),
    ("completion_s", "completion s"),
    ("ratio_to_ideal", "x ideal"),
    ("ratio_to_asyncio", "x asyncio"),
    ("ratio_to_dramatiq", "x dramatiq"),
    ("violations", "violations"),
    ("rate_limited", "429s"),
    ("max_calls_in_any_second", "max calls/s"),
    ("peak_pss_mb", "peak PSS MB"),
    ("cpu_s_per_1000_models", "CPU s/1000 models"),
)


def readme_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The README's shorter table of the same rows (the scenario named once per group)."""
    lines = [
        "| " + " | ".join(title for _, title in README_COLUMNS) + " |",
        "|" + "|".join("---" for _ in README_COLUMNS) + "|",
    ]
    previous = None
    for row in rows:
        cells = []
        for key, _ in README_COLUMNS:
            if key == "scenario":
                cells.append("" if row["scenario"] == previous else str(row["scenario"]))
            elif key == "completion_s":
                cells.append(_completion(row))
            else:
                cells.append(_cell(row.get(key)))
        previous = row["scenario"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    print(readme_table(json.loads(Path(sys.argv[1]).read_text())), end="")
