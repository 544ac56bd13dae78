"""``collector.yaml``: tokens, redaction, limits (and the pollers' section, validated by them).

Every field is optional; an absent file means the defaults below. Errors name the file, the
line and the field (``vitals.kernel.configfile``). Secrets (tokens, the hash secret) follow the
one convention of ``vitals.kernel.secrets`` and are read while the file is loaded.
"""

from __future__ import annotations

import fnmatch
import re
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from collector.buffer import BufferSettings
from collector.phi import ALL_KEY_DETECTORS, ALL_VALUE_DETECTORS
from collector.redaction import (
    ALWAYS_SCANNED_KEYS,
    DETECTOR_NAME,
    RedactionPolicy,
    SiteDetector,
    SiteKeyDetector,
    compile_pattern,
)
from collector.sampling import Sampling
from vitals.kernel.configfile import ConfigError, ConfigIssue, LoadedYaml, load_yaml, validate
from vitals.kernel.secrets import (
    CONTEXT_KEY,
    RetiredSpelling,
    Secret,
    SecretSources,
    at_least,
    env_default,
    retired,
    sources,
)
from vitals.kernel.tls import ServerTls, TlsFileError, read_certificates, read_private_key
from vitals.kernel.units import Duration, Size

FILE_NAME = "collector.yaml"
DEFAULT_HASH_SECRET_ENV = "VITALS_HASH_SECRET"
MIN_TOKEN_LENGTH = 16
_NEW_TOKEN = " (python -c 'import secrets; print(secrets.token_urlsafe(32))')"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TokenSource(_Strict):
    """One sending source and its bearer token."""

    #: The source's name (unique), shown in logs and metrics.
    name: str = Field(min_length=1, max_length=64)
    #: The bearer token: ``{env: VARIABLE}``, ``{file: PATH}`` or the value; 16+ characters.
    token: Annotated[Secret, at_least(MIN_TOKEN_LENGTH, _NEW_TOKEN)]
    token_env: RetiredSpelling = retired()


def _known(names: list[str], known: frozenset[str], what: str) -> list[str]:
    unknown = sorted(set(names) - known)
    if unknown:
        raise ValueError(
            f"unknown {what} detector(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return names


class Detectors(_Strict):
    """Which built-in PHI detectors run (all of them unless listed here)."""

    #: Detectors that look at attribute keys (a key naming an identifier has its whole value replaced).
    keys: list[str] = Field(default_factory=lambda: sorted(ALL_KEY_DETECTORS))
    #: Detectors that scan attribute keys and values, names, units and status messages.
    values: list[str] = Field(default_factory=lambda: sorted(ALL_VALUE_DETECTORS))

    @field_validator("keys")
    @classmethod
    def _keys(cls, names: list[str]) -> list[str]:
        return _known(names, ALL_KEY_DETECTORS, "key")

    @field_validator("values")
    @classmethod
    def _values(cls, names: list[str]) -> list[str]:
        return _known(names, ALL_VALUE_DETECTORS, "value")


_BUILT_IN_DETECTORS = ALL_KEY_DETECTORS | ALL_VALUE_DETECTORS | {"deny", "strict", "bytes"}


def _detector_name(name: str) -> str:
    if not DETECTOR_NAME.fullmatch(name):
        raise ValueError("a detector name is 1-40 lowercase letters, digits and _, starting with a letter")
    if name in _BUILT_IN_DETECTORS:
        raise ValueError(f"{name!r} is a built-in detector or marker; choose another name")
    return name


def _re2_pattern(pattern: str) -> str:
    compile_pattern(pattern)
    return pattern


class UnscannedKey(_Strict):
    """A key a site opts out of scanning, in writing."""

    #: Glob pattern of attribute keys (case-insensitive) stored as sent, not scanned for
    #: identifiers. ``exception.*`` keys are always scanned.
    key: str = Field(min_length=1)
    #: Why values of these keys can never carry PHI (required: the opt-out is written down).
    reason: str = Field(min_length=1)

    @field_validator("reason")
    @classmethod
    def _reason(cls, reason: str) -> str:
        if not reason.strip():
            raise ValueError("say why these values can never carry PHI")
        return reason

    @field_validator("key")
    @classmethod
    def _key(cls, key: str) -> str:
        for always in ALWAYS_SCANNED_KEYS:
            sample = always.replace("*", "message")
            if re.fullmatch(fnmatch.translate(key), sample, re.IGNORECASE):
                raise ValueError(f"{always} keys are always scanned (messages and stack traces quote data)")
        return key


class ValueDetector(_Strict):
    """A site's own value detector."""

    #: Its name: the marker ``[REDACTED:<name>]`` and the counter's ``rule`` label ``value.<name>``.
    name: str
    #: RE2 pattern (no lookarounds or backreferences: linear time); each match is replaced.
    pattern: str = Field(min_length=1)

    _name = field_validator("name")(_detector_name)
    _pattern = field_validator("pattern")(_re2_pattern)


class KeyDetector(_Strict):
    """A site's own key detector: a matching key has its whole value replaced."""

    #: Its name: the marker ``[REDACTED:<name>]`` and the counter's ``rule`` label ``key.<name>``.
    name: str
    #: Glob patterns of keys (case-insensitive).
    keys: list[str] = Field(default_factory=list)
    #: RE2 pattern searched in each key as sent (another way to name the keys).
    pattern: str | None = Field(default=None, min_length=1)

    _name = field_validator("name")(_detector_name)

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, pattern: str | None) -> str | None:
        return None if pattern is None else _re2_pattern(pattern)

    @model_validator(mode="after")
    def _some_keys(self) -> KeyDetector:
        if not self.keys and self.pattern is None:
            raise ValueError("a key detector needs keys, a pattern or both")
        return self


