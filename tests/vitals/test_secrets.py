"""One convention for secrets: value, file or env; read at load; never shown in clear."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from vitals.kernel.configfile import ConfigError, parse_yaml, validate
from vitals.kernel.secrets import (
    RetiredSpelling,
    Secret,
    SecretNotRead,
    at_least,
    env_default,
    retired,
    sources,
)

CLEAR = "hunter2-but-longer-0123"


class Example(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    token: Annotated[Secret, at_least(16)]
    optional: Secret | None = None
    token_env: RetiredSpelling = retired()


def load(text: str, tmp_path: Path, environ: dict[str, str]) -> Example:
    loaded = parse_yaml(text, tmp_path / "example.yaml")
    result: Example = validate(Example, loaded, context=sources(tmp_path, environ).context())
    return result


def test_value_file_and_env_are_read_at_load(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(CLEAR + "\n")
    for text in (
        f"token: {CLEAR}\n",
        f"token: {{value: {CLEAR}}}\n",
        "token: {file: token}\n",
        f"token: {{file: {tmp_path / 'token'}}}\n",
        "token: {env: THE_TOKEN}\n",
    ):
        assert load(text, tmp_path, {"THE_TOKEN": CLEAR}).token.reveal() == CLEAR, text


def test_only_the_trailing_newline_of_a_file_is_stripped(tmp_path: Path) -> None:
    (tmp_path / "token").write_bytes(b"  spaced token 0123456 \r\n")
    assert load("token: {file: token}\n", tmp_path, {}).token.reveal() == "  spaced token 0123456 "


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("token: {env: NOT_SET}\n", "example.yaml:1: token: environment variable NOT_SET is not set"),
        ("token: {env: EMPTY}\n", "example.yaml:1: token: environment variable EMPTY is empty"),
        ("token: {file: missing}\n", "missing cannot be read: No such file or directory"),
        ("token: {file: blank}\n", "blank is empty"),
        ("token: {value: a, env: B}\n", "example.yaml:1: token: give exactly one of value, file, env"),
        ("token: {}\n", "give exactly one of value, file, env (got none)"),
        ("token: {envv: X}\n", "example.yaml:1: token.envv: unknown field"),
        ("token: [a]\n", "a secret is a string (the value) or exactly one of"),
        ("token: short\n", "example.yaml:1: token: needs at least 16 characters"),
        ("token: ''\n", "the value is empty"),
        (
            f"token: {CLEAR}\noptional: {{env: GONE}}\n",
            "example.yaml:2: optional: environment variable GONE is not set",
        ),
        (
            f"token: {CLEAR}\ntoken_env: OLD_NAME\n",
            "example.yaml:2: token_env: token_env is no longer read: write token: {env: OLD_NAME}",
        ),
    ],
)
def test_errors_name_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "blank").write_text("\n")
    with pytest.raises(ConfigError) as caught:
        load(text, tmp_path, {"EMPTY": ""})
    assert expected in str(caught.value), str(caught.value)


def test_the_value_is_never_shown(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(CLEAR)
    for text in (f"token: {CLEAR}\n", "token: {file: token}\n", "token: {env: T}\n"):
        loaded = load(text, tmp_path, {"T": CLEAR})
        for shown in (repr(loaded), str(loaded), str(loaded.model_dump()), loaded.model_dump_json()):
            assert CLEAR not in shown
    assert repr(Secret(env="T")) == "Secret(env='T')"
    assert str(Secret.inline(CLEAR)) == "Secret(value='**********')"
    assert Secret(file="/run/secrets/x").describe() == "file /run/secrets/x"


def test_a_secret_validated_without_sources_reads_nothing() -> None:
    """Code that builds a model by hand gets inline values; env and file wait for a loader."""
    assert Secret.model_validate(CLEAR).reveal() == CLEAR
    pending = Secret.model_validate({"env": "ANYTHING"})
    assert not pending.is_read
    with pytest.raises(SecretNotRead, match="environment variable ANYTHING"):
        pending.reveal()
    with pytest.raises(ValidationError, match="exactly one"):
        Secret()


def test_secrets_read_from_different_sources_differ(tmp_path: Path) -> None:
    """A rotated secret compares unequal, so whatever caches on a config rebuilds."""
    one = Secret.read({"env": "T"}, sources(tmp_path, {"T": "first"}))
    two = Secret.read({"env": "T"}, sources(tmp_path, {"T": "second"}))
    assert one != two and one == Secret.read({"env": "T"}, sources(tmp_path, {"T": "first"}))


def test_env_default_only_when_the_variable_is_set(tmp_path: Path) -> None:
    assert env_default("VITALS_X", sources(tmp_path, {})) is None
    assert env_default("VITALS_X", sources(tmp_path, {"VITALS_X": ""})) is None
    found = env_default("VITALS_X", sources(tmp_path, {"VITALS_X": "abc"}))
    assert found is not None and found.reveal() == "abc" and found.env == "VITALS_X"
