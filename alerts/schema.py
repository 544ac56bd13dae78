"""The shape of ``alerts.yaml`` (pydantic): field names, defaults, per-field validation.

Alertmanager's sections and fields keep their names; Vitals' additions are marked. Alertmanager
fields that Vitals does not implement are refused with the reason instead of an "unknown field".
Cross-references (receivers, intervals, policies) are checked when ``alerts.config`` builds the
resolved configuration, so their errors point at the reference.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core.core_schema import ValidationInfo

from alerts.matchers import parse_matcher_list, regex_matcher
from alerts.routing import GROUP_BY_ALL
from vitals.kernel.secrets import RetiredSpelling, Secret, retired
from vitals.kernel.timeintervals import NamedInterval
from vitals.kernel.units import Duration

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    #: Alertmanager fields we know but do not implement -> why.
    _unsupported: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _refuse_unsupported(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, why in cls._unsupported.items():
                if key in data:
                    raise ValueError(f"{key}: {why}")
        return data


_TEMPLATES = "Alertmanager templates are not supported: Vitals builds its own Block Kit messages"


def _matcher_line(value: str) -> str:
    parse_matcher_list([value])  # a MatcherError names the problem, pydantic the item and its line
    return value


def _regex(value: str) -> str:
    regex_matcher("match_re", value)
    return value


#: One entry of a ``matchers`` list (it may hold several matchers, comma separated).
MatcherLine = Annotated[str, AfterValidator(_matcher_line)]
#: A value of a ``match_re`` map: an RE2 regular expression, anchored when matched.
RegexValue = Annotated[str, AfterValidator(_regex)]


def _path_to_file(value: Any) -> Any:
    if value is None or isinstance(value, dict | Secret):
        return value
    if not isinstance(value, str):
        raise ValueError("the path of a file that holds the secret")
    return {"file": value}


#: Alertmanager's ``<field>_file: PATH``: the same as ``<field>: {file: PATH}`` (kept so an
#: Alertmanager file reads unchanged).
FileSecret = Annotated[Secret | None, BeforeValidator(_path_to_file)]


def _at_most_one(model: BaseModel, field: str) -> None:
    if getattr(model, field) is not None and getattr(model, f"{field}_file") is not None:
        raise ValueError(f"set only one of {field} and {field}_file")


class AuthorizationModel(_Model):
    #: The scheme of the ``Authorization`` header.
    type: str = "Bearer"
    #: The credentials, e.g. a Slack bot token (``xoxb-...``).
    credentials: Secret | None = None
    #: Alertmanager's spelling of ``credentials: {file: PATH}``: the path of a file holding it.
    credentials_file: FileSecret = None
    credentials_env: RetiredSpelling = retired()

    @model_validator(mode="after")
    def _one(self) -> AuthorizationModel:
        _at_most_one(self, "credentials")
        return self


class BasicAuthModel(_Model):
    #: HTTP basic authentication user.
    username: str
    #: Its password.
    password: Secret | None = None
    #: Alertmanager's spelling of ``password: {file: PATH}``: the path of a file holding it.
    password_file: FileSecret = None
    password_env: RetiredSpelling = retired()

    @model_validator(mode="after")
    def _one(self) -> BasicAuthModel:
        _at_most_one(self, "password")
        return self


_HTTP_UNSUPPORTED = (
    "oauth2",
    "proxy_url",
    "no_proxy",
    "proxy_from_environment",
    "proxy_connect_header",
    "tls_config",
    "enable_http2",
    "follow_redirects",
    "http_headers",
)


class HttpConfigModel(_Model):
    #: An ``Authorization`` header (a bearer token).
    authorization: AuthorizationModel | None = None
    #: HTTP basic authentication.
    basic_auth: BasicAuthModel | None = None
    _unsupported: ClassVar[dict[str, str]] = {
        k: "not supported by Vitals (proxy and TLS settings come from the environment)"
        for k in _HTTP_UNSUPPORTED
    }


class SlackConfigModel(_Model):
    #: Post a "resolved" follow-up (the message itself is always updated).
    send_resolved: bool = False
    #: An incoming webhook URL, or ``https://slack.com/api/chat.postMessage`` with a bot token;
    #: default ``global.slack_api_url``.
    api_url: Secret | None = None
    #: Alertmanager's spelling of ``api_url: {file: PATH}``: the path of a file holding it.
    api_url_file: FileSecret = None
    api_url_env: RetiredSpelling = retired()
    #: Channel name or ID (required with a bot token).
    channel: str | None = None
    #: As in Slack's API.
    username: str | None = None
    #: As in Slack's API.
    icon_emoji: str | None = None
    #: As in Slack's API.
    icon_url: str | None = None
    #: As in Slack's API.
    link_names: bool = False
    #: The bot token, in ``authorization.credentials``; default ``global.http_config``.
    http_config: HttpConfigModel | None = None
    #: HTTP timeout.
    timeout: Duration = 10.0  # Vitals
    #: Default: on with a bot token, off with an incoming webhook.
    interactive: bool | None = None  # Vitals: show the Acknowledge/Silence buttons
    _unsupported: ClassVar[dict[str, str]] = {
        k: _TEMPLATES
        for k in (
            "actions",
            "callback_id",
            "color",
            "fallback",
            "fields",
            "footer",
            "mrkdwn_in",
            "pretext",
            "short_fields",
            "text",
            "title",
            "title_link",
            "image_url",
            "thumb_url",
            "app_token",
            "app_token_file",
            "app_url",
        )
    }


class WebhookConfigModel(_Model):
    #: Notify when alerts resolve.
    send_resolved: bool = True
    #: The endpoint that receives Alertmanager's webhook JSON.
    url: Secret | None = None
    #: Alertmanager's spelling of ``url: {file: PATH}``: the path of a file holding it.
    url_file: FileSecret = None
    url_env: RetiredSpelling = retired()
    #: At most this many alerts per notification (0: all).
    max_alerts: int = Field(0, ge=0)
    #: HTTP timeout.
    timeout: Duration = 10.0
    #: Authentication of the requests.
    http_config: HttpConfigModel | None = None
    send_updates: bool = False  # Vitals: also post in-place updates (acks, suppressions)


class AlertmanagerConfigModel(_Model):  # Vitals
    #: Base URL of the Alertmanager (alerts go to ``POST {url}/api/v2/alerts``).
    url: str
    #: Send resolved alerts (with their resolution time).
    send_resolved: bool = True
    #: HTTP timeout.
    timeout: Duration = 10.0
    #: ``endsAt`` of firing alerts, so they expire if Vitals stops re-sending; keep it above
    #: ``repeat_interval`` + ``group_interval``.
    alert_ttl: Duration = 4 * 3600.0 + 600.0
    #: Authentication of the requests.
    http_config: HttpConfigModel | None = None


class ConsoleConfigModel(_Model):  # Vitals
    #: Print resolutions.
    send_resolved: bool = True
    #: Print in-place updates (acknowledgements, suppressions).
    send_updates: bool = True
    #: ``json`` prints the webhook JSON.
    format: Literal["text", "json"] = "text"
    #: Also append to this file.
    path: str | None = None


class ReceiverModel(_Model):
    #: Unique name, used by routes and escalation levels.
    name: str = Field(min_length=1)
    #: Slack, by bot token or incoming webhook.
    slack_configs: list[SlackConfigModel] = Field(default_factory=list)
    #: Any HTTP endpoint, with Alertmanager's webhook JSON.
    webhook_configs: list[WebhookConfigModel] = Field(default_factory=list)
    #: An existing Alertmanager.
    alertmanager_configs: list[AlertmanagerConfigModel] = Field(default_factory=list)
    #: The log of ``vitals serve`` (and optionally a file).
    console_configs: list[ConsoleConfigModel] = Field(default_factory=list)
    #: Receiver that gets a notification this one keeps failing to take.
    fallback: str | None = None  # Vitals
    _unsupported: ClassVar[dict[str, str]] = {
        f"{k}_configs": f"the {k} integration is not available in Vitals; use webhook_configs or "
        "alertmanager_configs to reach it through an existing Alertmanager"
        for k in (
            "discord",
            "email",
            "msteams",
            "msteamsv2",
            "jira",
            "opsgenie",
            "pagerduty",
            "pushover",
            "rocketchat",
            "sns",
            "telegram",
            "victorops",
            "webex",
            "wechat",
        )
    }


class RouteModel(_Model):
    #: Where matching alerts go; inherited; required on the root.
    receiver: str | None = None
    #: Labels that split notifications into groups (``['...']``: every label); inherited.
    group_by: list[str] | None = None
    #: After this route matches, keep trying its later siblings.
    continue_: bool = Field(False, alias="continue")
    #: Alertmanager's deprecated equality map, ANDed with ``matchers``.
    match: dict[str, str] | None = None
    #: Alertmanager's deprecated regex map, ANDed with ``matchers``.
    match_re: dict[str, RegexValue] | None = None
    #: Matcher strings (``sla="charge-lag"``, ``priority=~"P1|P2"``); all must match.
    matchers: list[MatcherLine] | None = None
    #: Wait before a new group's first notification; inherited, 30s at the root.
    group_wait: Duration | None = None
    #: Flush cadence of new alerts, resolutions and repeats; inherited, 5m at the root.
    group_interval: Duration | None = None
    #: Re-send while alerts stay firing and unacknowledged; inherited, 4h at the root.
    repeat_interval: Duration | None = None
    #: No notifications while any of these time intervals holds (not inherited).
    mute_time_intervals: list[str] | None = None
    #: Notifications only while one of these time intervals holds (not inherited).
    active_time_intervals: list[str] | None = None
    #: Child routes, tried in order.
    routes: list[RouteModel] | None = None
    #: Escalation policy for alerts of this route; inherited.
    escalation_policy: str | None = None  # Vitals
    #: When a fast burn here pages: ``always``, ``never`` (tickets only) or a list of time
    #: intervals (pages inside them, tickets outside); inherited, ``always`` at the root.
    pages: Literal["always", "never"] | list[str] | None = None  # Vitals

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if GROUP_BY_ALL in value and len(value) > 1:
            raise ValueError("'...' must be the only entry of group_by (it groups by all labels)")
        for name in value:
            if name != GROUP_BY_ALL and not LABEL_NAME.match(name):
                raise ValueError(f"{name!r} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)")
        return value


class InhibitRuleModel(_Model):
    #: Alerts that mute.
    source_matchers: list[MatcherLine] | None = None
    #: Alerts that get muted.
    target_matchers: list[MatcherLine] | None = None
    #: Alertmanager's deprecated equality map for the source.
    source_match: dict[str, str] | None = None
    #: Alertmanager's deprecated regex map for the source.
    source_match_re: dict[str, RegexValue] | None = None
    #: Alertmanager's deprecated equality map for the target.
    target_match: dict[str, str] | None = None
    #: Alertmanager's deprecated regex map for the target.
    target_match_re: dict[str, RegexValue] | None = None
    #: Labels whose values must be the same on both (missing equals missing).
    equal: list[str] = Field(default_factory=list)


class EscalationLevelModel(_Model):
    #: The receiver notified at this level, or several (``receivers``); with neither, the
    #: receiver of the route the incident came through, so one policy serves every team.
    receiver: str | None = None
    #: ... or several.
    receivers: list[str] | None = None
    #: Unacknowledged for this long: the next level is notified.
    timeout: Duration

    @model_validator(mode="after")
    def _timeout(self) -> EscalationLevelModel:
        if self.timeout <= 0:
            raise ValueError("timeout must be longer than 0s")
        return self

    def targets(self) -> tuple[str, ...]:
        return tuple(([self.receiver] if self.receiver else []) + list(self.receivers or []))


class EscalationPolicyModel(_Model):
    #: Unique name, used by routes' ``escalation_policy``.
    name: str = Field(min_length=1)
    #: Notified in order until someone acknowledges.
    levels: list[EscalationLevelModel] = Field(min_length=1)
    #: After the last level, start again at level 1 this many times.
    repeat: int = Field(0, ge=0, le=100)
    #: Overrides ``alerting.ack_timeout`` for alerts routed here.
    ack_timeout: Duration | None = None


class WatchdogModel(_Model):
    """The SLA engine's watchdog: a notification when evaluations stop (Vitals)."""

    #: Off: nothing inside Vitals notices a stopped SLA engine (keep an external /readyz check).
    enabled: bool = True
    #: Evaluations count as stopped once the newest is older than this many SLA engine intervals
    #: (``evaluation.interval`` of the SLA files) ...
    intervals: float = Field(3.0, gt=0)
    #: ... plus this (a slow tick, a lease changing hands, a restart).
    margin: Duration = 60.0
    #: Who is told (a receiver name); left out: the fallback of the root route's receiver, or that
    #: receiver when it has none.
    receiver: str | None = None


