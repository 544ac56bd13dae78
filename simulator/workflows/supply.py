"""Clinical supply and procure-to-pay.

Clinical supply: a supply or implant used in a procedure is documented in the EHR
(``ehr.supply.consume``, published to ``inventory-sync``); the engine hands it to the ERP's
inventory API, whose import job decrements on-hand stock (``erp.inventory.adjust``) every couple of
minutes. The implant sync incident stalls that import job, not the queue: the broker looks healthy
while the ERP's stock is wrong, which is exactly what only a business SLA catches.

Procure-to-pay: requisition -> purchase order -> goods receipt -> invoice match (three-way), the
invoice then posted to the GL. One ``hc.key.order`` follows the order through all four steps.
"""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta

from simulator.calendar import ZONE, is_weekend, local
from simulator.estate import (
    CLINICAL_SUPPLY,
    EHR,
    ENGINE,
    ERP_FINANCE,
    ERP_SUPPLY,
    IMPLANT_LINES,
    PROCURE_TO_PAY,
)
from simulator.model import AttributeValue
from simulator.workflows.base import Journey, hc, http_client, http_server, queue_latency_ns
from simulator.workflows.base import queue_hop as _queue_hop
from simulator.workflows.finance import post_to_gl
from vitals.kernel.units import DAY_NS, HOUR_NS, NS

IMPORT_INTERVAL_NS = 120 * NS  # the ERP's inventory import job runs every two minutes
ERP_HOST = "erp-supply.lakeview.example"
VENDORS = ("meridian-ortho", "cardiovate", "northstar-surgical", "allied-med-supply", "clearview-imaging")


def supply(j: Journey) -> None:
    """One consumption: an implant (serial/lot tracked) in cardiology and orthopedics, else a supply."""
    line = j.pick(tuple((n, s) for n, s in j.facility.service_lines if n != "emergency"))
    implant = line in IMPLANT_LINES and j.chance(0.35)
    category = "implant" if implant else "supply"
    amount = j.money(4200.0, 0.7) if implant else j.money(38.0, 1.0)
    encounter = j.ref_key(
        "encounter.outpatient" if j.facility.is_asc else "encounter.inpatient",
        "VO" if j.facility.is_asc else "VI",
        0,
        12 * HOUR_NS,
    )
    item = j.key("I") + (f"-LOT{j.rng.randrange(10**5, 10**6)}" if implant else f"-U{j.rng.randrange(100)}")
    latency = queue_latency_ns(j)
    api_ms = j.lognormal_ns(0.08, 0.5)
    offset = j.uniform_ns(1, 20)

    t0 = j.origin_ns
    keys: dict[str, AttributeValue] = {
        "hc.key.item": item,
        "hc.key.encounter": encounter,
        "hc.supply.category": category,
    }
    consumed_at = t0 + latency
    c_trace, c_span, c_start, _c_end = _queue_hop(
        j,
        "inventory-sync",
        producer=(j.trace(), j.sid(), 0, "ehr.supply.consume", EHR),
        consumer_name="inventory-sync process",
        consumer_service=ENGINE,
        published_ns=t0,
        consumed_ns=consumed_at,
        producer_attrs=hc(
            CLINICAL_SUPPLY, "supply.consumed", "ehr", j.facility, service_line=line, amount=amount, keys=keys
        ),
        consumer_attrs=hc(CLINICAL_SUPPLY, None, "engine", j.facility, service_line=line, keys=keys),
        consumer_ms=10.0,
    )
    client, server = j.sid(), j.sid()
    start = c_start + j.lognormal_ns(0.003, 0.3)
    j.span(
        c_trace,
        client,
        c_span,
        "POST /api/inventory/transactions",
        ENGINE,
        "client",
        start,
        start + api_ms,
        {**http_client("POST", ERP_HOST, "/api/inventory/transactions", 202), "hc.facility": j.facility.name},
    )
    j.span(
        c_trace,
        server,
        client,
        "POST /api/inventory/transactions",
        ERP_SUPPLY,
        "server",
        start + api_ms // 10,
        start + api_ms - api_ms // 10,
        {
            **http_server("POST", "/api/inventory/transactions", 202),
            "hc.facility": j.facility.name,
            "hc.system": "supply",
        },
    )
    accepted = start + api_ms
    next_run = math.ceil(accepted / IMPORT_INTERVAL_NS) * IMPORT_INTERVAL_NS + offset
    applied = j.effects.inventory_applied(category, next_run)
    j.span(
        j.trace(),
        j.sid(),
        0,
        "erp.inventory.adjust",
        ERP_SUPPLY,
        "internal",
        applied,
        applied + j.lognormal_ns(0.05, 0.5),
        hc(
            CLINICAL_SUPPLY,
            "inventory.adjusted",
            "supply",
            j.facility,
            service_line=line,
            amount=amount,
            keys=keys,
        ),
        links=((c_trace, server),),
    )


