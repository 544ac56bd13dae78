"""Units: time in the store, and durations, sizes, percentages and numbers as people write them.

The store keeps every instant as Unix nanoseconds; ``NS`` and its multiples are the one definition
of those units. Config files share one grammar (Prometheus-style durations: ``90s``, ``15m``,
``1h30m``, ``7d``, ``2w``) so an SLA window and an alert's ``repeat_interval`` read the same way.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

#: Nanoseconds in a second, a minute, an hour and a day.
NS = 1_000_000_000
MINUTE_NS = 60 * NS
HOUR_NS = 3600 * NS
DAY_NS = 86400 * NS

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


def optional_float(value: Any) -> float | None:
    """A finite number from loosely typed input (span attributes, broker statistics, stored
    columns), or None when there is none.

    Numbers and numeric text (``"12.5"``) count. None is the answer for what is not a quantity:
    a boolean (``hc.amount: true`` is not one dollar), text that is not a number, a value too large
    for a float, NaN and infinities (one would poison every sum it enters: a budget, an amount at
    risk, a rollup).
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


#: Pydantic field types: validated from config text into seconds / bytes / fractions.
Duration = Annotated[float, BeforeValidator(parse_duration), PlainSerializer(format_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
Fraction = Annotated[float, BeforeValidator(parse_fraction)]
