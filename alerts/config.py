"""``alerts.yaml``: Alertmanager's configuration model, validated with file/line errors.

The file keeps Alertmanager's sections and field names (``global``, ``route``, ``receivers``,
``inhibit_rules``, ``time_intervals``, ``mute_time_intervals``) with the same meaning, and adds
Vitals' own sections (``alerting``, ``escalation_policies``, ``delivery``, ``slack``,
``dashboard``, ``retention``) plus a few fields inside Alertmanager's (``escalation_policy`` on
routes, ``fallback`` on receivers, ``console_configs`` and ``alertmanager_configs`` receivers).
Secrets (Slack and webhook URLs, tokens, passwords, the Slack signing secret) follow the one
convention of ``vitals.kernel.secrets`` and are read when the file is loaded; Alertmanager's
``*_file`` spellings are accepted as they are. Alertmanager fields Vitals does not implement are
refused with a clear message rather than silently ignored. The retired ``api.token`` is refused
with what replaced it (``alerts.schema.ApiModel``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from alerts.escalation import EscalationLevel, EscalationPolicy
from alerts.inhibition import InhibitRule
from alerts.labels import DEFAULT_LABEL_ALLOWLIST, ObservationPolicy
from alerts.lifecycle import LifecyclePolicy
from alerts.matchers import MatcherError, from_equality_map, parse_matcher_list, sort_matchers
from alerts.routing import GROUP_BY_ALL, Pages, Route, RouteOpts, route_id, route_key
from alerts.schema import LABEL_NAME, AlertsFileModel, HttpConfigModel, ReceiverModel, RouteModel
from vitals.kernel.configfile import ConfigError, ConfigIssue, LoadedYaml, load_yaml, parse_yaml, validate
from vitals.kernel.secrets import Secret, SecretSources, env_default, sources
from vitals.kernel.timeintervals import TimeInterval

FILE_NAME = "alerts.yaml"
#: Read for ``slack.signing_secret`` when the file leaves it out.
SIGNING_SECRET_ENV = "VITALS_SLACK_SIGNING_SECRET"
#: Retired: once the API's shared token, now only warned about (``api.service``).
API_TOKEN_ENV = "VITALS_ALERTS_API_TOKEN"

# --- the validated, resolved configuration (the YAML shape is in alerts.schema) -------------

IntegrationKind = Literal["slack_bot", "slack_webhook", "webhook", "alertmanager", "console"]


@dataclass(frozen=True)
class Integration:
    receiver: str
    name: str  # e.g. "slack_configs[0]"
    kind: IntegrationKind
    send_resolved: bool
    send_updates: bool
    url: Secret | None = None
    token: Secret | None = None
    basic_user: str | None = None
    basic_password: Secret | None = None
    channel: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def threads(self) -> bool:
        """Can update its messages in place and reply in their threads."""
        return self.kind == "slack_bot"


@dataclass(frozen=True)
class Receiver:
    name: str
    integrations: tuple[Integration, ...]
    fallback: str | None = None


@dataclass(frozen=True)
class DeliverySettings:
    dispatch_interval: float = 5.0
    pace: float = 1.0
    retry_initial: float = 2.0
    retry_max: float = 300.0
    fallback_after: float = 120.0
    give_up_after: float = 24 * 3600.0
    lease: float = 60.0


@dataclass(frozen=True)
class WatchdogSettings:
    """The SLA engine's watchdog (``alerts.watchdog``): a page when evaluations stop."""

    #: Off: nobody inside Vitals notices a stopped SLA engine (an external check still does).
    enabled: bool = True
    #: Evaluations are "stopped" once the newest is older than this many SLA engine intervals
    #: (``evaluation.interval`` of the SLA files, 30 s by default) ...
    intervals: float = 3.0
    #: ... plus this many seconds (a slow tick, a lease changing hands, a restart).
    margin: float = 60.0
    #: Who is told; None: the fallback of the root route's receiver, or that receiver itself
    #: when it has no fallback (a dead engine must reach someone even when the usual route fails).
    receiver: str | None = None