class Redaction(_Strict):
    """PHI redaction, applied before anything is stored or logged."""

    #: Glob patterns of attribute keys exempt from key detectors and from strict mode, on top of
    #: the built-in list; their values are still scanned for identifiers (see ``unscanned_keys``).
    allow_keys: list[str] = Field(default_factory=list)
    #: Keys whose values are stored as sent, not scanned, each with the reason they can never
    #: carry PHI (``exception.*`` cannot be listed).
    unscanned_keys: list[UnscannedKey] = Field(default_factory=list)
    #: Glob patterns of keys whose value is always replaced by ``[REDACTED:deny]`` (deny wins).
    deny_keys: list[str] = Field(default_factory=list)
    #: Keys the HMAC of ``hc.key.*`` values (an inline value needs 16+ characters). Left out: the
    #: environment variable VITALS_HASH_SECRET when it is set, else a secret generated once and
    #: kept in the store.
    hash_secret: Annotated[Secret | None, at_least(16, inline_only=True)] = None
    hash_secret_env: RetiredSpelling = retired()
    #: Which built-in detectors run.
    detectors: Detectors = Field(default_factory=Detectors)
    #: The site's own value detectors (an RE2 pattern each), run before the built-in ones.
    site_detectors: list[ValueDetector] = Field(default_factory=list)
    #: The site's own key detectors (globs or an RE2 pattern of keys whose value is replaced).
    site_key_detectors: list[KeyDetector] = Field(default_factory=list)
    #: Strict mode: string values of keys not allow-listed become ``[REDACTED:strict]``, status
    #: messages too; names are kept, scanned, with runs of 4+ digits replaced by ``#``.
    strict: bool = False
    #: Bytes values that are not UTF-8 text: ``drop`` stores ``[REDACTED:bytes]``, ``base64`` keeps
    #: them as base64 text (not scanned). UTF-8 bytes are always scanned as text.
    opaque_bytes: Literal["drop", "base64"] = "drop"

    @field_validator("site_detectors", "site_key_detectors")
    @classmethod
    def _unique_names(cls, detectors: list[Any]) -> list[Any]:
        names = [detector.name for detector in detectors]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"detector name(s) used twice: {', '.join(repeated)}")
        return detectors

    def policy(self) -> RedactionPolicy:
        return RedactionPolicy(
            allow_keys=tuple(self.allow_keys),
            deny_keys=tuple(self.deny_keys),
            key_detectors=frozenset(self.detectors.keys),
            value_detectors=frozenset(self.detectors.values),
            unscanned_keys=tuple(item.key for item in self.unscanned_keys),
            site_detectors=tuple(SiteDetector(d.name, d.pattern) for d in self.site_detectors),
            site_key_detectors=tuple(
                SiteKeyDetector(d.name, tuple(d.keys), d.pattern) for d in self.site_key_detectors
            ),
            strict=self.strict,
            keep_bytes=self.opaque_bytes == "base64",
        )


class Limits(_Strict):
    """Memory and request bounds."""

    #: Largest request body, before and after decompression (larger: 413).
    max_body: Size = 64 * 1024 * 1024
    #: Request bytes accepted and not yet committed; beyond it requests get 503 / RESOURCE_EXHAUSTED.
    max_in_flight: Size = 128 * 1024 * 1024
    #: Largest OTLP/gRPC message (the smaller of this and ``max_body`` applies; larger:
    #: RESOURCE_EXHAUSTED). Reserved in full from ``max_in_flight`` before a message is read, so
    #: it also bounds how many are read at once; 4MiB is the OTLP exporters' and the OpenTelemetry
    #: Collector's default.
    max_grpc_message: Size = 4 * 1024 * 1024
    #: OTLP/gRPC calls in progress at once (authenticated); beyond it RESOURCE_EXHAUSTED with
    #: RetryInfo.
    max_grpc_calls: int = Field(default=256, ge=1)

    @field_validator("max_body", "max_in_flight", "max_grpc_message")
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


