"""From SLA evaluations to alert observations: labels, figures and the PHI guard.

An evaluation's slice labels come from telemetry attributes, so they are the one place where an
identifier could slip into an alert. Only allow-listed attribute names pass (facility, service
line, system, stage, queue, ...), their names are made Alertmanager-safe (``hc.facility`` ->
``hc_facility``) and any value that is not a short plain token, or that looks like an identifier
(long digit runs, SSN, phone, e-mail or date shapes), is replaced by a hash. Everything else in an
alert comes from the SLA file (id, title, owner, priority) or is a number.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from alerts.model import Figures, fingerprint
from slas.model import BurnRate, Evaluation

#: Slice attributes that may appear in alerts (their values still pass the value guard).
DEFAULT_LABEL_ALLOWLIST: tuple[str, ...] = (
    "hc.facility",
    "hc.service_line",
    "hc.system",
    "hc.stage",
    "hc.workflow",
    "hc.message.type",
    "hc.denial.code",
    "hc.supply.category",
    "queue",
    "broker",
    "service.name",
    "messaging.system",
    "messaging.destination.name",
)

#: Friendly aliases added next to the sanitised names, for routing and messages.
ALIASES = {"hc.facility": "facility", "hc.service_line": "service_line", "hc.system": "system"}

OBJECTIVE_TIER = "objective"

_SAFE_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:/^#+-]{0,63}$")
_HASHED_KEY = re.compile(r"^[0-9a-f]{16,64}$")
_IDENTIFIER_SHAPES = (
    re.compile(r"\d{6,}"),  # MRNs, account and member numbers
    re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),  # SSN
    re.compile(r"\(?\b\d{3}\)?[-. ]\d{3}[-. ]\d{4}\b"),  # phone
    re.compile(r"\b\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}\b"),  # dates (birth dates)
)
_LABEL_NAME = re.compile(r"[^a-zA-Z0-9_]")


def label_name(attribute: str) -> str:
    """An attribute name as an Alertmanager label name (``[a-zA-Z_][a-zA-Z0-9_]*``)."""
    name = _LABEL_NAME.sub("_", attribute)
    return name if name and not name[0].isdigit() else f"_{name}"


def hashed(value: str) -> str:
    return "h:" + hashlib.sha256(value.encode()).hexdigest()[:12]


def safe_value(name: str, value: str) -> str:
    """The value itself when it is a plain token, else its hash."""
    if name.startswith("hc.key.") and _HASHED_KEY.match(value):
        return value
    if not _SAFE_VALUE.match(value) or any(p.search(value) for p in _IDENTIFIER_SHAPES):
        return hashed(value)
    return value


def slice_labels(raw: Mapping[str, str], allowlist: Iterable[str]) -> tuple[dict[str, str], bool]:
    """Safe labels from an evaluation's slice attributes; the flag says whether all survived."""
    allowed = set(allowlist)
    out: dict[str, str] = {}
    intact = True
    for attribute, value in sorted(raw.items()):
        text = str(value)
        if attribute not in allowed:
            intact = False
            continue
        safe = safe_value(attribute, text)
        intact = intact and safe == text
        if not safe:
            continue
        out[label_name(attribute)] = safe
        if attribute in ALIASES:
            out.setdefault(ALIASES[attribute], safe)
    return out, intact


@dataclass(frozen=True)
class ObservationPolicy:
    objective_alerts: bool = True
    label_allowlist: tuple[str, ...] = DEFAULT_LABEL_ALLOWLIST


@dataclass(frozen=True)
class Observation:
    """What one evaluation says about one SLA slice's alert; ``active`` None means no data.

    ``tier`` and the ``severity`` label are those of the worst burn-rate tier firing now (a page
    tier before a ticket tier, then the fastest), or the objective tier (a ticket) when the budget
    is spent with no tier burning; both are empty while the condition is clear.
    """

    fingerprint: str  # from the raw slice, which is never stored or shown
    sla_id: str
    slice: str  # the safe slice label ("" for the SLA as a whole)
    tier: str
    labels: Mapping[str, str]
    figures: Figures
    active: bool | None
    at: float
    #: The first minute of the breach as the SLA engine's rollups show it (None: unknown).
    started_at: float | None = None


def _worst(burns: Iterable[BurnRate]) -> BurnRate | None:
    firing = [b for b in burns if b.firing and b.long_rate is not None]
    return max(firing, key=lambda b: (b.severity == "page", b.threshold), default=None)


def observations(evaluation: Evaluation, policy: ObservationPolicy) -> list[Observation]:
    """The one observation of an evaluation (a list, so a batch flattens with a comprehension)."""
    slice_raw = evaluation.slice or ""
    extra, intact = slice_labels(evaluation.labels, policy.label_allowlist)
    slice_label = slice_raw if intact else (hashed(slice_raw) if slice_raw else "")
    if slice_label and not intact:
        slice_label = "slice-" + slice_label[2:]
    interface = evaluation.interface or ""
    safe_interface = safe_value("interface", interface) if interface else evaluation.sla_id
    labels: dict[str, str] = {
        **extra,
        "alertname": evaluation.sla_id,
        "sla": evaluation.sla_id,
        "priority": evaluation.priority,
        "domain": evaluation.domain,
        "owner": evaluation.owner,
        "sli_kind": evaluation.kind,
        "interface": safe_interface,
    }
    if slice_label:
        labels["slice"] = slice_label
    at = evaluation.at_unix_nano / 1e9
    no_data = evaluation.status == "no-data" or evaluation.sli is None
    worst = _worst(evaluation.burn_rates)
    active: bool | None
    tier = severity = ""
    if no_data:
        active = None
    elif worst is not None:
        active, tier, severity = True, worst.name, worst.severity
    elif policy.objective_alerts and evaluation.sli is not None and evaluation.sli < evaluation.objective:
        # The budget is spent but nothing burns now (an incident that is over): a ticket, never
        # a page.
        active, tier, severity = True, OBJECTIVE_TIER, "ticket"
    else:
        active = False
    if tier:
        labels["tier"] = tier
        labels["severity"] = severity
    figures = Figures(
        title=evaluation.title,
        kind=evaluation.kind,
        objective=evaluation.objective,
        sli=evaluation.sli,
        good=evaluation.good,
        total=evaluation.total,
        window_label=evaluation.window_label,
        budget_remaining=evaluation.budget_remaining,
        time_to_exhaustion_s=evaluation.time_to_exhaustion_s,
        at_risk_amount=evaluation.at_risk_amount,
        burn_rate=worst.long_rate if worst is not None else None,
        burn_threshold=worst.threshold if worst is not None else None,
        evaluated_at=at,
    )
    breach = evaluation.breach_started_unix_nano
    return [
        Observation(
            fingerprint(evaluation.sla_id, slice_raw),
            evaluation.sla_id,
            slice_label,
            tier,
            labels,
            figures,
            active,
            at,
            started_at=breach / 1e9 if breach is not None and active else None,
        )
    ]
