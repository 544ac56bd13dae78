"""The scorecard's business figures, each against its target in the same terms and with a status.

Pure (no Streamlit, no SQL): query results in, figures out, so the words and statuses a CFO reads
are tested without a browser. Each figure follows one SLA file (its objective and deadline); a
rate of bad things (failed GL postings, denials, late charges) is compared with what the SLA
allows, ``100 % - objective``, never with the success objective itself. Money at risk has two
definitions on the page, each named next to its number: *deadline passed* (charges whose deadline
fell in the range and that were not posted by it: the SLA engine's bad events) and *now* (charges
not posted yet and older than a chosen age, late or not: what is stuck while it can still be fixed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dashboards import views
from dashboards.catalog import Catalog
from dashboards.queries.business import StageCounts
from slas import LagFigures
from slas.lag_history import OpenFigures

#: The ages a reader can choose for "at risk now" (seconds -> how the page writes them).
AGES: dict[int, str] = {15 * 60: "15 min", 3600: "1 h", 4 * 3600: "4 h", 12 * 3600: "12 h"}
DEFAULT_AGE_S = 3600
#: A rate is a warning once it uses this share of what its SLA allows (and a breach beyond it).
WARN_SHARE = 0.8
_EPSILON = 1e-12  # 1 - 0.995 is 0.0050000000000000044: 1 failure in 200 is on target


@dataclass(frozen=True)
class Figure:
    """One business figure: the number, the window it covers, its target in its own terms, status."""

    key: str
    label: str
    value: str
    window: str  # named next to the number ("last 24 hours", "now")
    status: str  # ok, warning, breach or no-data (as the SLA tiles)
    target: str  # in the figure's terms ("target ≤ 0.5% failed")
    detail: str  # how it was computed
    raw: float | None = None
    breakdown: dict[str, int] = field(default_factory=dict)
    sla_id: str | None = None


def age_text(seconds: float) -> str:
    return AGES.get(int(seconds), views.duration(seconds))


def _share(value: float) -> str:
    """A target share as the SLA file would write it: ``0.5%``, ``5%``, ``10%``."""
    return f"{value * 100:.3g}%"


def rate_status(bad: float | None, allowed: float | None) -> str:
    """A rate of bad things against the rate its SLA allows."""
    if bad is None or allowed is None:
        return "no-data"
    if bad > allowed + _EPSILON:
        return "breach"
    if bad > WARN_SHARE * allowed + _EPSILON:
        return "warning"
    return "ok"


def _allowed(catalog: Catalog, sla_id: str) -> float | None:
    spec = catalog.get(sla_id)
    return None if spec is None else 1.0 - spec.objective


def _rate_target(catalog: Catalog, sla_id: str, bad_word: str, good_words: str) -> str:
    """``target ≤ 0.5% failed (gl-posting-errors: 99.5% succeed over 1d)``."""
    spec = catalog.get(sla_id)
    if spec is None:
        return f"no SLA {sla_id!r} configured"
    return (
        f"target ≤ {_share(1.0 - spec.objective)} {bad_word} "
        f"({sla_id}: {_share(spec.objective)} {good_words} over {spec.window_label})"
    )


def _late_share(lag: LagFigures) -> float | None:
    return lag.late / lag.due if lag.due else None


def _lag_target(catalog: Catalog, lag: LagFigures, noun: str) -> str:
    return _rate_target(catalog, lag.sla_id, "late", f"{noun} within {views.duration(lag.within_s)}")


def _late_text(lag: LagFigures, noun: str) -> str:
    share = _late_share(lag)
    if share is None:
        return f"no {noun} due"
    return f"{views.pct(share)} of {lag.due:,} {noun} due were late"


def at_risk_now_status(stuck: OpenFigures) -> str:
    """Breach when stuck charges are already past their deadline, warning when some are stuck."""
    if stuck.past_deadline:
        return "breach"
    return "warning" if stuck.count else "ok"


def figures(
    catalog: Catalog,
    window: str,
    *,
    charge: LagFigures | None,
    late: LagFigures | None,
    gl: StageCounts,
    remits: StageCounts,
    implant: LagFigures | None,
    stuck: OpenFigures | None,
    stuck_when: str = "now",
) -> list[Figure]:
    """The business figures over ``window`` (the page's range, as its label writes it), and the
    charges stuck ``stuck_when`` (the end of the range: "now" on a live range)."""
    when = window.lower()
    out: list[Figure] = []
    stuck_text = ""
    if stuck is not None:
        age = age_text(stuck.older_than_s)
        stuck_text = f" · {views.count(stuck.count, 'charges')} not posted and older than {age} {stuck_when}"
    if charge is not None:
        allowed = _allowed(catalog, charge.sla_id)
        out.append(
            Figure(
                "charge_lag",
                "Charge lag (median)",
                views.duration(charge.median_s),
                when,
                rate_status(_late_share(charge), allowed),
                _lag_target(catalog, charge, "posted"),
                f"p95 {views.duration(charge.p95_s)} · {views.count(charge.completed, 'charges')} posted"
                f" · {_late_text(charge, 'charges')}{stuck_text} · procedure documented → charge posted",
                charge.median_s,
                sla_id=charge.sla_id,
            )
        )
    if late is not None:
        out.append(
            Figure(
                "late_charges",
                "Late charges",
                views.count(late.late, "charges"),
                when,
                rate_status(_late_share(late), _allowed(catalog, late.sla_id)),
                _lag_target(catalog, late, "posted"),
                f"{_late_text(late, 'charges')}: not posted within {views.duration(late.within_s)} "
                f"of the procedure · {late.open_late:,} still not posted",
                float(late.late),
                sla_id=late.sla_id,
            )
        )
    if charge is not None:
        within = views.duration(charge.within_s)
        out.append(
            Figure(
                "revenue_at_risk",
                "Revenue at risk: deadline passed",
                views.money(charge.late_amount),
                when,
                rate_status(_late_share(charge), _allowed(catalog, charge.sla_id)),
                _lag_target(catalog, charge, "posted"),
                f"in the {charge.late:,} charges not posted within {within}, their deadline in the "
                f"{when} · {views.money(charge.open_late_amount)} of it still not posted",
                charge.late_amount,
                sla_id=charge.sla_id,
            )
        )
    if stuck is not None:
        age = age_text(stuck.older_than_s)
        within = views.duration(stuck.within_s)
        out.append(
            Figure(
                "at_risk_now",
                "Revenue at risk now: stuck",
                views.money(stuck.amount),
                stuck_when,
                at_risk_now_status(stuck),
                f"charges older than {age} that are not posted, before or after their {within} deadline",
                f"in the {views.count(stuck.count, 'charges')} not posted and older than {age} {stuck_when}"
                f" · {views.count(stuck.past_deadline, 'charges')} "
                f"({views.money(stuck.past_deadline_amount)}) of them already past the {within} deadline, "
                "the rest not yet in 'deadline passed'",
                stuck.amount,
                sla_id=stuck.sla_id,
            )
        )
    out.append(
        Figure(
            "gl_error_rate",
            "GL posting error rate",
            views.pct(gl.error_rate),
            when,
            rate_status(gl.error_rate, _allowed(catalog, views.GL_SLA)),
            _rate_target(catalog, views.GL_SLA, "failed", "succeed"),
            f"{gl.errors:,} of {gl.count:,} postings failed",
            gl.error_rate,
            sla_id=views.GL_SLA,
        )
    )
    out.append(
        Figure(
            "denial_rate",
            "Initial denial rate",
            views.pct(remits.denial_rate),
            when,
            rate_status(remits.denial_rate, _allowed(catalog, views.DENIAL_SLA)),
            _rate_target(catalog, views.DENIAL_SLA, "denied", "not denied"),
            f"{remits.denied:,} of {remits.count:,} remits denied",
            remits.denial_rate,
            dict(remits.denials),
            sla_id=views.DENIAL_SLA,
        )
    )
    if implant is not None:
        out.append(
            Figure(
                "implant_sync_lag",
                "Implant inventory sync lag (median)",
                views.duration(implant.median_s),
                when,
                rate_status(_late_share(implant), _allowed(catalog, implant.sla_id)),
                _lag_target(catalog, implant, "synced"),
                f"p95 {views.duration(implant.p95_s)} · {views.count(implant.completed, 'implants')} synced"
                f" · {_late_text(implant, 'implants')}",
                implant.median_s,
                sla_id=implant.sla_id,
            )
        )
    return out
