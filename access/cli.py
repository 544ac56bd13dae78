"""``vitals tokens`` (create, list, revoke API and ingest tokens) and ``vitals audit`` (query the log).

Every command takes ``--now TIME`` so tests and reproducible queries fix the clock; without it the
commands read the wall clock once, at the start.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from access.model import SCOPES, AuditEntry, Scope, TokenInfo
from vitals.kernel.options import settings_options
from vitals.kernel.settings import Settings
from vitals.kernel.units import parse_duration

F = TypeVar("F", bound=Callable[..., Any])

_EPOCH_SECONDS = re.compile(r"^\d{9,11}(\.\d+)?$")


def _absolute(text: str) -> float | None:
    """ISO 8601 (UTC unless it has an offset) or Unix seconds, or None if ``text`` is neither."""
    value = text.strip()
    if _EPOCH_SECONDS.match(value):
        return float(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_moment(text: str, now: float, *, option: str) -> float:
    """A time as Unix seconds: a duration back from now (``24h``, ``7d``), ISO 8601 (UTC unless it
    has an offset) or Unix seconds."""
    absolute = _absolute(text)
    if absolute is not None:
        return absolute
    try:
        return now - parse_duration(text)
    except ValueError:
        raise click.BadParameter(
            f"expected a duration back from now (24h, 7d), an ISO time (2026-03-02T10:00) or Unix "
            f"seconds, got {text!r}",
            param_hint=option,
        ) from None


def _now(value: str | None) -> float:
    """The command's clock: ``--now`` when given, else the wall clock, read once."""
    if value is None:
        return time.time()
    absolute = _absolute(value)
    if absolute is None:
        raise click.BadParameter(
            f"expected an ISO time (2026-03-02T10:00Z) or Unix seconds, got {value!r}", param_hint="--now"
        )
    return absolute


def now_option(func: F) -> F:
    return click.option(
        "--now",
        "now_text",
        default=None,
        metavar="TIME",
        help="Act as if it were TIME (ISO 8601, UTC unless it has an offset, or Unix seconds). "
        "Default: the current time.",
    )(func)


def actor_option(func: F) -> F:
    return click.option(
        "--actor",
        default=None,
        metavar="NAME",
        help="Who does this, as the audit log records it. Default: $USER, else the OS account name.",
    )(func)


def _os_account() -> str:
    """The OS account running the command: ``getpass`` (LOGNAME, USER, LNAME, USERNAME, then the
    password database), then the password database by uid; "" when neither knows (a container
    running as a uid with no passwd entry)."""
    try:
        return getpass.getuser().strip()
    except (OSError, KeyError, ImportError):
        pass
    return _passwd_name()


def _passwd_name() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name.strip()
    except (KeyError, ImportError, AttributeError):
        return ""


def _actor(value: str | None) -> str:
    """Who the audit log names: ``--actor``, else $USER, else the OS account. A record naming
    nobody ("unknown") is useless to an auditor, so with none of them the command refuses."""
    name = (value or "").strip() or os.environ.get("USER", "").strip() or _os_account()
    if not name:
        raise click.ClickException(
            "cannot tell who you are (no $USER, no OS account name): pass --actor NAME"
        )
    return name


def iso(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextmanager
def _engine(settings: Settings) -> Iterator[Any]:
    """The migrated store, disposed of when the command is done."""
    from vitals.kernel.db import create_engine, migrate

    engine = create_engine(settings.db_url)
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()


# --- vitals tokens ------------------------------------------------------------------------------


@click.group(context_settings={"max_content_width": 110})
def tokens() -> None:
    """Create, list and revoke API and ingest tokens.

    \b
    A token's secret is printed once, when it is created, and stored only as a hash. Scopes:
      read    read the API (SLA status, incidents, alerts, silences, the outbox)
      write   read, and act: acknowledge alerts, create and expire silences
      admin   write, and read the audit log and the configuration in force (secrets masked)
      ingest  send telemetry to the collector (OTLP); reads nothing
    """


@tokens.command(context_settings={"max_content_width": 110})
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    metavar="SCOPE",
    help=f"What the token may do: {', '.join(SCOPES)} (repeat for several).",
)
@click.option(
    "--expires",
    default=None,
    metavar="DURATION",
    help="Expire after DURATION (e.g. 90d, 12h). Default: never.",
)
@actor_option
@now_option
@settings_options
def create(
    *,
    settings: Settings,
    name: str,
    scopes: tuple[str, ...],
    expires: str | None,
    actor: str | None,
    now_text: str | None,
) -> None:
    """Create a token NAME and print its secret (once: it cannot be shown again).

    For an ingest token, NAME is the source name the collector records for what it sends.
    """
    from access.tokens import SqlTokenStore, TokenError, check_name, parse_scopes

    now = _now(now_text)
    try:
        name = check_name(name)
        wanted = parse_scopes(scopes)
    except TokenError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME" if "name" in str(exc) else "--scope") from exc
    expires_at = None
    if expires is not None:
        try:
            lifetime = parse_duration(expires)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--expires") from exc
        if lifetime <= 0:
            raise click.BadParameter("a token's lifetime must be longer than 0s", param_hint="--expires")
        expires_at = now + lifetime
    audit = AuditEntry(
        now,
        _actor(actor),
        "token.create",
        f"token:{name}",
        "cli",
        detail={"scopes": _scope_list(wanted), "expires_at": None if expires_at is None else iso(expires_at)},
    )
    try:
        with _engine(settings) as engine:
            info, secret = SqlTokenStore(engine).create(
                name, wanted, now=now, expires_at=expires_at, audit=audit
            )
    except TokenError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(secret)
    lifetime_text = f"expires {iso(info.expires_at)}" if info.expires_at is not None else "never expires"
    click.echo(
        f"created token {info.name!r} (scopes {', '.join(_scope_list(info.scopes))}; {lifetime_text}). "
        "The secret (printed on standard output) is shown only this once: store it in your "
        "secret manager.",
        err=True,
    )


