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

from alerts.matchers import parse_matcher_list, regex_matcher
from alerts.routing import GROUP_BY_ALL
from vitals.kernel.secrets import RetiredSpelling, Secret, retired
from vitals.kernel.timeintervals import NamedInterval
from vitals.kernel.units import Duration

Priority = Literal["P1", "P2", "P3", "P4"]
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
    type: str = "Bearer"
    credentials: Secret | None = None
    credentials_file: FileSecret = None
    credentials_env: RetiredSpelling = retired()

    @model_validator(mode="after")
    def _one(self) -> AuthorizationModel:
        _at_most_one(self, "credentials")
        return self


class BasicAuthModel(_Model):
    username: str
    password: Secret | None = None
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
    authorization: AuthorizationModel | None = None
    basic_auth: BasicAuthModel | None = None
    _unsupported: ClassVar[dict[str, str]] = {
        k: "not supported by Vitals (proxy and TLS settings come from the environment)"
        for k in _HTTP_UNSUPPORTED
    }


class SlackConfigModel(_Model):
    send_resolved: bool = False
    api_url: Secret | None = None
    api_url_file: FileSecret = None
    api_url_env: RetiredSpelling = retired()
    channel: str | None = None
    username: str | None = None
    icon_emoji: str | None = None
    icon_url: str | None = None
    link_names: bool = False
    http_config: HttpConfigModel | None = None
    timeout: Duration = 10.0  # Vitals
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
    send_resolved: bool = True
    url: Secret | None = None
    url_file: FileSecret = None
    url_env: RetiredSpelling = retired()
    max_alerts: int = Field(0, ge=0)
    timeout: Duration = 10.0
    http_config: HttpConfigModel | None = None
    send_updates: bool = False  # Vitals: also post in-place updates (acks, suppressions)


class AlertmanagerConfigModel(_Model):  # Vitals
    url: str
    send_resolved: bool = True
    timeout: Duration = 10.0
    alert_ttl: Duration = 4 * 3600.0 + 600.0
    http_config: HttpConfigModel | None = None


class ConsoleConfigModel(_Model):  # Vitals
    send_resolved: bool = True
    send_updates: bool = True
    format: Literal["text", "json"] = "text"
    path: str | None = None


class ReceiverModel(_Model):
    name: str = Field(min_length=1)
    slack_configs: list[SlackConfigModel] = Field(default_factory=list)
    webhook_configs: list[WebhookConfigModel] = Field(default_factory=list)
    alertmanager_configs: list[AlertmanagerConfigModel] = Field(default_factory=list)
    console_configs: list[ConsoleConfigModel] = Field(default_factory=list)
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
    receiver: str | None = None
    group_by: list[str] | None = None
    continue_: bool = Field(False, alias="continue")
    match: dict[str, str] | None = None
    match_re: dict[str, RegexValue] | None = None
    matchers: list[MatcherLine] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    mute_time_intervals: list[str] | None = None
    active_time_intervals: list[str] | None = None
    routes: list[RouteModel] | None = None
    escalation_policy: str | None = None  # Vitals

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
    source_matchers: list[MatcherLine] | None = None
    target_matchers: list[MatcherLine] | None = None
    source_match: dict[str, str] | None = None
    source_match_re: dict[str, RegexValue] | None = None
    target_match: dict[str, str] | None = None
    target_match_re: dict[str, RegexValue] | None = None
    equal: list[str] = Field(default_factory=list)


class EscalationLevelModel(_Model):
    receiver: str | None = None
    receivers: list[str] | None = None
    timeout: Duration

    @model_validator(mode="after")
    def _one_target(self) -> EscalationLevelModel:
        if not self.receiver and not self.receivers:
            raise ValueError("a level needs receiver or receivers")
        if self.timeout <= 0:
            raise ValueError("timeout must be longer than 0s")
        return self

    def targets(self) -> tuple[str, ...]:
        return tuple(([self.receiver] if self.receiver else []) + list(self.receivers or []))


class EscalationPolicyModel(_Model):
    name: str = Field(min_length=1)
    levels: list[EscalationLevelModel] = Field(min_length=1)
    repeat: int = Field(0, ge=0, le=100)
    ack_timeout: Duration | None = None


class AlertingModel(_Model):
    resolve_after: Duration = 600.0
    flap_window: Duration = 3600.0
    flap_threshold: int = Field(4, ge=2)
    flap_resolve_after: Duration = 1800.0
    ack_timeout: Duration | None = 4 * 3600.0
    stale_after: Duration | None = 3600.0
    objective_alerts: bool = True
    page_priorities: list[Priority] = Field(default_factory=lambda: list[Priority](["P1", "P2"]))
    extra_labels: list[str] = Field(default_factory=list)


class DeliveryModel(_Model):
    dispatch_interval: Duration = 5.0
    pace: Duration = 1.0
    retry_initial: Duration = 2.0
    retry_max: Duration = 300.0
    fallback_after: Duration = 120.0
    give_up_after: Duration = 24 * 3600.0
    lease: Duration = 60.0


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
    url: str = "http://localhost:8501"
    sla_path: str = "/sla?sla={sla}&slice={slice}"
    evidence_path: str = "/sla?sla={sla}&slice={slice}&{range}"
    alert_path: str = "/alerts?alert={fingerprint}"
    silence_path: str = "/alerts?silence={fingerprint}"


class ApiModel(_Model):
    #: Bearer token every API request must carry. Left out: the environment variable
    #: VITALS_ALERTS_API_TOKEN when it is set, else the API is open (a warning at start).
    token: Secret | None = None
    token_env: RetiredSpelling = retired()


class GlobalModel(_Model):
    resolve_timeout: Duration | None = None  # accepted for compatibility; see the docs
    slack_api_url: Secret | None = None
    slack_api_url_file: FileSecret = None
    slack_api_url_env: RetiredSpelling = retired()
    http_config: HttpConfigModel | None = None


class AlertsFileModel(_Model):
    global_: GlobalModel = Field(default_factory=GlobalModel, alias="global")
    route: RouteModel
    receivers: list[ReceiverModel] = Field(min_length=1)
    inhibit_rules: list[InhibitRuleModel] = Field(default_factory=list)
    time_intervals: list[NamedInterval] = Field(default_factory=list)
    mute_time_intervals: list[NamedInterval] = Field(default_factory=list)
    templates: list[str] = Field(default_factory=list)
    alerting: AlertingModel = Field(default_factory=AlertingModel)
    escalation_policies: list[EscalationPolicyModel] = Field(default_factory=list)
    delivery: DeliveryModel = Field(default_factory=DeliveryModel)
    slack: SlackAppModel = Field(default_factory=SlackAppModel)
    dashboard: DashboardModel = Field(default_factory=DashboardModel)
    api: ApiModel = Field(default_factory=ApiModel)

    @field_validator("templates")
    @classmethod
    def _no_templates(cls, value: list[str]) -> list[str]:
        if value:
            raise ValueError(_TEMPLATES)
        return value
