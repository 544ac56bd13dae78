"""The dashboard loads nothing from the internet: hospital networks are often closed.

Every page is opened in Debian's Chromium whose only way out is a recording proxy on a dead end:
any request not for the dashboard itself (127.0.0.1 goes direct) reaches the proxy, is written
down and refused. Requests the browser makes outside the page (favicons) go through the proxy
too, which page-level request interception would miss.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboards.test_browser import (
    CHROME_ARGS,
    CHROMIUM,
    PAGES,
    Server,
    _settle,
    playwright,  # noqa: F401  (fixture)
    server,  # noqa: F401  (fixture)
)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

#: Chromium's own calls home (sign-in, autofill hints, safe browsing), which are not the page's.
QUIET_BROWSER = [
    "--allow-browser-signin=false",
    "--disable-client-side-phishing-detection",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--no-pings",
    "--disable-features=AutofillServerCommunication,OptimizationHints,MediaRouter,"
    "DialMediaRouteProvider,Translate,SafeBrowsing,InterestFeedContentSuggestions",
]
#: Hosts Chromium itself calls whatever the page (clock, component updates, sign-in, autofill),
#: even with the flags above: never requested by a page, so they say nothing about the app.
BROWSER_OWN_HOSTS = frozenset(
    {
        "accounts.google.com",
        "clients2.google.com",
        "update.googleapis.com",
        "content-autofill.googleapis.com",
        "optimizationguide-pa.googleapis.com",
        "safebrowsingohttpgateway.googleapis.com",
    }
)


def _host(request_line: str) -> str:
    """The host of a proxy request line: ``CONNECT host:443 ...`` or ``GET http://host/... ...``."""
    target = request_line.split(" ")[1] if " " in request_line else request_line
    if "://" in target:
        target = target.split("://", 1)[1].split("/", 1)[0]
    return target.rsplit(":", 1)[0] if target.count(":") == 1 else target


REFUSED = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class RecordingProxy:
    """An HTTP proxy that answers every request with 502 and remembers its first line."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = int(self._sock.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _addr = self._sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    head = conn.recv(4096).decode("latin-1")
                except OSError:
                    head = ""
                if head:
                    with self._lock:
                        self.requests.append(head.splitlines()[0])
                with contextlib.suppress(OSError):
                    conn.sendall(REFUSED)

    def seen(self) -> list[str]:
        """Request lines recorded so far, Chromium's own background calls left out."""
        with self._lock:
            return [r for r in self.requests if _host(r) not in BROWSER_OWN_HOSTS]

    def close(self) -> None:
        self._sock.close()


@pytest.fixture(scope="module")
def proxy() -> Iterator[RecordingProxy]:
    recorder = RecordingProxy()
    yield recorder
    recorder.close()


@pytest.fixture(scope="module")
def offline_browser(
    playwright: Any,  # noqa: F811
    proxy: RecordingProxy,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Any]:
    profile: Path = tmp_path_factory.mktemp("chromium-offline")
    context = playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        # Loopback is never proxied by Chromium: the dashboard answers, everything else is recorded.
        args=[*CHROME_ARGS, *QUIET_BROWSER, f"--proxy-server=http://127.0.0.1:{proxy.port}"],
        headless=True,
        viewport={"width": 1400, "height": 1000},
    )
    yield context
    context.close()


@pytest.mark.parametrize(("name", "path", "charts", "text"), PAGES, ids=[p[0] for p in PAGES])
def test_page_requests_nothing_outside_the_server(
    server: Server,  # noqa: F811
    offline_browser: Any,
    proxy: RecordingProxy,
    name: str,
    path: str,
    charts: int,
    text: str,
) -> None:
    outside: list[str] = []

    def note(request: Any) -> None:
        if not request.url.startswith((server.base, "data:", "blob:", "about:")):
            outside.append(request.url)

    offline_browser.on("request", note)
    before = len(proxy.seen())
    page = offline_browser.new_page()
    try:
        page.goto(f"{server.base}/{path}")
        _settle(page, charts, text)
        # the favicon is fetched by the browser process, which request events do not show
        page.wait_for_function("document.querySelector('link[rel~=icon]') !== null", timeout=30_000)
        icon = page.evaluate("document.querySelector('link[rel~=icon]').href")
    finally:
        page.close()
        offline_browser.remove_listener("request", note)
    assert str(icon).startswith((server.base, "data:")), f"{name}: page icon from {icon}"
    assert outside == [], f"{name} requested {outside}"
    assert proxy.seen()[before:] == [], f"{name} reached outside the server: {proxy.seen()[before:]}"
