"""The dashboard's HTML, rendered on the server: readable with curl, updated live by a small script.

Two pages: the overview (the account's limiter, open and recent batches) and a
batch (every model, filterable by state, and its warm curve). Each page's
``<main id="live">`` is also rendered alone (``overview_live``,
``batch_live``) for the JSON endpoints that the inline script polls every
``POLL_SECONDS``: it swaps that fragment in, so the page never reloads and
there is one renderer. No asset from elsewhere; every value is escaped.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from html import escape
from urllib.parse import quote, urlencode

from worker.batch.ledger import STATES
from worker.dashboard.account import AccountView
from worker.dashboard.batches import BatchView, ModelRow, warm_curve
from worker.dashboard.chart import warm_chart
from worker.dashboard.flower import task_url

__all__ = [
    "POLL_SECONDS",
    "batch_live",
    "batch_page",
    "format_duration",
    "not_found_page",
    "overview_live",
    "overview_page",
    "updated_text",
]

POLL_SECONDS = 2.0
FAILURES_SHOWN = 10

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{display:flex;gap:1em;align-items:baseline;padding:.6em 1.2em;background:#1d232a;color:#fff}
header a{color:#9fd0ff}header h1{font-size:1.2em;margin:0}#updated{margin-left:auto;opacity:.8}
main{padding:0 1.2em 2em}h2{font-size:1.05em;margin:1.4em 0 .5em}
.card{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:.7em 1em;margin:.5em 0}
.progress{display:flex;height:14px;background:#e9ecef;border-radius:7px;overflow:hidden;
margin:.4em 0}
.seg.queued{background:#adb5bd}.seg.waiting{background:#f0ad4e}.seg.reloading{background:#3d8bfd}
.seg.warm{background:#2f9e44}.seg.failed{background:#e03131}.seg.cancelled{background:#ae3ec9}
.count{margin-right:.8em;white-space:nowrap}.count b{font-weight:600}
.badge{font-size:.8em;padding:.05em .5em;border-radius:4px;background:#e9ecef}
.badge.high{background:#ffe066}.badge.done{background:#d3f9d8}.badge.open{background:#d0ebff}
.state-warm{color:#2f9e44}.state-failed{color:#e03131}.state-cancelled{color:#ae3ec9}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #dde1e6;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#f1f3f5}.failures{margin:.3em 0 0 1em;padding:0}
.limits td:first-child{font-weight:600}.bad{color:#e03131;font-weight:600}.muted{color:#868e96}
svg.chart{background:#fff;border:1px solid #dde1e6}svg .axis{stroke:#868e96}
svg .goal{stroke:#2f9e44;stroke-dasharray:4 4}svg .warm{fill:none;stroke:#2f9e44;stroke-width:2}
svg text{font-size:11px;fill:#495057}nav.filter a{margin-right:.7em}nav.filter a.on{font-weight:700}
"""

# Polls the page's JSON twin and swaps its fragment in: no reload, and without script the
# page is complete anyway. The URL is built on location.origin (never credentials).
_SCRIPT = """
(function () {
  var live = document.getElementById("live"), shown = document.getElementById("updated");
  if (!live || !live.getAttribute("data-source") || !window.fetch) { return; }
  var source = new URL(live.getAttribute("data-source"), window.location.origin);
  function tick() {
    fetch(source, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (data) {
        live.innerHTML = data.html;
        shown.textContent = data.updated;
        document.body.setAttribute("data-updates", String(
          Number(document.body.getAttribute("data-updates") || "0") + 1));
      })
      .catch(function (e) { shown.textContent = "live updates paused (" + e.message + ")"; })
      .then(function () { window.setTimeout(tick, POLL_MS); });
  }
  window.setTimeout(tick, POLL_MS);
})();
"""


