"""Single sign-on end to end: a real OpenID provider, a running `vitals dashboard`, real Chromium.

The provider is oidc-provider-mock (its own process on a free port, its users given with their
claims on the command line); the dashboard is a subprocess whose working directory holds the
.streamlit/secrets.toml that `st.login` reads. People sign in by filling the provider's form;
their ``groups`` claim gives the role. Covered: login, role mapping (an engineer opens the traces
page, an executive is refused it), logout, and a session that expires after its idle time (the
idle time is lowered in dashboard.yaml, which the dashboard reads again when it changes).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from access.audit import SqlAuditLog
from dashboards.rollup import refresh
from tests.dashboards import estate
from tests.dashboards.conftest import run_sla_engine
from tests.dashboards.test_browser import CHROME_ARGS, CHROMIUM, _require_browser
from tests.support.services import free_port
from vitals.kernel.db import create_engine, migrate
from vitals.kernel.units import NS

# The first test also waits for the estate, the provider and the dashboard to start.
pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(300)]

USERS: dict[str, dict[str, Any]] = {
    "eve": {"email": "eve@example.org", "name": "Eve Engineer", "groups": ["staff", "vitals-engineers"]},
    "dana": {"email": "dana@example.org", "name": "Dana Exec", "groups": "vitals-executives"},
}
DASHBOARD_YAML = """\
oidc:
  role_claim: groups
  claim_roles:
    vitals-engineers: engineer
    vitals-executives: executive
