"""Patient-to-cash, the front end: encounters and their ADT feed, eligibility and prior auth.

Every ADT message goes EHR -> ``adt-inbound`` -> integration engine (``HL7 ADT^A0x process``, the
span that carries ``hc.stage``); registrations, admissions and discharges are then forwarded to
billing over HTTP. Eligibility (X12 270/271) and prior authorization (X12 278) are synchronous API
calls from the EHR to the payer gateway: a CLIENT span and its SERVER child.
"""

from __future__ import annotations

from simulator.estate import (
    ADT_STAGES,
    BILLING,
    EHR,
    ENGINE,
    PATIENT_TO_CASH,
    PAYER_GATEWAY,
    PAYERS,
    PRIOR_AUTH_LINES,
)
from simulator.fakes import member_identity, patient_identity
from simulator.workflows.base import (
    Journey,
    hc,
    http_client,
    http_server,
    queue_hop,
    queue_latency_ns,
)
from vitals.kernel.units import DAY_NS, HOUR_NS, MINUTE_NS

PAYER_WEIGHTS = tuple((name, share) for name, share, _ in PAYERS)
PAYER_HOST = "payer-gateway.lakeview.example"
BILLING_HOST = "billing.lakeview.example"

#: Encounter stream -> the tag in its encounter keys.
ENCOUNTER_TAGS = {"encounter.outpatient": "VO", "encounter.emergency": "VE", "encounter.inpatient": "VI"}


def adt_message(j: Journey, event: str, t_ns: int, encounter: str, service_line: str) -> None:
    """One HL7 ADT message from the EHR through the engine (and on to billing for A01/A03/A04)."""
    stage = ADT_STAGES[event]
    message_type = f"ADT^{event}"
    sent = j.effects.adt_sent(j.facility.name, t_ns)
    consumed = sent + queue_latency_ns(j)
    identity = patient_identity(j.rng, j.facility) if event in {"A01", "A04"} else {}
    control_id = f"{j.facility.code}{j.rng.getrandbits(40):012d}"
    parse_error = j.chance(0.0008)
    producer = (j.trace(), j.sid(), 0, "adt-inbound publish", EHR)
    base = hc(PATIENT_TO_CASH, None, "ehr", j.facility, message_type=message_type, service_line=service_line)
    base["hc.key.encounter"] = encounter
    engine_attrs = hc(
        PATIENT_TO_CASH,
        stage,
        "engine",
        j.facility,
        message_type=message_type,
        service_line=service_line,
        hc_key_encounter=encounter,
    )
    engine_attrs["hl7.message_control_id"] = control_id
    c_trace, c_span, c_start, _c_end = queue_hop(
        j,
        "adt-inbound",
        producer=producer,
        consumer_name=f"HL7 {message_type} process",
        consumer_service=ENGINE,
        published_ns=sent,
        consumed_ns=consumed,
        producer_attrs={**base, **identity, "hl7.message_control_id": control_id},
        consumer_attrs=engine_attrs,
        consumer_error="HL7 parse error: segment PV1 field 3 (assigned location) invalid"
        if parse_error
        else None,
        consumer_ms=12.0,
    )
    if event in {"A01", "A03", "A04"} and not parse_error:
        client, server = j.sid(), j.sid()
        start = c_start + j.lognormal_ns(0.004, 0.3)
        duration = j.lognormal_ns(0.045, 0.5)
        attrs = {
            **http_client("POST", BILLING_HOST, "/api/registrations", 202),
            "hc.facility": j.facility.name,
        }
        j.span(
            c_trace,
            client,
            c_span,
            "POST /api/registrations",
            ENGINE,
            "client",
            start,
            start + duration,
            attrs,
        )
        inner = j.lognormal_ns(0.002, 0.3)
        j.span(
            c_trace,
            server,
            client,
            "POST /api/registrations",
            BILLING,
            "server",
            start + inner,
            start + duration - inner,
            {
                **http_server("POST", "/api/registrations", 202),
                "hc.facility": j.facility.name,
                "hc.key.encounter": encounter,
            },
        )


