"""The synthetic regional health system: who exists, what they are called, how busy they are.

Every name here is part of the shared vocabulary (team brief): the starter SLA library, the queue
collector and the dashboard select on these exact strings, so they live in one module and are
documented in docs/reference/demo-estate.md. The organisation, its people and its identifiers are invented.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

HEALTH_SYSTEM: Final = "lakeview-health"
TIMEZONE: Final = "America/Chicago"

# -- systems: hc.system -> OpenTelemetry service.name ------------------------------------------
SYSTEM_SERVICES: Final[dict[str, str]] = {
    "ehr": "ehr",
    "engine": "integration-engine",
    "billing": "billing",
    "clearinghouse": "clearinghouse",
    "payer": "payer-gateway",
    "erp": "erp-finance",
    "supply": "erp-supply",
    "hr": "erp-hr",
    "fhir": "fhir-server",  # the EHR's FHIR R4 API (API analytics)
    "scheduling": "scheduling-api",  # internal REST service (API analytics)
}
SERVICE_SYSTEMS: Final[dict[str, str]] = {service: system for system, service in SYSTEM_SERVICES.items()}

EHR, ENGINE, BILLING, CLEARINGHOUSE = "ehr", "integration-engine", "billing", "clearinghouse"
PAYER_GATEWAY, ERP_FINANCE, ERP_SUPPLY, ERP_HR = "payer-gateway", "erp-finance", "erp-supply", "erp-hr"
FHIR_SERVER, SCHEDULING_API = "fhir-server", "scheduling-api"

# -- workflows (hc.workflow) -------------------------------------------------------------------
PATIENT_TO_CASH: Final = "patient-to-cash"
PROCURE_TO_PAY: Final = "procure-to-pay"
CLINICAL_SUPPLY: Final = "clinical-supply"
WORKFORCE_TO_FINANCE: Final = "workforce-to-finance"
RECORD_TO_REPORT: Final = "record-to-report"  # month-end journals: an extension of the vocabulary
WORKFLOWS: Final = (PATIENT_TO_CASH, PROCURE_TO_PAY, CLINICAL_SUPPLY, WORKFORCE_TO_FINANCE, RECORD_TO_REPORT)

# -- stages (hc.stage) -> (workflow, message type or None) -------------------------------------
STAGES: Final[dict[str, tuple[str, str | None]]] = {
    "encounter.admitted": (PATIENT_TO_CASH, "ADT^A01"),
    "encounter.transferred": (PATIENT_TO_CASH, "ADT^A02"),
    "encounter.discharged": (PATIENT_TO_CASH, "ADT^A03"),
    "encounter.registered": (PATIENT_TO_CASH, "ADT^A04"),
    "encounter.updated": (PATIENT_TO_CASH, "ADT^A08"),
    "eligibility.checked": (PATIENT_TO_CASH, "X12-270"),
    "auth.requested": (PATIENT_TO_CASH, "X12-278"),
    "procedure.documented": (PATIENT_TO_CASH, None),
    "charge.sent": (PATIENT_TO_CASH, "DFT^P03"),
    "charge.posted": (PATIENT_TO_CASH, "DFT^P03"),
    "claim.submitted": (PATIENT_TO_CASH, "X12-837"),
    "claim.acknowledged": (PATIENT_TO_CASH, "X12-999"),
    "claim.accepted": (PATIENT_TO_CASH, "X12-277CA"),
    "remit.received": (PATIENT_TO_CASH, "X12-835"),
    "payment.posted": (PATIENT_TO_CASH, None),
    "gl.posted": ("*", None),  # hc.workflow is the posting's origin (payment, invoice, labor, journal)
    "supply.consumed": (CLINICAL_SUPPLY, None),
    "inventory.adjusted": (CLINICAL_SUPPLY, None),
    "requisition.created": (PROCURE_TO_PAY, None),
    "po.issued": (PROCURE_TO_PAY, "X12-850"),
    "goods.received": (PROCURE_TO_PAY, "X12-856"),
    "invoice.matched": (PROCURE_TO_PAY, "X12-810"),
    "timecard.submitted": (WORKFORCE_TO_FINANCE, None),
    "payroll.run": (WORKFORCE_TO_FINANCE, None),
    "labor.posted": (WORKFORCE_TO_FINANCE, None),
}

ADT_STAGES: Final[dict[str, str]] = {
    "A01": "encounter.admitted",
    "A02": "encounter.transferred",
    "A03": "encounter.discharged",
    "A04": "encounter.registered",
    "A08": "encounter.updated",
}

# -- queues of the integration engine ----------------------------------------------------------


@dataclass(frozen=True)
class Queue:
    name: str
    producer: str  # service.name that publishes
    consumer: str  # service.name that consumes
    system: str  # hc.system attribute of the queue's gauges: the consuming system
    consumers: int  # consumer count when healthy


BROKER: Final = "rabbitmq"
MESSAGING_SYSTEM: Final = "rabbitmq"
QUEUES: Final[dict[str, Queue]] = {
    q.name: q
    for q in (
        Queue("adt-inbound", EHR, ENGINE, "engine", 4),
        Queue("charges-outbound", ENGINE, BILLING, "billing", 2),
        Queue("claims-outbound", BILLING, CLEARINGHOUSE, "clearinghouse", 2),
        Queue("gl-postings", BILLING, ERP_FINANCE, "erp", 2),
        Queue("inventory-sync", EHR, ENGINE, "supply", 2),
    )
}

# -- facilities --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facility:
    name: str  # hc.facility
    kind: str  # hospital | asc
    code: str  # prefix of its business identifiers
    scale: float  # volume relative to north-campus
    service_lines: tuple[tuple[str, float], ...]  # (hc.service_line, share of procedures)
    city: str
    cost_centers: int

    @property
    def is_asc(self) -> bool:
        return self.kind == "asc"


SERVICE_LINES: Final = ("cardiology", "orthopedics", "general-surgery", "emergency", "oncology", "imaging")

FACILITIES: Final[tuple[Facility, ...]] = (
    Facility(
        "north-campus",
        "hospital",
        "NC",
        1.0,
        (
            ("cardiology", 0.17),
            ("orthopedics", 0.15),
            ("general-surgery", 0.16),
            ("emergency", 0.22),
            ("oncology", 0.12),
            ("imaging", 0.18),
        ),
        "Lakeview",
        60,
    ),
    Facility(
        "south-campus",
        "hospital",
        "SC",
        0.7,
        (
            ("cardiology", 0.12),
            ("orthopedics", 0.18),
            ("general-surgery", 0.18),
            ("emergency", 0.26),
            ("oncology", 0.06),
            ("imaging", 0.20),
        ),
        "Millbrook",
        45,
    ),
    Facility(
        "lakeside-asc",
        "asc",
        "LA",
        1.0,  # the ASC has its own volume column in STREAM_VOLUMES
        (("orthopedics", 0.55), ("general-surgery", 0.35), ("imaging", 0.10)),
        "Lakeside",
        8,
    ),
)
FACILITY_BY_NAME: Final[dict[str, Facility]] = {f.name: f for f in FACILITIES}

#: Origin events per weekday at north-campus (scale 1.0) and at the ASC; see calendar.py for shapes.
STREAM_VOLUMES: Final[dict[str, tuple[float, float]]] = {
    "encounter.outpatient": (600, 70),  # A04 registration, A08s, A03
    "encounter.emergency": (170, 0),
    "encounter.inpatient": (60, 0),  # A01 admit, A02 transfers, A08s, A03 after the stay
    "census.update": (1500, 240),  # A08 updates on inpatients round the clock; pre-op updates at the ASC
    "charge": (3000, 380),  # procedure documented -> DFT^P03 -> charge posted
    "supply": (700, 220),  # supply / implant consumption -> inventory decrement in the ERP
    "claim": (1200, 120),  # facility and professional 837s -> 999 -> 277CA -> 835 remit -> payment -> GL
    "requisition": (160, 30),  # requisition -> PO -> receipt -> invoice match -> GL
    "timecard": (1400, 110),
    "journal": (25, 3),  # manual GL journals; bursts at month-end close
    "patient-payment": (160, 12),  # portal, cashier and lockbox payments -> GL
    "api.request": (2400, 150),  # calls of the FHIR server, the payer API and the scheduling API
}

# -- payers and denials ------------------------------------------------------------------------
#: (payer id, share of claims, median days to remit)
PAYERS: Final[tuple[tuple[str, float, float], ...]] = (
    ("medicare", 0.34, 5.0),
    ("medicaid", 0.16, 8.0),
    ("granite-health", 0.20, 6.0),
    ("lakeshore-mutual", 0.15, 7.0),
    ("pinnacle-care", 0.15, 6.5),
)
#: CARC code -> share among baseline denials.
DENIAL_CODES: Final[dict[str, float]] = {
    "CO-16": 0.30,  # claim lacks information
    "CO-97": 0.20,  # bundled into another service
    "CO-50": 0.15,  # not medically necessary
    "CO-197": 0.15,  # precertification / authorization absent
    "CO-45": 0.10,  # charge exceeds fee schedule
    "CO-18": 0.10,  # duplicate claim
}

#: Service lines whose scheduled procedures need a prior authorization (X12 278).
PRIOR_AUTH_LINES: Final = frozenset({"cardiology", "orthopedics", "oncology", "imaging"})
#: Service lines whose procedures consume implants.
IMPLANT_LINES: Final = frozenset({"cardiology", "orthopedics"})

__all__ = [
    "ADT_STAGES",
    "BROKER",
    "DENIAL_CODES",
    "FACILITIES",
    "FACILITY_BY_NAME",
    "FHIR_SERVER",
    "HEALTH_SYSTEM",
    "IMPLANT_LINES",
    "MESSAGING_SYSTEM",
    "PAYERS",
    "PRIOR_AUTH_LINES",
    "QUEUES",
    "SCHEDULING_API",
    "SERVICE_LINES",
    "STAGES",
    "STREAM_VOLUMES",
    "SYSTEM_SERVICES",
    "TIMEZONE",
    "WORKFLOWS",
    "Facility",
    "Queue",
]