@dataclass(frozen=True)
class RetentionSettings:
    """How long finished alerting rows are kept, in seconds (``alerts.retention``)."""

    #: Resolved alerts, their events, closed incidents: a year of incidents survives.
    history: float = 400 * 86400.0
    #: Finished outbox rows: read by the dispatcher (a parent message) and by ``vitals alerts
    #: outbox`` only while recent.
    notifications: float = 30 * 86400.0
    #: Expired silences: the dashboard's and API's list of expired silences.
    silences: float = 400 * 86400.0
    #: Applied Slack actions: read only by a replayed request, which Slack's signature limits to
    #: 5 minutes.
    slack_actions: float = 86400.0
    #: Seconds between two runs of the job.
    interval: float = 3600.0
    #: Rows per delete transaction.
    batch_rows: int = 500


@dataclass(frozen=True)
class DashboardLinks:
    url: str = "http://localhost:8501"
    sla_path: str = "/sla?sla={sla}&slice={slice}"
    evidence_path: str = "/sla?sla={sla}&slice={slice}&{range}"
    alert_path: str = "/alerts?alert={fingerprint}"
    silence_path: str = "/alerts?silence={fingerprint}"


@dataclass(frozen=True)
class AlertsConfig:
    route: Route
    receivers: Mapping[str, Receiver]
    inhibit_rules: tuple[InhibitRule, ...] = ()
    time_intervals: Mapping[str, tuple[TimeInterval, ...]] = field(default_factory=dict)
    escalation_policies: Mapping[str, EscalationPolicy] = field(default_factory=dict)
    lifecycle: LifecyclePolicy = field(default_factory=LifecyclePolicy)
    observation: ObservationPolicy = field(default_factory=ObservationPolicy)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    #: Verifies Slack's requests; None: Slack interactivity is off (503).
    signing_secret: Secret | None = None
    dashboard: DashboardLinks = field(default_factory=DashboardLinks)
    #: The watchdog of the SLA engine (built-in settings; see ``alerts.watchdog``).
    watchdog: WatchdogSettings = field(default_factory=WatchdogSettings)
    #: How long finished rows are kept (``alerts.retention``).
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    source: str = "(built-in)"
    digest: str = ""

    def ack_timeout_for(self, opts: RouteOpts) -> float | None:
        policy = self.escalation_policies.get(opts.escalation_policy or "")
        if policy is not None and policy.ack_timeout is not None:
            return policy.ack_timeout or None
        return self.lifecycle.ack_timeout

    def summary(self) -> dict[str, int]:
        return {
            "routes": len(self.route.walk()),
            "receivers": len(self.receivers),
            "inhibit_rules": len(self.inhibit_rules),
            "time_intervals": len(self.time_intervals),
            "escalation_policies": len(self.escalation_policies),
        }


class _Issues:
    def __init__(self, loaded: LoadedYaml) -> None:
        self.loaded = loaded
        self.items: list[ConfigIssue] = []

    def add(self, path: tuple[str | int, ...], message: str) -> None:
        dotted = ""
        for part in path:
            dotted += f"[{part}]" if isinstance(part, int) else (f".{part}" if dotted else str(part))
        self.items.append(ConfigIssue(self.loaded.file, self.loaded.line_of(path), dotted, message))


def _auth(http: HttpConfigModel | None) -> tuple[Secret | None, str | None, Secret | None]:
    if http is None:
        return None, None, None
    token = None
    if http.authorization is not None:
        a = http.authorization
        token = a.credentials or a.credentials_file
    user, password = None, None
    if http.basic_auth is not None:
        b = http.basic_auth
        user, password = b.username, b.password or b.password_file
    return token, user, password


def _posts_messages(url: Secret | None) -> bool:
    """A chat.postMessage URL (a bot token's), as far as the file tells."""
    return url is not None and url.is_read and url.reveal().rstrip("/").endswith("/chat.postMessage")


