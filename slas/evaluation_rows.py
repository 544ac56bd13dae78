"""``sla_evaluations`` rows <-> ``slas.model.Evaluation``: the one place that maps the two.

The engine writes rows with :func:`evaluation_row`; alerts and dashboards read them back with
:func:`evaluation_from_row`. Reading is lenient (numbers that do not parse become None, an
unknown status reads as ``no-data``, burn rates may be a list or a name -> object mapping)
because BI tools and older versions may have written the table too, and one odd row must not
stop the alert evaluator or blank a dashboard page. Plain mappings in and out: no SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slas.model import BurnRate, Evaluation, Severity, Status
from vitals.kernel.units import optional_float

__all__ = ["burn_rates_from_json", "evaluation_from_row", "evaluation_row"]

_STATUSES: tuple[Status, ...] = ("ok", "warning", "breach", "no-data")


def evaluation_row(ev: Evaluation) -> dict[str, Any]:
    """The ``sla_evaluations`` row (column -> value) of one evaluation."""
    return {
        "sla_id": ev.sla_id,
        "slice": ev.slice or "",
        "evaluated_at_unix_nano": ev.at_unix_nano,
        "status": ev.status,
        "priority": ev.priority,
        "domain": ev.domain,
        "owner": ev.owner,
        "title": ev.title,
        "kind": ev.kind,
        "window_s": ev.window_s,
        "window_label": ev.window_label,
        "objective": ev.objective,
        "good": ev.good,
        "total": ev.total,
        "sli": ev.sli,
        "budget_remaining": ev.budget_remaining,
        "time_to_exhaustion_s": ev.time_to_exhaustion_s,
        "at_risk_amount": ev.at_risk_amount,
        "burn_rates": [
            {
                "name": b.name,
                "long_window_s": b.long_window_s,
                "short_window_s": b.short_window_s,
                "threshold": b.threshold,
                "long_rate": b.long_rate,
                "short_rate": b.short_rate,
                "severity": b.severity,
                "firing": b.firing,
            }
            for b in ev.burn_rates
        ],
        "labels": ev.labels,
        "interface": ev.interface,
        "breach_started_unix_nano": ev.breach_started_unix_nano,
    }


def burn_rates_from_json(raw: Any) -> tuple[BurnRate, ...]:
    """Burn rates as stored: a list of BurnRate-shaped objects, or a mapping name -> object."""
    items: list[tuple[str, Any]] = []
    if isinstance(raw, Mapping):
        items = [(str(k), v) for k, v in raw.items()]
    elif isinstance(raw, list):
        items = [(str(v.get("name", i)) if isinstance(v, Mapping) else str(i), v) for i, v in enumerate(raw)]
    out = []
    for name, item in items:
        if not isinstance(item, Mapping):
            out.append(BurnRate(name, 0.0, 0.0, 0.0, optional_float(item), None, "ticket", False))
            continue
        severity: Severity = "page" if item.get("severity") == "page" else "ticket"
        out.append(
            BurnRate(
                name=str(item.get("name", name)),
                long_window_s=optional_float(item.get("long_window_s")) or 0.0,
                short_window_s=optional_float(item.get("short_window_s")) or 0.0,
                threshold=optional_float(item.get("threshold")) or 0.0,
                long_rate=optional_float(item.get("long_rate")),
                short_rate=optional_float(item.get("short_rate")),
                severity=severity,
                firing=bool(item.get("firing")),
            )
        )
    return tuple(out)


def evaluation_from_row(row: Mapping[Any, Any]) -> Evaluation:
    """An ``sla_evaluations`` row (column -> value, e.g. a SQLAlchemy ``RowMapping``) as an Evaluation."""
    labels = row["labels"] if isinstance(row["labels"], Mapping) else {}
    status = row["status"]
    return Evaluation(
        sla_id=row["sla_id"],
        slice=row["slice"] or None,
        at_unix_nano=int(row["evaluated_at_unix_nano"]),
        title=row["title"],
        domain=row["domain"],
        owner=row["owner"],
        priority=row["priority"],
        kind=row["kind"],
        window_s=float(row["window_s"]),
        window_label=row["window_label"],
        objective=float(row["objective"]),
        good=float(row["good"]),
        total=float(row["total"]),
        sli=optional_float(row["sli"]),
        budget_remaining=optional_float(row["budget_remaining"]),
        time_to_exhaustion_s=optional_float(row["time_to_exhaustion_s"]),
        burn_rates=burn_rates_from_json(row["burn_rates"]),
        status=status if status in _STATUSES else "no-data",
        at_risk_amount=optional_float(row["at_risk_amount"]),
        labels={str(k): str(v) for k, v in labels.items()},
        # Rows written before these columns existed (or by other writers) may lack them.
        interface=str(row["interface"]) if row.get("interface") else None,
        breach_started_unix_nano=_optional_int(row.get("breach_started_unix_nano")),
    )


def _optional_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
