"""A small, exactly known health-system estate for the dashboard's tests.

Built with ``tests.support.factories`` (the rows the collector writes) relative to a ``now`` so
the "last day" views contain it, and keeps its own ground truth so tests compare what pages show
with numbers computed here by plain Python, never with numbers read back from the dashboard.
"""

from __future__ import annotations

import hashlib
import random
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.engine import Engine

from dashboards.folds.edges import EdgeTiming
from slas import evaluation_rows
from slas.model import BurnRate, Evaluation
from slas.tables import sla_evaluations
from tests.support.factories import insert_metric_points, insert_spans, metric_row, span_row
from vitals.kernel.units import NS

FACILITIES = ("north-campus", "south-campus", "lakeside-asc")
SERVICE_LINES = ("cardiology", "orthopedics", "general-surgery", "emergency", "oncology", "imaging")
#: Hours from procedure to posting, cycled over the charges; None = never posted.
CHARGE_LAGS_H: tuple[float | None, ...] = (0.5, 1, 2, 3, 5, 8, 12, 20, 30, None)
CHARGE_WITHIN_S = 24 * 3600

SLA_FILE = """\
slas:
  - id: charge-lag
    title: Charges post within 24 h of the procedure
    domain: revenue-cycle
    owner: revenue-integrity
    priority: P2
    objective: 95%
    window: 7d
    slice_by: [hc.facility]
    sli:
      lag:
        from: {stage: procedure.documented}
        to: {stage: charge.posted}
        key: charge
        within: 24h
  - id: gl-posting-errors
    title: GL postings succeed
    domain: finance
    owner: erp-integration
    priority: P1
    objective: 99.5%
    window: 1d
    sli:
      ratio:
        total: {span: erp.gl.post}
        bad: {status: error}
  - id: adt-interface-silence
    title: ADT admissions keep arriving
    domain: clinical-operations
    owner: integration-oncall
    priority: P1
    objective: 99%
    window: 1d
    slice_by: [hc.facility]
    sli:
      freshness:
        select: {stage: encounter.admitted}
        max_age: 15m
  - id: initial-denial-rate
    title: Initial denials stay low
    domain: revenue-cycle
    owner: revenue-cycle
    priority: P3
    objective: 90%
    window: 7d
    sli:
      ratio:
        total: {stage: remit.received}
        bad: {attributes: {hc.denial.code: "*"}}
  - id: implant-inventory-sync-lag
    title: Implants leave inventory within 15 min
    domain: supply-chain
    owner: supply-integration
    priority: P2
    objective: 95%
    window: 7d
    sli:
      lag:
        from: {stage: supply.consumed, attributes: {hc.supply.category: implant}}
        to: {stage: inventory.adjusted}
        key: item
        within: 15m
  - id: queue-backlog-age
    title: Charge queue oldest message under 30 min
    domain: integration
    owner: integration-oncall
    priority: P2
    objective: 99%
    window: 1d
    sli:
      gauge:
        metric: queue.oldest_age_seconds
        where: {queue: charges-outbound}
        max: 1800
  - id: eligibility-latency
    title: Eligibility checks answer within 2 s
    domain: revenue-cycle
    owner: patient-access
    priority: P3
    objective: 99%
    window: 7d
    sli:
      latency:
        select: {span: payer.eligibility.check, service: payer-gateway}
        under: 2s
"""


#: Queue-hop key joins made at once: the estate's spans all "arrived" at ``now``, and tests fold
#: right away rather than waiting out the settle time a live refresher gives late producers. The
#: estate's charges wait in charges-outbound up to 30 h (a backed-up interface), beyond the
#: default look-back of a key join.
SETTLED = EdgeTiming(settle_s=0, key_window_s=2 * 86400)


def key_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Charge:
    key: str
    documented_s: float
    posted_s: float | None
    amount: float
    facility: str
    service_line: str
    doc_trace: str = ""


