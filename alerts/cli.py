"""``vitals alerts``: check the routing config, test routes, acknowledge, silence, inspect delivery."""

from __future__ import annotations

import getpass
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from alerts import actions
from alerts import config as alerts_config
from alerts.api import AlertInfo, IncidentInfo, SilenceInfo, acknowledge_incident_in, incidents_of, tallies
from alerts.escalation import EscalationPolicy
from alerts.grouping import pages_now
from alerts.lifecycle import AckError
from alerts.routing import Route
from alerts.silences import SilenceError
from alerts.store import NotFound
from vitals.kernel.configfile import ConfigError, parse_yaml
from vitals.kernel.options import settings_options
from vitals.kernel.settings import Settings
from vitals.kernel.timeintervals import TimeInterval
from vitals.kernel.units import format_duration, parse_duration


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "unknown")


def _routing(settings: Settings, file: str | None) -> alerts_config.AlertsConfig:
    """The config for routing questions: its secrets are not read, so this runs anywhere (CI)."""
    try:
        if file:
            return alerts_config.load(file, read_secrets=False)
        return alerts_config.load_for(settings.config_dir, read_secrets=False)
    except ConfigError as exc:
        raise click.ClickException(f"invalid alerts config:\n{exc}") from exc


def _store(settings: Settings) -> Any:
    from alerts.sqlstore import SqlStore
    from vitals.kernel.db import create_engine, migrate

    engine = create_engine(settings.db_url)
    migrate(engine)
    return SqlStore(engine)


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


