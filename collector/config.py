"""``collector.yaml``: tokens, redaction, limits (and the pollers' section, validated by them).

Every field is optional; an absent file means the defaults below. Errors name the file, the
line and the field (``vitals.kernel.configfile``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from collector.phi import ALL_KEY_DETECTORS, ALL_VALUE_DETECTORS
from collector.redaction import RedactionPolicy
from vitals.kernel.configfile import ConfigError, ConfigIssue, LoadedYaml, load_yaml, validate
from vitals.kernel.units import Size

FILE_NAME = "collector.yaml"
DEFAULT_HASH_SECRET_ENV = "VITALS_HASH_SECRET"
MIN_TOKEN_LENGTH = 16


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TokenSource(_Strict):
    """One sending source and its bearer token (inline, or read from an environment variable)."""

    name: str = Field(min_length=1, max_length=64)
    token: str | None = None
    token_env: str | None = None

    @model_validator(mode="after")
    def _one_token(self) -> TokenSource:
        if (self.token is None) == (self.token_env is None):
            raise ValueError("give exactly one of token or token_env")
        return self


def _known(names: list[str], known: frozenset[str], what: str) -> list[str]:
    unknown = sorted(set(names) - known)
    if unknown:
        raise ValueError(
            f"unknown {what} detector(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return names


class Detectors(_Strict):
    """Which built-in PHI detectors run (all of them unless listed here)."""

    keys: list[str] = Field(default_factory=lambda: sorted(ALL_KEY_DETECTORS))
    values: list[str] = Field(default_factory=lambda: sorted(ALL_VALUE_DETECTORS))

    @field_validator("keys")
    @classmethod
    def _keys(cls, names: list[str]) -> list[str]:
        return _known(names, ALL_KEY_DETECTORS, "key")

    @field_validator("values")
    @classmethod
    def _values(cls, names: list[str]) -> list[str]:
        return _known(names, ALL_VALUE_DETECTORS, "value")


class Redaction(_Strict):
    allow_keys: list[str] = Field(default_factory=list)
    deny_keys: list[str] = Field(default_factory=list)
    hash_secret: str | None = Field(default=None, min_length=16)
    hash_secret_env: str | None = None
    detectors: Detectors = Field(default_factory=Detectors)

    @model_validator(mode="after")
    def _one_secret(self) -> Redaction:
        if self.hash_secret is not None and self.hash_secret_env is not None:
            raise ValueError("give at most one of hash_secret or hash_secret_env")
        return self

    def policy(self) -> RedactionPolicy:
        return RedactionPolicy(
            allow_keys=tuple(self.allow_keys),
            deny_keys=tuple(self.deny_keys),
            key_detectors=frozenset(self.detectors.keys),
            value_detectors=frozenset(self.detectors.values),
        )


class Limits(_Strict):
    max_body: Size = 64 * 1024 * 1024
    max_in_flight: Size = 128 * 1024 * 1024

    @field_validator("max_body", "max_in_flight")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1024:
            raise ValueError("must be at least 1KiB")
        return value

    @model_validator(mode="after")
    def _room_for_one(self) -> Limits:
        if self.max_in_flight < self.max_body:
            raise ValueError("max_in_flight must be at least max_body (one largest request must fit)")
        return self


class CollectorConfig(_Strict):
    tokens: list[TokenSource] = Field(default_factory=list)
    redaction: Redaction = Field(default_factory=Redaction)
    limits: Limits = Field(default_factory=Limits)
    #: Queue pollers, kept as written: ``collector.queues`` validates them.
    pollers: Any = Field(default_factory=list)

    def token_map(self) -> dict[str, str]:
        """Bearer token -> source name (tokens are resolved by ``load_collector_config``)."""
        return {source.token: source.name for source in self.tokens if source.token}


def _resolve_tokens(
    config: CollectorConfig, loaded: LoadedYaml, environ: Mapping[str, str]
) -> CollectorConfig:
    issues: list[ConfigIssue] = []
    resolved: list[TokenSource] = []
    seen_names: set[str] = set()
    seen_tokens: set[str] = set()
    for index, source in enumerate(config.tokens):
        token = source.token
        field = "token"
        if source.token_env is not None:
            field = "token_env"
            token = environ.get(source.token_env)
            if not token:
                issues.append(
                    ConfigIssue(
                        loaded.file,
                        loaded.line_of(("tokens", index, "token_env")),
                        f"tokens[{index}].token_env",
                        f"environment variable {source.token_env} is not set",
                    )
                )
                continue
        line = loaded.line_of(("tokens", index, field))
        if token is not None and len(token) < MIN_TOKEN_LENGTH:
            issues.append(
                ConfigIssue(
                    loaded.file,
                    line,
                    f"tokens[{index}].{field}",
                    f"a token needs at least {MIN_TOKEN_LENGTH} characters "
                    "(python -c 'import secrets; print(secrets.token_urlsafe(32))')",
                )
            )
        if source.name in seen_names:
            issues.append(ConfigIssue(loaded.file, line, f"tokens[{index}].name", "duplicate source name"))
        if token in seen_tokens:
            issues.append(
                ConfigIssue(loaded.file, line, f"tokens[{index}].{field}", "same token as another source")
            )
        seen_names.add(source.name)
        seen_tokens.add(token or "")
        resolved.append(source.model_copy(update={"token": token}))
    secret_env = config.redaction.hash_secret_env
    if secret_env is not None and not environ.get(secret_env):
        issues.append(
            ConfigIssue(
                loaded.file,
                loaded.line_of(("redaction", "hash_secret_env")),
                "redaction.hash_secret_env",
                f"environment variable {secret_env} is not set",
            )
        )
    if issues:
        raise ConfigError(issues)
    return config.model_copy(update={"tokens": resolved})


def load_collector_config(
    config_dir: str | Path, environ: Mapping[str, str] | None = None
) -> CollectorConfig:
    """``<config_dir>/collector.yaml`` validated, with tokens read from the environment.

    A missing file is the defaults. Raises ``ConfigError`` naming file, line and field.
    """
    path = Path(config_dir) / FILE_NAME
    if not path.exists():
        return CollectorConfig()
    loaded = load_yaml(path)
    data = loaded.data if loaded.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError.single(path, loaded.line_of(()), "", "collector.yaml must be a mapping of sections")
    config: CollectorConfig = validate(CollectorConfig, loaded, data)
    return _resolve_tokens(config, loaded, os.environ if environ is None else environ)


def hash_secret(config: CollectorConfig, environ: Mapping[str, str] | None = None) -> bytes | None:
    """The configured secret for ``hc.key.*`` hashes: ``hash_secret``, then the variable named by
    ``hash_secret_env`` (default VITALS_HASH_SECRET); None when neither is set."""
    env = os.environ if environ is None else environ
    redaction = config.redaction
    if redaction.hash_secret:
        return redaction.hash_secret.encode()
    value = env.get(redaction.hash_secret_env or DEFAULT_HASH_SECRET_ENV)
    return value.encode() if value else None


__all__ = [
    "DEFAULT_HASH_SECRET_ENV",
    "CollectorConfig",
    "Detectors",
    "Limits",
    "Redaction",
    "TokenSource",
    "hash_secret",
    "load_collector_config",
]