@dataclass
class Estate:
    now_s: float
    charges: list[Charge] = field(default_factory=list)
    gl_total: int = 0
    gl_errors: int = 0
    gl_messages: Counter[str] = field(default_factory=Counter)
    remits: list[tuple[float, str | None, str]] = field(default_factory=list)  # (time, code, facility)
    implant_lags_s: list[float] = field(default_factory=list)
    spans_written: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    adt_last_s: dict[str, float] = field(default_factory=dict)
    queue_depth_last: dict[str, float] = field(default_factory=dict)
    trace_with_hop: str = ""
    evaluations: list[dict[str, Any]] = field(default_factory=list)

    # ---- ground truth, computed by plain Python
    def charge_lags_posted_between(self, lo_s: float, hi_s: float) -> list[float]:
        return sorted(
            c.posted_s - c.documented_s
            for c in self.charges
            if c.posted_s is not None and lo_s <= c.posted_s < hi_s
        )

    def spans_started_between(self, lo_s: float, hi_s: float) -> list[dict[str, Any]]:
        return [r for r in self.rows if lo_s * NS <= r["start_time_unix_nano"] < hi_s * NS]

    def late_charges(self, lo_s: float, hi_s: float) -> list[Charge]:
        """Charges whose 24 h deadline fell in [lo, hi) and that were not posted by it."""
        out = []
        for c in self.charges:
            deadline = c.documented_s + CHARGE_WITHIN_S
            due = lo_s <= deadline < hi_s and deadline <= self.now_s
            if due and (c.posted_s is None or c.posted_s > deadline):
                out.append(c)
        return out