def _timeouts_within_lease(
    r: ReceiverModel, path: tuple[str | int, ...], lease: float, issues: _Issues
) -> None:
    """A request still waiting when its row's lease ends could be sent again by another dispatcher."""
    for section in ("slack_configs", "webhook_configs", "alertmanager_configs"):
        for i, item in enumerate(getattr(r, section)):
            if item.timeout >= lease:
                issues.add(
                    (*path, section, i, "timeout"),
                    f"timeout ({item.timeout:g}s) must be shorter than delivery.lease ({lease:g}s): a "
                    "request still waiting when its lease ends could be sent again by another dispatcher",
                )


def _receivers(model: AlertsFileModel, issues: _Issues) -> dict[str, Receiver]:
    out: dict[str, Receiver] = {}
    g = model.global_
    global_url = g.slack_api_url or g.slack_api_url_file
    global_token, _, _ = _auth(g.http_config)
    for r_index, r in enumerate(model.receivers):
        path: tuple[str | int, ...] = ("receivers", r_index)
        if r.name in out:
            issues.add((*path, "name"), f"receiver {r.name!r} is defined twice")
            continue
        integrations: list[Integration] = []
        for i, s in enumerate(r.slack_configs):
            where = (*path, "slack_configs", i)
            if s.api_url is not None and s.api_url_file is not None:
                issues.add(where, "set only one of api_url and api_url_file")
            url = s.api_url or s.api_url_file or global_url
            token, _, _ = _auth(s.http_config)
            token = token or global_token
            if url is None:
                issues.add(
                    where,
                    "no api_url: set api_url (an incoming webhook URL, or "
                    "https://slack.com/api/chat.postMessage with a bot token) or global.slack_api_url",
                )
                continue
            bot = _posts_messages(url) or token is not None
            if bot and not s.channel:
                issues.add(where, "a bot-token Slack config needs a channel (name or ID)")
            if bot and token is None:
                issues.add(
                    where,
                    "chat.postMessage needs the bot token in http_config.authorization.credentials "
                    "({env: VARIABLE}, {file: PATH} or the token)",
                )
            integrations.append(
                Integration(
                    receiver=r.name,
                    name=f"slack_configs[{i}]",
                    kind="slack_bot" if bot else "slack_webhook",
                    send_resolved=s.send_resolved,
                    send_updates=False,
                    url=url,
                    token=token,
                    channel=s.channel.lstrip("#") if s.channel else None,
                    options={
                        "username": s.username,
                        "icon_emoji": s.icon_emoji,
                        "icon_url": s.icon_url,
                        "link_names": s.link_names,
                        "timeout": s.timeout,
                        "interactive": bot if s.interactive is None else s.interactive,
                    },
                )
            )
        for i, w in enumerate(r.webhook_configs):
            where = (*path, "webhook_configs", i)
            if (w.url is None) == (w.url_file is None):
                issues.add(where, "set exactly one of url and url_file")
            token, user, password = _auth(w.http_config)
            integrations.append(
                Integration(
                    receiver=r.name,
                    name=f"webhook_configs[{i}]",
                    kind="webhook",
                    send_resolved=w.send_resolved,
                    send_updates=w.send_updates,
                    url=w.url or w.url_file,
                    token=token,
                    basic_user=user,
                    basic_password=password,
                    options={"max_alerts": w.max_alerts, "timeout": w.timeout},
                )
            )
        for i, a in enumerate(r.alertmanager_configs):
            token, user, password = _auth(a.http_config)
            integrations.append(
                Integration(
                    receiver=r.name,
                    name=f"alertmanager_configs[{i}]",
                    kind="alertmanager",
                    send_resolved=a.send_resolved,
                    send_updates=True,
                    url=Secret.inline(a.url.rstrip("/")),
                    token=token,
                    basic_user=user,
                    basic_password=password,
                    options={"timeout": a.timeout, "alert_ttl": a.alert_ttl},
                )
            )
        for i, c in enumerate(r.console_configs):
            integrations.append(
                Integration(
                    receiver=r.name,
                    name=f"console_configs[{i}]",
                    kind="console",
                    send_resolved=c.send_resolved,
                    send_updates=c.send_updates,
                    options={"format": c.format, "path": c.path},
                )
            )
        out[r.name] = Receiver(r.name, tuple(integrations), r.fallback)
        _timeouts_within_lease(r, path, model.delivery.lease, issues)
    for r_index, r in enumerate(model.receivers):
        if r.fallback is None:
            continue
        where = ("receivers", r_index, "fallback")
        if r.fallback not in out:
            issues.add(where, f"fallback receiver {r.fallback!r} is not defined")
            continue
        seen = {r.name}
        current: str | None = r.fallback
        while current is not None:
            if current in seen:
                issues.add(where, f"fallback chain from {r.name!r} loops back to {current!r}")
                break
            seen.add(current)
            nxt = out.get(current)
            current = nxt.fallback if nxt else None
    return out