def format_duration(seconds: float | None) -> str:
    """``1h 02m``, ``3m 05s``, ``42s``; ``estimating…`` for ``None``."""
    if seconds is None:
        return "estimating…"
    whole = round(max(0.0, seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def updated_text(now: float) -> str:
    """``updated HH:MM:SS``: the time ``now`` (a Unix time) on this machine's local clock."""
    return "updated " + time.strftime("%H:%M:%S", time.localtime(now))


def _document(title: str, body: str, *, source: str | None, now: float) -> str:
    script = _SCRIPT.replace("POLL_MS", str(int(POLL_SECONDS * 1000)))
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n"
        '<body data-updates="0"><header><h1><a href="/">Reload dashboard</a></h1>'
        '<a href="/metrics">/metrics</a>'
        f'<span id="updated">{escape(updated_text(now))}</span></header>\n'
        f'<main id="live" data-source="{escape(source or "")}">{body}</main>\n'
        f"<script>{script}</script></body></html>\n"
    )


def _progress(view: BatchView) -> str:
    data = " ".join(f'data-{s}="{view.counts.get(s, 0)}"' for s in STATES)
    segments = "".join(
        f'<span class="seg {s}" style="width:{100 * view.counts.get(s, 0) / view.total:.2f}%" '
        f'title="{s} {view.counts.get(s, 0)}"></span>'
        for s in STATES
        if view.total and view.counts.get(s, 0)
    )
    return (
        f'<div class="progress" role="progressbar" aria-valuemin="0" '
        f'aria-valuemax="{view.total}" aria-valuenow="{view.final}" '
        f'aria-label="{view.final} of {view.total} final" data-total="{view.total}" '
        f'data-final="{view.final}" {data}>{segments}</div>'
    )


def _counts(view: BatchView) -> str:
    return "".join(
        f'<span class="count" data-state="{s}">{s} <b>{view.counts.get(s, 0)}</b></span>'
        for s in STATES
    )


def _failures(view: BatchView) -> str:
    if not view.failures:
        return ""
    items = list(view.failures.items())
    shown = "".join(
        f"<li><code>{escape(m)}</code>: {escape(reason)}</li>"
        for m, reason in items[:FAILURES_SHOWN]
    )
    more = len(items) - FAILURES_SHOWN
    if more > 0:
        link = f"/batch/{quote(view.batch_id)}?state=failed"
        shown += f'<li><a href="{escape(link)}">and {more} more failed</a></li>'
    return f'<div>failed:<ul class="failures">{shown}</ul></div>'


def _batch_card(view: BatchView, *, link: bool = True) -> str:
    name = escape(view.batch_id)
    title = f'<a href="/batch/{escape(quote(view.batch_id))}">{name}</a>' if link else name
    left = "done" if view.status == "done" else format_duration(view.seconds_left)
    return (
        f'<div class="card batch" data-batch-id="{name}" data-status="{escape(view.status)}">'
        f"<div><b>batch {title}</b> "
        f'<span class="badge {escape(view.priority)}">priority {escape(view.priority)}</span> '
        f'<span class="badge {escape(view.status)}">{escape(view.status)}</span></div>'
        f"{_progress(view)}"
        f'<div><span class="count"><b>{view.final}</b> of <b>{view.total}</b> final</span>'
        f"{_counts(view)}</div>"
        f'<div><span class="count">elapsed <b class="elapsed">{format_duration(view.elapsed)}</b>'
        f'</span><span class="count">time left <b class="left">{escape(left)}</b></span></div>'
        f"{_failures(view)}</div>"
    )


def _account(view: AccountView) -> str:
    pause = f'<span class="bad">{view.paused_for:.1f} s</span>' if view.paused_for > 0 else "none"
    if view.breaker == "closed":
        breaker = "closed"
    else:
        probe = f", next probe in {view.breaker_probe_in:.0f} s" if view.breaker == "open" else ""
        breaker = (
            f'<span class="bad">{escape(view.breaker)}</span> ({escape(view.breaker_kind)}'
            f"{probe}): {escape(view.breaker_reason)}"
        )
    cap = str(view.cap)
    if view.cap < view.max_in_flight:
        cap += f" (lowered by 429s from {view.max_in_flight})"
    rows = [
        (
            "calls in the window",
            f"{view.calls_in_window} of {view.rate_count} per {view.window:g} s",
        ),
        ("in flight", f"{view.in_flight} of {cap}"),
        ("pause remaining", pause),
        ("429s in the last minute", str(view.rate_limited_last_minute)),
        ("circuit breaker", breaker),
    ]
    cells = "".join(f"<tr><td>{name}</td><td>{value}</td></tr>" for name, value in rows)
    return (
        f'<table class="limits" data-scope="{escape(view.scope)}">'
        f'<caption class="muted">key {escape(view.scope)} (an opaque id, not the key)</caption>'
        f"{cells}</table>"
    )


def overview_live(
    accounts: Sequence[AccountView], open_views: Sequence[BatchView], recent: Sequence[BatchView]
) -> str:
    """The overview's live fragment: what ``/api/overview`` sends for the page to swap in.

    Parameters:
        accounts: the key scopes' limiters and breakers.
        open_views: the open batches.
        recent: the latest completed batches.
    """
    limiter = "".join(_account(a) for a in accounts) or (
        '<p class="muted">No worker has published the account\'s limits yet.</p>'
    )
    opened = "".join(_batch_card(v) for v in open_views) or '<p class="muted">None.</p>'
    done = "".join(_batch_card(v) for v in recent) or '<p class="muted">None yet.</p>'
    return (
        f'<section id="account"><h2>The account\'s limiter</h2>{limiter}</section>'
        f'<section id="open"><h2>Open batches ({len(open_views)})</h2>{opened}</section>'
        f'<section id="recent"><h2>Recent batches</h2>{done}</section>'
    )


def overview_page(
    accounts: Sequence[AccountView],
    open_views: Sequence[BatchView],
    recent: Sequence[BatchView],
    *,
    now: float,
) -> str:
    """The overview page: the accounts, the open and the recent batches.

    Parameters:
        accounts: the key scopes' limiters and breakers.
        open_views: the open batches.
        recent: the latest completed batches.
        now: the Redis clock's time, shown as the page's update time.
    """
    body = overview_live(accounts, open_views, recent)
    return _document("Reload dashboard", body, source="/api/overview", now=now)


def _model_cell(row: ModelRow, flower_url: str | None) -> str:
    name = f"<code>{escape(row.model_id)}</code>"
    if not flower_url:
        return name
    href = task_url(flower_url, row.task_id)
    return f'<a href="{escape(href)}" title="this model\'s task in Flower">{name}</a>'


def _model_rows(rows: Iterable[ModelRow], created_at: float, flower_url: str | None) -> str:
    out = []
    for row in rows:
        at = "" if row.at is None else f"+{max(0.0, row.at - created_at):.1f} s"
        out.append(
            f'<tr class="model" data-model-id="{escape(row.model_id)}" '
            f'data-state="{escape(row.state)}">'
            f"<td>{_model_cell(row, flower_url)}</td>"
            f'<td class="state-{escape(row.state)}">{escape(row.state)}</td>'
            f'<td class="reason">{escape(row.reason or "")}</td>'
            f"<td>{row.calls}</td><td>{at}</td></tr>"
        )
    return "".join(out)


def _filter_nav(view: BatchView, state: str | None) -> str:
    base = f"/batch/{quote(view.batch_id)}"
    links = [f'<a href="{escape(base)}" class="{"" if state else "on"}">all {view.total}</a>']
    for s in STATES:
        href = f"{base}?{urlencode({'state': s})}"
        on = "on" if s == state else ""
        links.append(f'<a href="{escape(href)}" class="{on}">{s} {view.counts.get(s, 0)}</a>')
    return f'<nav class="filter">show: {"".join(links)}</nav>'


def batch_live(view: BatchView, *, state: str | None, flower_url: str | None) -> str:
    """A batch page's live fragment: its card, its warm curve and its models.

    Parameters:
        view: the batch, with its models.
        state: list only the models in this ledger state (``None``: all).
        flower_url: Flower's base URL, to link each model to its task (``None``: no links).
    """
    rows = [r for r in view.models if state is None or r.state == state]
    chart = warm_chart(
        warm_curve(view.models, view.created_at), total=view.total, elapsed=view.elapsed
    )
    note = "" if flower_url else '<p class="muted">Set FLOWER_URL to link each model to Flower.</p>'
    return (
        f"{_batch_card(view, link=False)}"
        f"<h2>Models warm over time</h2>{chart}"
        f"<h2>Models</h2>{_filter_nav(view, state)}{note}"
        f'<table id="models" data-shown="{len(rows)}"><thead><tr><th>model</th><th>state</th>'
        f"<th>reason</th><th>calls</th><th>last change</th></tr></thead>"
        f"<tbody>{_model_rows(rows, view.created_at, flower_url)}</tbody></table>"
    )


def batch_page(view: BatchView, *, state: str | None, flower_url: str | None, now: float) -> str:
    """One batch's page, its models filtered by ``state``.

    Parameters:
        view: the batch.
        state: show only the models in this ledger state (``None``: all).
        flower_url: Flower's base URL, to link each model to its task (``None``: no links).
        now: the Redis clock's time, shown as the page's update time.
    """
    query = f"?{urlencode({'state': state})}" if state else ""
    source = f"/api/batch/{quote(view.batch_id)}{query}"
    body = batch_live(view, state=state, flower_url=flower_url)
    return _document(f"batch {view.batch_id}", body, source=source, now=now)


def not_found_page(batch_id: str, *, now: float) -> str:
    """The page for a batch id the ledger does not hold (expired or never started).

    Parameters:
        batch_id: the id asked for.
        now: the Redis clock's time, shown as the page's update time.
    """
    body = (
        f"<h2>No batch {escape(batch_id)}</h2><p>Its ledger expired (batches are kept 7 days) "
        'or it never started. <a href="/">All batches</a></p>'
    )
    return _document("no such batch", body, source=None, now=now)
