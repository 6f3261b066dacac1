"""A batch's models warm over time, as an inline SVG step chart rendered on the server."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["warm_chart"]

WIDTH, HEIGHT = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 28


def _x(seconds: float, span: float) -> float:
    return LEFT + (WIDTH - LEFT - RIGHT) * (seconds / span if span > 0 else 0.0)


def _y(count: int, total: int) -> float:
    return HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * (count / total if total > 0 else 0.0)


def warm_chart(points: Sequence[tuple[float, int]], *, total: int, elapsed: float) -> str:
    """``points``: ``(seconds since the batch started, models warm by then)``, in time order.

    Returns an ``<svg>`` element: a step line from 0 to the last point, held until
    ``elapsed``, against axes of seconds and models (0 to ``total``).
    """
    span = max([elapsed, *(t for t, _ in points), 1.0])
    path = [f"{_x(0, span):.1f},{_y(0, total):.1f}"]
    count = 0
    for seconds, warm in points:
        path.append(f"{_x(seconds, span):.1f},{_y(count, total):.1f}")
        path.append(f"{_x(seconds, span):.1f},{_y(warm, total):.1f}")
        count = warm
    path.append(f"{_x(span, span):.1f},{_y(count, total):.1f}")
    axis_y = HEIGHT - BOTTOM
    return (
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" data-points="{len(points)}">'
        f"<title>models warm over time: {count} of {total} after {span:.0f} s</title>"
        f'<line x1="{LEFT}" y1="{axis_y}" x2="{WIDTH - RIGHT}" y2="{axis_y}" class="axis"/>'
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{axis_y}" class="axis"/>'
        f'<line x1="{LEFT}" y1="{_y(total, total):.1f}" x2="{WIDTH - RIGHT}" '
        f'y2="{_y(total, total):.1f}" class="goal"/>'
        f'<text x="{LEFT - 6}" y="{_y(total, total) + 4:.1f}" text-anchor="end">{total}</text>'
        f'<text x="{LEFT - 6}" y="{axis_y + 4}" text-anchor="end">0</text>'
        f'<text x="{LEFT}" y="{HEIGHT - 8}">0 s</text>'
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end">{span:.0f} s</text>'
        f'<polyline class="warm" points="{" ".join(path)}"/>'
        "</svg>"
    )
