"""The estate's APIs: a FHIR server, the payer gateway's API and an internal scheduling service.

Each journey is one API call, seen by the server that answers it (a ``server`` span with
``http.route``, ``http.request.method``, ``http.response.status_code`` and the caller's
``client.id``), so the APIs page of ``vitals demo`` has FHIR reads and searches, payer
eligibility and claim-status calls, and REST calls of the scheduling service, each with its
consumers, latency and a few errors (not-found reads, throttled portals, payer time-outs,
rejected writes). Routes are templates: a concrete id never appears in a span. Every number comes
from the journey's seeded generator, so the same seed gives the same calls.
"""

from __future__ import annotations

from typing import NamedTuple

from simulator.estate import FHIR_SERVER, PAYER_GATEWAY, SCHEDULING_API
from simulator.model import AttributeValue
from simulator.workflows.base import Journey, http_server


class Api(NamedTuple):
    service: str
    method: str
    route: str
    weight: float
    median_s: float
    consumers: tuple[tuple[str, float], ...]
    #: (HTTP status, status message or None, chance per call)
    failures: tuple[tuple[int, str | None, float], ...] = ()


_CLINICAL = (
    ("patient-portal", 5.0),
    ("clinician-mobile", 3.0),
    ("care-management", 1.5),
    ("analytics-etl", 0.5),
)
_THROTTLED = (429, None, 0.004)

APIS: tuple[Api, ...] = (
    Api(FHIR_SERVER, "GET", "/fhir/r4/Patient/{id}", 10, 0.045, _CLINICAL, ((404, None, 0.006), _THROTTLED)),
    Api(FHIR_SERVER, "GET", "/fhir/r4/Encounter", 7, 0.12, _CLINICAL, (_THROTTLED,)),
    Api(FHIR_SERVER, "GET", "/fhir/r4/Observation", 8, 0.18, _CLINICAL, (_THROTTLED,)),
    Api(
        FHIR_SERVER,
        "POST",
        "/fhir/r4/Observation",
        2,
        0.09,
        (("clinician-mobile", 3.0), ("device-gateway", 2.0)),
        ((422, None, 0.012), (500, "database deadlock detected; transaction rolled back", 0.002)),
    ),
    Api(FHIR_SERVER, "GET", "/fhir/r4/Coverage/{id}", 2, 0.05, (("patient-access", 1.0), ("billing", 1.0))),
    Api(
        FHIR_SERVER, "GET", "/fhir/r4/metadata", 0.5, 0.008, (("patient-portal", 1.0), ("analytics-etl", 1.0))
    ),
    Api(
        PAYER_GATEWAY,
        "POST",
        "/eligibility/270",
        4,
        0.8,
        (("patient-access", 3.0), ("billing", 1.0)),
        ((503, "payer endpoint unavailable: upstream timed out after 30000 ms", 0.01), (400, None, 0.004)),
    ),
    Api(
        PAYER_GATEWAY,
        "POST",
        "/claims/status/276",
        1.5,
        1.2,
        (("billing", 1.0),),
        ((504, "payer endpoint unavailable: upstream timed out after 30000 ms", 0.008),),
    ),
    Api(
        SCHEDULING_API,
        "GET",
        "/api/v1/appointments",
        5,
        0.06,
        (("patient-portal", 3.0), ("call-center", 2.0)),
    ),
    Api(
        SCHEDULING_API,
        "POST",
        "/api/v1/appointments",
        1.5,
        0.15,
        (("patient-portal", 2.0), ("call-center", 1.0)),
        ((409, None, 0.02),),
    ),
    Api(
        SCHEDULING_API,
        "GET",
        "/api/v1/providers/{id}/slots",
        4,
        0.07,
        (("patient-portal", 1.0), ("call-center", 1.0)),
    ),
)
_WEIGHTED = tuple((str(i), api.weight) for i, api in enumerate(APIS))


def api_request(j: Journey) -> None:
    """One call of one of the estate's APIs."""
    api = APIS[int(j.pick(_WEIGHTED))]
    consumer = j.pick(api.consumers)
    status, message = 200 if api.method == "GET" else 201, None
    draw = j.rng.random()
    for code, text, chance in api.failures:
        if draw < chance:
            status, message = code, text
            break
        draw -= chance
    median = api.median_s * (6.0 if status in (503, 504) else 1.0)
    duration = j.lognormal_ns(median, 0.6, cap_s=60.0)
    attrs: dict[str, AttributeValue] = {
        **http_server(api.method, api.route, status),
        "client.id": consumer,
        "hc.facility": j.facility.name,
    }
    error = (message or f"HTTP {status}") if status >= 500 else None
    j.span(
        j.trace(),
        j.sid(),
        0,
        f"{api.method} {api.route}",
        api.service,
        "server",
        j.origin_ns,
        j.origin_ns + duration,
        attrs,
        error=error,
    )


__all__ = ["APIS", "Api", "api_request"]