class Retention(_Strict):
    """How long telemetry rows are kept; ``vitals serve`` deletes older ones in small batches."""

    #: Spans (and their ``span_keys`` rows) whose event time is older than this are deleted;
    #: ``null`` keeps them for ever.
    spans: Duration | None = 14 * 86400.0
    #: Metric points (pushed metrics and queue samples, which share ``metric_points``) older than
    #: this are deleted; ``null`` keeps them for ever.
    metrics: Duration | None = 14 * 86400.0
    #: How often the deleting job runs (one ``vitals serve`` process at a time, by lease).
    interval: Duration = 600.0
    #: Rows examined per delete transaction: each batch holds the store's write lock (SQLite)
    #: for only a moment, so ingest waits at most that long.
    batch_rows: int = Field(default=2000, ge=100, le=100_000)

    @field_validator("spans", "metrics")
    @classmethod
    def _at_least_an_hour(cls, value: float | None) -> float | None:
        if value is not None and value < 3600:
            raise ValueError("must be at least 1h (or null to keep rows for ever)")
        return value

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: float) -> float:
        if value < 10:
            raise ValueError("must be at least 10s")
        return value


class Tls(_Strict):
    """TLS on both OTLP ports (and the API): off unless a certificate and its key are given.

    Relative paths start at the config directory. The files are checked when the file is loaded
    and read again at start (restart to serve a renewed certificate).
    """

    #: PEM certificate chain served on OTLP/HTTP, OTLP/gRPC and the API: the server certificate
    #: first, then any intermediates. With ``key_file``, both ports speak only TLS.
    cert_file: Path | None = None
    #: PEM private key of ``cert_file``, unencrypted (readable only by Vitals' user).
    key_file: Path | None = None
    #: PEM CA certificate(s) that sign the senders' client certificates (mutual TLS on the
    #: OTLP ports; needs ``require_client_cert: true``).
    client_ca_file: Path | None = None
    #: Mutual TLS: an OTLP sender without a certificate signed by ``client_ca_file`` is refused
    #: at the handshake. Bearer tokens, when configured, are still required on top.
    require_client_cert: bool = False

    @field_validator("cert_file", "key_file", "client_ca_file")
    @classmethod
    def _readable_pem(cls, path: Path | None, info: ValidationInfo) -> Path | None:
        if path is None:
            return None
        found = (info.context or {}).get(CONTEXT_KEY)
        if not path.is_absolute() and found is not None:
            path = found.base_dir / path
        if info.field_name == "key_file":
            read_private_key(path)
        else:
            read_certificates(
                path, "client CA file" if info.field_name == "client_ca_file" else "certificate file"
            )
        return path

    def problems(self) -> list[tuple[str, str, str]]:
        """(field, message, the written field that shows it) for each contradiction; empty when
        the section is consistent."""
        found: list[tuple[str, str, str]] = []
        if self.key_file is not None and self.cert_file is None:
            found.append(("cert_file", "key_file is set but cert_file is not: TLS needs both", "key_file"))
        if self.cert_file is not None and self.key_file is None:
            found.append(("key_file", "cert_file is set but key_file is not: TLS needs both", "cert_file"))
        if self.client_ca_file is not None and self.cert_file is None:
            message = "client_ca_file (mutual TLS) needs the server's cert_file and key_file"
            found.append(("cert_file", message, "client_ca_file"))
        if self.require_client_cert and self.client_ca_file is None:
            message = "require_client_cert needs client_ca_file, the CA that signs them"
            found.append(("client_ca_file", message, "require_client_cert"))
        if self.client_ca_file is not None and not self.require_client_cert:
            message = "client_ca_file is set: say require_client_cert: true to turn on mutual TLS"
            found.append(("require_client_cert", message, "client_ca_file"))
        if not found and self.cert_file is not None and self.key_file is not None:
            try:
                ServerTls(self.cert_file, self.key_file).check()
            except TlsFileError as exc:
                found.append(("key_file", str(exc), "key_file"))
        return found

    def server(self) -> ServerTls | None:
        """What the OTLP listeners serve; None when TLS is off. Raises ``ValueError`` when the
        fields contradict each other (``load_collector_config`` reports that with its line)."""
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(f"tls.{field}: {message}" for field, message, _ in problems))
        if self.cert_file is None or self.key_file is None:
            return None
        client_ca = self.client_ca_file if self.require_client_cert else None
        return ServerTls(self.cert_file, self.key_file, client_ca)

    def api_server(self) -> ServerTls | None:
        """What the API serves: the same certificate, no client certificate asked (tokens
        authenticate API callers)."""
        server = self.server()
        return None if server is None else server.without_client_certs()

    def api_context(self) -> ssl.SSLContext | None:
        """The API's server context (``api_server``), None when TLS is off; the files are read now."""
        server = self.api_server()
        return None if server is None else server.context()


