"""Invented patient identifiers, planted where real integration telemetry leaks them.

Engines and EHR interfaces routinely put the patient's name, MRN or a whole PID segment into span
attributes. The demo plants look-alikes so the collector's PHI redaction has something to remove and
the dashboard shows it removed. Nothing here is real: names come from short common lists, phone
numbers use the 555-01xx range reserved for fiction, e-mails use example.org, SSNs start with 9
(never issued).
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Final

from simulator.estate import Facility

_GIVEN: Final = (
    *("JANE", "JOHN", "MARIA", "ROBERT", "LINDA", "MICHAEL", "PATRICIA", "DAVID", "BARBARA", "JAMES"),
    *("ELENA", "AHMED", "GRACE", "WEI", "FATIMA", "LUIS", "NORA", "SAMUEL", "IRIS", "OWEN"),
)
_FAMILY: Final = (
    *("DOE", "ROE", "SAMPLE", "TESTER", "MODEL", "EXAMPLE", "PLACEHOLDER", "FICTION", "DUMMY", "MOCK"),
    *("LAKEVIEW", "MILLBROOK", "HARBOR", "WILLOW", "ASHFORD", "BRIGHTWATER", "STONE", "MEADOW"),
)
_STREETS: Final = ("ELM ST", "OAK AVE", "LAKE SHORE DR", "MILL RD", "HARBOR WAY", "PINE CT")
_AREA_CODES: Final = ("217", "309", "312", "618", "773")


def patient_identity(rng: random.Random, facility: Facility) -> dict[str, str]:
    """Span attributes a careless interface would log for one patient (all invented)."""
    given, family = rng.choice(_GIVEN), rng.choice(_FAMILY)
    middle = chr(ord("A") + rng.randrange(26))
    mrn = f"{facility.code}{rng.randrange(10**7, 10**8)}"
    born = date(1935, 1, 1) + timedelta(days=rng.randrange(365 * 88))
    phone = f"({rng.choice(_AREA_CODES)}) 555-01{rng.randrange(100):02d}"
    street = f"{rng.randrange(100, 9999)} {rng.choice(_STREETS)}"
    sex = rng.choice("FM")
    pid = (
        f"PID|1||{mrn}^^^{facility.code}H^MR||{family}^{given}^{middle}||{born:%Y%m%d}|{sex}|||"
        f"{street}^^{facility.city.upper()}^IL^6{rng.randrange(1000, 9999)}||{phone}"
    )
    return {
        "patient.name": f"{family}, {given} {middle}",
        "patient.mrn": mrn,
        "patient.birth_date": born.isoformat(),
        "patient.phone": phone,
        "patient.address": f"{street}, {facility.city}, IL",
        "patient.email": f"{given.lower()}.{family.lower()}{rng.randrange(100)}@example.org",
        "hl7.pid_segment": pid,
    }


def member_identity(rng: random.Random, facility: Facility) -> dict[str, str]:
    """What an eligibility request carries about the subscriber (all invented)."""
    given, family = rng.choice(_GIVEN), rng.choice(_FAMILY)
    born = date(1935, 1, 1) + timedelta(days=rng.randrange(365 * 88))
    return {
        "payer.member_id": f"XGH{rng.randrange(10**8, 10**9)}",
        "patient.name": f"{family}, {given}",
        "patient.birth_date": born.isoformat(),
        "subscriber.ssn": f"9{rng.randrange(10, 99)}-{rng.randrange(10, 99)}-{rng.randrange(1000, 9999)}",
    }


#: Attribute keys that carry planted identifiers; the collector must not store their values.
PHI_KEYS: Final = frozenset(
    {
        "patient.name",
        "patient.mrn",
        "patient.birth_date",
        "patient.phone",
        "patient.address",
        "patient.email",
        "hl7.pid_segment",
        "payer.member_id",
        "subscriber.ssn",
    }
)

__all__ = ["PHI_KEYS", "member_identity", "patient_identity"]
