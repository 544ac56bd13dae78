"""How evaluations and back-tests read on a terminal and as JSON (pure formatting)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from slas.backtest import SliceReplay
from slas.model import Evaluation
from vitals.kernel.units import NS, format_duration, parse_duration

__all__ = ["format_time", "parse_time", "replay_json", "replay_text", "report_json", "report_table"]

_RELATIVE = re.compile(r"^(?:now)?\s*-\s*(\S+)$")


def parse_time(text: str, now_ns: int) -> int:
    """``now``, ``now-2h`` / ``-2h``, ISO 8601 (no offset means UTC) or Unix seconds, as Unix ns."""
    value = text.strip()
    if value == "now":
        return now_ns
    relative = _RELATIVE.match(value)
    if relative:
        return now_ns - int(parse_duration(relative.group(1)) * NS)
    if re.fullmatch(r"\d{9,11}(\.\d+)?", value):
        return int(float(value) * NS)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(
            f"expected now, -2h, an ISO time such as 2026-03-02T10:00 or Unix seconds, got {text!r}"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000) * 1000


def format_time(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def report_json(at_ns: int, evaluations: Sequence[Evaluation]) -> dict[str, Any]:
    return {
        "at": format_time(at_ns),
        "slas": [
            {
                "id": ev.sla_id,
                "slice": ev.slice,
                "title": ev.title,
                "priority": ev.priority,
                "sli": ev.sli,
                "good": ev.good,
                "total": ev.total,
                "objective": ev.objective,
                "budget_remaining": ev.budget_remaining,
                "burn_rates": {
                    b.name: {
                        "long": b.long_rate,
                        "short": b.short_rate,
                        "threshold": b.threshold,
                        "severity": b.severity,
                        "firing": b.firing,
                    }
                    for b in ev.burn_rates
                },
                "status": ev.status,
                "at_risk_amount": ev.at_risk_amount,
            }
            for ev in evaluations
        ],
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def _count(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"


def _burn(ev: Evaluation) -> str:
    rated = [b for b in ev.burn_rates if b.long_rate is not None]
    if not rated:
        return "-"
    top = max(rated, key=lambda b: (b.firing, (b.long_rate or 0) / b.threshold))
    return f"{top.long_rate:.1f}x {top.name}{' FIRING' if top.firing else ''}"


def report_table(evaluations: Sequence[Evaluation]) -> str:
    header = (
        "SLA",
        "SLICE",
        "STATUS",
        "SLI",
        "OBJECTIVE",
        "BUDGET LEFT",
        "BURN (LONG WINDOW)",
        "GOOD/TOTAL",
        "AT RISK",
    )
    rows = [header]
    for ev in evaluations:
        rows.append(
            (
                ev.sla_id,
                ev.slice or "(all)",
                ev.status,
                _pct(ev.sli),
                _pct(ev.objective),
                _pct(ev.budget_remaining),
                _burn(ev),
                f"{_count(ev.good)}/{_count(ev.total)}",
                "-" if ev.at_risk_amount is None else f"${ev.at_risk_amount:,.2f}",
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def replay_text(sla_id: str, from_ns: int, to_ns: int, step_ns: int, replays: Sequence[SliceReplay]) -> str:
    lines = [
        f"Back-test of {sla_id} from {format_time(from_ns)} to {format_time(to_ns)}, "
        f"every {format_duration(step_ns / NS)}"
    ]
    for rep in replays:
        lines.append("")
        lines.append(f"{rep.slice or '(all)'}:")
        for tr in rep.transitions:
            ev = tr.evaluation
            firing = ", ".join(
                f"{b.severity} {b.name} ({b.long_rate:.1f}x/{b.short_rate:.1f}x)"
                for b in ev.burn_rates
                if b.firing
            )
            lines.append(
                f"  {format_time(tr.at_ns)}  {tr.before} -> {tr.after}  "
                f"SLI {_pct(ev.sli)}, budget left {_pct(ev.budget_remaining)}"
                + (f", firing: {firing}" if firing else "")
            )
        for alert in rep.alerts:
            until = format_time(alert.end_ns) if alert.end_ns is not None else "still firing"
            lines.append(
                f"  alert {alert.severity} {alert.tier}: {format_time(alert.start_ns)} .. {until} "
                f"(peak {alert.peak_long_rate:.1f}x)"
            )
        spent = ", ".join(
            f"{status} {format_duration(seconds)}" for status, seconds in sorted(rep.seconds_in.items())
        )
        pages = sum(1 for a in rep.alerts if a.severity == "page")
        tickets = sum(1 for a in rep.alerts if a.severity == "ticket")
        breaches = sum(1 for e in rep.episodes if e.status == "breach")
        lines.append(
            f"  summary: {breaches} breach episode(s), {pages} page alert(s), "
            f"{tickets} ticket alert(s); time {spent or '-'}"
        )
    return "\n".join(lines)


def replay_json(sla_id: str, replays: Sequence[SliceReplay]) -> dict[str, Any]:
    return {
        "id": sla_id,
        "slices": [
            {
                "slice": rep.slice,
                "transitions": [
                    {"at": format_time(t.at_ns), "from": t.before, "to": t.after, "sli": t.evaluation.sli}
                    for t in rep.transitions
                ],
                "alerts": [
                    {
                        "tier": a.tier,
                        "severity": a.severity,
                        "start": format_time(a.start_ns),
                        "end": format_time(a.end_ns) if a.end_ns is not None else None,
                        "peak_long_rate": a.peak_long_rate,
                    }
                    for a in rep.alerts
                ],
                "seconds_in": rep.seconds_in,
            }
            for rep in replays
        ],
    }
