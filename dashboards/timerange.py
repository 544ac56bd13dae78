"""The time range every page shows, as it travels in the URL, and how times are written.

Pure functions over plain values: the page scripts read ``st.query_params`` into a dict, call
``parse`` and write ``to_params`` back, so a copied link opens the same view.

URL parameters: ``range`` = ``1h`` | ``1d`` | ``7d`` | ``30d`` | ``custom``; with ``custom``,
``from`` and ``to`` as ISO 8601 (a time without an offset is read in ``tz``); ``tz`` an IANA
time-zone name (default: the browser's).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vitals.kernel.units import NS

PRESETS: dict[str, tuple[str, int]] = {
    "1h": ("Last hour", 3600),
    "1d": ("Last day", 86400),
    "7d": ("Last week", 7 * 86400),
    "30d": ("Last month", 30 * 86400),
}
DEFAULT_PRESET = "1d"
#: Ranges up to this long are drawn from the per-minute rollups, longer ones from hourly ones.
MINUTE_RESOLUTION_LIMIT_S = 36 * 3600


class RangeError(ValueError):
    """A URL's range parameters that cannot be read; the message says what is expected."""


@dataclass(frozen=True)
class TimeRange:
    start_ns: int
    end_ns: int
    preset: str  # a PRESETS key or "custom"
    tz: str

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / NS

    @property
    def resolution_s(self) -> int:
        """The rollup resolution that answers this range with a few hundred points at most."""
        return 60 if self.seconds <= MINUTE_RESOLUTION_LIMIT_S else 3600

    def step_s(self, points: int = 120) -> int:
        """A chart step that is a multiple of the rollup resolution, about ``points`` per range."""
        res = self.resolution_s
        return max(res, math.ceil(self.seconds / points / res) * res)

    @property
    def label(self) -> str:
        if self.preset in PRESETS:
            return PRESETS[self.preset][0]
        return f"{format_time(self.start_ns, self.tz)} - {format_time(self.end_ns, self.tz)}"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)


def valid_tz(name: str | None, fallback: str = "UTC") -> str:
    if not name:
        return fallback
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return fallback
    return name


def _parse_instant(text: str, tz: str) -> int:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise RangeError(f"{text!r} is not a date and time (use ISO 8601, e.g. 2026-11-24T08:00)") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    return int(moment.timestamp()) * NS + moment.microsecond * 1000


def parse(params: Mapping[str, str], now_ns: int, default_tz: str = "UTC") -> TimeRange:
    """The range a URL asks for; raises RangeError naming the bad parameter."""
    tz = valid_tz(params.get("tz"), valid_tz(default_tz))
    preset = params.get("range") or DEFAULT_PRESET
    if preset in PRESETS:
        return TimeRange(now_ns - PRESETS[preset][1] * NS, now_ns, preset, tz)
    if preset != "custom":
        raise RangeError(f"range={preset!r}: expected one of {', '.join([*PRESETS, 'custom'])}")
    if not params.get("from") or not params.get("to"):
        raise RangeError("range=custom needs both from= and to= (ISO 8601)")
    start, end = _parse_instant(params["from"], tz), _parse_instant(params["to"], tz)
    if end <= start:
        raise RangeError("to= must be later than from=")
    return TimeRange(start, end, "custom", tz)


def to_params(tr: TimeRange) -> dict[str, str]:
    out = {"range": tr.preset, "tz": tr.tz}
    if tr.preset == "custom":
        out["from"] = iso(tr.start_ns, tr.tz)
        out["to"] = iso(tr.end_ns, tr.tz)
    return out


def iso(ns: int, tz: str) -> str:
    return datetime.fromtimestamp(ns / NS, ZoneInfo(tz)).isoformat(timespec="seconds")


def to_datetime(ns: int, tz: str) -> datetime:
    return datetime.fromtimestamp(ns / NS, ZoneInfo(tz))


def format_time(ns: int | None, tz: str, *, seconds: bool = False) -> str:
    """``2026-11-24 14:03 CET``: every timestamp the dashboard prints carries its zone."""
    if ns is None:
        return "-"
    moment = datetime.fromtimestamp(ns / NS, ZoneInfo(tz))
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


#: Pins the dashboard's "now" to an ISO 8601 instant (``vitals dashboard --now``): every page then
#: shows the store as it was at that moment, e.g. history that ``vitals simulate --now`` generated.
ENV_NOW = "VITALS_DASHBOARD_NOW"


def parse_now(text: str) -> int:
    """Unix ns of an ISO 8601 instant for ``--now`` (UTC unless it carries an offset)."""
    return _parse_instant(text, "UTC")


def utc_now_ns() -> int:
    """The dashboard's now: the clock, unless ``VITALS_DASHBOARD_NOW`` pins it."""
    pinned = os.environ.get(ENV_NOW, "").strip()
    if pinned:
        return parse_now(pinned)
    return int(datetime.now(UTC).timestamp() * NS)


def snap(now_ns: int, seconds: int) -> int:
    """``now`` rounded down, so reruns within a few seconds share cached query results."""
    size = seconds * NS
    return now_ns // size * size


def format_duration(seconds: float | None) -> str:
    """``6h 38m``, ``2d 4h``, ``45s``, ``850 ms``: short and exact enough for a glance."""
    if seconds is None or math.isnan(seconds):
        return "-"
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"
