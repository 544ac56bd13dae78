"""``dashboard.yaml`` in the config directory: users and roles, refresh and staleness settings.

Every field is optional and the file itself may be absent (then: no login, every visitor is an
engineer, which is right for a laptop and wrong for a shared server: ``vitals dashboard`` warns
when it listens beyond loopback without users). Password hashes are secrets in the one
convention of ``vitals.kernel.secrets`` (``{env: ...}``, ``{file: ...}`` or the hash itself).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dashboards.rollup_retention import RollupRetention
from vitals.kernel.configfile import load_yaml, validate
from vitals.kernel.secrets import Secret, check_read, sources
from vitals.kernel.units import Duration

FILE_NAME = "dashboard.yaml"
Role = Literal["executive", "engineer", "admin"]
#: Lowest first: when several rules give a user a role, the highest wins.
ROLES: tuple[Role, ...] = ("executive", "engineer", "admin")
_BCRYPT = re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")


class User(BaseModel):
    """A password login."""

    model_config = ConfigDict(extra="forbid")

    #: The login name (unique).
    username: str = Field(min_length=1, max_length=64)
    #: Shown in the sidebar.
    name: str | None = None
    #: ``executive``: the scorecard and SLA pages; ``engineer``: every page; ``admin``: every
    #: page too (and whatever admin-only page a later version adds).
    role: Role
    #: A bcrypt hash from ``vitals dashboard hash-password`` (never the password itself): the
    #: hash, ``{env: VARIABLE}`` or ``{file: PATH}``.
    password_hash: Secret

    @field_validator("password_hash")
    @classmethod
    def _is_bcrypt(cls, value: Secret) -> Secret:
        return check_read(value, _bcrypt)


def _bcrypt(value: str) -> None:
    if not _BCRYPT.match(value):
        raise ValueError(
            "must be a bcrypt hash ($2b$12$...): create one with `vitals dashboard hash-password`"
        )


def highest(roles: Iterable[Role | None]) -> Role | None:
    """The highest of several roles (executive < engineer < admin); None when there is none."""
    found = [role for role in roles if role is not None]
    return max(found, key=ROLES.index) if found else None


class Oidc(BaseModel):
    """Single sign-on through ``st.login`` (OpenID Connect; the provider goes in secrets.toml)."""

    model_config = ConfigDict(extra="forbid")

    #: The ``[auth.<provider>]`` section of .streamlit/secrets.toml; None uses the ``[auth]`` section.
    provider: str | None = None
    #: The ID-token claim holding the user's groups or app roles (``groups``, ``roles``, or any
    #: claim name the provider sends); a list of values or one string. None: roles by e-mail only.
    role_claim: str | None = None
    #: Role per value of ``role_claim`` (exact, case-sensitive: group names or object ids).
    claim_roles: dict[str, Role] = Field(default_factory=dict)
    #: Role per e-mail address (case-insensitive) or per domain written as ``@example.org``. An
    #: e-mail the provider marks unverified (``email_verified: false``) is not used.
    roles: dict[str, Role] = Field(default_factory=dict)
    #: Role for a signed-in user no rule matches; None refuses them.
    default_role: Role | None = None

    @model_validator(mode="after")
    def _claim_roles_need_a_claim(self) -> Oidc:
        if self.claim_roles and not self.role_claim:
            raise ValueError("claim_roles needs role_claim (the claim holding groups or roles)")
        return self

    def role_for(self, email: str | None) -> Role | None:
        """The role by e-mail alone (no claims)."""
        return self.role_for_claims({"email": email} if email else {})

    def role_for_claims(self, claims: Mapping[str, object]) -> Role | None:
        """The highest role any rule gives these ID-token claims; ``default_role`` if none does."""
        return highest([self._by_email(claims), *self._by_claim(claims)]) or self.default_role

    def _by_email(self, claims: Mapping[str, object]) -> Role | None:
        email = claims.get("email")
        if not isinstance(email, str) or not email or claims.get("email_verified") is False:
            return None
        email = email.lower()
        lowered = {k.lower(): v for k, v in self.roles.items()}
        if email in lowered:
            return lowered[email]
        return lowered.get("@" + email.rsplit("@", 1)[-1])

    def _by_claim(self, claims: Mapping[str, object]) -> list[Role]:
        if not self.role_claim:
            return []
        value = claims.get(self.role_claim)
        values = [value] if isinstance(value, str) else value if isinstance(value, list | tuple) else []
        return [self.claim_roles[v] for v in values if isinstance(v, str) and v in self.claim_roles]


class Retention(BaseModel):
    """How long the dashboard's rollups are kept (``retention:``); deleted by the rollup refresher
    under its lease, a few thousand rows per transaction."""

    model_config = ConfigDict(extra="forbid")

    #: Per-minute rows of the span, service-graph and queue rollups, and every failed span:
    #: pages read them for ranges up to 36 hours and for a gauge SLA's bad events (its window).
    #: At least ``2d``.
    minute_rollups: Duration = 35 * 86400.0
    #: Hourly rows (span, service-graph, queue, business and error-group rollups): ranges longer
    #: than 36 hours read them, so this is how far back the pages reach. At least
    #: ``minute_rollups``.
    hour_rollups: Duration = 400 * 86400.0

    @field_validator("minute_rollups")
    @classmethod
    def _minutes(cls, value: float) -> float:
        if value < 2 * 86400:
            raise ValueError("must be at least 2d (pages read minute rows for ranges up to 36 hours)")
        return value

    @model_validator(mode="after")
    def _hours(self) -> Retention:
        if self.hour_rollups < self.minute_rollups:
            raise ValueError("hour_rollups must be at least minute_rollups")
        return self

    def rollups(self) -> RollupRetention:
        return RollupRetention(minute_s=float(self.minute_rollups), hour_s=float(self.hour_rollups))


class DashboardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Password logins; without users (or ``oidc``) there is no login and everyone is an engineer.
    users: list[User] = Field(default_factory=list)
    #: Single sign-on instead of password users.
    oidc: Oidc | None = None
    #: Auto-refresh interval of every page (a viewer can pause it).
    refresh: Duration = 60.0
    #: Warn that the collector has fallen behind when the newest telemetry is older than this.
    stale_after: Duration = 300.0
    #: Display time zone when the browser does not tell (IANA name).
    time_zone: str = "UTC"
    #: Where exporters should send OTLP, shown in the "no telemetry yet" state.
    otlp_endpoint: str = "http://127.0.0.1:4318"
    #: Fold new telemetry into the rollups from this process too (besides `vitals serve`).
    refresh_rollups: bool = True
    #: How often this process folds new telemetry into the rollups.
    rollup_interval: Duration = 15.0
    #: Sign a viewer out after this long without an interaction (auto-refresh does not count);
    #: null never does (a wall display). Password and single sign-on sessions alike.
    session_idle_timeout: Duration | None = 1800.0
    #: Sign a viewer out this long after they signed in, however active (for single sign-on,
    #: counted from the ID token's ``iat``); null never does.
    session_max_age: Duration | None = 12 * 3600.0
    #: How long the rollups are kept (``retention`` below).
    retention: Retention = Field(default_factory=Retention)

    @model_validator(mode="after")
    def _unique_users(self) -> DashboardConfig:
        names = [u.username for u in self.users]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate usernames: {', '.join(duplicates)}")
        return self

    @field_validator("session_idle_timeout", "session_max_age")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("must be a positive duration such as 30m (or null for never)")
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as America/Chicago)"
            ) from exc
        return value

    @property
    def auth_mode(self) -> Literal["none", "password", "oidc"]:
        if self.oidc is not None:
            return "oidc"
        return "password" if self.users else "none"

    def user(self, username: str) -> User | None:
        return next((u for u in self.users if u.username == username), None)


def load(config_dir: Path, environ: Mapping[str, str] | None = None) -> DashboardConfig:
    """The dashboard section of a config directory, its secrets read (from ``environ``, default
    the process environment); raises ConfigError naming file:line: field."""
    path = Path(config_dir) / FILE_NAME
    if not path.exists():
        return DashboardConfig()
    loaded = load_yaml(path)
    if loaded.data is None:
        return DashboardConfig()
    config: DashboardConfig = validate(
        DashboardConfig, loaded, context=sources(config_dir, environ).context()
    )
    return config
