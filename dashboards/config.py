"""``dashboard.yaml`` in the config directory: users and roles, refresh and staleness settings.

Every field is optional and the file itself may be absent (then: no login, every visitor is an
engineer, which is right for a laptop and wrong for a shared server: ``vitals dashboard`` warns
when it listens beyond loopback without users).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vitals.kernel.configfile import load_yaml, validate
from vitals.kernel.units import Duration

FILE_NAME = "dashboard.yaml"
Role = Literal["executive", "engineer"]
ROLES: tuple[Role, ...] = ("executive", "engineer")
_BCRYPT = re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")


class User(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    name: str | None = None
    role: Role
    #: A bcrypt hash from ``vitals dashboard hash-password``; never the password itself.
    password_hash: str

    @field_validator("password_hash")
    @classmethod
    def _is_bcrypt(cls, value: str) -> str:
        if not _BCRYPT.match(value):
            raise ValueError(
                "must be a bcrypt hash ($2b$12$...): create one with `vitals dashboard hash-password`"
            )
        return value


class Oidc(BaseModel):
    """Single sign-on through ``st.login`` (OpenID Connect; see the README for secrets.toml)."""

    model_config = ConfigDict(extra="forbid")

    #: The ``[auth.<provider>]`` section of .streamlit/secrets.toml; None uses the ``[auth]`` section.
    provider: str | None = None
    #: Role per e-mail address (case-insensitive) or per domain written as ``@example.org``.
    roles: dict[str, Role] = Field(default_factory=dict)
    #: Role for any other signed-in user; None refuses them.
    default_role: Role | None = None

    def role_for(self, email: str | None) -> Role | None:
        if not email:
            return self.default_role
        email = email.lower()
        lowered = {k.lower(): v for k, v in self.roles.items()}
        if email in lowered:
            return lowered[email]
        domain = "@" + email.rsplit("@", 1)[-1]
        return lowered.get(domain, self.default_role)


class DashboardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: list[User] = Field(default_factory=list)
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

    @model_validator(mode="after")
    def _unique_users(self) -> DashboardConfig:
        names = [u.username for u in self.users]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate usernames: {', '.join(duplicates)}")
        return self

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


def load(config_dir: Path) -> DashboardConfig:
    """The dashboard section of a config directory; raises ConfigError naming file:line: field."""
    path = config_dir / FILE_NAME
    if not path.exists():
        return DashboardConfig()
    loaded = load_yaml(path)
    if loaded.data is None:
        return DashboardConfig()
    config: DashboardConfig = validate(DashboardConfig, loaded)
    return config
