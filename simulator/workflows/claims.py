"""Patient-to-cash, the back end: claim 837 -> 999 -> 277CA -> 835 remit -> payment -> GL.

Billing publishes each claim to ``claims-outbound``; the clearinghouse submits it and acknowledges
it (999 within minutes, 277CA within hours); the payer adjudicates for days and its 835 arrives,
mostly in the morning, through the payer gateway. Paid remits are posted by billing and go to the
GL through ``gl-postings``; denied ones carry their CARC code in ``hc.denial.code``.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from simulator.calendar import ZONE, is_weekend, local
from simulator.estate import BILLING, CLEARINGHOUSE, DENIAL_CODES, PATIENT_TO_CASH, PAYER_GATEWAY, PAYERS
from simulator.model import AttributeValue
from simulator.workflows.base import Journey, hc, queue_latency_ns
from simulator.workflows.base import queue_hop as _queue_hop
from simulator.workflows.finance import post_to_gl
from vitals.kernel.units import DAY_NS, NS

BASE_DENIAL_RATE = 0.055
DENIAL_WEIGHTS = tuple(DENIAL_CODES.items())
PAYER_WEIGHTS = tuple((name, share) for name, share, _ in PAYERS)
PAYER_DAYS = {name: days for name, _, days in PAYERS}
WEEKEND_REMIT_SHARE = 0.8
MAX_REMIT_DAYS = 16.0


def remit_arrival_ns(j: Journey, adjudicated_ns: int) -> int:
    """When the 835 lands: the adjudication day (weekends partly moved to Monday), 05:00-15:00."""
    weekend_draw = j.rng.random()
    hour_draw = j.rng.random()
    day = local(adjudicated_ns / NS).date()
    if is_weekend(day) and weekend_draw > WEEKEND_REMIT_SHARE:
        day += timedelta(days=7 - day.weekday())
    start = datetime.combine(day, time(5, 0), ZONE)
    return int((start.timestamp() + (10 * 3600) * hour_draw**1.6) * NS)


def claim(j: Journey) -> None:
    # Timing first: most claims drawn during the warm-up end before the window and stop here.
    payer = j.pick(PAYER_WEIGHTS)
    adjudication = j.lognormal_ns(PAYER_DAYS[payer] * 86400, 0.35, cap_s=MAX_REMIT_DAYS * 86400 - 86400)
    post_delay = j.lognormal_ns(25 * 60, 0.6, cap_s=4 * 3600)
    if j.origin_ns + adjudication + 5 * DAY_NS < j.ctx.history_start_ns:
        return  # warm-up: even a remit moved past a weekend came before the window (cheap check)
    remit_at = remit_arrival_ns(j, j.origin_ns + adjudication)
    if remit_at + post_delay + 2 * DAY_NS < j.ctx.history_start_ns:
        return  # warm-up: this claim's whole story ended before the window

    tag = {"encounter.outpatient": "VO", "encounter.emergency": "VE", "encounter.inpatient": "VI"}
    source = (
        "encounter.outpatient"
        if j.facility.is_asc
        else j.pick(
            (("encounter.outpatient", 0.7), ("encounter.emergency", 0.2), ("encounter.inpatient", 0.1))
        )
    )
    encounter = j.ref_key(source, tag[source], 1 * DAY_NS, 6 * DAY_NS)
    claim_key = j.key("K")
    amount = j.money(4300.0 if j.facility.is_asc else 3100.0, 0.6 if j.facility.is_asc else 0.95)
    latency = queue_latency_ns(j)
    ack_999 = j.lognormal_ns(11 * 60, 0.6, cap_s=100 * 60)
    ack_277 = j.lognormal_ns(5 * 3600, 0.6, cap_s=40 * 3600)
    incident_draw, base_draw = j.rng.random(), j.rng.random()
    base_code = j.pick(DENIAL_WEIGHTS)
    paid_share = 0.35 + 0.4 * j.rng.random()

    keys: dict[str, AttributeValue] = {
        "hc.key.claim": claim_key,
        "hc.key.encounter": encounter,
        "hc.payer": payer,
    }
    t0 = j.origin_ns
    c_trace, c_span, _c_start, c_end = _queue_hop(
        j,
        "claims-outbound",
        producer=(j.trace(), j.sid(), 0, "claims-outbound publish", BILLING),
        consumer_name="clearinghouse.claim.submit",
        consumer_service=CLEARINGHOUSE,
        published_ns=t0,
        consumed_ns=t0 + latency,
        producer_attrs=hc(
            PATIENT_TO_CASH, None, "billing", j.facility, message_type="X12-837", amount=amount, keys=keys
        ),
        consumer_attrs=hc(
            PATIENT_TO_CASH,
            "claim.submitted",
            "clearinghouse",
            j.facility,
            message_type="X12-837",
            amount=amount,
            keys=keys,
        ),
        consumer_ms=120.0,
    )
    for name, stage, message_type, delay in (
        ("clearinghouse.ack.999", "claim.acknowledged", "X12-999", ack_999),
        ("clearinghouse.ack.277ca", "claim.accepted", "X12-277CA", ack_277),
    ):
        at = c_end + delay
        j.span(
            j.trace(),
            j.sid(),
            0,
            name,
            CLEARINGHOUSE,
            "consumer",
            at,
            at + j.lognormal_ns(0.03, 0.4),
            hc(PATIENT_TO_CASH, stage, "clearinghouse", j.facility, message_type=message_type, keys=keys),
            links=((c_trace, c_span),),
        )

    denial: str | None = None
    incident = j.effects.denial(payer, remit_at)
    if incident is not None and incident_draw < incident[1]:
        denial = incident[0]
    elif base_draw < BASE_DENIAL_RATE:
        denial = base_code
    paid = 0.0 if denial else round(amount * paid_share, 2)
    remit_attrs = hc(
        PATIENT_TO_CASH,
        "remit.received",
        "payer",
        j.facility,
        message_type="X12-835",
        amount=amount,
        keys=keys,
    )
    remit_attrs["hc.paid_amount"] = paid
    remit_attrs["hc.remit.status"] = "denied" if denial else "paid"
    if denial:
        remit_attrs["hc.denial.code"] = denial
    remit_trace, remit_span = j.trace(), j.sid()
    j.span(
        remit_trace,
        remit_span,
        0,
        "payer.remit.receive",
        PAYER_GATEWAY,
        "server",
        remit_at,
        remit_at + j.lognormal_ns(0.08, 0.5),
        remit_attrs,
    )
    if denial:
        return
    posted_at = remit_at + post_delay
    post_to_gl(
        j,
        producer_name="billing.payment.post",
        producer_service=BILLING,
        producer_attrs=hc(
            PATIENT_TO_CASH,
            "payment.posted",
            "billing",
            j.facility,
            message_type="X12-835",
            amount=paid,
            keys=keys,
        ),
        published_ns=posted_at,
        workflow=PATIENT_TO_CASH,
        amount=paid,
        keys={"hc.key.claim": claim_key},
        link=(remit_trace, remit_span),
    )


def patient_payment(j: Journey) -> None:
    """A patient pays a balance (portal, cashier, lockbox): posted by billing, then to the GL."""
    claim_key = j.ref_key("claim", "K", 3 * DAY_NS, 30 * DAY_NS)
    amount = j.money(140.0, 0.9)
    post_to_gl(
        j,
        producer_name="billing.payment.post",
        producer_service=BILLING,
        producer_attrs=hc(
            PATIENT_TO_CASH,
            "payment.posted",
            "billing",
            j.facility,
            amount=amount,
            hc_key_claim=claim_key,
            hc_payer="self-pay",
        ),
        published_ns=j.origin_ns,
        workflow=PATIENT_TO_CASH,
        amount=amount,
        keys={"hc.key.claim": claim_key},
    )


HORIZON_S = MAX_REMIT_DAYS * 86400 + 2 * 86400
__all__ = ["BASE_DENIAL_RATE", "HORIZON_S", "claim", "patient_payment", "remit_arrival_ns"]
