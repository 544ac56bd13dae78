"""Links from alerts into the dashboard (SLA page, evidence, alert, silence form). Pure.

Templates (``dashboard:`` in alerts.yaml) may use ``{sla}``, ``{slice}``, ``{tier}``,
``{fingerprint}``, ``{since}`` (an hour before the alert fired), ``{until}`` (its resolution, or
empty) and ``{range}`` (the dashboard's range parameters covering the alert). Parameters that
come out empty are dropped from the URL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from alerts.config import DashboardLinks
from alerts.model import Alert

#: The evidence link starts this long before the alert fired, to show the lead-up.
EVIDENCE_LEAD_S = 3600.0
#: The dashboard's range presets (``range=``), shortest first.
PRESETS = (("1h", 3600.0), ("1d", 86400.0), ("7d", 7 * 86400.0), ("30d", 30 * 86400.0))


def time_range(alert: Alert) -> str:
    """The dashboard range that shows the alert: exact once resolved, else a preset covering it."""
    if alert.resolved_at is not None:
        start, end = alert.started_at - EVIDENCE_LEAD_S, alert.resolved_at + 900
        return f"range=custom&from={_iso(start)}&to={_iso(end)}"
    needed = max(alert.figures.evaluated_at, alert.started_at) - alert.started_at + EVIDENCE_LEAD_S
    preset = next((name for name, seconds in PRESETS if seconds >= needed), PRESETS[-1][0])
    return f"range={preset}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def links_for(dashboard: DashboardLinks, alert: Alert) -> dict[str, str]:
    if not dashboard.url:
        return {}
    base = dashboard.url.rstrip("/")
    values = {
        "sla": quote(alert.sla_id, safe=""),
        "slice": quote(alert.slice, safe=""),
        "tier": quote(alert.tier, safe=""),
        "fingerprint": alert.fingerprint,
        "since": _iso(alert.started_at - EVIDENCE_LEAD_S),
        "until": _iso(alert.resolved_at) if alert.resolved_at else "",
        "range": time_range(alert),
    }
    out = {}
    for name, template in (
        ("sla", dashboard.sla_path),
        ("evidence", dashboard.evidence_path),
        ("alert", dashboard.alert_path),
        ("silence", dashboard.silence_path),
    ):
        if template:
            out[name] = _without_empty_parameters(base + template.format(**values))
    return out


def _without_empty_parameters(url: str) -> str:
    """``?sla=x&slice=&until=`` -> ``?sla=x``: an SLA as a whole has no slice, an open alert no end."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if v]
    return urlunsplit(parts._replace(query=urlencode(query, safe=":")))
