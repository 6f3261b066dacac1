"""Given batches in the ledger and the account's limiter in Redis, the pages show them,
rendered on the server (complete without script), and the JSON twins carry the live fragment."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from tests.unit.dashboard.conftest import NOW, Board
from worker.batch.ids import header_task_id
from worker.dashboard.pages import format_duration
from worker.limiter.breaker import Breaker

MODELS = {
    "m-warm-1": ("warm", None, 2, NOW - 40),
    "m-warm-2": ("warm", None, 2, NOW - 20),
    "no-such-model": ("failed", "HTTP 404: Model not found: no-such-model", 1, NOW - 55),
    "m-loading": ("reloading", "accepted; confirming", 1, NOW - 5),
    "m-waiting": ("waiting", "limiter: rate", 0, NOW - 2),
    "m-queued": ("queued", None, 0, NOW - 60),
}


def progress_of(html: str, batch_id: str) -> dict[str, str]:
    card = html[html.index(f'data-batch-id="{batch_id}"') :]
    bar = re.search(r'<div class="progress"([^>]*)>', card)
    assert bar is not None, card[:500]
    return dict(re.findall(r'(data-[a-z]+|aria-value[a-z]+)="([^"]*)"', bar.group(1)))


def test_the_overview_shows_an_open_batch_with_its_counts_failures_and_priority(
    board: Board,
) -> None:
    board.batch("b-open", MODELS, priority="high")

    html = board.get_ok("/")

    bar = progress_of(html, "b-open")
    assert bar["data-total"] == "6" and bar["data-final"] == "3"
    assert bar["aria-valuenow"] == "3" and bar["aria-valuemax"] == "6"
    counts = board.sources.ledger.counts("b-open")
    assert {s: int(bar[f"data-{s}"]) for s in counts} == counts
    assert "priority high" in html
    assert "<code>no-such-model</code>: HTTP 404: Model not found: no-such-model" in html
    assert 'elapsed <b class="elapsed">1m 00s</b>' in html
    assert "Open batches (1)" in html


def test_time_left_comes_from_the_rate_models_became_final(board: Board) -> None:
    board.batch("b-open", MODELS)

    data = json.loads(board.get_ok("/api/overview"))

    (batch,) = data["open"]
    # Final at -55, -40, -20: two more in 55 s after the first; 3 left -> 82.5 s.
    assert batch["seconds_left"] == 82.5
    assert format_duration(batch["seconds_left"]) in data["html"]
    assert data["html"] in board.get_ok("/")  # the live fragment is the page's own main


def test_a_completed_batch_moves_to_the_recent_list_with_its_duration(board: Board) -> None:
    done = {"a": ("warm", None, 2, NOW - 30), "b": ("failed", "HTTP 404: nope", 1, NOW - 50)}
    board.batch("b-done", done, created_at=NOW - 100)
    ledger = board.sources.ledger
    assert ledger.claim("b-done", "me", now=NOW, seconds=60) == "claimed"
    ledger.complete("b-done", "me", ledger.build_summary("b-done", completed_at=NOW))
    board.sources.monitor.batch_completed("b-done", duration=70.0, now=NOW)

    data = json.loads(board.get_ok("/api/overview"))

    assert data["open"] == []
    (batch,) = data["recent"]
    assert batch["status"] == "done" and batch["elapsed"] == 70.0 and batch["seconds_left"] is None
    assert batch["failures"] == {"b": "HTTP 404: nope"}
    assert "Open batches (0)" in data["html"] and 'data-batch-id="b-done"' in data["html"]


def test_the_account_panel_shows_the_limiter_live(
    board: Board, publish_account: Callable[..., str]
) -> None:
    scope = publish_account(rate_count=10, window=1.05, max_in_flight=5)
    client = board.client
    base = f"reload:limiter:{scope}"
    client.zadd(f"{base}:calls", {f"g{i}": NOW - 0.1 * i for i in range(7)})  # 7 in the window
    client.zadd(f"{base}:calls", {"old": NOW - 5})
    client.zadd(f"{base}:leases", {"w|1": NOW + 30, "w|2": NOW + 30, "w|gone": NOW - 1})
    client.set(f"{base}:cap", 4)
    client.set(f"{base}:pause", repr(NOW + 12.5))
    for i in range(3):
        board.sources.monitor.answered("rate_limited", now=NOW - 10 * i)
    client.hset(
        Breaker(client, scope, probe_seconds=1).keys[0],
        mapping={
            "state": "open",
            "kind": "permanent",
            "reason": "Invalid API key",
            "until": NOW + 60,
        },
    )

    data = json.loads(board.get_ok("/api/overview"))

    (account,) = data["accounts"]
    assert account["calls_in_window"] == 7 and account["rate_count"] == 10
    assert account["in_flight"] == 2 and account["cap"] == 4 and account["max_in_flight"] == 5
    assert account["rate_limited_last_minute"] == 3
    assert account["breaker"] == "open" and account["breaker_reason"] == "Invalid API key"
    html = data["html"]
    assert "7 of 10 per 1.05 s" in html
    assert "2 of 4 (lowered by 429s from 5)" in html
    assert "Invalid API key" in html and "next probe in 60 s" in html
    assert account["paused_for"] == 12.5 and "12.5 s" in html


def test_no_published_account_says_so(board: Board) -> None:
    assert "No worker has published the account's limits yet." in board.get_ok("/")


def test_the_batch_page_lists_every_model_and_filters_by_state(board: Board) -> None:
    board.batch("b1", MODELS)

    everything = board.get_ok("/batch/b1")
    failed = board.get_ok("/batch/b1?state=failed")

    assert len(re.findall(r'<tr class="model"', everything)) == len(MODELS)
    rows = re.findall(r'<tr class="model" data-model-id="([^"]+)" data-state="([^"]+)"', failed)
    assert rows == [("no-such-model", "failed")]
    assert '<td class="reason">HTTP 404: Model not found: no-such-model</td>' in failed
    assert 'class="on">failed 1</a>' in failed
    assert board.get("/batch/b1?state=bogus", auth=("ops", "dash-secret"))[0] == 400


def test_the_batch_page_charts_models_warm_over_time(board: Board) -> None:
    board.batch("b1", MODELS)

    html = board.get_ok("/batch/b1")

    chart = re.search(r'<svg class="chart"[^>]*data-points="(\d+)"', html)
    assert chart is not None and chart.group(1) == "2"
    assert "models warm over time: 2 of 6" in html


def test_models_link_to_their_task_in_flower_when_flower_url_is_set(board: Board) -> None:
    board.batch("b1", MODELS)

    linked = board.get_ok("/batch/b1", flower_url="http://flower.example:5555/")
    plain = board.get_ok("/batch/b1")

    task = header_task_id("b1", "m-warm-1")
    assert f'href="http://flower.example:5555/task/{task}"' in linked
    assert "/task/" not in plain and "Set FLOWER_URL" in plain


def test_values_are_escaped_and_nothing_is_loaded_from_elsewhere(board: Board) -> None:
    board.batch("b1", {"<script>alert(1)</script>": ("failed", "<b>bad</b>", 1, NOW - 1)})

    html = board.get_ok("/batch/b1") + board.get_ok("/")

    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "<b>bad</b>" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_an_unknown_batch_is_a_404_page(board: Board) -> None:
    status, body, _ = board.get("/batch/nope", auth=("ops", "dash-secret"))

    assert status == 404 and "No batch nope" in body


def test_the_batch_json_has_the_models_and_the_fragment(board: Board) -> None:
    board.batch("b1", MODELS)

    data = json.loads(board.get_ok("/api/batch/b1?state=failed"))

    assert data["batch"]["models"] == {
        "no-such-model": {
            "state": "failed",
            "reason": "HTTP 404: Model not found: no-such-model",
            "calls": 1,
            "task_id": header_task_id("b1", "no-such-model"),
        }
    }
    assert 'data-model-id="no-such-model"' in data["html"]