def eligibility_check(j: Journey, t_ns: int, encounter: str, payer: str, service_line: str) -> None:
    """X12 270/271 as a synchronous API call; 0.1% time out after 5 s (the payer is down)."""
    timeout = j.chance(0.001)
    latency = 5 * 1_000_000_000 if timeout else j.lognormal_ns(0.32, 0.45, cap_s=4.0)
    member = member_identity(j.rng, j.facility)
    trace, client, server = j.trace(), j.sid(), j.sid()
    status = 504 if timeout else 200
    attrs = {
        **hc(
            PATIENT_TO_CASH,
            "eligibility.checked",
            "payer",
            j.facility,
            message_type="X12-270",
            service_line=service_line,
            hc_payer=payer,
            hc_key_encounter=encounter,
        ),
        **http_client("POST", PAYER_HOST, "/x12/270", status),
        **member,
    }
    error = "payer did not answer within 5s (504 Gateway Timeout)" if timeout else None
    j.span(
        trace, client, 0, "payer.eligibility.check", EHR, "client", t_ns, t_ns + latency, attrs, error=error
    )
    _payer_server(
        j,
        ids=(trace, server, client),
        name="payer.eligibility.check",
        message_type="X12-270",
        status=status,
        payer=payer,
        window=(t_ns, t_ns + latency),
        inner_s=0.008,
        error=error,
    )


def prior_auth(j: Journey, t_ns: int, encounter: str, payer: str, service_line: str) -> None:
    """X12 278 request: slower than eligibility (seconds), answered approved, pended or denied."""
    latency = j.lognormal_ns(2.4, 0.5, cap_s=25.0)
    outcome = j.pick((("approved", 0.86), ("pended", 0.10), ("denied", 0.04)))
    trace, client, server = j.trace(), j.sid(), j.sid()
    attrs = {
        **hc(
            PATIENT_TO_CASH,
            "auth.requested",
            "payer",
            j.facility,
            message_type="X12-278",
            service_line=service_line,
            hc_payer=payer,
            hc_key_encounter=encounter,
        ),
        **http_client("POST", PAYER_HOST, "/x12/278", 200),
        "hc.auth.status": outcome,
    }
    j.span(trace, client, 0, "payer.prior_auth.request", EHR, "client", t_ns, t_ns + latency, attrs)
    _payer_server(
        j,
        ids=(trace, server, client),
        name="payer.prior_auth.request",
        message_type="X12-278",
        status=200,
        payer=payer,
        window=(t_ns, t_ns + latency),
        inner_s=0.01,
    )


def _payer_server(
    j: Journey,
    *,
    ids: tuple[int, int, int],
    name: str,
    message_type: str,
    status: int,
    payer: str,
    window: tuple[int, int],
    inner_s: float,
    error: str | None = None,
) -> None:
    """The payer gateway's side of a synchronous X12 call: a server span inside the EHR's client span.

    ``ids`` are the trace, the server span and the client span; ``window`` the client span's start
    and end; ``inner_s`` the typical network time on each side of the server.
    """
    trace, server, client = ids
    start_ns, end_ns = window
    inner = j.lognormal_ns(inner_s, 0.4)
    server_attrs = {
        **http_server("POST", "/x12/" + message_type.removeprefix("X12-"), status),
        "hc.message.type": message_type,
        "hc.payer": payer,
        "hc.facility": j.facility.name,
        "hc.system": "payer",
    }
    j.span(
        trace,
        server,
        client,
        name,
        PAYER_GATEWAY,
        "server",
        start_ns + inner,
        end_ns - inner,
        server_attrs,
        error=error,
    )


def _clinical_line(j: Journey) -> str:
    lines = tuple((name, share) for name, share in j.facility.service_lines if name != "emergency")
    return j.pick(lines)


def _updates(j: Journey, count: int, start_ns: int, end_ns: int) -> list[int]:
    return sorted(start_ns + int(j.rng.random() * (end_ns - start_ns)) for _ in range(count))


def outpatient(j: Journey) -> None:
    """Registration (A04), eligibility, maybe prior auth, updates (A08), discharge (A03) hours later."""
    encounter = j.key("VO")
    line = _clinical_line(j)
    payer = j.pick(PAYER_WEIGHTS)
    t0 = j.origin_ns
    visit = j.lognormal_ns(2.5 * 3600, 0.5, cap_s=10 * 3600)
    needs_auth = line in PRIOR_AUTH_LINES and j.chance(0.25)
    updates = _updates(
        j, j.rng.randrange(4, 8) if j.facility.is_asc else j.rng.randrange(3), t0 + 5 * MINUTE_NS, t0 + visit
    )
    eligibility_at = t0 + j.lognormal_ns(60, 0.6, cap_s=900)
    auth_at = t0 + j.lognormal_ns(240, 0.5, cap_s=1800)
    adt_message(j, "A04", t0, encounter, line)
    eligibility_check(j, eligibility_at, encounter, payer, line)
    if needs_auth:
        prior_auth(j, auth_at, encounter, payer, line)
    for at in updates:
        adt_message(j, "A08", at, encounter, line)
    adt_message(j, "A03", t0 + visit, encounter, line)