class CollectorConfig(_Strict):
    #: Sending sources allowed in; with none, anyone who reaches the port may send (loopback only).
    tokens: list[TokenSource] = Field(default_factory=list)
    #: PHI redaction rules.
    redaction: Redaction = Field(default_factory=Redaction)
    #: Memory and request bounds.
    limits: Limits = Field(default_factory=Limits)
    #: How long spans and metric points are kept.
    retention: Retention = Field(default_factory=Retention)
    #: Volume control: healthy high-volume spans sampled, counts kept exact (``collector.sampling``).
    sampling: Sampling = Field(default_factory=Sampling)
    #: Queue pollers, kept as written: ``collector.queues`` validates them.
    pollers: Any = Field(default_factory=list)
    #: Durable ingest buffer on NATS JetStream: requests are acknowledged once a replicated
    #: stream holds them, and writers store them from there (absent: after the commit).
    buffer: BufferSettings | None = None
    #: TLS on the OTLP ports and the API (off unless a certificate and key are given), and
    #: optionally mutual TLS for senders.
    tls: Tls = Field(default_factory=Tls)

    def token_map(self) -> dict[str, str]:
        """Bearer token -> source name (the tokens as read by ``load_collector_config``)."""
        return {source.token.reveal(): source.name for source in self.tokens}

    def hash_secret(self) -> bytes | None:
        """The configured secret for ``hc.key.*`` hashes; None when there is none."""
        secret = self.redaction.hash_secret
        return secret.reveal().encode() if secret is not None else None


def _check_tokens(config: CollectorConfig, loaded: LoadedYaml) -> None:
    issues: list[ConfigIssue] = []
    seen_names: set[str] = set()
    seen_tokens: set[str] = set()
    for index, source in enumerate(config.tokens):
        line = loaded.line_of(("tokens", index, "token"))
        token = source.token.reveal()
        if source.name in seen_names:
            issues.append(ConfigIssue(loaded.file, line, f"tokens[{index}].name", "duplicate source name"))
        if token in seen_tokens:
            issues.append(
                ConfigIssue(loaded.file, line, f"tokens[{index}].token", "same token as another source")
            )
        seen_names.add(source.name)
        seen_tokens.add(token)
    if issues:
        raise ConfigError(issues)


def _tls_line(loaded: LoadedYaml, field: str, at: str) -> int | None:
    """The field's line when it is written, else the line of the one that needs it."""
    return loaded.lines.get(("tls", field)) or loaded.line_of(("tls", at))


def _check_tls(config: CollectorConfig, loaded: LoadedYaml) -> None:
    issues = [
        ConfigIssue(loaded.file, _tls_line(loaded, field, at), f"tls.{field}", message)
        for field, message, at in config.tls.problems()
    ]
    if issues:
        raise ConfigError(issues)


def _default_hash_secret(config: CollectorConfig, found: SecretSources) -> CollectorConfig:
    if config.redaction.hash_secret is not None:
        return config
    secret = env_default(DEFAULT_HASH_SECRET_ENV, found)
    if secret is None:
        return config
    redaction = config.redaction.model_copy(update={"hash_secret": secret})
    return config.model_copy(update={"redaction": redaction})


def load_collector_config(
    config_dir: str | Path, environ: Mapping[str, str] | None = None
) -> CollectorConfig:
    """``<config_dir>/collector.yaml`` validated, its secrets read (from ``environ``, default the
    process environment, and from files relative to ``config_dir``).

    A missing file is the defaults. Raises ``ConfigError`` naming file, line and field.
    """
    found = sources(config_dir, environ)
    path = Path(config_dir) / FILE_NAME
    if not path.exists():
        return _default_hash_secret(CollectorConfig(), found)
    loaded = load_yaml(path)
    data = loaded.data if loaded.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError.single(path, loaded.line_of(()), "", "collector.yaml must be a mapping of sections")
    config: CollectorConfig = validate(CollectorConfig, loaded, data, context=found.context())
    _check_tokens(config, loaded)
    _check_tls(config, loaded)
    return _default_hash_secret(config, found)


__all__ = [
    "DEFAULT_HASH_SECRET_ENV",
    "CollectorConfig",
    "Detectors",
    "KeyDetector",
    "Limits",
    "Redaction",
    "Retention",
    "Tls",
    "TokenSource",
    "UnscannedKey",
    "ValueDetector",
    "load_collector_config",
]
