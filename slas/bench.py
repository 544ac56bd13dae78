"""``vitals bench sla``: one evaluation tick with 1M and 10M stored spans, same new data in both.

Each store holds a synthetic estate at a steady rate (the vocabulary of the demo: ADT feeds,
charges with their lag, supplies and implants, claims, remits with denials, GL postings,
eligibility checks, queue gauges), so the 10M store is ten times the history of the 1M store.
The engine first catches up on the whole history (as a long-running service would have), then
every measured tick reads the same volume of new telemetry. The goal: tick time grows with new
data, not with history (10M <= 1.5 x 1M, and under 1 s).
"""

from __future__ import annotations

import heapq
import math
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import click
import orjson
from sqlalchemy import func, select

from collector.rows import METRIC_COLUMNS, SPAN_COLUMNS, SPAN_LIFTED_ATTRIBUTES
from collector.tables import spans
from slas.loading import SlaConfig
from slas.service import engine_from, load_config_dir
from vitals.kernel.db import create_engine, migrate
from vitals.kernel.settings import STARTER_CONFIG_DIR
from vitals.kernel.units import MINUTE_NS, NS

__all__ = ["sla"]

_LIFTED = tuple(SPAN_LIFTED_ATTRIBUTES.values())  # the hc_* and messaging columns
FACILITIES = (("north-campus", 1.0), ("south-campus", 0.7), ("lakeside-asc", 0.25))
SERVICE_LINES = ("cardiology", "orthopedics", "general-surgery", "emergency", "oncology", "imaging")
QUEUES = ("adt-inbound", "charges-outbound", "claims-outbound", "gl-postings", "inventory-sync")
DENIALS = ("CO-16", "CO-97", "CO-50", "CO-197", "CO-45")
ADT = (
    ("A01", "encounter.admitted"),
    ("A03", "encounter.discharged"),
    ("A04", "encounter.registered"),
    ("A08", "encounter.updated"),
)
#: spans per "moment" of each journey kind, and how often each kind starts (relative weights)
JOURNEYS = (
    ("adt", 1, 0.34),
    ("charge", 3, 0.12),
    ("supply", 2, 0.06),
    ("claim", 3, 0.05),
    ("gl", 1, 0.08),
    ("eligibility", 2, 0.08),
    ("http", 2, 0.07),
)
SPANS_PER_DAY = 500_000
NEW_SPANS = 5_000