def _business_time(j: Journey, after_ns: int, opens: int = 7, closes: int = 17) -> int:
    """The first moment at or after ``after_ns`` inside weekday business hours, plus a little jitter."""
    jitter = j.uniform_ns(0, 2400)
    moment = local(after_ns / NS)
    day, clock = moment.date(), moment.time()
    if clock >= time(closes):
        day, clock = day + timedelta(days=1), time(opens)
    while is_weekend(day):
        day, clock = day + timedelta(days=1), time(opens)
    clock = max(clock, time(opens))
    candidate = int(datetime.combine(day, clock, ZONE).timestamp() * NS)
    return max(candidate, after_ns) + jitter


def requisition(j: Journey) -> None:
    """Requisition -> PO (hours) -> receipt (days) -> invoice match (days) -> GL."""
    to_po = j.lognormal_ns(3 * 3600, 0.8, cap_s=2 * 86400)
    to_receipt = j.lognormal_ns(2 * 86400, 0.5, cap_s=6 * 86400)
    to_invoice = j.lognormal_ns(2 * 86400, 0.7, cap_s=8 * 86400)
    t_req = j.origin_ns
    t_po = _business_time(j, t_req + to_po)
    t_receipt = _business_time(j, t_po + to_receipt, 6, 16)
    t_invoice = _business_time(j, t_receipt + to_invoice)
    if t_invoice + DAY_NS < j.ctx.history_start_ns:
        return  # warm-up: the whole order was settled before the window
    order = j.key("R")
    vendor = j.rng.choice(VENDORS)
    category = j.pick((("implant", 0.2), ("supply", 0.6), ("equipment", 0.2)))
    amount = j.money(2400.0, 1.0)
    invoice_amount = round(amount * (1 + (j.rng.random() - 0.5) * 0.02), 2)
    keys: dict[str, AttributeValue] = {"hc.key.order": order, "hc.supply.category": category}
    steps = (
        ("erp.requisition.create", ERP_SUPPLY, "supply", "requisition.created", None, amount, t_req),
        ("erp.po.issue", ERP_SUPPLY, "supply", "po.issued", "X12-850", amount, t_po),
        ("erp.goods.receive", ERP_SUPPLY, "supply", "goods.received", "X12-856", None, t_receipt),
    )
    for name, service, system, stage, message_type, money, at in steps:
        attrs = hc(
            PROCURE_TO_PAY, stage, system, j.facility, message_type=message_type, amount=money, keys=keys
        )
        attrs["erp.vendor"] = vendor
        j.span(j.trace(), j.sid(), 0, name, service, "internal", at, at + j.lognormal_ns(0.15, 0.5), attrs)
    match_attrs = hc(
        PROCURE_TO_PAY,
        "invoice.matched",
        "erp",
        j.facility,
        message_type="X12-810",
        amount=invoice_amount,
        keys=keys,
    )
    match_attrs["erp.vendor"] = vendor
    post_to_gl(
        j,
        producer_name="erp.invoice.match",
        producer_service=ERP_FINANCE,
        producer_attrs=match_attrs,
        published_ns=t_invoice,
        workflow=PROCURE_TO_PAY,
        amount=invoice_amount,
        keys={"hc.key.order": order},
    )


HORIZON_S = 2 * 86400 + 6 * 86400 + 8 * 86400 + 4 * 86400

__all__ = ["HORIZON_S", "requisition", "supply"]
