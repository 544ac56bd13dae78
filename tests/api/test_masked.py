"""``api.masked``: a configuration as JSON, every secret replaced by where it comes from."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr

from api.masked import HIDDEN, masked
from vitals.kernel.secrets import Secret, sources

VALUE = "s3cr3t-value-never-shown"


class Inner(BaseModel):
    token: Secret | None = None
    password: SecretStr = SecretStr(VALUE)
    retired: str | None = Field(default=VALUE, exclude=True)


class Outer(BaseModel):
    name: str = "x"
    inner: Inner = Field(default_factory=Inner)
    listed: list[Secret] = Field(default_factory=list)
    by_name: dict[str, Secret] = Field(default_factory=dict)
    path: Path = Path("/etc/vitals")
    every: timedelta = timedelta(minutes=5)
    ratio: float = float("inf")


@dataclass(frozen=True)
class Built:
    secret: Secret
    nested: tuple[Secret, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)


def test_every_secret_is_masked_wherever_it_sits(tmp_path: Path) -> None:
    (tmp_path / "key").write_text(VALUE)
    found = sources(tmp_path, {"TOKEN_VAR": VALUE})
    from_env = Secret.read({"env": "TOKEN_VAR"}, found)
    from_file = Secret.read({"file": "key"}, found)
    inline = Secret.inline(VALUE)
    model = Outer(inner=Inner(token=inline), listed=[from_env, from_file], by_name={"a": inline})
    out = masked(model)
    text = json.dumps(out)
    assert VALUE not in text
    assert out["inner"] == {"token": {"secret": "inline value"}, "password": HIDDEN}
    assert out["listed"] == [{"secret": "environment variable TOKEN_VAR"}, {"secret": "file key"}]
    assert out["by_name"] == {"a": {"secret": "inline value"}}
    assert out["path"] == "/etc/vitals" and out["every"] == 300.0 and out["ratio"] == "inf"
    built = masked(Built(inline, (from_env,), {"team": "finance"}))
    assert built == {
        "secret": {"secret": "inline value"},
        "nested": [{"secret": "environment variable TOKEN_VAR"}],
        "labels": {"team": "finance"},
    }
    assert VALUE not in json.dumps(built)
