"""collector.yaml: defaults, the starter file, and errors that name file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import CollectorConfig, load_collector_config
from collector.phi import ALL_KEY_DETECTORS, ALL_VALUE_DETECTORS
from collector.redaction import SiteDetector, SiteKeyDetector
from collector.service import ServeOptions, StartupError, check_exposure, is_loopback
from vitals.kernel.configfile import ConfigError
from vitals.kernel.settings import default_config_dir

TOKEN = "t0ken-for-the-billing-system"


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "collector.yaml").write_text(text)
    return tmp_path


def test_no_file_means_the_defaults(tmp_path: Path) -> None:
    config = load_collector_config(tmp_path, environ={})
    assert config == CollectorConfig()
    assert config.tokens == []
    assert config.limits.max_body == 64 * 1024 * 1024
    assert config.limits.max_in_flight == 128 * 1024 * 1024
    assert set(config.redaction.detectors.keys) == ALL_KEY_DETECTORS
    assert config.pollers == []


def test_an_empty_file_means_the_defaults(tmp_path: Path) -> None:
    assert load_collector_config(write(tmp_path, "# nothing yet\n"), environ={}) == CollectorConfig()


def test_the_starter_config_is_valid_and_equals_the_defaults() -> None:
    config = load_collector_config(default_config_dir(), environ={})
    defaults = CollectorConfig()
    assert config.tokens == defaults.tokens
    assert config.limits == defaults.limits
    assert config.redaction == defaults.redaction
    assert set(config.redaction.detectors.values) == ALL_VALUE_DETECTORS


def test_a_full_file(tmp_path: Path) -> None:
    text = f"""
tokens:
  - name: billing
    token: {TOKEN}
  - name: engine
    token: {{env: ENGINE_TOKEN}}
  - name: lab
    token: {{file: secrets/lab-token}}
redaction:
  allow_keys: ["app.*"]
  deny_keys: ["patient.*"]
  hash_secret: {{env: MY_SECRET}}
  detectors:
    keys: [ssn]
    values: []
limits:
  max_body: 1MiB
  max_in_flight: 10MB
pollers:
  - {{name: q, type: redis}}