def _scope_list(scopes: frozenset[Scope]) -> list[str]:
    return [s for s in SCOPES if s in scopes]


@tokens.command(name="list", context_settings={"max_content_width": 110})
@click.option("--json", "as_json", is_flag=True, help="JSON output (times in ISO 8601, UTC).")
@now_option
@settings_options
def list_(settings: Settings, as_json: bool, now_text: str | None) -> None:
    """List tokens with their state (active, expired, revoked); never their secrets."""
    from access.tokens import SqlTokenStore, state

    now = _now(now_text)
    with _engine(settings) as engine:
        store = SqlTokenStore(engine)
        infos = store.list()
        prefixes = store.prefixes()
    rows = [_token_json(info, prefixes.get(info.name, ""), state(info, now)) for info in infos]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no tokens (create one with `vitals tokens create NAME --scope SCOPE`)")
        return
    header = ("NAME", "PREFIX", "SCOPES", "STATE", "CREATED", "EXPIRES", "LAST USED")
    table = [header] + [
        (
            r["name"],
            r["prefix"] + "…",
            ",".join(r["scopes"]),
            r["state"],
            r["created_at"],
            r["expires_at"] or "never",
            r["last_used_at"] or "-",
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for row in table:
        click.echo(
            "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _token_json(info: TokenInfo, prefix: str, token_state: str) -> dict[str, Any]:
    return {
        "name": info.name,
        "prefix": prefix,
        "scopes": _scope_list(info.scopes),
        "state": token_state,
        "created_at": iso(info.created_at),
        "expires_at": None if info.expires_at is None else iso(info.expires_at),
        "revoked_at": None if info.revoked_at is None else iso(info.revoked_at),
        "last_used_at": None if info.last_used_at is None else iso(info.last_used_at),
    }


@tokens.command(context_settings={"max_content_width": 110})
@click.argument("name")
@actor_option
@now_option
@settings_options
def revoke(settings: Settings, name: str, actor: str | None, now_text: str | None) -> None:
    """Revoke the token NAME: the API refuses it at once, the collector within seconds.

    The collector keeps active tokens in a cache refreshed every few seconds (see the tokens
    how-to), so a revoked ingest token stops working within that time.
    """
    from access.tokens import SqlTokenStore, TokenError

    now = _now(now_text)
    audit = AuditEntry(now, _actor(actor), "token.revoke", f"token:{name}", "cli")
    try:
        with _engine(settings) as engine:
            info = SqlTokenStore(engine).revoke(name, now=now, audit=audit)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from exc
    if info.revoked_at is not None and info.revoked_at != now:
        click.echo(f"token {name!r} was revoked already, at {iso(info.revoked_at)}")
    else:
        click.echo(f"revoked token {name!r}")


# --- vitals audit -------------------------------------------------------------------------------


@click.command(context_settings={"max_content_width": 110})
@click.option(
    "--since",
    default="24h",
    show_default=True,
    metavar="TIME",
    help="From TIME: a duration back from now (24h, 7d), an ISO time or Unix seconds.",
)
@click.option(
    "--until", default=None, metavar="TIME", help="Before TIME (same forms as --since). Default: no end."
)
@click.option("--actor", default=None, metavar="NAME", help="Only what NAME (a user or token) did.")
@click.option(
    "--action", default=None, metavar="ACTION", help="Only this action (e.g. token.create, acknowledge)."
)
@click.option(
    "--limit", type=click.IntRange(1, 10_000), default=100, show_default=True, help="Most entries shown."
)
@click.option("--json", "as_json", is_flag=True, help="JSON output (times in ISO 8601, UTC).")
@now_option
@settings_options
def audit(
    *,
    settings: Settings,
    since: str,
    until: str | None,
    actor: str | None,
    action: str | None,
    limit: int,
    as_json: bool,
    now_text: str | None,
) -> None:
    """Who did what, when and from where: the audit log, newest first.

    \b
    Recorded: tokens created and revoked; alerts acknowledged; silences created and expired;
    alerting configuration reloaded; and what the API and dashboard record (see the docs).
    """
    from access.audit import SqlAuditLog

    now = _now(now_text)
    start = parse_moment(since, now, option="--since")
    end = None if until is None else parse_moment(until, now, option="--until")
    if end is not None and end <= start:
        raise click.BadParameter(
            f"--until ({iso(end)}) must be after --since ({iso(start)})", param_hint="--until"
        )
    with _engine(settings) as engine:
        entries = SqlAuditLog(engine).query(since=start, until=end, actor=actor, action=action, limit=limit)
    if as_json:
        click.echo(json.dumps([_entry_json(e) for e in entries], indent=2))
        return
    if not entries:
        click.echo(f"nothing recorded from {iso(start)} to {iso(now if end is None else end)}", err=True)
        return
    for e in entries:
        remote = f" from {e.remote}" if e.remote else ""
        detail = f"  {json.dumps(e.detail, sort_keys=True)}" if e.detail else ""
        click.echo(f"{iso(e.at)}  {e.actor}  {e.action}  {e.target}  ({e.source}{remote}){detail}")


def _entry_json(e: AuditEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": iso(e.at),
        "actor": e.actor,
        "action": e.action,
        "target": e.target,
        "source": e.source,
        "remote": e.remote,
        "detail": e.detail,
    }


__all__ = ["audit", "parse_moment", "tokens"]
