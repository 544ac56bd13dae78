"""`vitals dashboard`, its hash-password and check commands, and the rollup job of `vitals serve`."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.engine import Engine

from dashboards import cli
from dashboards.tables import span_rollups
from tests.dashboards import estate
from vitals.shell.cli import main


def test_hash_password_from_stdin_prints_a_verifiable_hash() -> None:
    result = CliRunner().invoke(
        main, ["dashboard", "hash-password", "--password-stdin"], input="s3cret pass\n"
    )
    assert result.exit_code == 0, result.output
    hashed = result.stdout.strip().splitlines()[0]
    assert bcrypt.checkpw(b"s3cret pass", hashed.encode())
    assert "password_hash:" in result.stderr


def test_hash_password_prompts_twice_and_refuses_a_mismatch() -> None:
    ok = CliRunner().invoke(main, ["dashboard", "hash-password"], input="abc\nabc\n")
    assert ok.exit_code == 0 and bcrypt.checkpw(b"abc", ok.stdout.strip().splitlines()[-1].encode())
    mismatch = CliRunner().invoke(main, ["dashboard", "hash-password"], input="abc\nabd\nabc\nabc\n")
    assert "do not match" in mismatch.output or "don't match" in mismatch.output


def test_hash_password_refuses_an_empty_password() -> None:
    result = CliRunner().invoke(main, ["dashboard", "hash-password", "--password-stdin"], input="\n")
    assert result.exit_code != 0 and "empty" in result.output


def test_check_names_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "dashboard.yaml").write_text(
        "users:\n  - username: a\n    role: boss\n    password_hash: x\n"
    )
    result = CliRunner().invoke(main, ["dashboard", "check", "--config", str(tmp_path)])
    assert result.exit_code != 0
    assert "dashboard.yaml:3: users[0].role" in result.output


def test_check_accepts_a_good_file(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(b"x", bcrypt.gensalt(4)).decode()
    (tmp_path / "dashboard.yaml").write_text(
        f"users:\n  - {{username: a, role: engineer, password_hash: '{hashed}'}}\n"
    )
    result = CliRunner().invoke(main, ["dashboard", "check", "--config", str(tmp_path)])
    assert result.exit_code == 0 and "login password · 1 users" in result.output


def test_dashboard_refuses_to_start_with_a_broken_config(tmp_path: Path, sqlite_url: str) -> None:
    (tmp_path / "dashboard.yaml").write_text("stale_after: never\n")
    result = CliRunner().invoke(main, ["dashboard", "--db", sqlite_url, "--config", str(tmp_path)])
    assert result.exit_code != 0 and "dashboard.yaml:1: stale_after" in result.output


def test_dashboard_runs_streamlit_with_the_store_and_config_passed_through(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command migrates the store, then replaces itself with `streamlit run` (execve)."""
    calls: list[tuple[str, list[str], dict[str, str]]] = []

    def fake_execve(path: str, argv: list[str], env: dict[str, str]) -> None:
        calls.append((path, argv, env))

    monkeypatch.setattr("dashboards.cli.os.execve", fake_execve)
    result = CliRunner().invoke(
        main,
        [
            "dashboard",
            "--db",
            sqlite_url,
            "--config",
            str(tmp_path),
            "--host",
            "0.0.0.0",
            "--port",
            "9123",
            "--insecure-no-auth",
        ],
    )
    assert result.exit_code == 0, result.output
    (_path, argv, env) = calls[0]
    assert argv[1:5] == ["-m", "streamlit", "run", str(cli.APP)]
    assert "--server.address=0.0.0.0" in argv and "--server.port=9123" in argv
    assert "--server.headless=true" in argv and "--browser.gatherUsageStats=false" in argv
    assert env["VITALS_DB"] == sqlite_url and env["VITALS_CONFIG"] == str(tmp_path)
    assert "without users (--insecure-no-auth)" in result.stderr  # beyond loopback, no login, allowed
    from vitals.kernel.db import create_engine, current_heads

    assert "d0004" in current_heads(create_engine(sqlite_url))  # the newest dashboards migration


