"""``vitals bench incidents``: the demo's planted incidents, replayed through the real engines.

What on-call hears about each incident of the scenario (issue #13's "Measured"): how many
top-level posts each receiver gets (goal: one thread per incident per receiver, updates in
place), whether a P2/P3 incident pages outside business hours (goal: never), and how long its
first post takes, as three times that are not to be confused:

(a) **breach start -> first post**: from the first bad minute (the alert's "since") to the plan
    of the first post. It includes the SLA's own detection delay (the minute must end, the
    burn-rate windows must cross their thresholds), a property of the SLA definition, not of
    the alerting pipeline; no goal.
(b) **detectable -> first post**: from the minute boundary at which the SLA engine's rollups first
    made the alert's condition true (the end of the last complete minute before the evaluation
    that fired the alert: its ``fired`` event) to the plan of the first post. This is what the
    pipeline adds, and what issue #13's goal ``group_wait`` + one evaluation interval + 2 s is
    about (the 2 s being the send, (c)).
(c) **send cost**: the real time a notification takes through the outbox (claim, attempt,
    complete) to an in-memory receiver, per delivered row over the whole run.

It also checks the demo's start-up: on a second store back-filled up to ``--now``, the engines
start at ``--now`` with the history in place (as ``vitals demo`` does) and run their first cycles;
an incident that finished before ``--now`` must open a ticket there, not page (goal: 0 paged).

The store is filled as ``vitals demo`` fills it, with the simulator's telemetry through the
collector's conversion (:class:`vitals.shell.bench.history.StoreWriter`): ``--days`` of history
up to ``--now``, then ``--after`` more of "live" traffic. Unlike the demo, the SLA engine and the
alert engine follow the clock from ``--replay-from`` (default: an hour before the first incident)
on a simulated clock: each step writes the telemetry of the next evaluation interval, ticks the
SLA engine, then runs the alerting cycle (evaluate, plan) at the same instant, and once more at
each group timer (``group_wait``, ``group_interval``, escalation) due before the next tick, on the
``delivery.dispatch_interval`` grid that ``vitals serve`` runs it on. So every incident breaches
"live" and its latency is measured from the breach as the SLA rollups date it. The planned
notifications are then delivered through the outbox (claim, attempt, complete) to an in-memory
receiver in real time, which gives the send cost that the latency goal allows 2 s for.

A notification belongs to an incident when its group holds an alert of an SLA (and slice) that
the scenario's ground truth (``simulator.scenario.GROUND_TRUTH``) says the incident breaches, or
of another SLA of the same ``interface``, that started while the incident was under way; the
rest are reported as notifications about no planted incident.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy.engine import Engine

from alerts import config as alerts_config
from alerts.dispatcher import Dispatcher
from alerts.engine import AlertEngine
from alerts.labels import label_name
from alerts.notification import AlertView, Notification
from alerts.senders import MemorySender
from alerts.sqlstore import SqlStore
from simulator.calendar import ZONE
from simulator.model import Item
from simulator.options import days_option, now_option, rate_scale_option, scenario_option, seed_option
from simulator.runner import RunPlan
from simulator.scenario import ExpectedEffect, Scenario, parse_at
from slas.budget import tiers_for
from slas.service import engine_from, load_config_dir
from vitals.kernel.settings import STARTER_CONFIG_DIR
from vitals.kernel.timeintervals import any_contains
from vitals.kernel.units import NS, parse_duration
from vitals.shell.bench.common import (
    Figure,
    Stopwatch,
    db_option,
    out_option,
    report,
    say,
    scratch_store,
    store_kind,
)
from vitals.shell.bench.history import StoreWriter

__all__ = ["Incident", "attribute", "incidents"]

#: The latency goal's allowance for sending the first post (Slack's API, the outbox).
SEND_ALLOWANCE_S = 2.0
#: The time interval that says when P2 pages (the starter config's name for it).
BUSINESS_HOURS = "business-hours"
#: Priorities that must not page outside business hours.
QUIET_PRIORITIES = ("P2", "P3", "P4")
#: An alert that starts this long after its incident ended is not about it.
LATE_START_S = 3600.0
#: The SLA engine's rollup unit: an alert's condition can first be true at a minute boundary.
MINUTE_S = 60.0
#: How long the start-up check follows the clock after ``--now``: past ``group_wait`` and the
#: first ``group_interval``, so each start-up group has had its first post.
STARTUP_S = 600.0


@dataclass
class Incident:
    """One planted incident and the notifications its groups received."""

    effect: ExpectedEffect
    groups: set[str] = field(default_factory=set)
    notifications: list[Notification] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.effect.incident


def _breaches(effect: ExpectedEffect, alert: AlertView) -> bool:
    """The alert is one the ground truth says this incident breaches (SLA, and slice if any)."""
    if alert.sla_id not in effect.slas:
        return False
    return all(alert.labels.get(label_name(k)) == v for k, v in effect.slice.items())


def _during(effect: ExpectedEffect, alert: AlertView) -> bool:
    start, end = effect.start.timestamp(), effect.end.timestamp()
    return start - 300.0 <= alert.started_at <= end + LATE_START_S


def attribute(
    effects: Sequence[ExpectedEffect], planned: Sequence[Notification]
) -> tuple[list[Incident], list[Notification]]:
    """Each incident with its groups' notifications, and the notifications of no incident.

    A group (one episode of it: a group ref whose notifications fall in the incident's time) is the
    incident's when one of its alerts is an alert the incident breaches, or shares its
    ``interface`` label with such an alert (the lag SLAs a stalled queue feeds).
    """
    found = [Incident(effect) for effect in effects]
    interfaces: dict[int, set[str]] = defaultdict(set)
    for index, incident in enumerate(found):
        for n in planned:
            for alert in n.alerts:
                if _breaches(incident.effect, alert) and _during(incident.effect, alert):
                    incident.groups.add(n.group_ref)
                    if alert.labels.get("interface"):
                        interfaces[index].add(alert.labels["interface"])
    for index, incident in enumerate(found):
        for n in planned:
            if any(
                a.labels.get("interface") in interfaces[index] and _during(incident.effect, a)
                for a in n.alerts
            ):
                incident.groups.add(n.group_ref)
    claimed: set[str] = set()
    for incident in found:
        incident.notifications = [n for n in planned if n.group_ref in incident.groups]
        claimed |= incident.groups
    return found, [n for n in planned if n.group_ref not in claimed]


def _priority(n: Notification) -> str:
    """The most urgent priority among the notification's alerts ("P1" < "P2" < ...)."""
    return min((a.labels.get("priority", "P4") for a in n.alerts), default="P4")


def _out_of_hours_pages(
    notifications: Sequence[Notification], config: alerts_config.AlertsConfig
) -> list[Notification]:
    hours = config.time_intervals.get(BUSINESS_HOURS, ())
    return [
        n
        for n in notifications
        if n.urgency == "page"
        and n.kind != "resolved"
        and _priority(n) in QUIET_PRIORITIES
        and not any_contains(hours, n.created_at)
    ]


def _local(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).astimezone(ZONE).strftime("%a %H:%M:%S")


def _timeline(incident: Incident) -> list[str]:
    lines = []
    for n in incident.notifications:
        kinds = f"{n.action} {n.kind}"
        slas = ",".join(sorted({a.sla_id for a in n.alerts}))
        lines.append(f"    {_local(n.created_at)}  {n.receiver:<28} {kinds:<18} {n.urgency:<6}  {slas}")
    return lines


def _goal_s(config: alerts_config.AlertsConfig, interval_s: float, n: Notification) -> float:
    routes = [r for r in config.route.walk() if r.opts.receiver == n.route_receiver]
    wait = max((r.opts.group_wait for r in routes), default=config.route.opts.group_wait)
    return wait + interval_s + SEND_ALLOWANCE_S


@dataclass(frozen=True)
class Latency:
    """The three times of one incident's first post (see the module's docstring)."""

    receiver: str
    breach: float  # the first bad minute: the alert's "since"
    detectable: float | None  # the minute boundary before the evaluation that fired it
    fired: float | None  # that evaluation (the ``fired`` event)
    posted: float  # the plan of the first post, on the simulated clock
    goal_s: float

    @property
    def from_breach_s(self) -> float:
        return self.posted - self.breach

    @property
    def from_detectable_s(self) -> float | None:
        return None if self.detectable is None else self.posted - self.detectable

    @property
    def detection_s(self) -> float | None:
        """The SLA's own delay: from the first bad minute to when its rollups could show it."""
        return None if self.detectable is None else self.detectable - self.breach


def first_fired(fired: Mapping[str, Sequence[float]], alerts: Sequence[AlertView], by: float) -> float | None:
    """When the first of ``alerts`` fired (its latest ``fired`` event at or before ``by``): the
    evaluation that made the post due. None when no alert has a ``fired`` event by then."""
    latest = (max((t for t in fired.get(a.fingerprint, ()) if t <= by), default=None) for a in alerts)
    return min((t for t in latest if t is not None), default=None)


def latency_of(
    incident: Incident,
    fired: Mapping[str, Sequence[float]],
    config: alerts_config.AlertsConfig,
    interval_s: float,
) -> Latency | None:
    """The incident's first top-level post and its three times, or None if it had no post."""
    first = min(
        (n for n in incident.notifications if n.action == "post"), key=lambda n: n.created_at, default=None
    )
    if first is None:
        return None
    at = first_fired(fired, first.alerts, first.created_at)
    return Latency(
        receiver=first.receiver,
        breach=min(a.started_at for a in first.alerts),
        detectable=None if at is None else math.floor(at / MINUTE_S) * MINUTE_S,
        fired=at,
        posted=first.created_at,
        goal_s=_goal_s(config, interval_s, first),
    )


def _incident_figures(
    incident: Incident, config: alerts_config.AlertsConfig, latency: Latency | None, send_s: float
) -> list[Figure]:
    name = incident.name
    notes = incident.notifications
    if not notes:
        return [Figure(f"{name}: notifications", 0, "", reference="NOT met: the incident was never notified")]
    posts: Counter[str] = Counter()
    urgencies: dict[str, list[str]] = defaultdict(list)
    for n in notes:
        if n.action == "post":
            posts[n.receiver] += 1
            urgencies[n.receiver].append(n.urgency)
    replies = sum(n.action == "reply" for n in notes)
    updates = sum(n.action == "update" for n in notes)
    threads = len({n.group_ref for n in notes})
    per_receiver = ", ".join(f"{r} {c} ({'/'.join(urgencies[r])})" for r, c in sorted(posts.items()))
    worst = max(posts.values(), default=0)
    figures = [
        Figure(
            f"{name}: top-level posts per receiver (most)",
            worst,
            "",
            detail=f"{per_receiver}; {threads} group(s), {replies} replies, {updates} updates",
            reference="goal <= 1: " + ("met" if worst <= 1 else "NOT met"),
        )
    ]
    out_of_hours = _out_of_hours_pages(notes, config)
    figures.append(
        Figure(
            f"{name}: P2/P3 pages outside business hours",
            len(out_of_hours),
            "",
            detail=f"priority {_priority(notes[0])}, {sum(n.urgency == 'page' for n in notes)} of "
            f"{len(notes)} notifications are pages",
            reference="goal 0: " + ("met" if not out_of_hours else "NOT met"),
        )
    )
    if latency is None:
        return figures
    since_incident = latency.posted - incident.effect.start.timestamp()
    detection = "" if latency.detection_s is None else f"; detectable {latency.detection_s:,.0f} s after it"
    figures.append(
        Figure(
            f"{name}: (a) breach start to first post",
            latency.from_breach_s,
            "s",
            detail=f"breach (the alert's since) {_local(latency.breach)}, post {_local(latency.posted)} to "
            f"{latency.receiver}{detection}; {since_incident:,.0f} s after the incident began",
            reference="no goal: includes the SLA's detection delay",
        )
    )
    b = latency.from_detectable_s
    if b is None or latency.fired is None:
        figures.append(
            Figure(
                f"{name}: (b) detectable to first post",
                0,
                "s",
                reference="unknown: no fired event of the post's alerts before it",
            )
        )
        return figures
    total = b + send_s
    figures.append(
        Figure(
            f"{name}: (b) detectable to first post",
            b,
            "s",
            detail=f"detectable {_local(latency.detectable or 0.0)} (the evaluation at "
            f"{_local(latency.fired)} fired it), post planned {_local(latency.posted)}; "
            f"+ (c) {send_s * 1000:,.1f} ms to send",
            reference=f"goal <= {latency.goal_s:.0f} s with the send: "
            + ("met" if total <= latency.goal_s else "NOT met"),
        )
    )
    return figures


def _due(store: SqlStore) -> float | None:
    """The earliest timer of an open group (next flush, next escalation level)."""
    times = []
    for state in store.groups().values():
        if not state.open:
            continue
        if state.next_flush_at is not None:
            times.append(state.next_flush_at)
        if state.escalation is not None and state.escalation.next_at is not None:
            times.append(state.escalation.next_at)
    return min(times, default=None)


class _Replay:
    """The store, the SLA engine and the alert engine on one simulated clock."""

    def __init__(self, engine: Engine, plan: RunPlan, config: alerts_config.AlertsConfig) -> None:
        self.engine = engine
        self.config = config
        self.clock_s = plan.start_ns / NS
        self.writer = StoreWriter(engine.url.render_as_string(hide_password=False), plan.seed)
        self.items: Iterator[Item] = plan.generator().items()
        self.pending: Item | None = next(self.items, None)
        sla_config = load_config_dir(STARTER_CONFIG_DIR)
        self.interval_s = sla_config.evaluation.interval
        self.slas = engine_from(engine, sla_config, clock=lambda: int(self.clock_s * NS))
        self.store = SqlStore(engine)
        self.alerting = AlertEngine(self.store, lambda: self.config, clock=lambda: self.clock_s)
        self.planned: list[Notification] = []
        self.sla_ticks = 0
        self.cycles = 0
        self.step_s = Stopwatch()
        self.busy_s = 0.0

    def write_until(self, at: float) -> None:
        """Store the simulator's telemetry up to ``at`` (as the collector would have by then)."""
        limit = int(at * NS)
        while self.pending is not None and self.pending.time_ns < limit:
            self.writer.emit(self.pending)
            self.pending = next(self.items, None)
        self.writer.flush()

    def start(self, at: float) -> None:
        self.write_until(at)
        self.clock_s = at
        self.slas.catch_up()

    def cycle(self, at: float) -> None:
        self.clock_s = at
        self.alerting.evaluate()
        self.planned.extend(self.alerting.plan().notifications)
        self.cycles += 1

    def run(self, start: float, end: float) -> None:
        grid = self.config.delivery.dispatch_interval
        at = start
        total = max(1, int((end - start) // self.interval_s))
        while at <= end:
            self.write_until(at)
            self.clock_s = at
            watch = Stopwatch()
            self.slas.tick(budget_s=math.inf)
            self.sla_ticks += 1
            self.cycle(at)
            # Group timers due before the next tick run on the alerting cycle's grid.
            nxt = at + self.interval_s
            due = _due(self.store)
            while due is not None and due < nxt:
                when = max(at, math.ceil(due / grid) * grid)
                if when >= nxt:
                    break
                self.cycle(when)
                later = _due(self.store)
                if later is None or later <= due:
                    break
                due = later
            self.busy_s += watch.seconds
            if self.sla_ticks % 240 == 0:
                say(
                    f"  {_local(at)} ({self.sla_ticks}/{total} ticks): {len(self.store.open_alerts())} open "
                    f"alerts, {len(self.planned)} notifications so far"
                )
            at = nxt

    def deliver(self) -> tuple[int, dict[str, int], float]:
        """Deliver every planned row to an in-memory receiver, unpaced: (delivered, the outbox's
        rows by status after it, seconds)."""
        config = replace(self.config, delivery=replace(self.config.delivery, pace=0.0))
        sender = MemorySender()
        watch = Stopwatch()
        started = self.clock_s
        dispatcher = Dispatcher(
            self.store, lambda: config, lambda integration: sender, clock=lambda: started + watch.seconds
        )
        dispatcher.drain(600, budget=600)
        seconds = watch.seconds
        return len(sender.delivered), dict(self.store.outbox_counts()), seconds

    def fired(self) -> dict[str, list[float]]:
        """Fingerprint -> when each planned alert fired (its ``fired`` events, oldest first)."""
        fingerprints = {a.fingerprint for n in self.planned for a in n.alerts}
        return {
            fp: sorted(e.at for e in self.store.events_for(fp, 10_000) if e.kind == "fired")
            for fp in sorted(fingerprints)
        }

    def close(self) -> None:
        self.writer.close()


@dataclass(frozen=True)
class StartUp:
    """The demo's start-up: finished incidents of the back-filled history, ticketed or paged."""

    paged: dict[str, list[Notification]]
    ticketed: dict[str, list[Notification]]
    silent: list[str]  # finished incidents without a notification at start-up
    recent: list[str]  # ended too recently to tell: their fast burn may still be on at start-up
    others: list[Notification]  # notifications at start-up about no finished incident
    notifications: int


def start_up(
    effects: Sequence[ExpectedEffect], planned: Sequence[Notification], now: float, settled_s: float
) -> StartUp:
    """Which finished incidents the start-up's notifications paged.

    Finished: ended at least ``settled_s`` (the longest short window of a paging tier) before
    ``now``, so no fast burn can still be on; one that ended later may rightly page, and is only
    listed.
    """
    finished = [e for e in effects if e.end.timestamp() <= now - settled_s]
    recent = [e.incident for e in effects if now - settled_s < e.end.timestamp() <= now]
    found, _ = attribute(finished, planned)
    paged: dict[str, list[Notification]] = {}
    ticketed: dict[str, list[Notification]] = {}
    silent = []
    claimed = set()
    for incident in found:
        claimed |= incident.groups
        pages = [n for n in incident.notifications if n.urgency == "page" and n.kind != "resolved"]
        if pages:
            paged[incident.name] = pages
        elif incident.notifications:
            ticketed[incident.name] = incident.notifications
        else:
            silent.append(incident.name)
    others = [n for n in planned if n.group_ref not in claimed]
    return StartUp(paged, ticketed, silent, recent, others, len(planned))


def _start_up_check(
    db: str, plan: RunPlan, config: alerts_config.AlertsConfig, effects: Sequence[ExpectedEffect]
) -> StartUp:
    """As ``vitals demo`` starts: the history back-filled up to ``--now`` before any evaluation,
    then the engines from ``--now`` with it in place, for the first ``STARTUP_S``."""
    now = plan.now.timestamp()
    with scratch_store(db, "incidents-startup") as engine:
        replay = _Replay(engine, plan, config)
        try:
            start = math.floor(now / replay.interval_s) * replay.interval_s
            watch = Stopwatch()
            replay.start(start)
            say(
                f"start-up check: history up to {_local(start)} written and caught up in "
                f"{watch.restart():.0f} s"
            )
            replay.run(start, start + STARTUP_S)
            say(
                f"  {replay.cycles} alerting cycles from {_local(start)}: {len(replay.planned)} notifications"
            )
            for n in replay.planned:
                slas = ",".join(sorted({a.sla_id for a in n.alerts}))
                kinds = f"{n.action} {n.kind}"
                say(f"    {_local(n.created_at)}  {n.receiver:<28} {kinds:<18} {n.urgency:<6}  {slas}")
        finally:
            replay.close()
    return start_up(effects, replay.planned, now, _paging_window_s())


def _paging_window_s() -> float:
    """The longest short window of a paging burn-rate tier among the starter SLAs (a tier fires
    only while both its windows burn): an incident that ended longer ago cannot page any more."""
    slas = load_config_dir(STARTER_CONFIG_DIR).slas
    return max(
        (t.short_minutes * MINUTE_S for sla in slas for t in tiers_for(sla) if t.severity == "page"),
        default=3600.0,
    )


def _start_up_figure(check: StartUp) -> Figure:
    def names(found: Mapping[str, Sequence[Notification]]) -> str:
        return ", ".join(
            f"{name} ({'/'.join(sorted({n.receiver for n in notes}))})"
            for name, notes in sorted(found.items())
        )

    parts = []
    if check.ticketed:
        parts.append(f"ticketed: {names(check.ticketed)}")
    if check.paged:
        parts.append(f"PAGED: {names(check.paged)}")
    if check.silent:
        parts.append(f"not notified: {', '.join(check.silent)}")
    if check.recent:
        parts.append(f"ended within the paging burn window, not counted: {', '.join(check.recent)}")
    about = ", ".join(
        sorted({f"{a.sla_id} ({n.urgency})" for n in check.others if n.action == "post" for a in n.alerts})
    )
    parts.append(
        f"{len(check.others)} of {check.notifications} start-up notifications about no finished incident"
        + (f": posts about {about}" if about else "")
    )
    return Figure(
        "finished incidents paged at start-up",
        len(check.paged),
        "",
        detail="; ".join(parts),
        reference="goal 0: " + ("met" if not check.paged else "NOT met"),
    )


def _replay_start(
    effects: Sequence[ExpectedEffect], plan: RunPlan, given: str | None, interval_s: float
) -> float:
    if given is not None:
        at = parse_at(given).resolve(plan.now).timestamp()
    else:
        history = [e.start.timestamp() for e in effects if e.start.timestamp() >= plan.start_ns / NS]
        at = (min(history) if history else plan.now.timestamp()) - 3600.0
    at = max(at, plan.start_ns / NS + 3600.0)  # the SLA engine needs some history behind it
    return math.floor(at / interval_s) * interval_s


@click.command("incidents")
@seed_option(help="Random seed of the synthetic estate.")
@now_option("When the demo starts: the back-filled history ends here and incidents are placed from it.")
@scenario_option("Scenario file with the incidents (default: the demo's).")
@days_option(default=3.0, max=30, help="Days of history before --now, as `vitals demo` back-fills.")
@click.option(
    "--replay-from",
    default=None,
    metavar="WHEN",
    help="Where the engines start following the clock, relative to --now (-30h, -1d@04:00). "
    "Default: an hour before the first incident.",
)
@click.option(
    "--after",
    default="90m",
    show_default=True,
    help="Live traffic after --now (incidents under way at --now finish in it).",
)
@rate_scale_option(help="Multiply every simulated volume.", min=0.01, max=10)
@db_option()
@out_option()
def incidents(
    *,
    seed: int,
    now: datetime,
    scenario: Scenario | None,
    days: float,
    replay_from: str | None,
    after: str,
    rate_scale: float,
    db: str,
    out: Path | None,
) -> None:
    """Notifications per incident, P2/P3 pages out of hours, first-post latency, start-up pages.

    Replays the scenario's incidents through the SLA engine and the alert engine with the starter
    config on a simulated clock, then prints per incident the top-level posts per receiver (and
    replies, updates, urgency), its pages outside business hours and three times of its first
    post: (a) from the breach start (the alert's "since"), (b) from the minute the SLA's rollups
    made it detectable, compared with group_wait + one evaluation interval + 2 s, and (c) the send
    cost through the outbox. Then, on a store back-filled up to --now as the demo does, whether
    the first cycles page for incidents that finished before --now (goal: none).
    """
    if scenario is None or not scenario.incidents:
        raise click.ClickException("the scenario plants no incidents: nothing to measure")
    config = alerts_config.load(STARTER_CONFIG_DIR / "alerts.yaml", read_secrets=False)
    after_s = parse_duration(after)
    plan = RunPlan(seed=seed, now=now, days=days, scenario=scenario, rate_scale=rate_scale)
    effects = scenario.expected_effects(now)
    end = now.timestamp() + after_s
    shown = [e for e in effects if e.end.timestamp() > plan.start_ns / NS and e.start.timestamp() < end]
    with scratch_store(db, "incidents") as engine:
        say(f"store: {store_kind(engine.url)}")
        replay = _Replay(engine, plan, config)
        try:
            start = _replay_start(shown, plan, replay_from, replay.interval_s)
            say(
                f"history up to {_local(start)} (not evaluated), then the engines follow the clock "
                f"to {_local(end)}"
            )
            watch = Stopwatch()
            replay.start(start)
            say(f"  written and caught up in {watch.restart():.0f} s")
            replay.run(start, end)
            say(
                f"  {replay.sla_ticks} SLA ticks, {replay.cycles} alerting cycles in {watch.seconds:.0f} s; "
                f"{len(replay.planned)} notifications planned"
            )
            fired = replay.fired()
            delivered, outbox, send_s = replay.deliver()
        finally:
            replay.close()
    check = _start_up_check(db, plan, config, shown)
    per_row_s = send_s / delivered if delivered else 0.0
    found, stray = attribute([e for e in shown if e.start.timestamp() >= start - 3600.0], replay.planned)
    figures: list[Figure] = []
    rows = []
    for incident in found:
        effect = incident.effect
        window = f"{_local(effect.start.timestamp())} - {_local(effect.end.timestamp())} {ZONE.key}"
        say(f"{incident.name} ({', '.join(effect.slas)}), {window}:")
        for line in _timeline(incident) or ["    (no notification)"]:
            say(line)
        latency = latency_of(incident, fired, config, replay.interval_s)
        figures += _incident_figures(incident, config, latency, per_row_s)
        rows.append((incident.name, latency))
    for line in _latency_table(rows, per_row_s):
        say(line)
    everything = _out_of_hours_pages(replay.planned, config)
    figures.append(
        Figure(
            "P2/P3 pages outside business hours, every notification",
            len(everything),
            "",
            detail=f"of {len(replay.planned)} notifications",
            reference="goal 0: " + ("met" if not everything else "NOT met"),
        )
    )
    stray_groups = {n.group_ref for n in stray}
    stray_slas = sorted({a.sla_id for n in stray for a in n.alerts})
    figures.append(
        Figure(
            "notifications about no planted incident",
            len(stray),
            "",
            detail=f"{len(stray_groups)} group(s): {', '.join(stray_slas)}" if stray else "",
        )
    )
    figures.append(
        Figure(
            "(c) send cost per notification, outbox to an in-memory receiver",
            per_row_s * 1000,
            "ms",
            digits=1,
            detail=f"{delivered} rows delivered through claim, attempt and complete in {send_s:,.1f} s, "
            "every row of the run, first posts among them; outbox: "
            + ", ".join(f"{status} {count}" for status, count in sorted(outbox.items()) if count),
            reference=f"the latency goal allows {SEND_ALLOWANCE_S:.0f} s",
        )
    )
    figures.append(_start_up_figure(check))
    report(figures, out)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} s"


def _latency_table(rows: Sequence[tuple[str, Latency | None]], send_s: float) -> list[str]:
    """The three times per incident, side by side (stderr; the figures carry the same)."""
    head = (
        f"{'first post of':<28} {'(a) breach->post':>17} {'SLA detection':>14} "
        f"{'(b) detectable->post':>21} {'goal':>6} {'(c) send':>9}"
    )
    lines = ["first-post latency: (a) = SLA detection + (b); (b) + (c) is what the goal bounds", head]
    for name, latency in rows:
        if latency is None:
            lines.append(f"{name:<28} (no post)")
            continue
        lines.append(
            f"{name:<28} {_seconds(latency.from_breach_s):>17} {_seconds(latency.detection_s):>14} "
            f"{_seconds(latency.from_detectable_s):>21} {latency.goal_s:>4.0f} s {send_s * 1000:>6.1f} ms"
        )
    return lines
