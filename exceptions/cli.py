"""``vitals exceptions``: the work queue of failed transactions, from the command line.

Every command first refreshes the groups from the stored error spans of the window (7 days, or
``window`` in exceptions.yaml), so what it shows is current. ``--now`` fixes the clock for
tests and reproducible output; ``--actor`` names who acts in the audit log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import click

from access.cli import _actor, _now, actor_option, iso, now_option
from vitals.kernel.options import settings_options
from vitals.kernel.settings import Settings

SOURCE = "cli"


@dataclass
class _Queue:
    store: Any
    route: Any
    config: Any


@contextmanager
def _queue(settings: Settings) -> Iterator[_Queue]:
    from alerts.config import load_for as load_alerts
    from exceptions.config import load_for
    from exceptions.sqlstore import SqlExceptionStore
    from vitals.kernel.configfile import ConfigError
    from vitals.kernel.db import create_engine, migrate

    try:
        config = load_for(settings.config_dir)
        route = load_alerts(settings.config_dir, read_secrets=False).route
    except ConfigError as exc:
        raise click.ClickException(f"invalid config:\n{exc}") from exc
    engine = create_engine(settings.db_url)
    try:
        migrate(engine)
        yield _Queue(SqlExceptionStore(engine), route, config)
    finally:
        engine.dispose()


def _refresh(queue: _Queue, now: float) -> list[Any]:
    from exceptions.queue import refresh

    return refresh(queue.store, queue.route, queue.config, now)


def _money(amount: float) -> str:
    return f"${amount:,.2f}"


def _group_json(group: Any) -> dict[str, Any]:
    data = asdict(group)
    for name in ("first_seen", "last_seen", "state_at"):
        data[name] = iso(data[name])
    return data


@click.group(context_settings={"max_content_width": 110})
def exceptions() -> None:
    """The exception work queue: failed transactions grouped, owned and replayed.

    \b
    A failed business transaction is an error span with hc.stage. Failures with the same stage,
    system and status message (identifiers removed) form a group, with its count, first and
    last seen, money affected (hc.amount) and owning team (the alerts.yaml route tree).
    A group is new, assigned, replaying, resolved or ignored; every change is audited.
    Replay targets are configured per interface in exceptions.yaml (webhook or Mirth Connect).

    \b
    Examples:
      vitals exceptions list
      vitals exceptions show 3f9a1c2b7d4e5f60
      vitals exceptions assign 3f9a1c2b7d4e5f60 --to ana
      vitals exceptions replay 3f9a1c2b7d4e5f60 --limit 20
      vitals exceptions resolve 3f9a1c2b7d4e5f60 --comment "GL period reopened"
    """


@exceptions.command("list", context_settings={"max_content_width": 110})
@click.option(
    "--state",
    default="open",
    show_default=True,
    help="open (new, assigned, replaying), all, or a comma list of states.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
@now_option
@settings_options
def list_groups(*, settings: Settings, state: str, as_json: bool, now_text: str | None) -> None:
    """List the groups, the most recent failure first."""
    from exceptions.model import parse_states

    now = _now(now_text)
    try:
        wanted = parse_states(state)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--state") from None
    with _queue(settings) as queue:
        groups = [g for g in _refresh(queue, now) if g.state in wanted]
    if as_json:
        for g in groups:
            click.echo(json.dumps(_group_json(g)))
        return
    if not groups:
        click.echo(f"no {state} exception groups in the last {queue.config.window / 86400:g} days")
        return
    click.echo(
        f"{'ID':16}  {'STATE':9}  {'COUNT':>5}  {'AMOUNT':>12}  {'LAST SEEN':20}  {'TEAM':18}  "
        "STAGE / SYSTEM: MESSAGE"
    )
    for g in groups:
        click.echo(
            f"{g.id:16}  {g.state:9}  {g.count:>5}  {_money(g.amount):>12}  {iso(g.last_seen):20}  "
            f"{g.team[:18]:18}  {g.stage} / {g.system or '-'}: {g.message}"
        )


@exceptions.command(context_settings={"max_content_width": 110})
@click.argument("group_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@now_option
@settings_options
def show(*, settings: Settings, group_id: str, as_json: bool, now_text: str | None) -> None:
    """One group: figures, state, who and when, and its replay attempts."""
    now = _now(now_text)
    with _queue(settings) as queue:
        _refresh(queue, now)
        group = queue.store.group(group_id)
        if group is None:
            raise click.ClickException(
                f"no exception group {group_id!r} (vitals exceptions list --state all)"
            )
        attempts = queue.store.attempts(group_id=group_id)
    if as_json:
        data = _group_json(group)
        data["attempts"] = [{**asdict(a), "at": iso(a.at), "outcome_at": iso(a.outcome_at)} for a in attempts]
        click.echo(json.dumps(data, indent=2))
        return
    rows = [
        ("group", group.id),
        ("stage / system", f"{group.stage} / {group.system or '-'}"),
        ("message", group.message),
        ("workflow / facility", f"{group.workflow or '-'} / {group.facility or '-'}"),
        ("failed transactions", str(group.count)),
        ("money affected", _money(group.amount)),
        ("first / last seen", f"{iso(group.first_seen)} / {iso(group.last_seen)}"),
        ("team", group.team),
        ("interface", group.interface or "(none: not replayable; see exceptions.yaml)"),
        ("state", f"{group.state} by {group.state_by} at {iso(group.state_at)}"),
        ("owner", group.owner or "-"),
        ("replays", f"{group.replayed} sent, {group.succeeded} succeeded, {group.failed_again} failed again"),
    ]
    for name, value in rows:
        click.echo(f"{name:20} {value}")
    if attempts:
        click.echo("\nattempts (newest last):")
        for a in attempts:
            click.echo(
                f"  {iso(a.at)}  {a.status:8} {a.outcome:12} trace {a.trace_id}  by {a.actor}  {a.result}"
            )


def _act(
    settings: Settings, group_id: str, verb: str, actor: str | None, now_text: str | None, **kw: Any
) -> None:
    from exceptions.model import GroupNotFound, TransitionError
    from exceptions.queue import change_state

    now = _now(now_text)
    who = _actor(actor)
    with _queue(settings) as queue:
        _refresh(queue, now)
        try:
            group = change_state(queue.store, group_id, verb, actor=who, source=SOURCE, now=now, **kw)
        except (GroupNotFound, TransitionError) as exc:
            raise click.ClickException(str(exc)) from exc
    owner = f", owner {group.owner}" if group.owner else ""
    click.echo(f"group {group.id} is {group.state}{owner} (by {who} at {iso(now)})")


@exceptions.command(context_settings={"max_content_width": 110})
@click.argument("group_id")
@click.option("--to", "owner", required=True, metavar="NAME", help="Who owns the group from now on.")
@click.option("--comment", default="", help="Why, for the audit log.")
@actor_option
@now_option
@settings_options
def assign(
    *, settings: Settings, group_id: str, owner: str, comment: str, actor: str | None, now_text: str | None
) -> None:
    """Give a group to someone (new, assigned or replaying -> assigned)."""
    _act(settings, group_id, "assign", actor, now_text, owner=owner, comment=comment)


@exceptions.command(context_settings={"max_content_width": 110})
@click.argument("group_id")
@click.option("--comment", default="", help="How it was fixed, for the audit log.")
@actor_option
@now_option
@settings_options
def resolve(
    *, settings: Settings, group_id: str, comment: str, actor: str | None, now_text: str | None
) -> None:
    """Close a group as handled. It reopens by itself if it fails again later."""
    _act(settings, group_id, "resolve", actor, now_text, comment=comment)


@exceptions.command(context_settings={"max_content_width": 110})
@click.argument("group_id")
@click.option("--comment", default="", help="Why it needs no work, for the audit log.")
@actor_option
@now_option
@settings_options
def ignore(
    *, settings: Settings, group_id: str, comment: str, actor: str | None, now_text: str | None
) -> None:
    """Close a group as known noise. It reopens by itself if it fails again later."""
    _act(settings, group_id, "ignore", actor, now_text, comment=comment)


@exceptions.command(context_settings={"max_content_width": 110})
@click.argument("group_id")
@click.option(
    "--trace", "traces", multiple=True, metavar="TRACE_ID", help="Replay only this transaction (repeatable)."
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Replay at most N transactions.")
@actor_option
@now_option
@settings_options
def replay(
    *,
    settings: Settings,
    group_id: str,
    traces: tuple[str, ...],
    limit: int | None,
    actor: str | None,
    now_text: str | None,
) -> None:
    """Re-drive a group's failed transactions through its interface's replay target.

    Sends references only (trace and span id, key hashes, the engine's message id), each with a
    traceparent in the failed transaction's trace. Transactions whose replay succeeded or is still
    pending are skipped; the target's rate limit defers the rest to a later run. Fix the cause
    first: a replay repeats the original message.
    """
    import logging

    from exceptions.model import GroupNotFound, TransitionError
    from exceptions.queue import replay as replay_group

    now = _now(now_text)
    who = _actor(actor)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise here

    def progress(done: int, total: int) -> None:
        if total >= 20 and (done % 10 == 0 or done == total):
            click.echo(f"  sent {done}/{total}", err=True)

    with _queue(settings) as queue:
        _refresh(queue, now)
        try:
            report = replay_group(
                queue.store,
                queue.config,
                group_id,
                actor=who,
                source=SOURCE,
                now=now,
                traces=traces,
                limit=limit,
                progress=progress,
            )
        except (GroupNotFound, TransitionError) as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(
        f"group {group_id}: {report.count('sent')} sent, {report.count('refused')} refused, "
        f"{report.count('error')} failed to send, {report.deferred} deferred by the rate limit, "
        f"{report.skipped} skipped (already replayed)"
    )
    for a in report.attempts:
        if a.status != "sent":
            click.echo(f"  {a.status}: trace {a.trace_id}: {a.result}")
    if report.deferred:
        click.echo("run it again later to send the deferred ones")


@exceptions.command(context_settings={"max_content_width": 110})
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8590, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free one)."
)
@click.option("--username", default="admin", show_default=True, help="The Mirth user it accepts.")
@click.option("--password", default="admin", show_default=True, help="That user's password.")
@click.option(
    "--down-for",
    default="0s",
    show_default=True,
    metavar="DURATION",
    help="Answer 503 for this long after starting, as an engine that is not back yet.",
)
@click.option(
    "--otlp-endpoint",
    default=None,
    metavar="URL",
    help="Report each webhook replay it accepts as a successful span of the replayed stage in the "
    "replayed trace, over OTLP/HTTP (e.g. http://127.0.0.1:4318), so the group shows it succeeded.",
)
def standin(
    *, host: str, port: int, username: str, password: str, down_for: str, otlp_endpoint: str | None
) -> None:
    """Run a stand-in integration engine to try replays without one.

    \b
    It answers what a replay calls: Mirth Connect's REST API (POST /api/users/_login,
    POST /api/channels/{channelId}/messages/{messageId}/_reprocess, POST /api/users/_logout)
    and a generic webhook (POST /webhook). Point an interface of exceptions.yaml at it:
      target: {kind: webhook, url: 'http://127.0.0.1:8590/webhook'}
      target: {kind: mirth, url: 'http://127.0.0.1:8590/api', channel_id: demo, username: admin,
               password: admin}
    Ctrl-C stops it.
    """
    import threading
    import time

    import httpx

    from exceptions.standin import Received, StandIn, post_replayed
    from vitals.kernel.units import parse_duration

    try:
        down_s = parse_duration(down_for)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--down-for") from exc

    def report(received: Received) -> None:
        click.echo(f"replay accepted: {received.path} traceparent {received.headers.get('traceparent', '-')}")
        if otlp_endpoint is None:
            return
        try:
            post_replayed(otlp_endpoint, received, time.time_ns())
        except httpx.HTTPError as exc:
            click.echo(f"could not report the replayed transaction to {otlp_endpoint}: {exc}", err=True)

    engine = StandIn(username=username, password=password, on_replay=report)
    url = engine.start(host, port)
    click.echo(f"stand-in engine on {url}: Mirth API {url}/api, webhook {url}/webhook (Ctrl-C stops it)")
    if down_s > 0:
        engine.go_down(down_s)  # the demo's planted outage: one down window for both
        click.echo(f"answering 503 for {down_for}, then back")

        def back() -> None:
            click.echo("the stand-in engine is back: replays are accepted")

        timer = threading.Timer(down_s, back)
        timer.daemon = True
        timer.start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        engine.stop()


__all__ = ["exceptions"]