def _route(
    model: RouteModel,
    path: tuple[str | int, ...],
    *,
    parent: RouteOpts | None,
    parent_key: str | None,
    parent_id: str | None,
    index: int | None,
    ctx: _BuildCtx,
) -> Route:
    issues = ctx.issues
    try:
        matchers = sort_matchers(
            parse_matcher_list(model.matchers or [])
            + from_equality_map(model.match or {}, model.match_re or {})
        )
    except MatcherError as exc:  # pragma: no cover - validated by pydantic already
        issues.add((*path, "matchers"), str(exc))
        matchers = []
    if parent is None:
        if matchers:
            issues.add((*path, "matchers"), "the root route must match every alert (no matchers)")
        if model.continue_:
            issues.add((*path, "continue"), "the root route cannot have continue")
        if not model.receiver:
            issues.add((*path, "receiver"), "the root route needs a receiver (the default for every alert)")
        if model.mute_time_intervals or model.active_time_intervals:
            issues.add(path, "the root route cannot have mute_time_intervals or active_time_intervals")
    receiver = model.receiver or (parent.receiver if parent else "")
    if model.receiver and model.receiver not in ctx.receivers:
        issues.add((*path, "receiver"), f"receiver {model.receiver!r} is not defined under receivers")
    group_by = parent.group_by if parent else ()
    group_by_all = parent.group_by_all if parent else False
    if model.group_by is not None:
        group_by_all = model.group_by == [GROUP_BY_ALL]
        group_by = () if group_by_all else tuple(model.group_by)
    for field_name in ("mute_time_intervals", "active_time_intervals"):
        for i, name in enumerate(getattr(model, field_name) or []):
            if name not in ctx.time_intervals:
                issues.add((*path, field_name, i), f"time interval {name!r} is not defined")
    policy = model.escalation_policy or (parent.escalation_policy if parent else None)
    if model.escalation_policy and model.escalation_policy not in ctx.policies:
        issues.add(
            (*path, "escalation_policy"), f"escalation policy {model.escalation_policy!r} is not defined"
        )
    pages: Pages = parent.pages if parent else "always"
    if model.pages is not None:
        pages = model.pages if isinstance(model.pages, str) else tuple(model.pages)
        if isinstance(model.pages, list):
            if not model.pages:
                issues.add((*path, "pages"), "list at least one time interval, or write always or never")
            for i, name in enumerate(model.pages):
                if name not in ctx.time_intervals:
                    issues.add((*path, "pages", i), f"time interval {name!r} is not defined")
    default = RouteOpts(receiver="")
    opts = RouteOpts(
        receiver=receiver,
        group_by=group_by,
        group_by_all=group_by_all,
        group_wait=_pick(model.group_wait, parent.group_wait if parent else default.group_wait),
        group_interval=_pick(
            model.group_interval, parent.group_interval if parent else default.group_interval
        ),
        repeat_interval=_pick(
            model.repeat_interval, parent.repeat_interval if parent else default.repeat_interval
        ),
        mute_time_intervals=tuple(model.mute_time_intervals or ()),
        active_time_intervals=tuple(model.active_time_intervals or ()),
        escalation_policy=policy,
        pages=pages,
    )
    if opts.group_interval <= 0:
        issues.add((*path, "group_interval"), "group_interval must be longer than 0s")
    if opts.repeat_interval <= 0:
        issues.add((*path, "repeat_interval"), "repeat_interval must be longer than 0s")
    key, route_id_ = route_key(parent_key, matchers), route_id(parent_id, matchers, index)
    children = tuple(
        _route(
            child, (*path, "routes", i), parent=opts, parent_key=key, parent_id=route_id_, index=i, ctx=ctx
        )
        for i, child in enumerate(model.routes or [])
    )
    return Route(
        key=key,
        id=route_id_,
        matchers=tuple(matchers),
        continue_=model.continue_,
        opts=opts,
        routes=children,
        line=ctx.issues.loaded.line_of(path),
    )


