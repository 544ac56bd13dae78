"""The scorecard's business figures, each against its target in the same terms and with a status.

Pure (no Streamlit, no SQL): query results in, figures out, so the words and statuses a CFO reads
are tested without a browser. Each figure follows one SLA file (its objective and deadline); a
rate of bad things (failed GL postings, denials, late charges) is compared with what the SLA
allows, ``100 % - objective``, never with the success objective itself. Money at risk has two
definitions on the page, each named next to its number: *deadline passed* (charges whose deadline
fell in the range and that were not posted by it: the SLA engine's bad events) and *now* (charges
not posted yet and older than a chosen age, late or not: what is stuck while it can still be fixed).
"At risk now" covers every lag SLA whose objects carry an amount (``hc.amount``), one figure per
kind of object: charges, and implants when their sync carries amounts. Thresholds are written as
the SLA file states them ("24 h", "15 min"), never re-computed into another unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dashboards import views
from dashboards.catalog import Catalog
from dashboards.queries.business import StageCounts
from dashboards.thresholds import threshold_text
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


#: How an age is written in the URL (``age=1h``): the SLA files' duration grammar.
AGE_PARAMS: dict[int, str] = {15 * 60: "15m", 3600: "1h", 4 * 3600: "4h", 12 * 3600: "12h"}


def age_from_param(value: str | None) -> int:
    """The age a URL's ``age=`` asks for (``15m``, ``1h``, ``4h``, ``12h``); the default otherwise."""
    by_text = {text: seconds for seconds, text in AGE_PARAMS.items()}
    return by_text.get((value or "").strip(), DEFAULT_AGE_S)


def object_noun(catalog: Catalog, sla_id: str) -> str:
    """What a lag SLA's objects are, in the plural: its correlation key's name (``charges``)."""
    pair = catalog.lag_pair(sla_id)
    key = pair.key if pair is not None else "object"
    return key if key.endswith("s") else f"{key}s"


def at_risk_label(kind: str) -> str:
    """The one wording of an SLA's money in its bad events, on the tiles and the SLA page."""
    return "Revenue at risk: deadline passed" if kind == "lag" else "Money at risk: in bad events"


def at_risk_window(window_label: str) -> str:
    """The window named next to an SLA's money at risk: the SLA's own, not the page's range."""
    return f"over the SLA's {window_label}"


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
    return _rate_target(catalog, lag.sla_id, "late", f"{noun} within {threshold_text(lag.within_s)}")


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


def at_risk_now(catalog: Catalog, stuck: OpenFigures, when: str = "now", *, first: bool = True) -> Figure:
    """Money in one lag SLA's objects not finished ``when`` and older than the chosen age.

    The charge SLA's figure is "Revenue at risk now: stuck"; another lag SLA's names its objects
    ("Revenue at risk now: stuck implants") and its key says which SLA it follows.
    """
    age = age_text(stuck.older_than_s)
    within = threshold_text(stuck.within_s)
    nouns = object_noun(catalog, stuck.sla_id)
    done = "posted" if nouns == "charges" else "finished"
    label = "Revenue at risk now: stuck" + ("" if first else f" {nouns}")
    return Figure(
        "at_risk_now" if first else f"at_risk_now-{stuck.sla_id}",
        label,
        views.money(stuck.amount),
        when,
        at_risk_now_status(stuck),
        f"{nouns} older than {age} that are not {done}, before or after their {within} deadline "
        f"({stuck.sla_id})",
        f"in the {views.count(stuck.count, nouns)} not {done} and older than {age} {when}"
        f" · {views.count(stuck.past_deadline, nouns)} "
        f"({views.money(stuck.past_deadline_amount)}) of them already past the {within} deadline, "
        "the rest not yet in 'deadline passed'",
        stuck.amount,
        sla_id=stuck.sla_id,
    )


def figures(
    catalog: Catalog,
    window: str,
    *,
    charge: LagFigures | None,
    late: LagFigures | None,
    gl: StageCounts,
    remits: StageCounts,
    implant: LagFigures | None,
    stuck: OpenFigures | Sequence[OpenFigures] | None,
    stuck_when: str = "now",
) -> list[Figure]:
    """The business figures over ``window`` (the page's range, as its label writes it), and the
    objects stuck ``stuck_when`` (the end of the range: "now" on a live range), one "at risk now"
    figure per lag SLA given in ``stuck`` (the charge SLA's first)."""
    when = window.lower()
    out: list[Figure] = []
    stucks = [] if stuck is None else [stuck] if isinstance(stuck, OpenFigures) else list(stuck)
    charge_stuck = next((s for s in stucks if charge is None or s.sla_id == charge.sla_id), None)
    stuck_text = ""
    if charge_stuck is not None:
        age = age_text(charge_stuck.older_than_s)
        stuck_text = (
            f" · {views.count(charge_stuck.count, 'charges')} not posted and older than {age} {stuck_when}"
        )
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
                f"{_late_text(late, 'charges')}: not posted within {threshold_text(late.within_s)} "
                f"of the procedure · {late.open_late:,} still not posted",
                float(late.late),
                sla_id=late.sla_id,
            )
        )
    if charge is not None:
        within = threshold_text(charge.within_s)
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
    for figures_now in stucks:
        out.append(at_risk_now(catalog, figures_now, stuck_when, first=figures_now is charge_stuck))
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
