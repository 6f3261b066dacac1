"""Given workers warming a batch, a real headless Chromium shows it on the dashboard.

A real Redis, the simulator over HTTP (one unknown model), two worker processes
and ``reloadctl dashboard``; Debian's Chromium driven through selenium, with its
own chromedriver (nothing is downloaded). During the batch the overview's
progress bar holds the ledger's counts (read between two equal reads of the
ledger), the page updates itself without a reload, the batch page lists the
failed model with its reason, and without credentials the dashboard answers 401.
Screenshots are written under the test's temporary directory.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from aiohttp import encode_basic_auth
from celery import Celery

from sandbox.processes import CeleryProcess
from sandbox.sim.process import SimulatorProcess
from tests.integration.conftest import worker_env
from tests.integration.dashboard_rig import PASSWORD, USER, Dashboard, start_dashboard
from worker.batch.ledger import STATES, Ledger

pytestmark = pytest.mark.slow
__all__ = ["start_dashboard"]  # the fixture, imported for this file

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
UNKNOWN = "no-such-model"


@pytest.fixture
def browser() -> Iterator[object]:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip(
            f"no Chromium here (needs {CHROMIUM} and {CHROMEDRIVER}: "
            "apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1400"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def bar_counts(driver: object, batch_id: str) -> dict[str, int]:
    """The batch's progress bar counts. The page's script swaps the batch's HTML in every
    2 s; a read that finds the element it holds gone reads the new one."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    for attempt in range(5):
        bar = driver.find_element(By.CSS_SELECTOR, f'.batch[data-batch-id="{batch_id}"] .progress')  # type: ignore[attr-defined]
        try:
            return {state: int(bar.get_attribute(f"data-{state}")) for state in STATES}
        except StaleElementReferenceException:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def test_the_dashboard_shows_a_batch_live_in_a_real_browser(
    redis_url: str,
    start_simulator: Callable[..., SimulatorProcess],
    start_worker: Callable[..., CeleryProcess],
    start_dashboard: Callable[..., Dashboard],
    producer: Celery,
    browser: object,
    tmp_path: Path,
) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver: object = browser
    sim = start_simulator("--reload-seconds", "4", "--unknown", UNKNOWN)
    env = worker_env(redis_url, sim.base_url, RELOAD_RATE_LIMIT="4/s", RELOAD_MAX_IN_FLIGHT="2")
    start_worker(env)
    start_worker(env)
    dashboard = start_dashboard(env)
    ledger = Ledger(redis.Redis.from_url(redis_url))

    # Without credentials (or with wrong ones): 401 on the page and on /metrics.
    for path in ("/", "/metrics", "/api/overview"):
        assert httpx.get(f"{dashboard.url}{path}", timeout=10).status_code == 401
    assert httpx.get(dashboard.url, auth=(USER, "wrong"), timeout=10).status_code == 401
    # The browser sends the credentials with every request (its own fetches included).
    driver.execute_cdp_cmd("Network.enable", {})  # type: ignore[attr-defined]
    driver.execute_cdp_cmd(  # type: ignore[attr-defined]
        "Network.setExtraHTTPHeaders",
        {"headers": {"Authorization": encode_basic_auth(USER, PASSWORD)}},
    )

    models = [f"dash-{i:02d}" for i in range(14)] + [UNKNOWN]
    batch_id = producer.send_task("warmup_batch", args=[models]).get(timeout=30)
    driver.get(dashboard.url)  # type: ignore[attr-defined]

    # During the batch: the bar's counts are the ledger's (the page was rendered between two
    # equal reads of the ledger, so it saw the same counts).
    matched: dict[str, int] | None = None
    deadline = time.monotonic() + 40
    while matched is None and time.monotonic() < deadline:
        before = ledger.counts(batch_id)
        driver.refresh()  # type: ignore[attr-defined]
        shown = bar_counts(driver, batch_id)
        after = ledger.counts(batch_id)
        final = sum(after[s] for s in ("warm", "failed", "cancelled"))
        if final == len(models):
            break
        if before == after:
            assert shown == after, (shown, after)
            matched = after
    assert matched is not None, "no stable moment to compare during the batch"
    overview = tmp_path / "dashboard-overview.png"
    driver.save_screenshot(str(overview))  # type: ignore[attr-defined]
    print(f"screenshot of the overview during the batch: {overview}")

    # Live updates: the page changes without a reload (a marker set now survives).
    driver.execute_script("window.reloadMarker = 'still-here';")  # type: ignore[attr-defined]
    WebDriverWait(
        driver, 40, poll_frequency=0.3, ignored_exceptions=[StaleElementReferenceException]
    ).until(
        lambda d: (
            bar_counts(d, batch_id) != matched
            and int(d.find_element(By.TAG_NAME, "body").get_attribute("data-updates")) >= 1
        )
    )
    assert driver.execute_script("return window.reloadMarker;") == "still-here"  # type: ignore[attr-defined]

    summary = producer.AsyncResult(batch_id).get(timeout=90)
    assert list(summary["failed"]) == [UNKNOWN]

    # The batch page, filtered to the failed models, lists the unknown model with its reason.
    driver.get(f"{dashboard.url}/batch/{batch_id}?state=failed")  # type: ignore[attr-defined]
    rows = driver.find_elements(By.CSS_SELECTOR, "tr.model")  # type: ignore[attr-defined]
    assert [r.get_attribute("data-model-id") for r in rows] == [UNKNOWN]
    reason = rows[0].find_element(By.CSS_SELECTOR, "td.reason").text
    assert reason == summary["failed"][UNKNOWN] and "not found" in reason.lower()
    driver.get(f"{dashboard.url}/batch/{batch_id}")  # type: ignore[attr-defined]
    assert len(driver.find_elements(By.CSS_SELECTOR, "tr.model")) == len(models)  # type: ignore[attr-defined]
    page = tmp_path / "dashboard-batch.png"
    driver.save_screenshot(str(page))  # type: ignore[attr-defined]
    print(f"screenshot of the batch page: {page}")

    # Readable without script: the HTML itself holds the batch (curl would show it).
    html = dashboard.get("/").text
    assert f'data-batch-id="{batch_id}"' in html and UNKNOWN in html
    ledger.client.close()