def _pick(value: float | None, inherited: float) -> float:
    return inherited if value is None else value


@dataclass
class _BuildCtx:
    issues: _Issues
    receivers: Mapping[str, Receiver]
    time_intervals: Mapping[str, tuple[TimeInterval, ...]]
    policies: Mapping[str, EscalationPolicy]


def build(
    model: AlertsFileModel, loaded: LoadedYaml, digest: str, found: SecretSources | None = None
) -> AlertsConfig:
    """The resolved config; ``found`` (where secrets were read from) supplies the environment
    default of the signing secret, left out when secrets are not read."""
    issues = _Issues(loaded)
    receivers = _receivers(model, issues)
    intervals: dict[str, tuple[TimeInterval, ...]] = {}
    for section in ("time_intervals", "mute_time_intervals"):
        for i, interval in enumerate(getattr(model, section)):
            if interval.name in intervals:
                issues.add((section, i, "name"), f"time interval {interval.name!r} is defined twice")
            intervals[interval.name] = interval.time_intervals
    policies: dict[str, EscalationPolicy] = {}
    for i, p in enumerate(model.escalation_policies):
        if p.name in policies:
            issues.add(("escalation_policies", i, "name"), f"escalation policy {p.name!r} is defined twice")
        for j, level in enumerate(p.levels):
            for target in level.targets():
                if target not in receivers:
                    issues.add(("escalation_policies", i, "levels", j), f"receiver {target!r} is not defined")
        policies[p.name] = EscalationPolicy(
            name=p.name,
            levels=tuple(EscalationLevel(level.targets(), level.timeout) for level in p.levels),
            repeat=p.repeat,
            ack_timeout=p.ack_timeout,
        )
    ctx = _BuildCtx(issues, receivers, intervals, policies)
    route = _route(model.route, ("route",), parent=None, parent_key=None, parent_id=None, index=None, ctx=ctx)
    rules = []
    for i, rule in enumerate(model.inhibit_rules):
        sources = parse_matcher_list(rule.source_matchers or []) + from_equality_map(
            rule.source_match or {}, rule.source_match_re or {}
        )
        targets = parse_matcher_list(rule.target_matchers or []) + from_equality_map(
            rule.target_match or {}, rule.target_match_re or {}
        )
        if not sources or not targets:
            issues.add(("inhibit_rules", i), "an inhibit rule needs source and target matchers")
        for j, name in enumerate(rule.equal):
            if not LABEL_NAME.match(name):
                issues.add(("inhibit_rules", i, "equal", j), f"{name!r} is not a label name")
        rules.append(InhibitRule(tuple(sources), tuple(targets), tuple(rule.equal)))
    watchdog = model.alerting.watchdog
    if watchdog.receiver is not None and watchdog.receiver not in receivers:
        issues.add(
            ("alerting", "watchdog", "receiver"), f"watchdog receiver {watchdog.receiver!r} is not defined"
        )
    if issues.items:
        raise ConfigError(issues.items)
    a = model.alerting
    d = model.delivery
    r = model.retention
    return AlertsConfig(
        route=route,
        receivers=receivers,
        inhibit_rules=tuple(rules),
        time_intervals=intervals,
        escalation_policies=policies,
        lifecycle=LifecyclePolicy(
            resolve_after=a.resolve_after,
            flap_window=a.flap_window,
            flap_threshold=a.flap_threshold,
            flap_resolve_after=a.flap_resolve_after,
            ack_timeout=a.ack_timeout or None,
            stale_after=a.stale_after or None,
        ),
        observation=ObservationPolicy(
            objective_alerts=a.objective_alerts,
            label_allowlist=(*DEFAULT_LABEL_ALLOWLIST, *a.extra_labels),
        ),
        delivery=DeliverySettings(
            dispatch_interval=d.dispatch_interval,
            pace=d.pace,
            retry_initial=d.retry_initial,
            retry_max=d.retry_max,
            fallback_after=d.fallback_after,
            give_up_after=d.give_up_after,
            lease=d.lease,
        ),
        signing_secret=model.slack.signing_secret or _default(SIGNING_SECRET_ENV, found),
        dashboard=DashboardLinks(**model.dashboard.model_dump()),
        watchdog=WatchdogSettings(
            enabled=watchdog.enabled,
            intervals=watchdog.intervals,
            margin=watchdog.margin,
            receiver=watchdog.receiver,
        ),
        retention=RetentionSettings(
            history=r.history,
            notifications=r.notifications,
            silences=r.silences,
            slack_actions=r.slack_actions,
            interval=r.interval,
            batch_rows=r.batch_rows,
        ),
        source=loaded.file,
        digest=digest,
    )


