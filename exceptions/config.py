"""exceptions.yaml: the interfaces whose failed transactions can be replayed, and how.

Each interface names the failures it owns (a stage, optionally a system), labels that route its
groups to a team through alerts.yaml, and one replay target: a generic webhook that receives
message references, or a Mirth Connect server whose channel reprocesses its own stored message.
Without the file every group is listed and worked, and none can be replayed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, model_validator

from vitals.kernel.configfile import ConfigError, load_yaml, parse_yaml, validate
from vitals.kernel.secrets import CONTEXT_KEY, Secret, SecretSources, sources

FILE_NAME = "exceptions.yaml"
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand(value: object, info: ValidationInfo) -> object:
    """``${NAME}`` / ``${NAME:-default}`` in a target URL, from the environment the file is loaded
    with: one file serves a target whose address is only known at start (the demo's stand-in
    engine moves off its port when that port is busy). An unset variable without a default is an
    error naming the field, as for a secret."""
    if not isinstance(value, str) or "${" not in value:
        return value
    found = (info.context or {}).get(CONTEXT_KEY)
    environ = found.environ if isinstance(found, SecretSources) else os.environ

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found_value = environ.get(name)
        if found_value:
            return found_value
        if default is None:
            raise ValueError(f"environment variable {name} is not set (${{{name}:-default}} gives a default)")
        return default

    return _VARIABLE.sub(one, value)


#: A target URL: http or https, with ``${NAME:-default}`` read from the environment.
Url = Annotated[str, BeforeValidator(_expand), Field(pattern=r"^https?://")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookTarget(_Strict):
    """POSTs one JSON document per transaction: its trace and span ids, key hashes and stage."""

    #: ``webhook``: this kind of target.
    kind: Literal["webhook"] = "webhook"
    #: The URL that receives the replay requests (http or https). ``${NAME}`` or
    #: ``${NAME:-default}`` in it is read from the environment at load.
    url: Url
    #: An optional bearer token sent as ``Authorization: Bearer``.
    token: Secret | None = None
    #: Seconds to wait for an answer.
    timeout: float = Field(default=10.0, gt=0, le=300)


class MirthTarget(_Strict):
    """Mirth Connect's REST API: logs in, then reprocesses each message of the channel by id."""

    #: ``mirth``: this kind of target.
    kind: Literal["mirth"] = "mirth"
    #: The server's API base, e.g. ``https://mirth.example.org:8443/api`` (``${NAME:-default}``
    #: in it is read from the environment at load).
    url: Url
    #: The id (a UUID) of the channel whose messages are reprocessed.
    channel_id: str = Field(min_length=1, max_length=100)
    #: The Mirth user replays log in as (needs the reprocess permission).
    username: str = Field(min_length=1)
    #: That user's password.
    password: Secret
    #: Check the server's TLS certificate (turn off only for a test server).
    verify_tls: bool = True
    #: Overwrite the original message (Mirth's ``replace``) rather than add a new one.
    replace: bool = False
    #: Seconds to wait for an answer.
    timeout: float = Field(default=10.0, gt=0, le=300)


class RateLimit(_Strict):
    #: Replays per minute the target takes in the long run.
    per_minute: float = Field(default=60.0, gt=0)
    #: Replays that may go out at once (the bucket's size).
    burst: int = Field(default=10, ge=1, le=10_000)


class Interface(_Strict):
    #: The interface's name, shown with its groups (e.g. ``charges-to-erp``).
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    #: The ``hc.stage`` of the failed spans it owns.
    stage: str = Field(min_length=1)
    #: The ``hc.system`` as well; absent: any system at that stage.
    system: str | None = None
    #: Labels added to its groups' labels before the alert route tree picks the owning team
    #: (e.g. ``owner: finance-systems``).
    labels: dict[str, str] = Field(default_factory=dict)
    #: The span attribute holding the engine's own message id (what Mirth reprocesses).
    message_id_attribute: str = "mirth.message_id"
    #: Where its transactions are replayed.
    target: WebhookTarget | MirthTarget = Field(discriminator="kind")
    #: How fast replays may go to the target.
    rate: RateLimit = Field(default_factory=RateLimit)

    def owns(self, stage: str, system: str) -> bool:
        return self.stage == stage and (self.system is None or self.system == system)


class ExceptionsFile(_Strict):
    #: The interfaces that can be replayed, first match wins.
    interfaces: list[Interface] = Field(default_factory=list)
    #: How far back failures are grouped, in seconds (7 days by default).
    window: float = Field(default=7 * 86400.0, gt=0)

    @model_validator(mode="after")
    def _unique_names(self) -> ExceptionsFile:
        names = [i.name for i in self.interfaces]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"interface names must be unique: {', '.join(dupes)}")
        return self


@dataclass(frozen=True)
class ExceptionsConfig:
    interfaces: tuple[Interface, ...] = ()
    window: float = 7 * 86400.0
    source: str = "(built-in: no exceptions.yaml)"
    by_name: Mapping[str, Interface] = field(default_factory=dict)

    def interface_for(self, stage: str, system: str) -> Interface | None:
        return next((i for i in self.interfaces if i.owns(stage, system)), None)


def parse(
    text: str, file: str | Path = FILE_NAME, environ: Mapping[str, str] | None = None
) -> ExceptionsConfig:
    """Validate exceptions.yaml text (ConfigError naming file, line and field)."""
    loaded = parse_yaml(text, file)
    if loaded.data is None:
        return ExceptionsConfig(source=str(file))
    if not isinstance(loaded.data, dict):
        raise ConfigError.single(str(file), 1, "", "exceptions.yaml must be a mapping with interfaces")
    found = sources(Path(file).parent, environ)
    model = validate(ExceptionsFile, loaded, context=found.context())
    assert isinstance(model, ExceptionsFile)
    interfaces = tuple(model.interfaces)
    return ExceptionsConfig(interfaces, model.window, str(file), {i.name: i for i in interfaces})


def load_for(config_dir: str | Path, environ: Mapping[str, str] | None = None) -> ExceptionsConfig:
    """The config directory's exceptions.yaml, or no interfaces without one."""
    path = Path(config_dir) / FILE_NAME
    if not path.exists():
        return ExceptionsConfig()
    loaded = load_yaml(path)
    return parse(path.read_text(encoding="utf-8"), loaded.file, environ)


__all__ = [
    "FILE_NAME",
    "ExceptionsConfig",
    "ExceptionsFile",
    "Interface",
    "MirthTarget",
    "RateLimit",
    "WebhookTarget",
    "load_for",
    "parse",
]
