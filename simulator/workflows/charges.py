"""Patient-to-cash, charge capture: procedure documented -> DFT^P03 charge sent -> charge posted.

The charge lag (documentation to posting) is long-tailed as in real charge capture: most charges
drop automatically within the hour, many wait for a coder's review for some hours, and a small tail
is held for days (documentation queries). The queue hop through ``charges-outbound`` is where the
"stalled charge interface" incident bites.
"""

from __future__ import annotations

from simulator.estate import BILLING, EHR, ENGINE, PATIENT_TO_CASH
from simulator.workflows.base import Journey, hc, queue_latency_ns
from simulator.workflows.base import queue_hop as _queue_hop
from vitals.kernel.units import DAY_NS, HOUR_NS

#: (share, median seconds, sigma) of the lognormal parts of the lag, then the late tail's share.
LAG_AUTOMATIC = (0.68, 40 * 60, 0.8)
LAG_CODER_REVIEW = (0.305, 5 * 3600, 0.55)
LAG_LATE_SHARE = 0.015  # held for documentation queries: 26 h to 5 days
LAG_LATE_RANGE_S = (26 * 3600, 5 * 86400)
MAX_LAG_S = 5 * 86400

#: Typical charge (decimal dollars, median and sigma) and a plausible CPT/HCPCS code per service line.
CHARGE_PROFILE: dict[str, tuple[float, float, tuple[str, ...]]] = {
    "cardiology": (2400.0, 0.9, ("93458", "93306", "92928", "93000")),
    "orthopedics": (3100.0, 0.9, ("27447", "29881", "27130", "20610")),
    "general-surgery": (1800.0, 0.8, ("47562", "49505", "44970", "43239")),
    "emergency": (640.0, 0.7, ("99284", "99285", "99283", "96374")),
    "oncology": (1300.0, 0.7, ("96413", "96415", "77385", "J9271")),
    "imaging": (420.0, 0.6, ("74177", "70553", "71046", "76700")),
}


def charge_lag_ns(j: Journey) -> int:
    """Documentation to DFT^P03: mostly within the hour, a coder's review for some, days for a few."""
    u = j.rng.random()
    automatic = j.lognormal_ns(LAG_AUTOMATIC[1], LAG_AUTOMATIC[2], cap_s=MAX_LAG_S)
    review = j.lognormal_ns(LAG_CODER_REVIEW[1], LAG_CODER_REVIEW[2], cap_s=MAX_LAG_S)
    late = j.uniform_ns(*LAG_LATE_RANGE_S)
    if u < LAG_LATE_SHARE:
        return late
    if u < LAG_LATE_SHARE + LAG_CODER_REVIEW[0]:
        return review
    return automatic


def charge(j: Journey) -> None:
    """One charge line, keyed by ``hc.key.charge`` through all three stages."""
    # Timing first: most charges drawn during the warm-up end before the window and stop here.
    lag = charge_lag_ns(j)
    document_ms = j.lognormal_ns(0.12, 0.6)
    retry_after = j.lognormal_ns(2 * 3600, 0.6, cap_s=12 * 3600)
    latency = queue_latency_ns(j)
    t_doc = j.origin_ns
    if (
        j.effects.charge_consumed(t_doc + document_ms + lag + latency) + retry_after + HOUR_NS
        < j.ctx.history_start_ns
    ):
        return  # warm-up: this charge's whole story ended before the window

    line = "emergency" if j.chance(0.2) and not j.facility.is_asc else j.pick(j.facility.service_lines)
    if line == "emergency":
        encounter = j.ref_key("encounter.emergency", "VE", 0, 8 * HOUR_NS)
    elif j.facility.is_asc or j.chance(0.6):
        encounter = j.ref_key("encounter.outpatient", "VO", 0, 12 * HOUR_NS)
    else:
        encounter = j.ref_key("encounter.inpatient", "VI", 0, 4 * DAY_NS)
    median, sigma, codes = CHARGE_PROFILE[line]
    amount = j.money(median, sigma)
    code = j.rng.choice(codes)
    charge_key = j.key("C")
    reject = j.chance(0.002)
    common = {"hc.key.charge": charge_key, "hc.key.encounter": encounter}
    j.span(
        j.trace(),
        j.sid(),
        0,
        "ehr.procedure.document",
        EHR,
        "internal",
        t_doc,
        t_doc + document_ms,
        {
            **hc(
                PATIENT_TO_CASH,
                "procedure.documented",
                "ehr",
                j.facility,
                service_line=line,
                amount=amount,
                keys=common,
            ),
            "hc.procedure.code": code,
        },
    )
    t_sent = t_doc + document_ms + lag
    consumed = j.effects.charge_consumed(t_sent + latency)
    sent_attrs = hc(
        PATIENT_TO_CASH,
        "charge.sent",
        "engine",
        j.facility,
        message_type="DFT^P03",
        service_line=line,
        amount=amount,
        keys=common,
    )
    posted_attrs = hc(
        PATIENT_TO_CASH,
        "charge.posted",
        "billing",
        j.facility,
        message_type="DFT^P03",
        service_line=line,
        amount=amount,
        keys=common,
    )
    posted_attrs["hc.procedure.code"] = code
    error = f"charge rejected: procedure code {code} needs a modifier for this payer" if reject else None
    _queue_hop(
        j,
        "charges-outbound",
        producer=(j.trace(), j.sid(), 0, "HL7 DFT^P03 process", ENGINE),
        consumer_name="billing.charge.post",
        consumer_service=BILLING,
        published_ns=t_sent,
        consumed_ns=consumed,
        producer_attrs=sent_attrs,
        consumer_attrs=posted_attrs,
        consumer_error=error,
        consumer_ms=60.0,
    )
    if reject:
        # A charge-correction analyst fixes the modifier and re-posts it from billing's work queue.
        t_fix = consumed + retry_after
        j.span(
            j.trace(),
            j.sid(),
            0,
            "billing.charge.post",
            BILLING,
            "internal",
            t_fix,
            t_fix + j.lognormal_ns(0.06, 0.5),
            {**posted_attrs, "billing.retry": True},
        )


__all__ = ["CHARGE_PROFILE", "charge", "charge_lag_ns"]
