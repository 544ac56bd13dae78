"""Durations, sizes and percentages as people write them in config files.

One grammar for every file (Prometheus-style durations: ``90s``, ``15m``, ``1h30m``, ``7d``, ``2w``)
so an SLA window and an alert's ``repeat_interval`` read the same way.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_DURATION_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 7 * 86400.0,
    "y": 365 * 86400.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_DURATION_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w|y))+$")

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?$", re.IGNORECASE)


def parse_duration(value: Any) -> float:
    """Seconds in a duration such as ``1h30m``; a bare number is taken as seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 90s, 15m, 24h or 7d, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    text = str(value).strip().replace(" ", "")
    if not _DURATION_WHOLE.match(text):
        raise ValueError(f"expected a duration such as 90s, 15m, 24h or 7d, got {value!r}")
    return sum(float(number) * _DURATION_UNITS[unit] for number, unit in _DURATION_PART.findall(text))


def format_duration(seconds: float) -> str:
    """The shortest exact spelling of a duration, for messages and round trips."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    out = ""
    remaining = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            out += f"{count}{unit}"
    return out


def parse_size(value: Any) -> int:
    """Bytes in a size such as ``64MiB`` or ``10mb``; a bare number is bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.match(str(value).strip())
    if not match:
        raise ValueError(f"expected a size such as 64MiB or 512KiB, got {value!r}")
    number, unit = match.groups()
    return int(float(number) * _SIZE_UNITS[(unit or "").lower()])


def parse_fraction(value: Any) -> float:
    """A fraction from ``95%``, ``99.9%`` or ``0.95``."""
    if isinstance(value, bool):
        raise ValueError(f"expected a percentage such as 99.5% or a fraction such as 0.995, got {value!r}")
    if isinstance(value, int | float):
        number = float(value)
        fraction = number / 100 if number > 1 else number
    else:
        text = str(value).strip()
        try:
            fraction = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError as exc:
            raise ValueError(
                f"expected a percentage such as 99.5% or a fraction such as 0.995, got {value!r}"
            ) from exc
        if not text.endswith("%") and fraction > 1:
            fraction /= 100
    if not 0 <= fraction <= 1:
        raise ValueError(f"must be between 0% and 100%, got {value!r}")
    return fraction


#: Pydantic field types: validated from config text into seconds / bytes / fractions.
Duration = Annotated[float, BeforeValidator(parse_duration), PlainSerializer(format_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
Fraction = Annotated[float, BeforeValidator(parse_fraction)]