class _Estate:
    """Rows for the spans and metric_points tables in ingestion order (ends wait in a heap)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.pending: list[tuple[int, int, tuple[Any, ...]]] = []
        self.sequence = 0
        self.keys = 0
        total = sum(weight * count for _, count, weight in JOURNEYS)
        self.kinds = [name for name, _, _ in JOURNEYS]
        self.weights = [weight * count / total for _, count, weight in JOURNEYS]
        self.spans_per_journey = sum(
            w * c for (_, c, _), w in zip(JOURNEYS, self.weights, strict=True)
        ) / sum(self.weights)

    def _hex(self, bits: int) -> str:
        return f"{self.rng.getrandbits(bits):0{bits // 4}x}"

    def _row(  # noqa: PLR0917 - one span's fields
        self,
        name: str,
        service: str,
        kind: str,
        at: int,
        duration_ms: float,
        status: str,
        attrs: dict[str, Any],
    ) -> tuple[Any, ...]:
        """One ``spans`` row, its values in ``collector.rows.SPAN_COLUMNS`` order."""
        end = at + int(duration_ms * 1_000_000)
        return (
            self._hex(128),
            self._hex(64),
            None,
            name,
            service,
            kind,
            at,
            end,
            end - at,
            at,
            status,
            "failed" if status == "error" else None,
            orjson.dumps(attrs).decode(),
            orjson.dumps({"service.name": service, "deployment.environment": "bench"}).decode(),
            None,
            None,
            "vitals.bench",
            *map(attrs.get, _LIFTED),
            end + 200_000_000,
        )

    def _later(self, at: int, row: tuple[Any, ...]) -> None:
        self.sequence += 1
        heapq.heappush(self.pending, (at, self.sequence, row))

    def _key(self) -> str:
        self.keys += 1
        return f"{self.keys:016x}{self.rng.getrandbits(64):016x}"  # stands in for an HMAC hash

    def journey(self, at: int) -> list[tuple[Any, ...]]:
        rng = self.rng
        facility = rng.choices(FACILITIES, weights=[f[1] for f in FACILITIES])[0][0]
        line = rng.choice(SERVICE_LINES)
        base: dict[str, Any] = {"hc.facility": facility, "hc.service_line": line}
        kind = rng.choices(self.kinds, weights=self.weights)[0]
        now: list[tuple[Any, ...]] = []
        attrs: dict[str, Any]
        if kind == "adt":
            event, stage = rng.choice(ADT)
            attrs = {
                **base,
                "hc.workflow": "patient-to-cash",
                "hc.stage": stage,
                "hc.system": "engine",
                "hc.message.type": f"ADT^{event}",
                "messaging.system": "rabbitmq",
                "messaging.destination.name": "adt-inbound",
                "messaging.operation.type": "process",
            }
            now.append(
                self._row(
                    f"HL7 ADT^{event} process", "integration-engine", "consumer", at, 12, "unset", attrs
                )
            )
        elif kind == "charge":
            key, amount = self._key(), round(rng.lognormvariate(7.3, 0.9), 2)
            common = {**base, "hc.workflow": "patient-to-cash", "hc.key.charge": key, "hc.amount": amount}
            now.append(
                self._row(
                    "ehr.procedure.document",
                    "ehr",
                    "internal",
                    at,
                    120,
                    "unset",
                    {**common, "hc.stage": "procedure.documented", "hc.system": "ehr"},
                )
            )
            lag = (
                rng.lognormvariate(math.log(2400), 0.9)
                if rng.random() < 0.7
                else rng.lognormvariate(math.log(18000), 0.6)
            )
            sent = at + int(lag * NS)
            self._later(
                sent,
                self._row(
                    "HL7 DFT^P03 process",
                    "integration-engine",
                    "consumer",
                    sent,
                    15,
                    "unset",
                    {
                        **common,
                        "hc.stage": "charge.sent",
                        "hc.system": "engine",
                        "hc.message.type": "DFT^P03",
                        "messaging.destination.name": "charges-outbound",
                    },
                ),
            )
            self._later(
                sent + NS,
                self._row(
                    "billing.charge.post",
                    "billing",
                    "consumer",
                    sent + NS,
                    60,
                    "unset",
                    {
                        **common,
                        "hc.stage": "charge.posted",
                        "hc.system": "billing",
                        "hc.message.type": "DFT^P03",
                    },
                ),
            )
        elif kind == "supply":
            key = self._key()
            category = "implant" if rng.random() < 0.15 else "supply"
            common = {
                **base,
                "hc.workflow": "clinical-supply",
                "hc.key.item": key,
                "hc.supply.category": category,
                "hc.amount": round(rng.lognormvariate(8.3 if category == "implant" else 3.6, 0.7), 2),
            }
            now.append(
                self._row(
                    "ehr.supply.consume",
                    "ehr",
                    "producer",
                    at,
                    8,
                    "unset",
                    {**common, "hc.stage": "supply.consumed", "hc.system": "ehr"},
                )
            )
            applied = at + int(rng.uniform(30, 240) * NS)
            self._later(
                applied,
                self._row(
                    "erp.inventory.adjust",
                    "erp-supply",
                    "internal",
                    applied,
                    50,
                    "unset",
                    {**common, "hc.stage": "inventory.adjusted", "hc.system": "supply"},
                ),
            )
        elif kind == "claim":
            key = self._key()
            common = {
                **base,
                "hc.workflow": "patient-to-cash",
                "hc.key.claim": key,
                "hc.amount": round(rng.lognormvariate(8.0, 0.9), 2),
            }
            now.append(
                self._row(
                    "clearinghouse.claim.submit",
                    "clearinghouse",
                    "consumer",
                    at,
                    120,
                    "unset",
                    {
                        **common,
                        "hc.stage": "claim.submitted",
                        "hc.system": "clearinghouse",
                        "hc.message.type": "X12-837",
                    },
                )
            )
            ack = at + int(rng.lognormvariate(math.log(660), 0.6) * NS)
            self._later(
                ack,
                self._row(
                    "clearinghouse.ack.999",
                    "clearinghouse",
                    "consumer",
                    ack,
                    30,
                    "unset",
                    {
                        **common,
                        "hc.stage": "claim.acknowledged",
                        "hc.system": "clearinghouse",
                        "hc.message.type": "X12-999",
                    },
                ),
            )
            remit = at + int(rng.uniform(2, 8) * 3600 * NS)
            remit_attrs = {
                **common,
                "hc.stage": "remit.received",
                "hc.system": "payer",
                "hc.message.type": "X12-835",
            }
            if rng.random() < 0.055:
                remit_attrs["hc.denial.code"] = rng.choice(DENIALS)
            self._later(
                remit,
                self._row("payer.remit.receive", "payer-gateway", "server", remit, 80, "unset", remit_attrs),
            )
        elif kind == "gl":
            attrs = {
                **base,
                "hc.workflow": "patient-to-cash",
                "hc.stage": "gl.posted",
                "hc.system": "erp",
                "hc.amount": round(rng.lognormvariate(6.0, 1.0), 2),
            }
            now.append(
                self._row(
                    "erp.gl.post",
                    "erp-finance",
                    "consumer",
                    at,
                    90,
                    "error" if rng.random() < 0.0005 else "unset",
                    attrs,
                )
            )
        elif kind == "eligibility":
            attrs = {
                **base,
                "hc.workflow": "patient-to-cash",
                "hc.stage": "eligibility.checked",
                "hc.system": "payer",
                "hc.message.type": "X12-270",
                "http.request.method": "POST",
            }
            duration = 5000.0 if rng.random() < 0.001 else rng.lognormvariate(math.log(320), 0.45)
            now.append(self._row("payer.eligibility.check", "ehr", "client", at, duration, "unset", attrs))
            now.append(
                self._row(
                    "payer.eligibility.check",
                    "payer-gateway",
                    "server",
                    at + 4_000_000,
                    duration - 8,
                    "unset",
                    {"hc.facility": facility, "hc.message.type": "X12-270"},
                )
            )
        else:
            attrs = {
                "http.request.method": "POST",
                "url.path": "/api/registrations",
                "http.response.status_code": 202,
                "hc.facility": facility,
            }
            now.append(
                self._row("POST /api/registrations", "integration-engine", "client", at, 45, "unset", attrs)
            )
            now.append(
                self._row("POST /api/registrations", "billing", "server", at + 2_000_000, 40, "unset", attrs)
            )
        return now

    def minute(self, minute: int, spans_per_minute: float) -> list[tuple[Any, ...]]:
        """Rows that arrive during one minute, in order: new journeys and stages that came due."""
        start = minute * MINUTE_NS
        journeys = self.rng.gauss(spans_per_minute / self.spans_per_journey, 1.0)
        out: list[tuple[Any, ...]] = []
        for _ in range(max(0, round(journeys))):
            out.extend(self.journey(start + self.rng.randrange(MINUTE_NS)))
        end = start + MINUTE_NS
        while self.pending and self.pending[0][0] < end:
            out.append(heapq.heappop(self.pending)[2])
        return out

    def gauges(self, minute: int) -> list[tuple[Any, ...]]:
        """Queue gauges for one minute, as ``metric_points`` rows in ``METRIC_COLUMNS`` order."""
        at = minute * MINUTE_NS + 15 * NS
        rows = []
        for queue in QUEUES:
            for name, value in (
                ("queue.depth", self.rng.randrange(5)),
                ("queue.oldest_age_seconds", self.rng.uniform(0, 4)),
                ("queue.consumers", 2.0),
            ):
                attrs = {"queue": queue, "broker": "rabbitmq", "hc.system": "engine"}
                rows.append(
                    (
                        f"{queue}:{name}"[:32],
                        name,
                        "gauge",
                        None,
                        "integration-engine",
                        at,
                        None,
                        float(value),
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        orjson.dumps(attrs).decode(),
                        orjson.dumps({"service.name": "integration-engine"}).decode(),
                        None,
                        queue,
                        at + NS,
                    )
                )
        return rows


class _Writer:
    def __init__(self, db_url: str) -> None:
        self.engine = create_engine(db_url)
        migrate(self.engine)
        self.raw = self.engine.raw_connection()
        self.spans_sql = (
            f"INSERT INTO spans ({', '.join(SPAN_COLUMNS)}) VALUES ({', '.join('?' * len(SPAN_COLUMNS))})"
        )
        marks = ", ".join("?" * len(METRIC_COLUMNS))
        self.points_sql = (
            f"INSERT OR IGNORE INTO metric_points ({', '.join(METRIC_COLUMNS)}) VALUES ({marks})"
        )

    def write(self, span_rows: list[tuple[Any, ...]], point_rows: list[tuple[Any, ...]]) -> None:
        cursor = self.raw.cursor()
        cursor.executemany(self.spans_sql, span_rows)
        cursor.executemany(self.points_sql, point_rows)
        self.raw.commit()
        cursor.close()

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(spans)).scalar() or 0)

    def close(self) -> None:
        self.raw.close()
        self.engine.dispose()


def _fill(path: Path, target: int, seed: int, start_minute: int, say: Any) -> tuple[_Estate, int]:
    """Write ``target`` spans of history; returns the estate generator and the minute after it.

    An existing store is reused: the generator is then warmed on a day of (unwritten) history so
    the new data it produces has the usual mix of first and later stages.
    """
    per_minute = SPANS_PER_DAY / 1440
    estate = _Estate(seed)
    writer = _Writer(f"sqlite:///{path}")
    existing = writer.count()
    if existing:
        if existing < target:
            writer.close()
            raise click.ClickException(
                f"{path} holds {existing:,} spans, not {target:,}: delete it to rebuild"
            )
        with writer.engine.connect() as conn:
            last = int(conn.execute(select(func.max(spans.c.event_time_unix_nano))).scalar() or 0)
        writer.close()
        minute = last // MINUTE_NS + 1
        estate.rng = random.Random(time.time_ns())
        for warm in range(minute - 1440, minute):
            estate.minute(warm, per_minute)
        say(f"  {path.name}: reusing {existing:,} stored spans")
        return estate, minute
    minute, written = start_minute, 0
    batch_spans: list[tuple[Any, ...]] = []
    batch_points: list[tuple[Any, ...]] = []
    started = time.perf_counter()
    while written < target:
        rows = estate.minute(minute, per_minute)
        written += len(rows)
        batch_spans.extend(rows)
        batch_points.extend(estate.gauges(minute))
        if len(batch_spans) >= 200_000:
            writer.write(batch_spans, batch_points)
            batch_spans, batch_points = [], []
            rate = written / (time.perf_counter() - started)
            say(f"  {path.name}: {written:,} / {target:,} spans ({rate:,.0f}/s)")
        minute += 1
    if batch_spans:
        writer.write(batch_spans, batch_points)
    writer.close()
    return estate, minute


def _new_data(
    estate: _Estate, minute: int, volume: int
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]:
    """``volume`` spans of "new" telemetry arriving after the history, and the minute it ends at."""
    rows: list[tuple[Any, ...]] = []
    points: list[tuple[Any, ...]] = []
    while len(rows) < volume:
        rows.extend(estate.minute(minute, volume / 0.5))  # half a minute of a busy estate
        points.extend(estate.gauges(minute))
        minute += 1
    return rows[:volume], points, minute


class _Store:
    """One benchmark store with a caught-up engine, ready for measured ticks."""

    def __init__(self, path: Path, size: int, config: SlaConfig, say: Any) -> None:
        self.size = size
        self.days = size / SPANS_PER_DAY
        end_minute = 29_000_000  # ~2025-02: the history ends here whatever its size
        start_minute = end_minute - int(self.days * 1440)
        self.estate, self.minute = _fill(path, size, seed=size, start_minute=start_minute, say=say)
        self.clock_ns = self.minute * MINUTE_NS
        self.db = create_engine(f"sqlite:///{path}")
        self.engine = engine_from(self.db, config, clock=lambda: self.clock_ns)
        say(f"  {path.name}: catching up on history (the state a running service would have)")
        started = time.perf_counter()
        self.engine.catch_up()
        self.catch_up_s = time.perf_counter() - started
        self.engine.tick()  # warm: state in memory, evaluations written once
        cold = engine_from(self.db, config, clock=lambda: self.clock_ns)
        started = time.perf_counter()
        cold.evaluate(self.clock_ns)
        self.load_s = time.perf_counter() - started
        self.writer = _Writer(f"sqlite:///{path}")
        self.estate.rng = random.Random(time.time_ns())  # fresh ids: a re-run must not repeat the last one's
        self.times: list[float] = []
        self.evaluations = 0

    def tick(self, volume: int) -> None:
        rows, points, self.minute = _new_data(self.estate, self.minute, volume)
        self.writer.write(rows, points)
        self.clock_ns = self.minute * MINUTE_NS
        started = time.perf_counter()
        result = self.engine.tick()
        self.times.append(time.perf_counter() - started)
        self.evaluations = len(result.evaluations)
        if result.spans_read != volume:
            raise click.ClickException(f"tick read {result.spans_read} spans, expected {volume}")

    def close(self) -> None:
        self.writer.close()
        self.db.dispose()


def _sizes(text: str) -> list[int]:
    out = []
    for raw in text.split(","):
        part = raw.strip().lower()
        scale = 1_000_000 if part.endswith("m") else 1000 if part.endswith("k") else 1
        out.append(int(float(part.rstrip("mk")) * scale))
    return out


@click.command()
@click.option(
    "--sizes", default="1M,10M", show_default=True, help="Stored spans of each store (k and M suffixes)."
)
@click.option(
    "--new-spans",
    default=NEW_SPANS,
    show_default=True,
    help="New spans per measured tick (the same for every store).",
)
@click.option(
    "--ticks", default=9, show_default=True, help="Measured ticks per store, interleaved across the stores."
)
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".vitals/bench-sla"),
    show_default=True,
    help="Where the SQLite stores are built and kept for the next run.",
)
@click.option(
    "--config",
    "config_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Config directory whose SLAs are evaluated (default: the starter library).",
)
def sla(sizes: str, new_spans: int, ticks: int, folder: Path, config_dir: Path | None) -> None:
    """One SLA evaluation tick with 1M and 10M stored spans and the same new data in both.

    Builds (once) SQLite stores of a synthetic estate at 500k spans a day, lets the engine catch
    up on their history, then times ticks that each read --new-spans new spans and evaluate every
    SLA of the starter library, alternating between the stores so that other load on the machine
    hits them alike. Prints each store's median and minimum tick time and the ratio of the largest
    to the smallest store (the goal: at most 1.5 and under 1 s).
    """

    def say(message: str) -> None:
        click.echo(message, err=True)

    config = load_config_dir(config_dir or STARTER_CONFIG_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    stores: list[_Store] = []
    for size in _sizes(sizes):
        path = folder / f"spans-{size}.db"
        say(f"store with {size:,} spans: {path}")
        stores.append(_Store(path, size, config, say))
    say(f"measuring {ticks} ticks per store, interleaved so background load hits every store alike")
    for _ in range(ticks):
        for store in stores:
            store.tick(new_spans)
    click.echo(
        f"SLA evaluation tick, {len(config.slas)} SLAs, {new_spans:,} new spans per tick, SQLite, "
        f"{ticks} interleaved ticks per store:"
    )
    for store in stores:
        click.echo(
            f"  {store.size:>12,} stored spans ({store.days:.0f} days): tick median "
            f"{statistics.median(store.times) * 1000:7.1f} ms, min {min(store.times) * 1000:.1f}, "
            f"max {max(store.times) * 1000:.1f} ({store.evaluations} evaluations); "
            f"state load {store.load_s * 1000:.0f} ms; initial catch-up {store.catch_up_s:.0f} s"
        )
    if len(stores) >= 2:
        small, large = min(stores, key=lambda s: s.size), max(stores, key=lambda s: s.size)
        median_ratio = statistics.median(large.times) / statistics.median(small.times)
        min_ratio = min(large.times) / min(small.times)
        goal = median_ratio <= 1.5 and statistics.median(large.times) < 1.0
        click.echo(
            f"  ratio {large.size:,} / {small.size:,}: median {median_ratio:.2f}x, min {min_ratio:.2f}x "
            f"(goal <= 1.5x and < 1 s: {'met' if goal else 'NOT met'})"
        )
    for store in stores:
        store.close()
    sys.stdout.flush()