class AlertingModel(_Model):
    """How SLA evaluations become alerts (Vitals)."""

    #: Hysteresis: a cleared condition resolves the alert only after staying clear this long.
    resolve_after: Duration = 600.0
    #: The window in which condition changes are counted.
    flap_window: Duration = 3600.0
    #: Changes within ``flap_window`` that make an alert flapping.
    flap_threshold: int = Field(4, ge=2)
    #: The hold while an alert is flapping.
    flap_resolve_after: Duration = 1800.0
    #: An acknowledgement lapses after this (0 or null: never).
    ack_timeout: Duration | None = 4 * 3600.0
    #: No evaluation for this long counts as clear (null: never).
    stale_after: Duration | None = 3600.0
    #: A missed objective with no burn-rate tier firing (a spent budget) opens a ticket-severity
    #: alert; false: only burn-rate tiers make alerts.
    objective_alerts: bool = True
    #: More slice attributes allowed into alert labels.
    extra_labels: list[str] = Field(default_factory=list)
    #: The SLA engine's watchdog: who is told when evaluations stop, and after how long.
    watchdog: WatchdogModel = Field(default_factory=WatchdogModel)


class DeliveryModel(_Model):
    """The outbox: pacing, retries, fallback (Vitals)."""

    #: The evaluate and plan cycle.
    dispatch_interval: Duration = 5.0
    #: At most one request per Slack channel (or webhook) per this.
    pace: Duration = 1.0
    #: First retry delay (exponential backoff with 20% jitter).
    retry_initial: Duration = 2.0
    #: Longest retry delay.
    retry_max: Duration = 300.0
    #: Failing this long sends the notification to the receiver's ``fallback``.
    fallback_after: Duration = 120.0
    #: Without a fallback, a notification failing this long is ``dead`` (logged, counted).
    give_up_after: Duration = 24 * 3600.0
    #: A dispatcher's claim on a row; a crashed dispatcher's claim expires after it. Every
    #: receiver's ``timeout`` must be shorter, or a slow request could be sent twice.
    lease: Duration = 60.0


