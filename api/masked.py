"""A configuration as JSON with every secret masked: where it comes from, never its value.

Walks the validated models (pydantic models, dataclasses, mappings, sequences) rather than
dumping them, so a secret is recognised by its type (``vitals.kernel.secrets.Secret``, pydantic's
``SecretStr``) wherever it sits, and nothing that is not plain data reaches the answer.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
from collections.abc import Mapping
from datetime import date, time, timedelta
from pathlib import PurePath
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr

from vitals.kernel.secrets import Secret

HIDDEN = "**********"


def masked(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON-ready data, secrets replaced by ``{"secret": "<where from>"}``."""
    if depth > 40:
        return "..."
    if isinstance(value, Secret):
        return {"secret": value.describe()}
    if isinstance(value, SecretStr | SecretBytes):
        return HIDDEN
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, enum.Enum):
        return masked(value.value, depth + 1)
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        return {
            info.alias or name: masked(getattr(value, name), depth + 1)
            for name, info in fields.items()
            if not info.exclude
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: masked(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): masked(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [masked(v, depth + 1) for v in items]
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, re.Pattern):
        return value.pattern
    return str(value)


__all__ = ["HIDDEN", "masked"]
