"""End to end in a real browser: a running `vitals dashboard`, Debian's headless Chromium.

Each page is loaded, its charts must draw, no exception box may appear, and a screenshot is
saved under tests/artifacts/dashboard/ and checked not to be blank.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alerts import config as alerts_config
from alerts.engine import AlertEngine
from alerts.sqlstore import SqlStore
from dashboards.rollup import refresh
from tests.dashboards import estate
from tests.dashboards.conftest import run_sla_engine
from tests.support.services import free_port
from vitals.kernel.db import create_engine, migrate
from vitals.kernel.units import NS

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "dashboard"
CHROME_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _require_browser() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed at /usr/bin/chromium", pytrace=False)
        pytest.skip("chromium is not installed at /usr/bin/chromium")


def _wait_http(url: str, deadline_s: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"vitals dashboard exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {deadline_s} s")


class Server:
    def __init__(self, base: str, est: estate.Estate) -> None:
        self.base = base
        self.estate = est


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _require_browser()
    root = tmp_path_factory.mktemp("dashboard-e2e")
    url = f"sqlite:///{root / 'vitals.db'}"
    engine = create_engine(url)
    migrate(engine)
    config = estate.write_config(root / "config")
    est = estate.build(engine)
    refresh(engine, horizon_s=0, edge_timing=estate.SETTLED, clock=lambda: int(est.now_s * NS))
    run_sla_engine(engine, config, est)
    # Let the alerting engine fire on the estate's breaching SLAs, so the Alerts page has rows.
    AlertEngine(SqlStore(engine), lambda: alerts_config.load_for(config), clock=lambda: est.now_s).evaluate()
    engine.dispose()
    port = free_port()
    log = (root / "dashboard.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vitals",
            "dashboard",
            "--db",
            url,
            "--config",
            str(config),
            "--port",
            str(port),
            "--now",  # the pages show the estate as it was just after it was written
            estate.page_now(),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "VITALS_DASHBOARD_ROLLUPS": "on"},
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/_stcore/health", 60, proc)
        yield Server(f"http://127.0.0.1:{port}", est)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    # SIGTERM stops Streamlit cleanly (exit status 0 or -15 depending on who handled it).
    assert proc.returncode in (0, -signal.SIGTERM), (root / "dashboard.log").read_text()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


def _launch(playwright: Any, profile: Path, **options: Any) -> Any:
    """Debian's Chromium with a fresh profile (playwright's own browser download is not used)."""
    options.setdefault("viewport", {"width": 1400, "height": 1000})
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        args=CHROME_ARGS,
        headless=True,
        **options,
    )


@pytest.fixture(scope="module")
def browser(playwright: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    context = _launch(playwright, tmp_path_factory.mktemp("chromium-profile"))
    yield context
    context.close()


def _settle(page: Any, min_charts: int, text: str, deadline_s: float = 60) -> None:
    """Wait until ``text`` shows, the script has finished, ``min_charts`` plotly charts drew, no
    skeleton placeholder is left and the page's elements stopped changing for a few polls."""
    page.get_by_text(text).first.wait_for(state="visible", timeout=deadline_s * 1000)
    deadline = time.monotonic() + deadline_s
    charts, stable, last = 0, 0, -1
    while time.monotonic() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count()
        skeletons = page.locator('[data-testid="stSkeleton"]').count()
        charts = page.locator(".js-plotly-plot .main-svg").count()
        elements = page.locator('[data-testid="stElementContainer"]').count()
        ready = not running and not skeletons and charts >= min_charts
        stable = stable + 1 if ready and elements == last else 0
        last = elements
        if stable >= 3:
            return
        page.wait_for_timeout(250)
    raise TimeoutError(f"page did not settle: {min_charts} charts expected, {charts} drawn")


def _not_blank(path: Path) -> None:
    from PIL import Image, ImageStat

    with Image.open(path) as image:
        grey = image.convert("L")
        stat = ImageStat.Stat(grey)
        colours = len(image.convert("RGB").getcolors(maxcolors=1 << 20) or [])
    assert stat.var[0] > 100, f"{path} looks blank (variance {stat.var[0]:.1f})"
    assert colours > 50, f"{path} has only {colours} colours"


PAGES = [
    # (name, path and query, charts that must draw, text that must show)
    ("scorecard", "", 7, "Business figures"),
    ("sla", "sla?sla=charge-lag", 3, "Bad events"),
    ("operations", "operations", 6, "Interface silence"),
    ("traces", "traces?status=error", 0, "Matching spans"),
    ("dependencies", "dependencies", 1, "Service dependency map"),
    ("alerts", "alerts", 0, "Acknowledge"),
]


