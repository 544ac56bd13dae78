"""An SLA's time thresholds (``within``, ``under``, ``max_age``) spelled as SLA files write them.

The SLA engine keeps a threshold as seconds, and its own serializer writes 24 hours as ``1d``; a
page that showed "0.25 h", "900 s" or "1d" for a file that says ``15m`` or ``24h`` makes a reader
doubt the numbers. Files write a deadline in hours (``24h``, ``72h``), short ones in minutes
(``15m``) and response times in seconds (``2s``): the largest of those units that writes the
value as a whole number, days only for a week or more. Pure: seconds in, words out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vitals.kernel.units import parse_duration

#: The SLI fields that hold a time threshold.
FIELDS = ("within", "under", "max_age")
_DAY = 86400
_UNITS = ((3600, "h", "h"), (60, "min", "m"), (1, "s", "s"))


def _parts(seconds: float) -> tuple[float, str, str]:
    """(number, prose unit, file unit) for ``seconds``."""
    if seconds >= 7 * _DAY and seconds % _DAY == 0:
        return seconds / _DAY, "d", "d"
    for size, prose, short in _UNITS:
        if seconds >= size and seconds % size == 0:
            return seconds / size, prose, short
    if seconds < 1:
        return round(seconds * 1000, 3), "ms", "ms"
    return seconds, "s", "s"


def _number(value: float) -> str:
    return f"{value:g}" if value != int(value) else f"{int(value):,}"


def threshold_text(seconds: float | None) -> str:
    """``15 min``, ``24 h``, ``2 s``, ``500 ms``: a threshold in a sentence, as its file states it."""
    if seconds is None:
        return "no threshold"
    value, prose, _ = _parts(float(seconds))
    return f"{_number(value)} {prose}"


def threshold_yaml(seconds: float) -> str:
    """``15m``, ``24h``, ``2s``: a threshold in the SLA file's own syntax (for the definition)."""
    value, _, short = _parts(float(seconds))
    return f"{_number(value).replace(',', '')}{short}"


def as_written(body: Mapping[str, Any]) -> dict[str, Any]:
    """An SLI body (the engine's dump) with its thresholds in the file's spelling (``24h``, not ``1d``)."""
    out = dict(body)
    for name in FIELDS:
        value = out.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = threshold_yaml(value)
        elif isinstance(value, str):
            out[name] = _respelled(value)
    return out


def _respelled(text: str) -> str:
    """A duration the engine serialized (``1d``, ``15m``) re-spelled; other text is left as is."""
    try:
        return threshold_yaml(parse_duration(text))
    except ValueError:
        return text
