"""The benchmark's synthetic store: the demo estate's shape at ~333k spans a day, written fast.

Rows go straight into the tables (executemany on SQLite, COPY on PostgreSQL) with correlation
keys, queue samples every minute and SLA evaluations every 30 s: the OTLP path is the
collector's benchmark, this one measures the dashboard over a store of a given size.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from collector.rows import METRIC_COLUMNS, SPAN_COLUMNS, SPAN_KEY_COLUMNS, SPAN_LIFTED_ATTRIBUTES
from vitals.kernel.units import NS

_LIFTED = tuple(SPAN_LIFTED_ATTRIBUTES.values())  # the hc_* and messaging columns
SPANS_PER_DAY = 333_000
FACILITIES = ("north-campus", "south-campus", "lakeside-asc")
LINES = ("cardiology", "orthopedics", "general-surgery", "emergency", "oncology", "imaging")
QUEUES = ("adt-inbound", "charges-outbound", "claims-outbound", "gl-postings", "inventory-sync")
DENIALS = ("CO-16", "CO-97", "CO-45", "CO-50", "CO-197")

SLA_FILE = """\
slas:
  - {id: charge-lag, title: Charges post within 24 h, domain: revenue-cycle, owner: revenue-integrity,
     priority: P2, objective: 95%, window: 7d, slice_by: [hc.facility],
     sli: {lag: {from: {stage: procedure.documented}, to: {stage: charge.posted, status: ok}, key: charge,
                 within: 24h}}}
  - {id: late-charges, title: Late charges under 2%, domain: revenue-cycle, owner: revenue-integrity,
     priority: P3, objective: 98%, window: {calendar: month}, slice_by: [hc.facility],
     sli: {lag: {from: {stage: procedure.documented}, to: {stage: charge.posted, status: ok}, key: charge,
                 within: 72h}}}
  - {id: gl-posting-errors, title: GL postings succeed, domain: finance, owner: erp-integration, priority: P1,
     objective: 99.5%, window: 1d, sli: {ratio: {total: {span: erp.gl.post}, bad: {status: error}}}}
  - {id: adt-interface-silence, title: ADT admissions keep arriving, domain: clinical-operations,
     owner: integration-oncall, priority: P1, objective: 99%, window: 7d, slice_by: [hc.facility],
     sli: {freshness: {select: {stage: encounter.admitted}, max_age: 15m, expect: history,
                       history: {weeks: 4, min_expected: 3}}}}
  - {id: initial-denial-rate, title: Initial denials under 10%, domain: revenue-cycle, owner: pfs,
     priority: P2, objective: 90%, window: 7d,
     sli: {ratio: {total: {stage: remit.received}, bad: {attributes: {hc.denial.code: "*"}}}}}
  - {id: implant-inventory-sync-lag, title: Implants leave inventory within 15 min, domain: supply-chain,
     owner: supply-integration, priority: P2, objective: 95%, window: 7d,
     sli: {lag: {from: {stage: supply.consumed, attributes: {hc.supply.category: implant}},
                 to: {stage: inventory.adjusted}, key: item, within: 15m}}}
  - {id: queue-backlog-age, title: No queue's oldest message over 30 min, domain: integration,
     owner: integration-oncall, priority: P2, objective: 99%, window: 7d, slice_by: [queue],
     sli: {gauge: {metric: queue.oldest_age_seconds, max: 1800}}}
  - {id: eligibility-latency, title: Eligibility answers within 2 s, domain: revenue-cycle, owner: access,
     priority: P3, objective: 99%, window: 7d,
     sli: {latency: {select: {span: payer.eligibility.check, service: payer-gateway}, under: 2s}}}
  - {id: claim-ack-999, title: Claims acknowledged within 2 h, domain: revenue-cycle, owner: pfs,
     priority: P3, objective: 99.5%, window: 7d,
     sli: {lag: {from: {stage: claim.submitted}, to: {stage: claim.acknowledged}, key: claim, within: 2h}}}
  - {id: queue-stuck, title: No stuck queue, domain: integration, owner: integration-oncall, priority: P1,
     objective: 99.9%, window: 1d, sli: {gauge: {metric: queue.stuck, max: 0}}}