class RetentionModel(_Model):
    """How long finished alerting rows are kept (Vitals). Open alerts and incidents, unsent
    notifications and active or pending silences are never deleted, whatever their age."""

    #: Resolved alerts, their events and closed incidents (alert groups), counted from the
    #: resolution (the incident's last change): a year of incident history, as the SLA history.
    history: Duration = Field(400 * 86400.0, ge=86400.0)
    #: Sent, failed-over, dead and skipped notifications in the outbox, counted from their
    #: creation (those of an open incident stay while it is open).
    notifications: Duration = Field(30 * 86400.0, ge=86400.0)
    #: Expired silences, counted from their end.
    silences: Duration = Field(400 * 86400.0, ge=86400.0)
    #: Slack button clicks applied (the record that answers a replayed request), counted from
    #: their arrival; Slack's signature is accepted 5 minutes, so at least 10 minutes.
    slack_actions: Duration = Field(86400.0, ge=600.0)
    #: How often the retention job runs.
    interval: Duration = Field(3600.0, ge=60.0)
    #: Rows per delete transaction (on SQLite the store's one writer waits this long).
    batch_rows: int = Field(500, ge=10, le=50_000)


class SlackAppModel(_Model):
    #: Verifies Slack's button clicks. Left out: the environment variable
    #: VITALS_SLACK_SIGNING_SECRET when it is set, else Slack interactivity is off.
    signing_secret: Secret | None = None
    signing_secret_env: RetiredSpelling = retired()
    signing_secret_file: RetiredSpelling = retired()
    _unsupported: ClassVar[dict[str, str]] = {
        "max_request_age": "no longer read: requests more than 5 minutes old are refused, as Slack's "
        "own verifier (slack_sdk's SignatureVerifier) does; remove the line"
    }