"""
    environ = {"ENGINE_TOKEN": "another-token-0123456789", "MY_SECRET": "short"}
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "lab-token").write_text("lab-token-from-a-file-0123\n")
    config = load_collector_config(write(tmp_path, text), environ=environ)
    assert config.token_map() == {
        TOKEN: "billing",
        "another-token-0123456789": "engine",
        "lab-token-from-a-file-0123": "lab",
    }
    shown = repr(config)
    assert TOKEN not in shown and "another-token" not in shown and "lab-token-from" not in shown
    policy = config.redaction.policy()
    assert policy.allow_keys == ("app.*",)
    assert policy.deny_keys == ("patient.*",)
    assert policy.key_detectors == frozenset({"ssn"})
    assert policy.value_detectors == frozenset()
    assert config.limits.max_body == 1024 * 1024
    assert config.limits.max_in_flight == 10_000_000
    assert config.pollers == [{"name": "q", "type": "redis"}]
    # A short secret from the environment is accepted (it may key hashes already stored); inline
    # values need 16 characters.
    assert config.hash_secret() == b"short"


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("tokens:\n  - name: a\n", "collector.yaml:2: tokens[0].token", "Field required"),
        ("tokens:\n  - name: a\n    token: short\n", "collector.yaml:3: tokens[0].token", "at least 16"),
        (
            "tokens:\n  - name: a\n    token: {env: NOPE_NOT_SET}\n",
            "collector.yaml:3: tokens[0].token",
            "environment variable NOPE_NOT_SET is not set",
        ),
        (
            "tokens:\n  - name: a\n    token: {file: no-such-file}\n",
            "collector.yaml:3: tokens[0].token",
            "no-such-file cannot be read",
        ),
        (
            "tokens:\n  - name: a\n    token: {env: A, value: b}\n",
            "collector.yaml:3: tokens[0].token",
            "give exactly one of value, file, env",
        ),
        (
            "tokens:\n  - name: a\n    token: {env: 'not a name'}\n",
            "collector.yaml:3: tokens[0].token.env",
            "String should match pattern",
        ),
        (
            "tokens:\n  - name: a\n    token: {value: x}\n    token_env: ENGINE_TOKEN\n",
            "collector.yaml:4: tokens[0].token_env",
            "token_env is no longer read: write token: {env: ENGINE_TOKEN}",
        ),
        (
            f"tokens:\n  - name: a\n    token: {TOKEN}\n  - name: a\n    token: {TOKEN}x\n",
            "tokens[1].name",
            "duplicate source name",
        ),
        (
            f"tokens:\n  - name: a\n    token: {TOKEN}\n  - name: b\n    token: {TOKEN}\n",
            "tokens[1].token",
            "same token",
        ),
        (
            "redaction:\n  detectors:\n    keys: [ssn, shoe_size]\n",
            "collector.yaml:3: redaction.detectors.keys",
            "shoe_size",
        ),
        ("redaction:\n  alow_keys: []\n", "collector.yaml:2: redaction.alow_keys", "unknown field"),
        (
            "redaction:\n  hash_secret: {env: UNSET_SECRET_VAR}\n",
            "collector.yaml:2: redaction.hash_secret",
            "environment variable UNSET_SECRET_VAR is not set",
        ),
        (
            "redaction:\n  hash_secret_env: MY_SECRET\n",
            "collector.yaml:2: redaction.hash_secret_env",
            "write hash_secret: {env: MY_SECRET}",
        ),
        ("redaction:\n  hash_secret: short\n", "redaction.hash_secret", "at least 16"),
        ("limits:\n  max_body: lots\n", "collector.yaml:2: limits.max_body", "64MiB"),
        ("limits:\n  max_body: 2MiB\n  max_in_flight: 1MiB\n", "limits", "at least max_body"),
        ("- just\n- a list\n", "collector.yaml:1", "mapping"),
        ("tokens: [\n", "collector.yaml", "invalid YAML"),
    ],
)
def test_errors_name_file_line_and_field(tmp_path: Path, text: str, where: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_collector_config(write(tmp_path, text), environ={})
    rendered = str(caught.value)
    assert where in rendered
    assert message in rendered


def test_hash_secret_sources(tmp_path: Path) -> None:
    """The file's hash_secret wins; left out, VITALS_HASH_SECRET; neither: None (the store's own)."""
    assert load_collector_config(tmp_path, {"VITALS_HASH_SECRET": "from-env"}).hash_secret() == b"from-env"
    assert load_collector_config(tmp_path, {}).hash_secret() is None
    write(tmp_path, "redaction:\n  hash_secret: inline-secret-0123456789\n")
    inline = load_collector_config(tmp_path, {"VITALS_HASH_SECRET": "ignored"})
    assert inline.hash_secret() == b"inline-secret-0123456789"
    write(tmp_path, "redaction:\n  allow_keys: []\n")
    assert load_collector_config(tmp_path, {"VITALS_HASH_SECRET": "from-env"}).hash_secret() == b"from-env"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.0.0.5", False),
        ("example.org", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_listening_beyond_loopback_needs_tokens_or_the_insecure_flag() -> None:
    open_config = CollectorConfig()
    check_exposure(ServeOptions(host="127.0.0.1"), open_config)
    with pytest.raises(StartupError, match="--insecure-no-auth"):
        check_exposure(ServeOptions(host="0.0.0.0"), open_config)
    check_exposure(ServeOptions(host="0.0.0.0", insecure_no_auth=True), open_config)
    with_tokens = CollectorConfig.model_validate({"tokens": [{"name": "a", "token": TOKEN}]})
    check_exposure(ServeOptions(host="0.0.0.0"), with_tokens)


def test_the_redaction_policy_options(tmp_path: Path) -> None:
    text = """