session_idle_timeout: {idle}
"""


def write_dashboard_yaml(config_dir: Path, idle: str) -> None:
    """dashboard.yaml with this idle time, with a new mtime (the dashboard reads it again)."""
    path = config_dir / "dashboard.yaml"
    previous = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(DASHBOARD_YAML.format(idle=idle))
    os.utime(path, ns=(previous + 10**9, previous + 10**9))


class Provider:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """oidc-provider-mock in its own process (its Authlib warns of deprecations as it runs)."""
    _require_browser()
    port = free_port()
    users = [json.dumps({"sub": sub, **claims}) for sub, claims in USERS.items()]
    log_path = tmp_path_factory.mktemp("oidc-provider") / "provider.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]
        + [arg for user in users for arg in ("--user-claims", user)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/.well-known/openid-configuration", 60, proc, "the OIDC provider")
        yield Provider(port)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


class Dashboard:
    def __init__(self, base: str, root: Path, url: str) -> None:
        self.base, self.root, self.url = base, root, url

    @property
    def config_dir(self) -> Path:
        return self.root / "config"


def _wait_http(url: str, deadline_s: float, proc: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {deadline_s} s")


@pytest.fixture(scope="module")
def dashboard(provider: Provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    _require_browser()
    root = tmp_path_factory.mktemp("oidc-e2e")
    url = f"sqlite:///{root / 'vitals.db'}"
    engine = create_engine(url)
    migrate(engine)
    config = estate.write_config(root / "config")
    est = estate.build(engine)
    refresh(engine, horizon_s=0, edge_timing=estate.SETTLED, clock=lambda: int(est.now_s * NS))
    run_sla_engine(engine, config, est)
    engine.dispose()
    write_dashboard_yaml(config, "30m")
    port = free_port()
    (root / ".streamlit").mkdir()
    (root / ".streamlit" / "secrets.toml").write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_urlsafe(32)}"\n'
        'client_id = "vitals-dashboard"\n'
        'client_secret = "not-a-real-secret"\n'
        f'server_metadata_url = "{provider.base}/.well-known/openid-configuration"\n'
    )
    log = (root / "dashboard.log").open("wb")
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "vitals", "dashboard", "--db", url, "--config", str(config)),
            *("--port", str(port), "--now", estate.page_now()),
        ],
        cwd=root,  # Streamlit reads .streamlit/secrets.toml from the working directory
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "VITALS_DASHBOARD_ROLLUPS": "off"},
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/_stcore/health", 60, proc, "vitals dashboard")
        yield Dashboard(f"http://127.0.0.1:{port}", root, url)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert proc.returncode in (0, -signal.SIGTERM), (root / "dashboard.log").read_text()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture
def browser(playwright: Any, tmp_path: Path) -> Iterator[Any]:
    """A fresh profile per test: each person signs in with their own cookies."""
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=CHROMIUM,
        args=CHROME_ARGS,
        headless=True,
        viewport={"width": 1400, "height": 1000},
    )
    # Generous: the dashboard pages draw a dozen charts, and CI machines are shared.
    context.set_default_navigation_timeout(90_000)
    context.set_default_timeout(60_000)
    yield context
    context.close()


def visible(page: Any, text: str, timeout_s: float = 60) -> None:
    page.get_by_text(text).first.wait_for(state="visible", timeout=timeout_s * 1000)


def sign_in(page: Any, dashboard: Dashboard, provider: Provider, sub: str) -> None:
    """Open the dashboard, press Sign in, fill the provider's form, come back signed in."""
    page.goto(f"{dashboard.base}/")
    visible(page, "Sign in with your organisation's account.")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{provider.base}/oauth2/authorize*", timeout=60_000)
    page.locator('input[name="sub"]').fill(sub)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{dashboard.base}/*", timeout=60_000)
    visible(page, str(USERS[sub]["name"]))


def audit_actions(dashboard: Dashboard) -> list[tuple[str, str, str]]:
    engine = create_engine(dashboard.url)
    try:
        entries = SqlAuditLog(engine).query(limit=1000)
    finally:
        engine.dispose()
    return [(e.actor, e.action, e.target) for e in reversed(entries)]


def test_an_engineer_signs_in_opens_traces_and_signs_out(
    dashboard: Dashboard, provider: Provider, browser: Any
) -> None:
    page = browser.new_page()
    sign_in(page, dashboard, provider, "eve")
    visible(page, "(engineer)")
    page.goto(f"{dashboard.base}/traces")
    visible(page, "Matching spans")
    assert page.locator('[data-testid="stException"]').count() == 0
    page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Sign out").click()
    # The provider's end-session page (oidc-provider-mock asks to confirm), then back, signed out.
    page.wait_for_url(f"{provider.base}/oauth2/end_session*", timeout=60_000)
    page.get_by_role("button", name="End session").click()
    visible(page, "Sign in with your organisation's account.")
    page.goto(f"{dashboard.base}/traces")
    visible(page, "Sign in with your organisation's account.")
    assert page.get_by_text("Matching spans").count() == 0
    actions = audit_actions(dashboard)
    assert ("eve@example.org", "login", "dashboard") in actions
    assert ("eve@example.org", "page.read", "traces") in actions
    assert ("eve@example.org", "logout", "dashboard") in actions


def test_an_executive_is_refused_the_traces_page(
    dashboard: Dashboard, provider: Provider, browser: Any
) -> None:
    page = browser.new_page()
    sign_in(page, dashboard, provider, "dana")
    visible(page, "(executive)")
    nav = page.locator('[data-testid="stSidebarNav"]')
    nav.get_by_text("SLA detail").wait_for(state="visible", timeout=60_000)
    assert nav.get_by_text("Traces").count() == 0  # not in the menu
    page.goto(f"{dashboard.base}/traces")  # typed in the address bar
    visible(page, "The executive role cannot open this page.")
    assert page.get_by_text("Matching spans").count() == 0
    assert ("dana@example.org", "page.forbidden", "traces") in audit_actions(dashboard)


def test_an_idle_session_expires_and_says_why(dashboard: Dashboard, provider: Provider, browser: Any) -> None:
    page = browser.new_page()
    sign_in(page, dashboard, provider, "eve")
    visible(page, "Business figures")
    write_dashboard_yaml(dashboard.config_dir, "1s")
    try:
        # Idle for longer than the new idle time: the test's own waiting is the idleness.
        idle_until = time.monotonic() + 1.5
        while time.monotonic() < idle_until:
            time.sleep(0.1)
        # The next interaction: opening the SLA page (by its address: a click in the sidebar
        # waited on a renderer still busy drawing the scorecard's charts on a loaded machine).
        page.goto(f"{dashboard.base}/sla", wait_until="commit", timeout=90_000)
        visible(page, "Your session expired after 1s without activity.")
        assert page.get_by_text("Bad events").count() == 0
        page.reload()  # the identity cookie is still there: the session stays ended
        visible(page, "Your session expired after 1s without activity.")
        page.get_by_role("button", name="Sign in again").wait_for(state="visible", timeout=60_000)
    finally:
        write_dashboard_yaml(dashboard.config_dir, "30m")
    assert ("eve@example.org", "session.expired", "dashboard") in audit_actions(dashboard)