def emergency(j: Journey) -> None:
    """ED registration (A04), updates, then discharge (A03) or admission (A01) and a stay."""
    t0 = j.origin_ns
    visit = j.lognormal_ns(4 * 3600, 0.45, cap_s=16 * 3600)
    admitted = j.chance(0.18)
    stay = j.lognormal_ns(2.8 * 86400, 0.55, cap_s=6 * 86400)
    if t0 + visit + (stay if admitted else 0) + HOUR_NS < j.ctx.history_start_ns:
        return  # warm-up: the whole visit ended before the window
    encounter = j.key("VE")
    line = "emergency"
    payer = j.pick(PAYER_WEIGHTS)
    updates = _updates(j, 1 + j.rng.randrange(3), t0 + 3 * MINUTE_NS, t0 + visit)
    inpatient_line = _clinical_line(j)
    transfer_at = t0 + visit + j.uniform_ns(2 * 3600, 20 * 3600)
    eligibility_at = t0 + j.lognormal_ns(600, 0.6, cap_s=3600)
    adt_message(j, "A04", t0, encounter, line)
    eligibility_check(j, eligibility_at, encounter, payer, line)
    for at in updates:
        adt_message(j, "A08", at, encounter, line)
    if not admitted:
        adt_message(j, "A03", t0 + visit, encounter, line)
        return
    adt_message(j, "A01", t0 + visit, encounter, inpatient_line)
    adt_message(j, "A02", transfer_at, encounter, inpatient_line)
    adt_message(j, "A03", t0 + visit + stay, encounter, inpatient_line)


def inpatient(j: Journey) -> None:
    """Elective or direct admission (A01), transfers (A02), updates (A08), discharge (A03) days later."""
    t0 = j.origin_ns
    stay = j.lognormal_ns(3.2 * 86400, 0.6, cap_s=11 * 86400)
    if t0 + stay + HOUR_NS < j.ctx.history_start_ns:
        return  # warm-up: the whole stay ended before the window
    encounter = j.key("VI")
    line = _clinical_line(j)
    payer = j.pick(PAYER_WEIGHTS)
    transfers = _updates(j, j.rng.randrange(3), t0 + HOUR_NS, t0 + stay)
    updates = _updates(j, 1 + j.rng.randrange(3), t0 + 10 * MINUTE_NS, t0 + stay)
    needs_auth = line in PRIOR_AUTH_LINES and j.chance(0.6)
    eligibility_at = t0 + j.lognormal_ns(300, 0.6, cap_s=3600)
    auth_at = t0 + j.lognormal_ns(600, 0.5, cap_s=3600)
    adt_message(j, "A01", t0, encounter, line)
    eligibility_check(j, eligibility_at, encounter, payer, line)
    if needs_auth:
        prior_auth(j, auth_at, encounter, payer, line)
    for at in transfers:
        adt_message(j, "A02", at, encounter, line)
    for at in updates:
        adt_message(j, "A08", at, encounter, line)
    adt_message(j, "A03", t0 + stay, encounter, line)


def census_update(j: Journey) -> None:
    """An A08 on a patient in a bed (orders, vitals, attending changes), round the clock; at the
    surgery center, a pre-op or recovery update on one of the day's cases."""
    if j.facility.is_asc:
        encounter = j.ref_key("encounter.outpatient", "VO", 0, 8 * HOUR_NS)
    else:
        encounter = j.ref_key("encounter.inpatient", "VI", 2 * HOUR_NS, 3 * DAY_NS)
    adt_message(j, "A08", j.origin_ns, encounter, _clinical_line(j))


__all__ = [
    "ENCOUNTER_TAGS",
    "adt_message",
    "census_update",
    "eligibility_check",
    "emergency",
    "inpatient",
    "outpatient",
    "prior_auth",
]
