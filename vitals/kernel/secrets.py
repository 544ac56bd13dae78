"""Secrets in config files: one shape everywhere, read once at load, never shown in clear.

Every secret field of every Vitals config file (collector tokens, the ``hc.key.*`` hash secret,
broker URLs, Slack and webhook credentials, dashboard password hashes) is a ``Secret``, written
as exactly one of::

    token: {env: VITALS_TOKEN_ENGINE}        # an environment variable
    token: {file: /run/secrets/engine-token} # a file (relative paths start at the config directory)
    token: {value: 9c3e...}                  # inline
    token: 9c3e...                           # a bare string is the inline value

The loaders read secrets while validating (``SecretSources`` passed as pydantic validation
context), so a variable that is not set or a file that cannot be read is a ``ConfigError``
naming the file, the line and the field, at start, not a surprise at the first delivery. Tests
pass their own environment mapping instead of touching ``os.environ``. The value itself appears
in no repr, str, dump or error message.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

#: The key of ``SecretSources`` in a pydantic validation context.
CONTEXT_KEY = "vitals.secrets"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_SHAPE = "a secret is a string (the value) or exactly one of {value: ...}, {file: PATH}, {env: VARIABLE}"


class SecretNotRead(RuntimeError):
    """A secret from a file or the environment was used before a loader read it (a bug)."""


@dataclass(frozen=True)
class SecretSources:
    """Where ``{env: ...}`` and ``{file: ...}`` secrets are read from while a file is loaded."""

    environ: Mapping[str, str]
    #: Relative ``file`` paths start here: the directory of the config file.
    base_dir: Path

    def context(self) -> dict[str, Any]:
        """The pydantic validation context that makes ``Secret`` fields read themselves."""
        return {CONTEXT_KEY: self}


def sources(base_dir: str | Path, environ: Mapping[str, str] | None = None) -> SecretSources:
    """Sources for a config file in ``base_dir``; the process environment unless one is given."""
    return SecretSources(os.environ if environ is None else environ, Path(base_dir))


class Secret(BaseModel):
    """A secret as written in a config file, and (once loaded) its value.

    Exactly one of ``value``, ``file`` (read at load, trailing newline stripped; relative to the
    config directory) or ``env`` (the name of an environment variable). ``reveal()`` returns the
    value; repr and str show only where it comes from.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The secret itself, inline (prefer ``file`` or ``env``: config files end up in version control).
    value: SecretStr | None = None
    #: A file holding the secret (e.g. a Docker or Kubernetes secret mount).
    file: str | None = Field(default=None, min_length=1)
    #: An environment variable holding the secret.
    env: str | None = Field(default=None, pattern=ENV_NAME)
    _read: str | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _bare_string_is_the_value(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"value": data}
        if isinstance(data, dict | Secret):
            return data
        raise ValueError(_SHAPE)

    @model_validator(mode="after")
    def _one_source_then_read(self, info: ValidationInfo) -> Self:
        given = [name for name in ("value", "file", "env") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of value, file, env (got {', '.join(given) if given else 'none'})"
            )
        if self.value is not None and not self.value.get_secret_value():
            raise ValueError("the value is empty")
        found = (info.context or {}).get(CONTEXT_KEY)
        if isinstance(found, SecretSources):
            self._read = self._lookup(found)
        return self

    @classmethod
    def inline(cls, value: str) -> Secret:
        return cls(value=SecretStr(value))

    @classmethod
    def read(cls, data: Any, found: SecretSources) -> Secret:
        """Validate and read a secret outside a file (``ValueError`` with the reason)."""
        return cls.model_validate(data, context=found.context())

    def _lookup(self, found: SecretSources) -> str | None:
        if self.env is not None:
            env_value = found.environ.get(self.env)
            if env_value is None:
                raise ValueError(f"environment variable {self.env} is not set")
            if not env_value:
                raise ValueError(f"environment variable {self.env} is empty")
            return env_value
        if self.file is not None:
            path = found.base_dir / Path(self.file).expanduser()
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise ValueError(f"file {path} cannot be read: {reason}") from None
            text = text.rstrip("\r\n")
            if not text:
                raise ValueError(f"file {path} is empty")
            return text
        return None

    @property
    def is_read(self) -> bool:
        """Whether ``reveal()`` has a value (inline, or read by a loader)."""
        return self.value is not None or self._read is not None

    def reveal(self) -> str:
        """The secret in clear: for the one place that uses it, never for a log line."""
        if self.value is not None:
            return self.value.get_secret_value()
        if self._read is None:
            raise SecretNotRead(
                f"the secret from {self.describe()} was not read (load the file with its loader)"
            )
        return self._read

    def describe(self) -> str:
        """Where the secret comes from, fit for a message: never the value."""
        if self.env is not None:
            return f"environment variable {self.env}"
        if self.file is not None:
            return f"file {self.file}"
        return "inline value"

    def __repr__(self) -> str:
        if self.env is not None:
            return f"Secret(env={self.env!r})"
        if self.file is not None:
            return f"Secret(file={self.file!r})"
        return "Secret(value='**********')"

    def __str__(self) -> str:
        return repr(self)


def env_default(name: str, found: SecretSources) -> Secret | None:
    """``{env: name}`` read, when the variable is set: the default of an optional secret."""
    if not found.environ.get(name):
        return None
    return Secret.read({"env": name}, found)


def at_least(length: int, advice: str = "", *, inline_only: bool = False) -> AfterValidator:
    """A field validator: the secret (once read) has at least ``length`` characters.

    ``inline_only`` checks only values written in the file, for a rule that must not refuse a
    secret already in use elsewhere (changing it would change what it keys).
    """

    def check(secret: Secret | None) -> Secret | None:
        if secret is None or not secret.is_read or (inline_only and secret.value is None):
            return secret
        if len(secret.reveal()) < length:
            raise ValueError(f"needs at least {length} characters{advice}")
        return secret

    return AfterValidator(check)


def _refuse_retired(value: object, info: ValidationInfo) -> object:
    name = info.field_name or "this field"
    field, _, kind = name.rpartition("_")
    raise ValueError(
        f"{name} is no longer read: write {field}: {{{kind}: {value}}} "
        "(every secret is {value: ...}, {file: PATH} or {env: VARIABLE})"
    )


#: An old ``<field>_env`` / ``<field>_file`` spelling: refused with how to write it now.
RetiredSpelling = Annotated[SkipJsonSchema[object], BeforeValidator(_refuse_retired)]


def retired() -> Any:
    """The default of a ``RetiredSpelling`` field (absent; left out of dumps and the reference)."""
    return Field(default=None, exclude=True)


MaybeSecret = TypeVar("MaybeSecret", Secret, Secret | None)


def check_read(secret: MaybeSecret, check: Callable[[str], None]) -> MaybeSecret:
    """Run ``check`` on the value of a read secret (field validators on what the secret holds)."""
    if secret is not None and secret.is_read:
        check(secret.reveal())
    return secret


__all__ = [
    "CONTEXT_KEY",
    "RetiredSpelling",
    "Secret",
    "SecretNotRead",
    "SecretSources",
    "at_least",
    "check_read",
    "env_default",
    "retired",
    "sources",
]