def _moment(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 time such as 2026-11-24T10:00:00Z") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


file_option = click.option(
    "--file",
    "file",
    type=click.Path(dir_okay=False),
    default=None,
    help="An alerts.yaml to use instead of the config directory's.",
)


@click.group()
def alerts() -> None:
    """Alert routing tests, acknowledgements, silences and delivery status.

    The routing config is alerts.yaml in the config directory (Alertmanager's format; see
    docs/reference/config/alerts.md). Commands that change state write to the store and the
    audit log; a running `vitals serve` picks the change up within seconds.
    """


@alerts.command()
@file_option
@click.option(
    "--offline",
    is_flag=True,
    help="Do not ask Slack which scopes the bot tokens have (their guarantee is shown as not asked).",
)
@settings_options
def check(settings: Settings, file: str | None, offline: bool) -> None:
    """Validate alerts.yaml (errors name file, line and field) and show each Slack bot's guarantee.

    A bot token without the scopes to look up an earlier attempt (channels:history, and
    channels:read for a channel given by name) cannot tell after a crash whether a message it was
    sending arrived, so it sends it again: that receiver is at-least-once.
    """
    path = file or str(Path(settings.config_dir) / alerts_config.FILE_NAME)
    click.echo(f"Checking '{path}'", nl=False)
    try:
        cfg = alerts_config.load(file) if file else alerts_config.load_for(settings.config_dir)
    except ConfigError as exc:
        click.echo("  FAILED")
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo("  SUCCESS")
    click.echo("Found:")
    for name, count in cfg.summary().items():
        click.echo(f" - {count} {name.replace('_', ' ')}")
    for warning in alerts_config.missing_secrets(cfg):
        click.echo(f"warning: {warning}", err=True)
    known = {
        f"{r.name}/{i.name}": GUARANTEES[i.kind]
        for r in cfg.receivers.values()
        for i in r.integrations
        if i.kind in GUARANTEES
    }
    bots = [
        f"{r.name}/{i.name}"
        for r in cfg.receivers.values()
        for i in r.integrations
        if i.kind == "slack_bot" and i.token is not None and i.url is not None
    ]
    if not known and not bots:
        return
    click.echo("Delivery guarantees:")
    for where, text in known.items():
        click.echo(f" - {where}: {text}")
    if not bots:
        return
    if offline:
        for where in bots:
            click.echo(f" - {where}: not asked (--offline); depends on the bot token's scopes")
        return
    from alerts.senders import SenderFactory, guarantees

    degraded = guarantees(cfg, SenderFactory())
    exact = "no duplicates after a crash (an earlier attempt is looked up first)"
    for where in bots:
        click.echo(f" - {where}: {degraded.get(where, exact)}")


#: What each integration that is not a Slack bot guarantees across a crash mid-send.
GUARANTEES = {
    "webhook": "at-least-once: after a crash mid-send it is sent again with the same Idempotency-Key "
    "header, for the receiver to de-duplicate",
    "slack_webhook": "at-least-once (duplicates possible after a crash): an incoming webhook cannot "
    "be asked whether an earlier attempt arrived",
    "alertmanager": "no duplicates that matter: Alertmanager merges an alert sent twice",
    "console": "at-least-once: a line may be written again after a crash",
}


@alerts.group()
def routes() -> None:
    """Show the routing tree or test where labels are routed (like amtool config routes)."""


def _labels(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        for part in pair.strip().strip("{}").split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise click.BadParameter(f"{part!r}: expected LABEL=VALUE")
            name, value = part.split("=", 1)
            out[name.strip()] = value.strip().strip('"')
    return out


at_option = click.option(
    "--at",
    "at",
    default=None,
    metavar="ISO-8601",
    help="Say whether a fast burn pages at this time (default: now), e.g. 2026-03-07T14:00:00Z.",
)


@dataclass(frozen=True)
class _Moment:
    """When ``pages`` is judged: ``--at``, or the current time (said "now")."""

    at: float
    given: bool

    @classmethod
    def of(cls, text: str | None) -> _Moment:
        return cls(_moment(text), True) if text else cls(time.time(), False)

    def label(self) -> str:
        return f"at {_when(datetime.fromtimestamp(self.at, UTC))}" if self.given else "now"


def _vitals_paging(cfg: alerts_config.AlertsConfig) -> bool:
    """The tree uses Vitals' paging fields; a plain Alertmanager config keeps amtool's output."""
    return any(r.opts.pages != "always" or r.opts.escalation_policy for r in cfg.route.walk())


def _pages(route: Route, cfg: alerts_config.AlertsConfig, moment: _Moment, severity: str | None) -> str:
    """``pages: <when> (<what a fast burn is at the moment>)``; a ticket-severity alert is a
    ticket whatever the route says."""
    pages = route.opts.pages
    when = pages if isinstance(pages, str) else ",".join(pages)
    if severity is not None and severity != "page":
        return f"pages: {when} (severity={severity}: ticket)"
    if pages == "always":
        return f"pages: {when}"
    if pages == "never":
        return f"pages: {when} (ticket)"
    if pages_now(route.opts, moment.at, cfg.time_intervals):
        return f"pages: {when} ({moment.label()}: page)"
    return f"pages: {when} (not {moment.label()}: ticket)"


def _escalation(policy: EscalationPolicy, receiver: str) -> str:
    """The levels as on-call meets them: who is told, how long after the first post."""
    steps = []
    after = 0.0
    for level in policy.levels:
        who = "/".join(level.receivers) or receiver
        steps.append(who if after == 0 else f"after {format_duration(after)} {who}")
        after += level.timeout
    repeat = "no repeat" if policy.repeat == 0 else f"then from the first level {policy.repeat} more time(s)"
    return f"{', '.join(steps)}; {repeat}; while it pages unacknowledged"


def _route_details(
    route: Route, cfg: alerts_config.AlertsConfig, moment: _Moment, severity: str | None
) -> list[str]:
    lines = [_pages(route, cfg, moment, severity)]
    name = route.opts.escalation_policy
    if name is None:
        lines.append("escalation: none")
    elif name in cfg.escalation_policies:
        lines.append(f"escalation: {name}: {_escalation(cfg.escalation_policies[name], route.opts.receiver)}")
    else:
        lines.append(f"escalation: {name} (not defined)")
    return lines


@routes.command("test")
@click.argument("labels", nargs=-1)
@click.option(
    "--verify-receivers", default=None, help="Comma-separated receivers expected, in order; exit 1 if not."
)
@click.option("--tree", is_flag=True, help="Also show the matching routes with their keys and grouping.")
@at_option
@file_option
@settings_options
def routes_test(  # noqa: PLR0917 - click passes every option
    settings: Settings,
    labels: tuple[str, ...],
    verify_receivers: str | None,
    tree: bool,
    at: str | None,
    file: str | None,
) -> None:
    """Print the receivers an alert with LABEL=VALUE ... reaches, one per line, in order.

    With Vitals' paging fields in the tree, each receiver is followed (on stderr, so the receivers
    stay one per line on stdout) by its route's ``pages`` and whether a fast burn pages at --at
    (default: now), and its escalation policy.
    """
    cfg = _routing(settings, file)
    moment = _Moment.of(at)
    given = _labels(labels)
    matched = cfg.route.match(given)
    receivers = [r.opts.receiver for r in matched]
    details = _vitals_paging(cfg)
    for route in matched:
        click.echo(route.opts.receiver)
        if details:
            for line in _route_details(route, cfg, moment, given.get("severity")):
                click.echo(f"  {line}", err=True)
        if tree:
            group_by = "..." if route.opts.group_by_all else ",".join(route.opts.group_by)
            click.echo(f"  route {route.key} (line {route.line}) group_by [{group_by}]", err=True)
    if verify_receivers is not None:
        expected = [r.strip() for r in verify_receivers.split(",") if r.strip()]
        if expected != receivers:
            click.echo(f"WARNING: expected receivers {expected} but got {receivers}", err=True)
            sys.exit(1)


def _show(route: Route, depth: int, cfg: alerts_config.AlertsConfig, moment: _Moment) -> None:
    matchers = ", ".join(str(m) for m in route.matchers) or "(every alert)"
    extra = []
    if route.continue_:
        extra.append("continue")
    if route.opts.mute_time_intervals:
        extra.append("mute: " + ",".join(route.opts.mute_time_intervals))
    if route.opts.active_time_intervals:
        extra.append("active: " + ",".join(route.opts.active_time_intervals))
    if _vitals_paging(cfg):
        extra.append(_pages(route, cfg, moment, None))
    if route.opts.escalation_policy:
        extra.append("escalation: " + route.opts.escalation_policy)
    group_by = "..." if route.opts.group_by_all else ",".join(route.opts.group_by)
    suffix = f" [{'; '.join(extra)}]" if extra else ""
    click.echo(f"{'  ' * depth}{matchers} -> {route.opts.receiver} (group_by [{group_by}]){suffix}")
    for child in route.routes:
        _show(child, depth + 1, cfg, moment)


@routes.command("show")
@at_option
@file_option
@settings_options
def routes_show(settings: Settings, at: str | None, file: str | None) -> None:
    """Print the routing tree, with each route's ``pages`` at --at (default: now) and the
    escalation policies (a level without a receiver is the team of the route it came through)."""
    cfg = _routing(settings, file)
    moment = _Moment.of(at)
    _show(cfg.route, 0, cfg, moment)
    if cfg.escalation_policies:
        click.echo("escalation policies:")
        for name, policy in sorted(cfg.escalation_policies.items()):
            levels = _escalation(policy, "the route's receiver")
            click.echo(f"  {name}: {levels}")


def _alert_line(i: AlertInfo) -> str:
    extra = f" by {i.acknowledged_by}" if i.acknowledged_by else ""
    if i.suppressed_by:
        extra = " (" + ", ".join(i.suppressed_by) + ")"
    return (
        f"{i.id:>5} {i.fingerprint} {i.state:<12}{extra} {i.priority} {i.sla_id} [{i.tier}] "
        f"{i.slice or '(all)'} since {_when(i.started)}"
    )


def _incident_line(i: IncidentInfo) -> str:
    """State, urgency, priority, what, who is told, since when, who owns it; then the ref to ack."""
    counts = ", ".join(f"{n} {state}" for state, n in i.counts.items() if n)
    owner = f" ack by {i.acknowledged_by}" if i.acknowledged_by else ""
    to = f" -> {i.receiver}" if i.receiver else ""
    ref = i.ref or "(not grouped)"
    return (
        f"{i.state:<12} {i.urgency or '-':<6} {i.priority or '-':<3} {i.title}{to} "
        f"since {_when(i.started_at)}{owner}  [{ref}: {counts}]"
    )


@alerts.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include incidents resolved in the last 24 hours.")
@click.option("--alerts", "-v", "expand", is_flag=True, help="List each incident's alerts beneath it.")
@click.option("--json", "as_json", is_flag=True, help="JSON output: the incidents, each with its alerts.")
@settings_options
def list_alerts(settings: Settings, show_all: bool, expand: bool, as_json: bool) -> None:
    """List open incidents (firing, acknowledged, suppressed), the most urgent first.

    An incident is one Alertmanager group (the route's group_by): one Slack thread. Firing
    incidents come first, then acknowledged, then suppressed ones; within each, pages before
    tickets, P1 before P4, the newest breach first. Alerts that no incident holds yet (never
    notified, e.g. silenced from the start) are listed last as "(not grouped)". The ref in
    brackets is what `vitals alerts ack` takes to acknowledge the whole incident.
    """
    store = _store(settings)
    incidents = incidents_of(store, now=time.time(), include_resolved=show_all)
    if as_json:
        click.echo(json.dumps([i.to_json() for i in incidents], indent=2))
        return
    if not incidents:
        click.echo("no open alerts")
        return
    for incident in incidents:
        click.echo(_incident_line(incident))
        if expand:
            for alert in incident.alerts:
                click.echo("    " + _alert_line(alert))
    totals = tallies(incidents)
    for what in ("incidents", "alerts"):
        counts = ", ".join(f"{state} {n}" for state, n in totals[what].items())
        click.echo(f"{what}: {counts}")


@alerts.command()
@click.argument("ref")
@click.option("--by", default=None, help="Who acknowledges (default: your user name).")
@click.option("--comment", "-c", default="", help="Why, or what you are doing about it.")
@file_option
@settings_options
def ack(settings: Settings, ref: str, by: str | None, comment: str, file: str | None) -> None:
    """Acknowledge incident or alert REF: stops repeats and escalation until the ack timeout.

    REF is an incident's ref (as `vitals alerts list` shows it in brackets: every alert of the
    incident is acknowledged), or one alert's id or fingerprint (`vitals alerts list --alerts`).
    """
    store = _store(settings)
    who = by or _user()
    try:
        if ref in store.groups():
            incident = acknowledge_incident_in(
                store, _routing(settings, file), ref, who, comment, "cli", now=time.time()
            )
            click.echo(
                f"acknowledged incident {ref} ({incident.title}) as {who}: "
                f"{incident.counts['acknowledged']} alert(s) acknowledged, {incident.counts['firing']} firing"
            )
            return
        alert = actions.acknowledge(store, ref, who, comment, source="cli", now=time.time())
    except (NotFound, AckError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"acknowledged {alert.fingerprint} ({alert.sla_id} [{alert.tier}]) as {alert.acknowledged_by}")


@alerts.group()
def silence() -> None:
    """Add, list and expire silences."""


@silence.command("add")
@click.argument("matchers", nargs=-1, required=True)
@click.option("--duration", "-d", default=None, help="How long, e.g. 2h (default 1h unless --end).")
@click.option("--start", default=None, help="Start time (ISO 8601); default now.")
@click.option("--end", default=None, help="End time (ISO 8601).")
@click.option("--author", "-a", default=None, help="Who silences (default: your user name).")
@click.option("--comment", "-c", required=True, help="Why (shown with every silenced alert).")
@click.option("--expire-on-resolve", is_flag=True, help="End the silence once the alerts it muted resolve.")
@click.option(
    "--recurring",
    default=None,
    help="Only inside this recurring window (an Alertmanager time_interval in YAML), e.g. "
    "\"{weekdays: [saturday], times: [{start_time: '02:00', end_time: '04:00'}], "
    'location: America/Chicago}".',
)
@settings_options
def silence_add(  # noqa: PLR0917 - click passes every option
    settings: Settings,
    matchers: tuple[str, ...],
    duration: str | None,
    start: str | None,
    end: str | None,
    author: str | None,
    comment: str,
    expire_on_resolve: bool,
    recurring: str | None,
) -> None:
    """Silence alerts matching MATCHERS (e.g. 'sla="gl-posting-errors"' 'facility=~"north.*"')."""
    now = time.time()
    starts = _moment(start) if start else None
    if end and duration:
        raise click.UsageError("give --end or --duration, not both")
    try:
        ends = _moment(end) if end else (starts or now) + parse_duration(duration or "1h")
        specs = []
        if recurring:
            raw = parse_yaml(recurring, "--recurring").data  # 17:00 unquoted is a time, as in files
            for item in raw if isinstance(raw, list) else [raw]:
                specs.append(TimeInterval.from_json(item))
        sid = actions.create_silence(
            _store(settings),
            list(matchers),
            starts_at=starts,
            ends_at=ends,
            author=author or _user(),
            comment=comment,
            now=now,
            source="cli",
            expire_on_resolve=expire_on_resolve,
            time_intervals=specs,
        )
    except (SilenceError, ValueError, KeyError, TypeError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(sid)


@silence.command("list")
@click.option("--expired", is_flag=True, help="Include expired silences.")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@settings_options
def silence_list(settings: Settings, expired: bool, as_json: bool) -> None:
    """List silences (active and pending; --expired for all)."""
    now = time.time()
    infos = [SilenceInfo.of(s, now) for s in _store(settings).silences(now, include_expired=expired)]
    if as_json:
        click.echo(json.dumps([i.to_json() for i in infos], indent=2))
        return
    if not infos:
        click.echo("no silences")
        return
    for i in infos:
        flags = []
        if i.expire_on_resolve:
            flags.append("expire-on-resolve")
        if i.time_intervals:
            flags.append("recurring")
        click.echo(
            f"{i.id:>5} {i.status:<8} {' '.join(i.matchers)} until {_when(i.ends_at)} "
            f"by {i.created_by}: {i.comment}" + (f" [{', '.join(flags)}]" if flags else "")
        )


@silence.command("expire")
@click.argument("silence_ids", nargs=-1, type=int, required=True)
@click.option("--by", default=None, help="Who expires it (default: your user name).")
@settings_options
def silence_expire(settings: Settings, silence_ids: tuple[int, ...], by: str | None) -> None:
    """Expire silences now."""
    store = _store(settings)
    for sid in silence_ids:
        try:
            actions.expire_silence(store, sid, by or _user(), source="cli", now=time.time())
        except (NotFound, SilenceError) as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"expired silence {sid}")


@alerts.command()
@click.option("--limit", default=50, show_default=True, help="Most entries shown.")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@settings_options
def audit(settings: Settings, limit: int, as_json: bool) -> None:
    """The audit log, newest first: every component's entries, not only alerting's.

    \b
    Alerts acknowledged, silences created and expired, alerting configuration reloaded, and also
    tokens created and revoked and what the API and dashboard record (the one audit log of the
    store). `vitals audit` shows the same log with filters by time, actor and action.
    """
    entries = _store(settings).audit_entries(limit)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "at": e.at,
                        "actor": e.actor,
                        "action": e.action,
                        "target": e.target,
                        "source": e.source,
                        "detail": dict(e.detail),
                    }
                    for e in entries
                ],
                indent=2,
            )
        )
        return
    for e in entries:
        at = datetime.fromtimestamp(e.at, tz=UTC)
        click.echo(f"{_when(at)} {e.source:<9} {e.actor} {e.action} {e.target}")