def _default(name: str, found: SecretSources | None) -> Secret | None:
    return env_default(name, found) if found is not None else None


def parse(
    text: str,
    file: str | Path = FILE_NAME,
    environ: Mapping[str, str] | None = None,
    *,
    read_secrets: bool = True,
) -> AlertsConfig:
    """Validate alerts.yaml text. Its secrets are read from ``environ`` (default: the process
    environment) and from files relative to the file's directory; ``read_secrets=False`` skips
    that, for commands that only look at routing (nothing can be sent with such a config)."""
    loaded = parse_yaml(text, file)
    if not isinstance(loaded.data, dict):
        raise ConfigError.single(str(file), 1, "", "alerts.yaml must be a mapping with route and receivers")
    found = sources(Path(file).parent, environ) if read_secrets else None
    model = validate(AlertsFileModel, loaded, context=found.context() if found else None)
    assert isinstance(model, AlertsFileModel)
    return build(model, loaded, hashlib.sha256(text.encode()).hexdigest()[:16], found)


def load(
    path: str | Path, environ: Mapping[str, str] | None = None, *, read_secrets: bool = True
) -> AlertsConfig:
    loaded = load_yaml(path)  # raises ConfigError for a missing or unreadable file
    text = Path(path).read_text(encoding="utf-8")
    return parse(text, loaded.file, environ, read_secrets=read_secrets)


DEFAULT_TEXT = """\
route:
  receiver: console
  group_by: [sla, slice]
receivers:
  - name: console
    console_configs: [{}]
"""


def load_for(
    config_dir: str | Path, environ: Mapping[str, str] | None = None, *, read_secrets: bool = True
) -> AlertsConfig:
    """The config directory's alerts.yaml, or the built-in console-only default without one."""
    path = Path(config_dir) / FILE_NAME
    if not path.exists():
        return parse(DEFAULT_TEXT, "(built-in default: no alerts.yaml in the config directory)", environ)
    return load(path, environ, read_secrets=read_secrets)


def missing_secrets(config: AlertsConfig) -> list[str]:
    """Warnings for optional secrets whose absence turns a feature off (unreadable configured
    secrets are errors at load instead)."""
    out = []
    uses_slack = any(i.kind.startswith("slack") for r in config.receivers.values() for i in r.integrations)
    if uses_slack and config.signing_secret is None:
        out.append(
            f"no Slack signing secret (slack.signing_secret, or {SIGNING_SECRET_ENV}): "
            "Slack buttons (acknowledge, silence) will be refused"
        )
    return out