class DashboardModel(_Model):
    """Links from notifications into the dashboard (Vitals)."""

    #: Base of every link; empty: no links.
    url: str = "http://localhost:8501"
    #: The "SLA page" link.
    sla_path: str = "/sla?sla={sla}&slice={slice}"
    #: The "Evidence" link: the SLA page's bad events over the alert's time.
    evidence_path: str = "/sla?sla={sla}&slice={slice}&{range}"
    #: The alert on the alerts page.
    alert_path: str = "/alerts?alert={fingerprint}"
    #: Silencing from the alerts page.
    silence_path: str = "/alerts?silence={fingerprint}"


#: What replaced ``api.token``: said by its error, by ``vitals serve``'s warning about
#: VITALS_ALERTS_API_TOKEN, and in the docs.
API_TOKENS_NOW = (
    "API tokens are created with `vitals tokens create NAME --scope read`; see docs/how-to/tokens.md"
)


def _refuse_api_token(value: object, info: ValidationInfo) -> object:
    raise ValueError(f"api.{info.field_name} is no longer read: {API_TOKENS_NOW}")


#: ``api.token``: one shared token, replaced by named, scoped, revocable API tokens in the store.
#: A file that still sets it is refused, so nobody believes the API is protected by it.
RetiredApiToken = Annotated[SkipJsonSchema[object], BeforeValidator(_refuse_api_token)]


