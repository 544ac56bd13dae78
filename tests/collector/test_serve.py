"""``vitals serve``: options, components, and what happens on SIGTERM and SIGKILL."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from collector.tables import metric_points, spans
from tests.collector.harness import child_pids, get, post, running_collector, served, wait_until
from tests.collector.otlp import gauge_request, span, trace_request
from vitals.kernel.db import create_engine
from vitals.shell.serve import choose_components, load_components, serve


def test_help_documents_every_option_and_variable() -> None:
    result = CliRunner().invoke(serve, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for text in (
        "--db",
        "--config",
        "--host",
        "--http-port",
        "--grpc-port",
        "--insecure-no-auth",
        "--components",
        "VITALS_DB",
        "VITALS_CONFIG",
        "VITALS_HOST",
        "VITALS_HTTP_PORT",
        "VITALS_GRPC_PORT",
        "VITALS_HASH_SECRET",
        "/v1/traces",
        "/readyz",
        "SIGTERM",
    ):
        assert text in result.output


def test_a_non_loopback_host_without_tokens_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        serve, ["--db", f"sqlite:///{tmp_path / 'v.db'}", "--config", str(tmp_path), "--host", "0.0.0.0"]
    )
    assert result.exit_code == 2
    assert "refusing to listen on 0.0.0.0 without authentication" in result.output
    assert "--insecure-no-auth" in result.output


def test_an_invalid_config_stops_the_start_with_its_location(tmp_path: Path) -> None:
    (tmp_path / "collector.yaml").write_text("limits:\n  max_body: huge\n")
    result = CliRunner().invoke(serve, ["--db", f"sqlite:///{tmp_path / 'v.db'}", "--config", str(tmp_path)])
    assert result.exit_code == 1
    assert "collector.yaml:2: limits.max_body" in result.output


def test_unknown_components_are_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(serve, ["--config", str(tmp_path), "--components", "slas,nope"])
    assert result.exit_code == 2
    assert "unknown component(s) nope" in result.output


def test_components_are_chosen_by_the_shell_in_installation_order() -> None:
    assert choose_components("all") == ("queues", "slas", "alerts", "dashboards", "analytics")
    assert choose_components("none") == ()
    # Order is the shell's, not the command line's; module names from earlier releases still work.
    assert choose_components("dashboards, slas.service") == ("slas", "dashboards")
    loaded = load_components(("slas", "alerts"))
    assert [module.__name__ for module in loaded] == ["slas.service", "alerts.service"]
    assert all(callable(module.install) for module in loaded)


@pytest.mark.e2e
def test_components_get_the_whole_service_context(sqlite_url: str, tmp_path: Path) -> None:
    components = ["tests.collector.component_probe"]
    with running_collector(sqlite_url, tmp_path, components=components) as running:
        base = f"http://127.0.0.1:{running.http_port}"
        assert get(f"{base}/probe") == (200, b"engine=sqlite")
        assert b'"probe":"installed"' in get(f"{base}/readyz")[1]
        engine = create_engine(sqlite_url)

        def names() -> set[str]:
            with engine.connect() as conn:
                return set(conn.execute(select(metric_points.c.name)).scalars())

        wait_until(lambda: "probe.value" in names(), message="the component's job wrote its point")
        assert b"probe_runs_total 1.0" in get(f"{base}/metrics")[1]
        body = gauge_request("probe.raw", [(1_750_000_000_000_000_000, 2.0, {})]).SerializeToString()
        assert post(f"{base}/v1/metrics", body)[0] == 200
        assert "probe.renamed" in names() and "probe.raw" not in names()
        assert "probe.stopped" not in names()
    assert "probe.stopped" in names()  # the stop hook ran and its write was committed
    engine.dispose()


@pytest.mark.e2e
def test_a_component_with_a_broken_import_stops_the_start(sqlite_url: str, tmp_path: Path) -> None:
    with (
        pytest.raises(ModuleNotFoundError, match="vitals_dependency_that_does_not_exist"),
        running_collector(sqlite_url, tmp_path, components=["tests.collector.component_broken"]),
    ):
        pass


class Sender:
    """Client threads that keep posting new spans and remember exactly which were acknowledged."""

    def __init__(self, url: str, threads: int = 3, per_request: int = 100) -> None:
        self.url = url
        self.per_request = per_request
        self.acknowledged: set[tuple[str, str]] = set()
        self.refused = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        while not self.stop.is_set():
            items = [span("load") for _ in range(self.per_request)]
            ids = {(item.trace_id.hex(), item.span_id.hex()) for item in items}
            try:
                status, _, _ = post(self.url, trace_request(*items).SerializeToString())
            except OSError:
                with self.lock:
                    self.refused += 1
                if self.stop.wait(0.05):
                    return
                continue
            with self.lock:
                if status == 200:
                    self.acknowledged |= ids
                else:
                    self.refused += 1

    def start(self) -> Sender:
        for thread in self.threads:
            thread.start()
        return self

    def count(self) -> int:
        with self.lock:
            return len(self.acknowledged)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)


def stored_ids(url: str) -> set[tuple[str, str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {(row[0], row[1]) for row in conn.execute(select(spans.c.trace_id, spans.c.span_id))}
    finally:
        engine.dispose()


@pytest.mark.e2e
def test_sigkill_mid_load_keeps_every_acknowledged_span(store_url: str, tmp_path: Path) -> None:
    with served(store_url, tmp_path) as server:
        sender = Sender(f"{server.url}/v1/traces").start()
        wait_until(lambda: sender.count() >= 3000, timeout=90, message="3000 spans acknowledged")
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(30)
        sender.finish()
    acknowledged = sender.acknowledged
    assert len(acknowledged) >= 3000
    missing = acknowledged - stored_ids(store_url)
    assert not missing, f"{len(missing)} acknowledged spans were lost"


@pytest.mark.e2e
def test_sigterm_stops_accepting_commits_and_exits_zero(store_url: str, tmp_path: Path) -> None:
    with served(store_url, tmp_path) as server:
        sender = Sender(f"{server.url}/v1/traces").start()
        wait_until(lambda: sender.count() >= 1000, timeout=90, message="1000 spans acknowledged")
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(60) == 0
        sender.finish()
        log = server.log()
    assert "SIGTERM received" in log and "collector stopped" in log
    assert sender.acknowledged <= stored_ids(store_url)


@pytest.mark.e2e
def test_ctrl_c_to_the_whole_process_group_still_commits_everything(sqlite_url: str, tmp_path: Path) -> None:
    """A terminal's Ctrl-C (or systemd's SIGTERM) reaches the store writer process too: it must
    leave the stopping to the collector, which commits what it accepted before exiting."""
    with served(sqlite_url, tmp_path, new_session=True) as server:
        (writer,) = child_pids(server.process.pid)
        sender = Sender(f"{server.url}/v1/traces").start()
        wait_until(lambda: sender.count() >= 1000, timeout=90, message="1000 spans acknowledged")
        os.killpg(server.process.pid, signal.SIGINT)
        assert server.process.wait(60) == 0
        sender.finish()
        log = server.log()
    assert "SIGINT received" in log
    assert "exited" not in log  # the writer was not lost on the way
    wait_until(lambda: not Path(f"/proc/{writer}").exists(), message="the writer process exited")
    assert sender.acknowledged <= stored_ids(sqlite_url)