@alerts.command()
@click.option(
    "--status", default=None, help="Comma-separated statuses (pending,sending,sent,failed_over,dead,skipped)."
)
@click.option("--limit", default=50, show_default=True)
@settings_options
def outbox(settings: Settings, status: str | None, limit: int) -> None:
    """Notifications and their delivery state, oldest first."""
    store = _store(settings)
    statuses = [s.strip() for s in status.split(",")] if status else None
    for item in store.outbox_rows(statuses, limit):
        result = item.result or {}
        click.echo(
            f"{item.id:>6} {item.status:<11} {item.action:<6} {item.receiver}/{item.integration} "
            f"attempts={item.attempts} {item.key}"
            + (f" ts={result['ts']}" if "ts" in result else "")
            + (f" error={item.last_error}" if item.last_error and item.status != "sent" else "")
        )
    counts = store.outbox_counts()
    click.echo("total: " + (", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "empty"))


@alerts.command()
@click.option("--once", is_flag=True, help="One evaluate/plan cycle, deliver what is due, then exit.")
@click.option(
    "--drain-timeout", default=30.0, show_default=True, help="With --once: how long to keep delivering."
)
@click.option(
    "--deliver-only",
    is_flag=True,
    help="Only deliver the outbox (another process evaluates and plans): a separate dispatcher.",
)
@settings_options
def run(settings: Settings, once: bool, drain_timeout: float, deliver_only: bool) -> None:
    """Run alerting on its own (what `vitals serve` runs): evaluate, plan and deliver.

    Without --deliver-only it also deletes finished rows after their retention (alerts.yaml
    `retention:`), once at the start and then every `retention.interval`.

    Several `run --deliver-only` processes may share one outbox: rows are claimed with leases,
    so each notification is sent by exactly one of them.
    """
    import signal
    import threading

    from alerts.service import AlertsService, engine_interval
    from vitals.kernel.db import create_engine, migrate

    engine = create_engine(settings.db_url)
    migrate(engine)
    try:
        # the watchdog too, except in a delivery-only process (it plans no notifications)
        watch = None if deliver_only else engine_interval(settings.config_dir)
        service = AlertsService(engine, settings.config_dir, watch_evaluations=watch)
    except ConfigError as exc:
        raise click.ClickException(f"invalid alerts config:\n{exc}") from exc
    click.echo(f"alerts: {service.status_line()}", err=True)
    if once:
        if not deliver_only:
            service.cycle()
        stats = service.dispatcher.drain(drain_timeout)
        click.echo(
            f"delivered {stats.sent}, reconciled {stats.reconciled}, failed over {stats.failed_over}, "
            f"retrying {stats.retried + stats.rate_limited}, dead {stats.dead}"
        )
        return
    signal.signal(signal.SIGTERM, lambda *_: service.stop.set())
    deliverer = threading.Thread(target=service.deliver_forever, name="alerts-deliver", daemon=True)
    deliverer.start()
    try:
        interval = service.config.current.delivery.dispatch_interval
        pruned_at: float | None = None
        while not service.stop.is_set():
            if not deliver_only:
                service.cycle()
                # The retention job too, under its lease, every retention.interval.
                if (
                    pruned_at is None
                    or time.monotonic() - pruned_at >= service.config.current.retention.interval
                ):
                    pruned_at = time.monotonic()
                    service.retention.run_once()
            service.stop.wait(interval)
    except KeyboardInterrupt:
        service.stop.set()
    deliverer.join(timeout=30)