class ApiModel(_Model):
    """The retired ``api:`` section: an empty one is accepted, a token is refused."""

    token: RetiredApiToken = retired()
    token_env: RetiredApiToken = retired()


class GlobalModel(_Model):
    #: Accepted for compatibility with Alertmanager; no effect (Vitals resolves by hysteresis).
    resolve_timeout: Duration | None = None
    #: Default ``api_url`` of ``slack_configs``.
    slack_api_url: Secret | None = None
    #: Alertmanager's spelling of ``slack_api_url: {file: PATH}``: the path of a file holding it.
    slack_api_url_file: FileSecret = None
    slack_api_url_env: RetiredSpelling = retired()
    #: Default HTTP authentication of ``slack_configs``.
    http_config: HttpConfigModel | None = None


class AlertsFileModel(_Model):
    #: Defaults for receivers.
    global_: GlobalModel = Field(default_factory=GlobalModel, alias="global")
    #: The root of the routing tree.
    route: RouteModel
    #: Where notifications go.
    receivers: list[ReceiverModel] = Field(min_length=1)
    #: Alerts that mute others while they fire.
    inhibit_rules: list[InhibitRuleModel] = Field(default_factory=list)
    #: Named time intervals, for routes' mute and active intervals and recurring silences.
    time_intervals: list[NamedInterval] = Field(default_factory=list)
    #: Alertmanager's older name for ``time_intervals`` (accepted).
    mute_time_intervals: list[NamedInterval] = Field(default_factory=list)
    #: Must be empty: Vitals builds its own Block Kit messages.
    templates: list[str] = Field(default_factory=list)
    #: How evaluations become alerts (Vitals).
    alerting: AlertingModel = Field(default_factory=AlertingModel)
    #: Ordered escalation levels (Vitals).
    escalation_policies: list[EscalationPolicyModel] = Field(default_factory=list)
    #: Outbox pacing, retries, fallback (Vitals).
    delivery: DeliveryModel = Field(default_factory=DeliveryModel)
    #: The Slack app's signing secret for buttons (Vitals).
    slack: SlackAppModel = Field(default_factory=SlackAppModel)
    #: Links into the dashboard (Vitals).
    dashboard: DashboardModel = Field(default_factory=DashboardModel)
    #: Retired (Vitals): ``api.token`` is refused with what replaced it (API tokens are created
    #: with ``vitals tokens create NAME --scope read``; see docs/how-to/tokens.md). Excluded like
    #: every retired spelling: left out of dumps and of the generated reference.
    api: ApiModel = Field(default_factory=ApiModel, exclude=True)
    #: How long resolved alerts, closed incidents, sent notifications, expired silences and
    #: applied Slack actions are kept (Vitals).
    retention: RetentionModel = Field(default_factory=RetentionModel)

    @field_validator("templates")
    @classmethod
    def _no_templates(cls, value: list[str]) -> list[str]:
        if value:
            raise ValueError(_TEMPLATES)
        return value