"""


# --------------------------------------------------------------------------- the synthetic store


class _Ids:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.count = 0

    def trace(self, at_ns: int) -> str:
        # Time first (as many tracers do), so the unique index grows at its end.
        return f"{at_ns // 1000:014x}{self.rng.getrandbits(72):018x}"

    def span(self) -> str:
        self.count += 1
        return f"{self.count:016x}"


@dataclass
class _Out:
    spans: list[tuple[Any, ...]]
    keys: list[tuple[Any, ...]]


def _span(
    out: _Out,
    ids: _Ids,
    *,
    trace: str,
    name: str,
    service: str,
    kind: str,
    start: int,
    duration: int,
    attrs: dict[str, Any],
    parent: str | None = None,
    error: str | None = None,
    links: str | None = None,
) -> str:
    span_id = ids.span()
    end = start + duration
    out.spans.append(
        (
            trace,
            span_id,
            parent,
            name,
            service,
            kind,
            start,
            end,
            duration,
            start,
            "error" if error else "unset",
            error,
            orjson.dumps(attrs).decode(),
            '{"service.name":"' + service + '"}',
            None,
            links,
            None,
            *map(attrs.get, _LIFTED),
            end,
        )
    )
    for key, value in attrs.items():
        if key.startswith("hc.key."):
            out.keys.append((key[7:], value, trace, span_id, attrs.get("hc.stage"), start))
    return span_id


def _key(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def generate(seed: int, start_ns: int, total: int) -> Iterator[_Out]:
    """Time-ordered chunks of span and key rows, about ``SPANS_PER_DAY`` a day, ``total`` in all."""
    rng = random.Random(seed)
    ids = _Ids(rng)
    minute_ns = 60 * NS
    per_minute = SPANS_PER_DAY / 1440
    made = 0
    at = start_ns
    while made < total:
        out = _Out([], [])
        for _ in range(60):  # an hour per chunk
            budget = rng.gauss(per_minute, per_minute * 0.1)
            before = len(out.spans)
            while len(out.spans) - before < budget and made + len(out.spans) < total:
                _object(out, ids, rng, at + rng.randrange(minute_ns))
            at += minute_ns
            if made + len(out.spans) >= total:
                break
        made += len(out.spans)
        yield out


def _object(out: _Out, ids: _Ids, rng: random.Random, t: int) -> None:
    facility = FACILITIES[rng.randrange(3)]
    line = LINES[rng.randrange(6)]
    pick = rng.random()
    base = {"hc.facility": facility, "hc.service_line": line}
    if pick < 0.036:  # a charge: documented -> DFT^P03 published -> posted (lag long-tailed)
        key = _key(rng)
        amount = round(rng.lognormvariate(6.5, 1.0), 2)
        common = {**base, "hc.key.charge": key, "hc.workflow": "patient-to-cash", "hc.amount": amount}
        trace = ids.trace(t)
        _span(
            out,
            ids,
            trace=trace,
            name="ehr.procedure.document",
            service="ehr",
            kind="server",
            start=t,
            duration=20_000_000,
            attrs={**common, "hc.stage": "procedure.documented"},
        )
        t2 = t + 60 * NS
        pt = ids.trace(t2)
        producer = _span(
            out,
            ids,
            trace=pt,
            name="HL7 DFT^P03 send",
            service="integration-engine",
            kind="producer",
            start=t2,
            duration=5_000_000,
            attrs={
                **common,
                "hc.stage": "charge.sent",
                "hc.message.type": "DFT^P03",
                "messaging.destination.name": "charges-outbound",
            },
        )
        lag = rng.expovariate(1 / 3600) if rng.random() < 0.95 else rng.uniform(20, 120) * 3600
        if rng.random() < 0.985:
            t3 = t2 + int(lag * NS)
            _span(
                out,
                ids,
                trace=ids.trace(t3),
                name="billing.charge.post",
                service="billing",
                kind="consumer",
                start=t3,
                duration=80_000_000,
                attrs={
                    **common,
                    "hc.stage": "charge.posted",
                    "messaging.destination.name": "charges-outbound",
                },
                links=f'[{{"trace_id":"{pt}","span_id":"{producer}"}}]',
            )
    elif pick < 0.096:  # GL posting: billing client -> ERP server, 0.4% fail
        trace = ids.trace(t)
        parent = _span(
            out,
            ids,
            trace=trace,
            name="billing.gl.export",
            service="billing",
            kind="client",
            start=t,
            duration=150_000_000,
            attrs=base,
        )
        failed = rng.random() < 0.004
        _span(
            out,
            ids,
            trace=trace,
            name="erp.gl.post",
            service="erp-finance",
            kind="server",
            start=t + 1_000_000,
            duration=120_000_000,
            parent=parent,
            error=("GL period closed" if failed else None),
            attrs={**base, "hc.stage": "gl.posted", "hc.system": "erp"},
        )
    elif pick < 0.126:  # remit with CARC denials
        attrs: dict[str, Any] = {
            **base,
            "hc.stage": "remit.received",
            "hc.message.type": "X12-835",
            "hc.key.claim": _key(rng),
            "hc.amount": round(rng.uniform(50, 5000), 2),
        }
        if rng.random() < 0.055:
            attrs["hc.denial.code"] = DENIALS[rng.randrange(5)]
        _span(
            out,
            ids,
            trace=ids.trace(t),
            name="payer.remit.receive",
            service="clearinghouse",
            kind="internal",
            start=t,
            duration=30_000_000,
            attrs=attrs,
        )
    elif pick < 0.156:  # claim submitted -> 999 acknowledged
        key = _key(rng)
        _span(
            out,
            ids,
            trace=ids.trace(t),
            name="clearinghouse.claim.submit",
            service="clearinghouse",
            kind="client",
            start=t,
            duration=200_000_000,
            attrs={**base, "hc.stage": "claim.submitted", "hc.key.claim": key, "hc.message.type": "X12-837"},
        )
        t2 = t + int(rng.expovariate(1 / 900) * NS)
        _span(
            out,
            ids,
            trace=ids.trace(t2),
            name="clearinghouse.ack.999",
            service="clearinghouse",
            kind="internal",
            start=t2,
            duration=10_000_000,
            attrs={
                **base,
                "hc.stage": "claim.acknowledged",
                "hc.key.claim": key,
                "hc.message.type": "X12-999",
            },
        )
    elif pick < 0.159:  # implant consumed -> inventory adjusted
        key = _key(rng)
        _span(
            out,
            ids,
            trace=ids.trace(t),
            name="ehr.supply.consume",
            service="ehr",
            kind="internal",
            start=t,
            duration=10_000_000,
            attrs={
                **base,
                "hc.stage": "supply.consumed",
                "hc.key.item": key,
                "hc.supply.category": "implant",
            },
        )
        t2 = t + int(rng.expovariate(1 / 300) * NS)
        _span(
            out,
            ids,
            trace=ids.trace(t2),
            name="erp.inventory.adjust",
            service="erp-supply",
            kind="internal",
            start=t2,
            duration=40_000_000,
            attrs={"hc.stage": "inventory.adjusted", "hc.key.item": key},
        )
    elif pick < 0.34:  # ADT through the engine
        _span(
            out,
            ids,
            trace=ids.trace(t),
            name="HL7 ADT^A01 process",
            service="integration-engine",
            kind="consumer",
            start=t,
            duration=8_000_000,
            attrs={
                **base,
                "hc.stage": "encounter.admitted",
                "hc.message.type": "ADT^A01",
                "messaging.destination.name": "adt-inbound",
                "messaging.system": "rabbitmq",
            },
        )
    elif pick < 0.49:  # eligibility: billing -> payer gateway
        trace = ids.trace(t)
        parent = _span(
            out,
            ids,
            trace=trace,
            name="payer.eligibility.check",
            service="billing",
            kind="client",
            start=t,
            duration=400_000_000,
            attrs=base,
        )
        slow = rng.random() < 0.003
        _span(
            out,
            ids,
            trace=trace,
            name="payer.eligibility.check",
            service="payer-gateway",
            kind="server",
            start=t + 2_000_000,
            duration=(3_000_000_000 if slow else 300_000_000),
            parent=parent,
            attrs={**base, "hc.stage": "eligibility.checked", "hc.message.type": "X12-270"},
        )
    else:  # other HL7 traffic: the engine receives and routes orders and updates
        trace = ids.trace(t)
        parent = _span(
            out,
            ids,
            trace=trace,
            name="HL7 ORM^O01 process",
            service="integration-engine",
            kind="consumer",
            start=t,
            duration=12_000_000,
            attrs={**base, "hc.message.type": "ORM^O01", "messaging.destination.name": "orders-inbound"},
        )
        _span(
            out,
            ids,
            trace=trace,
            name="route",
            service="integration-engine",
            kind="internal",
            start=t + 1_000_000,
            duration=2_000_000,
            parent=parent,
            attrs={},
        )


def _metric_rows(start_ns: int, end_ns: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    step = 60 * NS
    for t in range(start_ns, end_ns, step):
        for queue in QUEUES:
            depth = max(0.0, rng.gauss(20, 8))
            for name, value in (
                ("queue.depth", depth),
                ("queue.oldest_age_seconds", depth * 3.0),
                ("queue.consumers", 2.0),
                ("queue.stuck", 0.0),
            ):
                attrs = {"queue": queue, "broker": "rabbitmq", "hc.system": "engine"}
                yield (
                    f"{abs(hash((name, queue))):032x}"[:32],  # series_id
                    name,
                    "gauge",
                    None,  # unit
                    "queue-poller",
                    t,
                    None,  # start_time_unix_nano
                    value,
                    None,  # count
                    None,  # sum
                    None,  # min
                    None,  # max
                    None,  # buckets
                    None,  # temporality
                    None,  # is_monotonic
                    json.dumps(attrs),
                    '{"service.name":"queue-poller"}',
                    None,  # scope_name
                    queue,
                    t,  # received_at_unix_nano
                )


def _evaluations(start_ns: int, end_ns: int) -> Iterator[list[dict[str, Any]]]:
    import yaml

    slas = yaml.safe_load(SLA_FILE)["slas"]
    step = 30 * NS
    chunk: list[dict[str, Any]] = []
    burn = [
        {
            "name": "1h/5m",
            "long_window_s": 3600.0,
            "short_window_s": 300.0,
            "threshold": 14.4,
            "long_rate": 0.4,
            "short_rate": 0.5,
            "severity": "page",
            "firing": False,
        },
        {
            "name": "6h/30m",
            "long_window_s": 21600.0,
            "short_window_s": 1800.0,
            "threshold": 6.0,
            "long_rate": 0.6,
            "short_rate": 0.4,
            "severity": "page",
            "firing": False,
        },
    ]
    burn_json = json.dumps(burn)
    for t in range(start_ns, end_ns, step):
        for sla in slas:
            slices = [("", "{}")]
            if sla.get("slice_by"):
                key = sla["slice_by"][0]
                values = QUEUES if key == "queue" else FACILITIES
                slices += [(f"{key}={v}", json.dumps({key: v})) for v in values]
            objective = float(str(sla["objective"]).rstrip("%")) / 100
            for slice_, labels in slices:
                sli = min(1.0, objective + (1 - objective) * 0.5)
                chunk.append(
                    {
                        "sla_id": sla["id"],
                        "slice": slice_,
                        "evaluated_at_unix_nano": t,
                        "status": "ok",
                        "priority": sla["priority"],
                        "domain": sla["domain"],
                        "owner": sla["owner"],
                        "title": sla["title"],
                        "kind": next(iter(sla["sli"])),
                        "window_s": 86400.0,
                        "window_label": "1d",
                        "objective": objective,
                        "good": 1000 * sli,
                        "total": 1000.0,
                        "sli": sli,
                        "budget_remaining": 0.5,
                        "time_to_exhaustion_s": None,
                        "at_risk_amount": None,
                        "burn_rates": burn_json,
                        "labels": labels,
                    }
                )
        if len(chunk) >= 20_000:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass(frozen=True)
class StoreInfo:
    url: str
    spans: int
    start_ns: int
    end_ns: int


def _insert(engine: Any, table: Any, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    if not rows:
        return
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
        return
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA cache_size=-1000000")
        marks = ", ".join("?" for _ in columns)
        cursor.executemany(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", rows)
        raw.commit()
    finally:
        raw.close()


def build_store(url: str, total: int, seed: int, echo: Callable[[str], None]) -> StoreInfo:
    from collector.tables import metric_points, span_keys, spans
    from slas.tables import sla_evaluations
    from vitals.kernel.db import create_engine, migrate

    engine = create_engine(url)
    migrate(engine)
    days = total / SPANS_PER_DAY
    end_ns = int(time.time()) // 3600 * 3600 * NS
    start_ns = end_ns - int(days * 86400) * NS
    began = time.perf_counter()
    written = 0
    for out in generate(seed, start_ns, total):
        _insert(engine, spans, SPAN_COLUMNS, out.spans)
        _insert(engine, span_keys, SPAN_KEY_COLUMNS, out.keys)
        written += len(out.spans)
        if written % 500_000 < len(out.spans):
            rate = written / (time.perf_counter() - began)
            echo(f"  {written:>11,} spans written ({rate:,.0f}/s)")
    rng = random.Random(seed + 1)
    batch: list[tuple[Any, ...]] = []
    for row in _metric_rows(start_ns, end_ns, rng):
        batch.append(row)
        if len(batch) >= 50_000:
            _insert(engine, metric_points, METRIC_COLUMNS, batch)
            batch = []
    _insert(engine, metric_points, METRIC_COLUMNS, batch)
    evaluations = 0
    for chunk in _evaluations(start_ns, end_ns):
        with engine.begin() as conn:
            conn.execute(sla_evaluations.insert(), chunk)
        evaluations += len(chunk)
    if engine.dialect.name == "postgresql":
        # What autovacuum would do after such a load: without statistics the planner scans.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    echo(
        f"  built in {time.perf_counter() - began:,.0f} s: {written:,} spans over {days:.1f} days, "
        f"{evaluations:,} SLA evaluations"
    )
    engine.dispose()
    return StoreInfo(url, written, start_ns, end_ns)