def median_p95(values: list[float]) -> tuple[float, float]:
    """Nearest-rank p95 and the ordinary median, as the dashboard documents them."""
    ordered = sorted(values)
    rank = max(1, -(-95 * len(ordered) // 100))
    return statistics.median(ordered), ordered[rank - 1]


def write_config(config_dir: Path) -> Path:
    (config_dir / "slas").mkdir(parents=True, exist_ok=True)
    (config_dir / "slas" / "starter.yaml").write_text(SLA_FILE)
    return config_dir


#: The estate's "now", never the wall clock, so every test sees the same estate at any hour:
#: Wednesday 2026-03-11, 09:00 in Chicago (a working morning with a full working day behind it;
#: the 06:00-22:00 UTC intervals of the tests' SLAs are open).
NOW_S = datetime(2026, 3, 11, 14, 0, tzinfo=UTC).timestamp()
#: The ids of the estate's spans come from a generator with this seed: the same rows every run.
SEED = 7
#: Pages open this long after the estate's now (``VITALS_DASHBOARD_NOW``, see ``page_now``), as
#: a page would just after the estate was written: a charge posted exactly at the estate's now is
#: then never in the page's future (pages snap their now down to 5 s).
SETTLE_S = 10
PAGE_NOW_S = NOW_S + SETTLE_S


def page_now(now_s: float = PAGE_NOW_S) -> str:
    """``now_s`` as ``VITALS_DASHBOARD_NOW`` (ISO 8601 UTC) pins it for a dashboard page."""
    return datetime.fromtimestamp(now_s, UTC).isoformat()


def build(engine: Engine, now_s: float = NOW_S, *, seed: int = SEED) -> Estate:
    now_s = float(int(now_s) // 60 * 60)
    est = Estate(now_s=now_s)
    ids = random.Random(seed)
    rows: list[dict[str, Any]] = []

    # Charges: procedure documented (EHR) -> DFT^P03 published by the engine -> posted in billing.
    for i in range(40):
        documented = now_s - 2 * 3600 - i * 45 * 60
        lag_h = CHARGE_LAGS_H[i % len(CHARGE_LAGS_H)]
        posted = documented + lag_h * 3600 if lag_h is not None else None
        if posted is not None and posted > now_s:
            posted = None
        charge = Charge(
            key=key_hash(f"charge-{i}"),
            documented_s=documented,
            posted_s=posted,
            amount=100.0 + 25 * i,
            facility=FACILITIES[i % 3],
            service_line=SERVICE_LINES[i % 6],
        )
        common = {
            "hc.key.charge": charge.key,
            "hc.facility": charge.facility,
            "hc.service_line": charge.service_line,
            "hc.workflow": "patient-to-cash",
        }
        doc = span_row(
            ids=ids,
            name="ehr.procedure.document",
            service="ehr",
            start_s=documented,
            kind="server",
            attributes={
                **common,
                "hc.stage": "procedure.documented",
                "hc.system": "ehr",
                "hc.amount": charge.amount,
            },
        )
        charge.doc_trace = doc["trace_id"]
        producer = span_row(
            ids=ids,
            name="HL7 DFT^P03 send",
            service="integration-engine",
            start_s=documented + 60,
            kind="producer",
            attributes={
                **common,
                "hc.stage": "charge.sent",
                "hc.message.type": "DFT^P03",
                "hc.amount": charge.amount,
                "messaging.destination.name": "charges-outbound",
                "messaging.system": "rabbitmq",
            },
        )
        rows += [doc, producer]
        if posted is not None:
            consumer = span_row(
                ids=ids,
                name="billing.charge.post",
                service="billing",
                start_s=posted,
                duration_s=0.2,
                kind="consumer",
                attributes={
                    **common,
                    "hc.stage": "charge.posted",
                    "hc.amount": charge.amount,
                    "messaging.destination.name": "charges-outbound",
                },
            )
            if i % 2 == 0:  # half joined by a span link, half only by the shared charge key
                consumer["links"] = orjson.dumps(
                    [{"trace_id": producer["trace_id"], "span_id": producer["span_id"]}]
                ).decode()
            rows.append(consumer)
        est.charges.append(charge)

    # GL postings: billing exports (client) -> ERP posts (server); every 10th fails.
    for i in range(60):
        at = now_s - 600 - i * 20 * 60
        failed = i % 10 == 3
        message = ("GL period closed" if i % 20 == 3 else "timeout posting journal") if failed else None
        parent = span_row(
            ids=ids, name="billing.gl.export", service="billing", start_s=at, duration_s=0.5, kind="client"
        )
        child = span_row(
            ids=ids,
            name="erp.gl.post",
            service="erp-finance",
            start_s=at + 0.01,
            duration_s=0.3,
            kind="server",
            status="error" if failed else "ok",
            trace_id=parent["trace_id"],
            parent_span_id=parent["span_id"],
            attributes={"hc.stage": "gl.posted", "hc.system": "erp", "hc.facility": FACILITIES[i % 3]},
        )
        child["status_message"] = message
        rows += [parent, child]
        est.gl_total += 1
        est.gl_errors += int(failed)
        if message:
            est.gl_messages[message] += 1
    est.trace_with_hop = rows[-2]["trace_id"]

    # Remits with CARC denial codes.
    codes = ["CO-16", None, "CO-97", None, None, "CO-16", None, "CO-45", None, None]
    for i in range(30):
        at = now_s - 900 - i * 30 * 60
        code = codes[i % len(codes)]
        facility = FACILITIES[i % 3]
        attrs: dict[str, Any] = {
            "hc.stage": "remit.received",
            "hc.message.type": "X12-835",
            "hc.facility": facility,
            "hc.key.claim": key_hash(f"claim-{i}"),
            "hc.amount": 500.0 + i,
        }
        if code:
            attrs["hc.denial.code"] = code
        rows.append(
            span_row(
                ids=ids, name="payer.remit.receive", service="clearinghouse", start_s=at, attributes=attrs
            )
        )
        est.remits.append((at, code, facility))

    # Implant consumption -> inventory decrement (and non-implant supplies that are not tracked).
    for i in range(13):
        consumed = now_s - 3 * 3600 - i * 40 * 60
        category = "implant" if i < 10 else "disposable"
        lag_s = 5 * 60 + i * 5 * 60
        item = key_hash(f"item-{i}")
        rows.append(
            span_row(
                ids=ids,
                name="ehr.supply.consume",
                service="ehr",
                start_s=consumed,
                attributes={
                    "hc.stage": "supply.consumed",
                    "hc.key.item": item,
                    "hc.supply.category": category,
                    "hc.facility": FACILITIES[i % 3],
                },
            )
        )
        rows.append(
            span_row(
                ids=ids,
                name="erp.inventory.adjust",
                service="erp-supply",
                start_s=consumed + lag_s,
                attributes={"hc.stage": "inventory.adjusted", "hc.key.item": item},
            )
        )
        if category == "implant":
            est.implant_lags_s.append(lag_s)

    # ADT feed through the engine, every 10 minutes for 6 hours; south-campus silent for 90 min.
    for facility in FACILITIES:
        for step in range(36):
            at = now_s - 60 - step * 600
            if facility == "south-campus" and at > now_s - 90 * 60:
                continue
            rows.append(
                span_row(
                    ids=ids,
                    name="HL7 ADT^A01 process",
                    service="integration-engine",
                    start_s=at,
                    kind="consumer",
                    attributes={
                        "hc.stage": "encounter.admitted",
                        "hc.message.type": "ADT^A01",
                        "hc.facility": facility,
                        "messaging.destination.name": "adt-inbound",
                        "messaging.system": "rabbitmq",
                        "messaging.operation.type": "process",
                    },
                )
            )
            est.adt_last_s[facility] = max(est.adt_last_s.get(facility, 0.0), at)

    # Eligibility checks: billing (client) -> payer gateway (server), one slow.
    for i in range(12):
        at = now_s - 1800 - i * 300
        client = span_row(
            ids=ids,
            name="payer.eligibility.check",
            service="billing",
            start_s=at,
            duration_s=0.4,
            kind="client",
        )
        server = span_row(
            ids=ids,
            name="payer.eligibility.check",
            service="payer-gateway",
            start_s=at + 0.01,
            duration_s=3.5 if i == 4 else 0.3,
            kind="server",
            trace_id=client["trace_id"],
            parent_span_id=client["span_id"],
            attributes={"hc.stage": "eligibility.checked", "hc.message.type": "X12-270"},
        )
        rows += [client, server]

    for row in rows:  # a live collector: everything arrived just now
        row["received_at_unix_nano"] = int(now_s * NS)
    est.spans_written = insert_spans(engine, rows)
    est.rows = rows

    # Queue gauges every minute for 3 hours; the charge queue backs up in the last 30 minutes.
    points = []
    for minute in range(180):
        at = now_s - 30 - minute * 60  # half past: never on the edge of a range ending now
        for queue in ("charges-outbound", "adt-inbound"):
            backing_up = queue == "charges-outbound" and minute < 30
            depth = float(200 - minute * 6 if backing_up else 5 + minute % 3)
            age = float((40 - minute) * 60 if backing_up else 20)
            labels = {"queue": queue, "broker": "rabbitmq", "hc.system": "engine"}
            points.append(metric_row(name="queue.depth", value=depth, time_s=at, attributes=labels))
            points.append(
                metric_row(name="queue.oldest_age_seconds", value=age, time_s=at, attributes=labels)
            )
            if minute == 0:
                est.queue_depth_last[queue] = depth
    insert_metric_points(engine, points)

    write_evaluations(engine, est)
    return est


#: (sla id, kind, domain, priority, objective, window, latest status, sli now)
_SLAS = (
    ("charge-lag", "lag", "revenue-cycle", "P2", 0.95, "7d", "warning", 0.935),
    ("gl-posting-errors", "ratio", "finance", "P1", 0.995, "1d", "breach", 0.9),
    ("adt-interface-silence", "freshness", "clinical-operations", "P1", 0.99, "1d", "breach", 0.97),
    ("initial-denial-rate", "ratio", "revenue-cycle", "P3", 0.90, "7d", "ok", 0.9667),
    ("implant-inventory-sync-lag", "lag", "supply-chain", "P2", 0.95, "7d", "ok", 0.99),
    ("queue-backlog-age", "gauge", "integration", "P2", 0.99, "1d", "ok", 0.995),
    ("eligibility-latency", "latency", "revenue-cycle", "P3", 0.99, "7d", "no-data", None),
)


def evaluation_row(
    sla_id: str,
    at_s: float,
    *,
    kind: str,
    domain: str,
    priority: str,
    objective: float,
    window: str,
    status: str,
    sli: float | None,
    slice_: str = "",
    at_risk: float | None = None,
) -> dict[str, Any]:
    """The row the SLA engine would write (through its own ``evaluation_row``) for these figures."""
    window_s = {"1d": 86400.0, "7d": 7 * 86400.0}[window]
    burn_rate = None if sli is None else (1 - sli) / (1 - objective)
    burn = (
        BurnRate(
            name="1h/5m",
            long_window_s=3600.0,
            short_window_s=300.0,
            threshold=14.4,
            long_rate=burn_rate,
            short_rate=None if burn_rate is None else burn_rate * 1.1,
            severity="page",
            firing=status == "breach",
        ),
        BurnRate(
            name="6h/30m",
            long_window_s=21600.0,
            short_window_s=1800.0,
            threshold=6.0,
            long_rate=None if burn_rate is None else burn_rate * 0.8,
            short_rate=None if burn_rate is None else burn_rate * 0.9,
            severity="page",
            firing=False,
        ),
    )
    total = 0.0 if sli is None else 200.0
    return evaluation_rows.evaluation_row(
        Evaluation(
            sla_id=sla_id,
            slice=slice_ or None,
            at_unix_nano=int(at_s * NS),
            status=status,  # type: ignore[arg-type]
            priority=priority,  # type: ignore[arg-type]
            domain=domain,
            owner="owner-" + sla_id,
            title=sla_id.replace("-", " ").capitalize(),
            kind=kind,
            window_s=window_s,
            window_label=window,
            objective=objective,
            good=0.0 if sli is None else round(total * sli, 3),
            total=total,
            sli=sli,
            budget_remaining=None if sli is None else 1 - (1 - sli) / (1 - objective),
            time_to_exhaustion_s=7200.0 if status == "breach" else None,
            burn_rates=burn,
            at_risk_amount=at_risk,
            labels={} if not slice_ else dict([slice_.split("=", 1)]),
        )
    )


def write_evaluations(engine: Engine, est: Estate) -> None:
    """What the SLA engine would have written: one evaluation every 10 minutes for a day."""
    rows = []
    for step in range(144, -1, -1):
        at = est.now_s - step * 600
        for sla_id, kind, domain, priority, objective, window, status, sli in _SLAS:
            drift = step * 0.0002
            value = None if sli is None else min(1.0, sli + drift)
            latest = step == 0
            rows.append(
                evaluation_row(
                    sla_id,
                    at,
                    kind=kind,
                    domain=domain,
                    priority=priority,
                    objective=objective,
                    window=window,
                    status=status if latest else ("ok" if sli is not None else "no-data"),
                    sli=value,
                    at_risk=1234.5 if sla_id == "charge-lag" else None,
                )
            )
            if sla_id in ("adt-interface-silence", "charge-lag"):
                for facility in FACILITIES:
                    bad = latest and facility == "south-campus" and sla_id == "adt-interface-silence"
                    rows.append(
                        evaluation_row(
                            sla_id,
                            at,
                            kind=kind,
                            domain=domain,
                            priority=priority,
                            objective=objective,
                            window=window,
                            status="breach" if bad else "ok",
                            sli=0.9 if bad else 0.999,
                            slice_=f"hc.facility={facility}",
                        )
                    )
    with engine.begin() as conn:
        conn.execute(sla_evaluations.insert(), rows)
    est.evaluations = rows
