"""``vitals tokens`` and ``vitals audit`` through the real command line, with --now fixing the clock."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result

from access.tokens import SqlTokenStore
from vitals.kernel.db import create_engine
from vitals.shell.cli import main

NOW = "2026-12-01T00:00:00Z"
LATER = "2026-12-02T00:00:00Z"


def run(db: str, *args: str) -> Result:
    """``vitals ARGS... --db DB`` with $USER set, so the audit's actor is known."""
    return CliRunner().invoke(main, [*args, "--db", db], env={"USER": "ann"})


def test_create_prints_the_secret_once_and_list_never_does(store_url: str) -> None:
    created = run(
        store_url,
        "tokens",
        "create",
        "ci",
        "--scope",
        "read",
        "--scope",
        "write",
        "--expires",
        "90d",
        "--now",
        NOW,
    )
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert secret.startswith("vt_") and len(secret) == 46
    assert "shown only this once" in created.stderr and "expires 2027-03-01T00:00:00Z" in created.stderr
    listed = run(store_url, "tokens", "list", "--now", LATER)
    assert listed.exit_code == 0 and secret not in listed.output
    assert "ci" in listed.output and "read,write" in listed.output and "active" in listed.output
    assert secret[:9] + "…" in listed.output
    as_json = json.loads(run(store_url, "tokens", "list", "--json", "--now", "2027-03-01T00:00:00Z").output)
    assert as_json == [
        {
            "name": "ci",
            "prefix": secret[:9],
            "scopes": ["read", "write"],
            "state": "expired",
            "created_at": NOW,
            "expires_at": "2027-03-01T00:00:00Z",
            "revoked_at": None,
            "last_used_at": None,
        }
    ]
    engine = create_engine(store_url)
    try:
        assert SqlTokenStore(engine).authenticate(secret, now=1_764_547_200.0) is not None
    finally:
        engine.dispose()


def test_errors_are_clear(store_url: str) -> None:
    assert run(store_url, "tokens", "create", "ci", "--scope", "ingest", "--now", NOW).exit_code == 0
    duplicate = run(store_url, "tokens", "create", "ci", "--scope", "read", "--now", NOW)
    assert duplicate.exit_code == 1 and "a token named 'ci' exists already" in duplicate.output
    scope = run(store_url, "tokens", "create", "x", "--scope", "owner", "--now", NOW)
    assert (
        scope.exit_code == 2
        and "unknown scope 'owner': expected one of ingest, read, write, admin" in scope.output
    )
    missing = run(store_url, "tokens", "create", "x", "--now", NOW)
    assert missing.exit_code == 2 and "--scope" in missing.output
    duration = run(store_url, "tokens", "create", "x", "--scope", "read", "--expires", "soon", "--now", NOW)
    assert duration.exit_code == 2 and "expected a duration such as 90s, 15m, 24h or 7d" in duration.output
    zero = run(store_url, "tokens", "create", "x", "--scope", "read", "--expires", "0s", "--now", NOW)
    assert zero.exit_code == 2 and "longer than 0s" in zero.output
    unknown = run(store_url, "tokens", "revoke", "nope", "--now", NOW)
    assert unknown.exit_code == 1 and "no token named 'nope'" in unknown.output
    bad_now = run(store_url, "tokens", "list", "--now", "yesterday")
    assert bad_now.exit_code == 2 and "--now" in bad_now.output


def test_creation_and_revocation_are_audited_and_queried(store_url: str) -> None:
    assert run(store_url, "tokens", "create", "lab", "--scope", "ingest", "--now", NOW).exit_code == 0
    revoked = run(store_url, "tokens", "revoke", "lab", "--actor", "bob", "--now", LATER)
    assert revoked.exit_code == 0 and "revoked token 'lab'" in revoked.output
    again = run(store_url, "tokens", "revoke", "lab", "--now", "2026-12-03T00:00:00Z")
    assert "was revoked already, at 2026-12-02T00:00:00Z" in again.output
    assert "revoked" in run(store_url, "tokens", "list", "--now", LATER).output

    entries = json.loads(
        run(store_url, "audit", "--json", "--since", "7d", "--now", "2026-12-03T00:00:00Z").output
    )
    assert [(e["at"], e["actor"], e["action"], e["target"], e["source"]) for e in entries] == [
        (LATER, "bob", "token.revoke", "token:lab", "cli"),
        (NOW, "ann", "token.create", "token:lab", "cli"),
    ]
    assert entries[1]["detail"] == {"scopes": ["ingest"], "expires_at": None}
    by_actor = run(store_url, "audit", "--actor", "ann", "--since", "7d", "--now", LATER)
    assert "token.create" in by_actor.output and "token.revoke" not in by_actor.output
    by_action = run(
        store_url,
        "audit",
        "--action",
        "token.revoke",
        "--since",
        NOW,
        "--until",
        "2026-12-03T00:00:00Z",
        "--now",
        LATER,
    )
    assert "bob  token.revoke  token:lab  (cli)" in by_action.output
    default_window = run(store_url, "audit", "--now", "2026-12-05T00:00:00Z")  # --since 24h
    assert (
        default_window.exit_code == 0
        and "nothing recorded from 2026-12-04T00:00:00Z" in default_window.output
    )
    limited = json.loads(
        run(store_url, "audit", "--json", "--since", "7d", "--limit", "1", "--now", LATER).output
    )
    assert [e["action"] for e in limited] == ["token.revoke"]
    backwards = run(store_url, "audit", "--since", LATER, "--until", NOW, "--now", LATER)
    assert backwards.exit_code == 2 and "must be after --since" in backwards.output
    bad = run(store_url, "audit", "--since", "last week", "--now", LATER)
    assert bad.exit_code == 2 and "expected a duration back from now" in bad.output


def test_help_names_the_scopes_and_the_revocation_delay() -> None:
    tokens_help = CliRunner().invoke(main, ["tokens", "--help"]).output
    for scope in ("read", "write", "admin", "ingest"):
        assert f"  {scope} " in tokens_help
    revoke_help = " ".join(CliRunner().invoke(main, ["tokens", "revoke", "--help"]).output.split())
    assert "the collector within seconds" in revoke_help
    assert "--since" in CliRunner().invoke(main, ["audit", "--help"]).output


def test_the_actor_falls_back_to_the_os_account_then_refuses(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import access.cli

    monkeypatch.setattr("getpass.getuser", lambda: "svc-vitals")
    created = CliRunner().invoke(
        main,
        ["tokens", "create", "ci", "--scope", "read", "--now", NOW, "--db", store_url],
        env={"USER": None},
    )
    assert created.exit_code == 0, created.output
    listed = CliRunner().invoke(
        main, ["audit", "--since", "2026-11-30T00:00:00Z", "--until", LATER, "--db", store_url]
    )
    assert "svc-vitals" in listed.stdout, listed.output

    def unknown() -> str:
        raise OSError("no such user")

    monkeypatch.setattr("getpass.getuser", unknown)
    monkeypatch.setattr(access.cli, "_passwd_name", lambda: "")
    refused = CliRunner().invoke(
        main, ["tokens", "revoke", "ci", "--now", LATER, "--db", store_url], env={"USER": None}
    )
    assert refused.exit_code != 0 and "--actor" in refused.output
