"""The capacity report as text, JSON or CSV (``vitals capacity report --format``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from capacity.forecast import DayForecast
from capacity.report import CapacityRow, format_duration


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}".replace("-0%", "0%")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _day(d: DayForecast | None, zone: str) -> dict[str, Any] | None:
    if d is None:
        return None
    return {
        "day": d.day.isoformat(),
        "total": round(d.total, 1),
        "total_upper": round(d.upper, 1),
        "peak_hour": datetime.fromtimestamp(d.peak_hour_s, ZoneInfo(zone)).isoformat(),
        "peak_per_hour": round(d.peak_per_hour, 1),
        "peak_per_hour_upper": round(d.peak_upper, 1),
        "close_last": d.kind.close_last,
        "close_first": d.kind.close_first,
        "claims": d.kind.claims,
    }


def as_dicts(rows: Sequence[CapacityRow], zone: str, *, hourly: bool = False) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    tz = ZoneInfo(zone)
    for r in rows:
        b = r.backlog
        out.append(
            {
                "kind": r.kind,
                "name": r.name,
                "capacity_per_hour": r.capacity_per_hour,
                "capacity_source": r.capacity_source,
                "configured_per_hour": r.configured_per_hour,
                "measured_per_hour": None if r.measured_per_hour is None else round(r.measured_per_hour, 1),
                "measured_15m_per_hour": None
                if r.measured_15m_per_hour is None
                else round(r.measured_15m_per_hour, 1),
                "margin": r.margin,
                "history_days": r.forecast.history_days,
                "regressors": list(r.forecast.regressors),
                "note": r.forecast.note,
                "peak": _day(r.peak, zone),
                "headroom_at_peak": None if r.headroom is None else round(r.headroom, 4),
                "next_close_peak": _day(r.close_peak, zone),
                "headroom_at_close_peak": None if r.close_headroom is None else round(r.close_headroom, 4),
                "below_margin_on": r.below_margin_on.isoformat() if r.below_margin_on else None,
                "backlog": None
                if b is None
                else {
                    "depth": b.depth,
                    "drain_per_s": round(b.drain_per_s, 4),
                    "arrival_per_s": round(b.arrival_per_s, 4),
                    "clear_s": None if b.clear_s is None else round(b.clear_s, 1),
                    "deadline": b.deadline,
                    "clears_before_deadline": b.clears_before_deadline,
                },
                "days": [_day(d, zone) for d in r.forecast.days],
            }
        )
        if hourly:
            out[-1]["hours"] = [
                [datetime.fromtimestamp(h, tz).isoformat(), round(v, 2)] for h, v in r.forecast.hours
            ]
    return out


def to_json(rows: Sequence[CapacityRow], zone: str, now_s: float, *, hourly: bool = False) -> str:
    document = {
        "now": datetime.fromtimestamp(now_s, ZoneInfo(zone)).isoformat(),
        "time_zone": zone,
        "series": as_dicts(rows, zone, hourly=hourly),
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()


CSV_COLUMNS = (
    "kind",
    "name",
    "capacity_per_hour",
    "capacity_source",
    "margin",
    "peak_day",
    "peak_per_hour",
    "headroom_at_peak",
    "next_close_peak_day",
    "next_close_peak_per_hour",
    "headroom_at_close_peak",
    "below_margin_on",
    "backlog_depth",
    "clear_s",
    "deadline",
    "clears_before_deadline",
)


def to_csv(rows: Sequence[CapacityRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        b = r.backlog
        writer.writerow(
            [
                r.kind,
                r.name,
                "" if r.capacity_per_hour is None else round(r.capacity_per_hour, 1),
                r.capacity_source,
                r.margin,
                r.peak.day.isoformat() if r.peak else "",
                round(r.peak.peak_per_hour, 1) if r.peak else "",
                "" if r.headroom is None else round(r.headroom, 4),
                r.close_peak.day.isoformat() if r.close_peak else "",
                round(r.close_peak.peak_per_hour, 1) if r.close_peak else "",
                "" if r.close_headroom is None else round(r.close_headroom, 4),
                r.below_margin_on.isoformat() if r.below_margin_on else "",
                "" if b is None else b.depth,
                "" if b is None or b.clear_s is None else round(b.clear_s, 1),
                "" if b is None or b.deadline is None else b.deadline,
                "" if b is None or b.clears_before_deadline is None else b.clears_before_deadline,
            ]
        )
    return buffer.getvalue()


def to_text(rows: Sequence[CapacityRow], zone: str, now_s: float, days: int) -> str:
    now = datetime.fromtimestamp(now_s, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")
    lines = [f"Capacity at {now}, forecast of the next {days} days (messages per hour)", ""]
    header = (
        f"{'kind':<9} {'name':<24} {'capacity':>9} {'source':<10} {'peak day':<10} {'peak/h':>8} "
        f"{'headroom':>8} {'close peak':<10} {'close/h':>8} {'headroom':>8} below margin"
    )
    lines.append(header)
    for r in rows:
        lines.append(
            f"{r.kind:<9} {r.name[:24]:<24} {_num(r.capacity_per_hour):>9} {r.capacity_source:<10} "
            f"{r.peak.day.isoformat() if r.peak else '-':<10} "
            f"{_num(r.peak.peak_per_hour if r.peak else None):>8} "
            f"{_pct(r.headroom):>8} {r.close_peak.day.isoformat() if r.close_peak else '-':<10} "
            f"{_num(r.close_peak.peak_per_hour if r.close_peak else None):>8} {_pct(r.close_headroom):>8} "
            f"{r.below_margin_on.isoformat() if r.below_margin_on else '-'}"
            + (f"  ({r.forecast.note})" if r.forecast.note else "")
        )
    backlogs = [r for r in rows if r.backlog is not None and r.backlog.depth > 0]
    if backlogs:
        lines += ["", "Backlogs now (drain and arrival: mean of the last 15 minutes)"]
        for r in backlogs:
            b = r.backlog
            assert b is not None
            verdict = ""
            if b.deadline is not None:
                verdict = f"; deadline {b.deadline}: " + (
                    "clears before" if b.clears_before_deadline else "MISSES it"
                )
            lines.append(
                f"  {r.name}: {b.depth:,.0f} waiting, drain {b.drain_per_s:.2f}/s, "
                f"arrival {b.arrival_per_s:.2f}/s, "
                + (
                    "does not clear at this rate"
                    if b.clear_s is None
                    else f"clears in {format_duration(b.clear_s)}"
                )
                + verdict
            )
    return "\n".join(lines)


__all__ = ["CSV_COLUMNS", "as_dicts", "to_csv", "to_json", "to_text"]