@pytest.mark.parametrize(("name", "path", "charts", "text"), PAGES, ids=[p[0] for p in PAGES])
def test_page_draws_without_errors(
    server: Server, browser: Any, name: str, path: str, charts: int, text: str
) -> None:
    page = browser.new_page()
    try:
        page.goto(f"{server.base}/{path}")
        _settle(page, charts, text)
        assert page.locator('[data-testid="stException"]').count() == 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        _not_blank(shot)
    finally:
        page.close()


def test_trace_waterfall_and_journey_draw(server: Server, browser: Any) -> None:
    charge = next(c for c in server.estate.charges if c.posted_s is not None)
    page = browser.new_page()
    try:
        page.goto(f"{server.base}/traces?trace={server.estate.trace_with_hop}&key={charge.key}")
        _settle(page, 2, "Business object journey")
        assert page.locator('[data-testid="stException"]').count() == 0
        shot = ARTIFACTS / "traces-waterfall.png"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        _not_blank(shot)
    finally:
        page.close()


def test_time_range_is_kept_in_the_url(server: Server, browser: Any) -> None:
    page = browser.new_page()
    try:
        page.goto(f"{server.base}/operations?range=7d&tz=Europe/Berlin")
        _settle(page, 6, "Interface silence")
        assert "range=7d" in page.url
        assert page.get_by_text("Last week").first.is_visible()
        assert page.get_by_text("times in Europe/Berlin").first.is_visible()
        # choosing another range rewrites the address bar, so a copied link shares the view
        page.locator('[data-testid="stSidebar"]').get_by_text("1h", exact=True).first.click()
        deadline = time.monotonic() + 30
        while "range=1h" not in page.url and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        assert "range=1h" in page.url
    finally:
        page.close()


def test_dark_theme_renders(server: Server, playwright: Any, tmp_path: Path) -> None:
    """The viewer's system preference picks the dark theme; the page still draws, not blank."""
    context = _launch(playwright, tmp_path / "profile", color_scheme="dark")
    try:
        page = context.new_page()
        page.goto(f"{server.base}/")
        _settle(page, 7, "Business figures")
        background = page.evaluate(
            "getComputedStyle(document.querySelector(\"[data-testid='stApp']\")).backgroundColor"
        )
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "scorecard-dark.png"
        page.screenshot(path=str(shot), full_page=True)
        _not_blank(shot)
    finally:
        context.close()
    red, green, blue = (int(v) for v in background.strip("rgba()").split(",")[:3])
    assert red + green + blue < 200, f"expected a dark background, got {background}"


#: An iPhone 12-15's screen in CSS pixels: the first screen a phone shows.
PHONE = {"width": 390, "height": 844}


def test_status_summary_is_on_a_phones_first_screen(server: Server, playwright: Any, tmp_path: Path) -> None:
    """390 px wide: how many SLAs are breached, at risk and fine shows without scrolling, above the
    business figures; the sparklines carry no toolbar over their line."""
    context = _launch(playwright, tmp_path / "profile", viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.goto(f"{server.base}/")
        _settle(page, 7, "Business figures")
        summary = page.locator(".st-key-status-summary")
        assert summary.count() == 1
        box = summary.bounding_box()
        assert box is not None and box["width"] > 0
        assert box["y"] + box["height"] <= PHONE["height"], f"status summary at {box}, below the first screen"
        assert "Breach" in summary.inner_text()
        figures = page.get_by_text("Business figures").first.bounding_box()
        assert figures is not None and figures["y"] > box["y"]  # the summary comes first
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "scorecard-phone.png"
        page.screenshot(path=str(shot))  # the first screen only: what a phone shows on opening
        _not_blank(shot)
        # a sparkline (a tile's SLI trend) draws no plotly toolbar over its line
        tile = page.locator(".st-key-tile-charge-lag")
        tile.scroll_into_view_if_needed()
        assert tile.locator(".js-plotly-plot").count() == 1
        assert tile.locator(".modebar-container .modebar-btn").count() == 0
    finally:
        context.close()


def test_artifacts_are_ignored_by_git() -> None:
    root = Path(__file__).resolve().parents[2]
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "tests/artifacts/dashboard/x.png"], cwd=root, check=False
    ).returncode
    assert ignored == 0