def test_dashboard_refuses_a_network_address_without_users_or_oidc(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As `vitals serve` does: beyond loopback, no identity means --insecure-no-auth."""
    calls: list[object] = []
    monkeypatch.setattr("dashboards.cli.os.execve", lambda *args: calls.append(args))
    monkeypatch.delenv("VITALS_INSECURE_NO_AUTH", raising=False)
    base = ["dashboard", "--db", sqlite_url, "--config", str(tmp_path), "--no-migrate"]
    refused = CliRunner().invoke(main, [*base, "--host", "0.0.0.0"])
    assert refused.exit_code == 2, refused.output
    assert "refusing to listen on 0.0.0.0 without users" in refused.output
    assert str(tmp_path / "dashboard.yaml") in refused.output and "oidc" in refused.output
    assert "--insecure-no-auth" in refused.output
    assert not calls
    # The environment variable allows it, as for `vitals serve`.
    allowed = CliRunner().invoke(main, [*base, "--host", "0.0.0.0"], env={"VITALS_INSECURE_NO_AUTH": "1"})
    assert allowed.exit_code == 0, allowed.output
    # Loopback stays open without users (the README demo).
    local = CliRunner().invoke(main, [*base, "--host", "127.0.0.1"])
    assert local.exit_code == 0, local.output
    assert len(calls) == 2


def test_dashboard_help_documents_the_options() -> None:
    result = CliRunner().invoke(main, ["dashboard", "--help"])
    for option in ("--db", "--config", "--host", "--port", "--now", "hash-password", "check"):
        assert option in result.output


def test_now_pins_the_dashboards_clock_and_a_bad_one_is_refused(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, str]] = []
    monkeypatch.setattr("dashboards.cli.os.execve", lambda path, argv, env: calls.append(env))
    monkeypatch.delenv("VITALS_DASHBOARD_NOW", raising=False)
    base = ["dashboard", "--db", sqlite_url, "--config", str(tmp_path)]
    result = CliRunner().invoke(main, [*base, "--now", "2026-03-11T14:00:00Z"])
    assert result.exit_code == 0, result.output
    assert calls[-1]["VITALS_DASHBOARD_NOW"] == "2026-03-11T14:00:00Z"
    assert CliRunner().invoke(main, base).exit_code == 0
    assert "VITALS_DASHBOARD_NOW" not in calls[-1]  # the clock, unless asked
    bad = CliRunner().invoke(main, [*base, "--now", "yesterday"])
    assert bad.exit_code == 2 and "--now" in bad.output and "is not a date and time" in bad.output
    assert len(calls) == 2


def test_serve_component_folds_new_telemetry(sqlite_engine: Engine, sqlite_url: str, tmp_path: Path) -> None:
    """`vitals serve` installs dashboards.service: a scheduler job that keeps the rollups current."""
    from aiohttp import web
    from apscheduler.schedulers.background import BackgroundScheduler
    from prometheus_client import CollectorRegistry

    from dashboards import service
    from vitals.kernel.runtime import ServiceContext
    from vitals.kernel.settings import Settings
    from vitals.shell.serve import COMPONENTS

    assert COMPONENTS["dashboards"] == "dashboards.service"
    config = estate.write_config(tmp_path / "config")
    est = estate.build(sqlite_engine)
    registry = CollectorRegistry()
    ctx = ServiceContext(
        settings=Settings(sqlite_url, config),
        engine=sqlite_engine,
        scheduler=BackgroundScheduler(),
        http_app=web.Application(),
        registry=registry,
        write_metric_points=lambda rows: None,
        stop_event=threading.Event(),
    )
    service.install(ctx)
    job: Any = ctx.scheduler.get_job(service.JOB_ID)
    assert job is not None and job.trigger.interval.total_seconds() == 15
    report = job.func()
    assert report is not None and report.behind == 0
    with sqlite_engine.connect() as conn:
        counts = conn.execute(select(span_rollups.c.count).where(span_rollups.c.resolution == 60)).scalars()
        assert sum(counts) == est.spans_written
    assert (
        registry.get_sample_value("vitals_dashboard_rollup_rows_total", {"family": "spans"})
        == est.spans_written
    )
    assert ctx.status["dashboards"].startswith("rollups current")