redaction:
  unscanned_keys:
    - key: "app.build.*"
      reason: "CI build numbers, set by our pipeline"
  site_detectors:
    - {name: epic_csn, pattern: 'CSN[0-9]{9}'}
  site_key_detectors:
    - {name: epic_id, keys: ["*.epic_id"]}
    - {name: csn, pattern: '(?i)csn'}
  strict: true
  opaque_bytes: base64
"""
    policy = load_collector_config(write(tmp_path, text), environ={}).redaction.policy()
    assert policy.unscanned_keys == ("app.build.*",)
    assert policy.site_detectors == (SiteDetector("epic_csn", "CSN[0-9]{9}"),)
    assert policy.site_key_detectors == (
        SiteKeyDetector("epic_id", keys=("*.epic_id",)),
        SiteKeyDetector("csn", pattern="(?i)csn"),
    )
    assert policy.strict and policy.keep_bytes
    defaults = CollectorConfig().redaction.policy()
    assert not defaults.strict and not defaults.keep_bytes and defaults.unscanned_keys == ()


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            "redaction:\n  unscanned_keys:\n    - {key: app.x}\n",
            "collector.yaml:3: redaction.unscanned_keys[0].reason",
            "Field required",
        ),
        (
            "redaction:\n  unscanned_keys:\n    - {key: app.x, reason: '  '}\n",
            "collector.yaml:3: redaction.unscanned_keys[0].reason",
            "can never carry PHI",
        ),
        (
            "redaction:\n  unscanned_keys:\n    - {key: 'exception.*', reason: trust me}\n",
            "collector.yaml:3: redaction.unscanned_keys[0].key",
            "always scanned",
        ),
        (
            "redaction:\n  unscanned_keys:\n    - {key: '*', reason: trust me}\n",
            "collector.yaml:3: redaction.unscanned_keys[0].key",
            "always scanned",
        ),
        (
            "redaction:\n  site_detectors:\n    - {name: csn, pattern: '(?<=CSN)[0-9]+'}\n",
            "collector.yaml:3: redaction.site_detectors[0].pattern",
            "not an RE2 pattern",
        ),
        (
            "redaction:\n  site_detectors:\n    - {name: csn, pattern: '[0-9]*'}\n",
            "collector.yaml:3: redaction.site_detectors[0].pattern",
            "matches the empty string",
        ),
        (
            "redaction:\n  site_detectors:\n    - {name: Epic CSN, pattern: 'CSN'}\n",
            "collector.yaml:3: redaction.site_detectors[0].name",
            "lowercase letters",
        ),
        (
            "redaction:\n  site_detectors:\n    - {name: ssn, pattern: 'x[0-9]'}\n",
            "collector.yaml:3: redaction.site_detectors[0].name",
            "built-in",
        ),
        (
            "redaction:\n  site_detectors:\n    - {name: a, pattern: 'x'}\n    - {name: a, pattern: 'y'}\n",
            "collector.yaml:2: redaction.site_detectors",
            "used twice",
        ),
        (
            "redaction:\n  site_key_detectors:\n    - {name: epic_id}\n",
            "collector.yaml:3: redaction.site_key_detectors[0]",
            "needs keys, a pattern or both",
        ),
        (
            "redaction:\n  site_key_detectors:\n    - {name: epic_id, pattern: '(a'}\n",
            "collector.yaml:3: redaction.site_key_detectors[0].pattern",
            "not an RE2 pattern",
        ),
        (
            "redaction:\n  opaque_bytes: keep\n",
            "collector.yaml:2: redaction.opaque_bytes",
            "drop",
        ),
    ],
)
def test_redaction_policy_errors_name_file_line_and_field(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_collector_config(write(tmp_path, text), environ={})
    rendered = str(caught.value)
    assert where in rendered
    assert message in rendered
