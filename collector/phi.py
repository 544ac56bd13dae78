"""Built-in detectors for the HIPAA Safe Harbor identifier kinds, as data.

Two families:

* **key detectors** recognise an attribute whose *name* says it holds an identifier
  (``patient.name``, ``pid.19``, ``memberId``...). They run on a normalised key: camelCase split,
  lower case, every run of other characters turned into ``_``, wrapped in ``_`` so that patterns
  match whole words. ``service.name`` or ``server.address`` are OpenTelemetry conventions, not
  identifiers, and the patterns are written not to catch them.
* **value detectors** find identifiers inside free text (attribute values, span names, status
  messages, event names) by their shape (SSN, phone, e-mail, calendar dates) or by a context
  word in front of them (``DOB:``, ``MRN:``, ``Patient:``) and the HL7 ``FAMILY^GIVEN`` name form.
  A person's name in prose without such a context cannot be told from any other words; keep
  names in attributes whose key says so, and the key detectors catch them.

Each detector has a name used in config (``redaction.detectors``), in the ``[REDACTED:<name>]``
marker and in the ``rule`` label of the redaction counter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

#: Who an identifier in a key may belong to (a patient, a relative, a payer's member...).
_PERSON = (
    r"patient|person|member|subscriber|guarantor|insured|guardian|beneficiary|dependent|"
    r"contact|emergency_contact|next_of_kin|nok|user|customer|employee|mother|father|spouse"
)

KEY_DETECTORS: dict[str, str] = {
    "name": (
        rf"_(?:{_PERSON})_(?:(?:first|last|middle|given|family|full|maiden|legal|display|preferred)_?)?name_"
        r"|_(?:first|last|middle|given|family|full|maiden|legal|sur|fore)_?name_"
        r"|_name_(?:first|last|given|family|full)_"
        r"|_pid_5_|_nk1_2_"
    ),
    "mrn": (
        r"_(?:mrn|medical_record(?:_(?:number|no|num|id))?|med_rec(?:_(?:no|num|number))?"
        r"|chart_(?:number|no|num|id)|patient_(?:id|identifier|number|no|num|ident)|pid_[23]|mrn_id)_"
    ),
    "ssn": r"_(?:ssn|social_security(?:_(?:number|no|num))?|social_sec_(?:no|num)|pid_19)_",
    "birth_date": r"_(?:dob|d_o_b|birth_?date|date_of_birth|birth_?day|birth_dt|birth_time|pid_7)_",
    "address": (
        r"_(?:street(?:_address)?|address_line_?\d*|addr_line_?\d*|zip|zip_?code|postal_code|postcode"
        r"|pid_11|nk1_4)_"
        rf"|_(?:{_PERSON}|home|mailing|residential|postal|billing|street)_addr(?:ess)?(?:_line_?\d*)?_"
    ),
    "phone": (
        r"_(?:phone|telephone|mobile|cell_?phone|fax|pager)(?:_?(?:number|no|num))?_"
        r"|_(?:tel|cell)_(?:number|no|num)_|_pid_1[34]_|_nk1_5_"
    ),
    "email": r"_e_?mail(?:_?(?:address|addr))?_",
    "member_id": (
        r"_(?:member|subscriber|beneficiary|insurance|insured|policy|health_plan|plan_member|medicaid"
        r"|medicare|payer_member)_(?:id|number|no|num|identifier)_"
        r"|_(?:memberid|subscriberid|mbi|hicn|in1_36|in1_49)_"
    ),
    "account_number": (
        r"_(?:account|acct|bank_account|patient_account|guarantor_account)_(?:number|no|num)_"
        r"|_(?:patient_account|guarantor_account)_id_"
        r"|_(?:card_number|credit_card(?:_number)?|cc_number|iban|routing_number|pid_18)_"
    ),
    "license_number": (
        r"_(?:license|licence|certificate|cert|dl)_(?:number|no|num)_|_drivers?_licen[cs]e(?:_(?:number|no))?_"
    ),
    "vehicle_id": r"_(?:vin|vehicle_(?:id|identifier|number)|license_plate|plate_number)_",
    "device_id": r"_(?:implant|device)_(?:serial(?:_number)?|udi)_|_udi_",
    "biometric": r"_(?:biometric|fingerprint|retina_scan|voiceprint|face_?print|full_face_photo|photo)_",
}

_DATE = (
    r"(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|(?:19|20)\d{2}[/.-]\d{1,2}[/.-]\d{1,2}|(?:19|20)\d{6}"
    r"|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2},?\s+\d{4}"
    r"|\d{1,2}\s+(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{4})"
)

#: Words that start another detector's context: a name never runs on into them.
_CONTEXT_WORDS = (
    r"(?i:(?:mrn|dob|d\.o\.b|ssn|date|born|birth|phone|tel|fax|email|e-mail|member|acct|account|chart)\b)"
)

#: name -> pattern. A ``(?P<ctx>...)`` group marks a context prefix that is kept in the output.
VALUE_DETECTORS: dict[str, str] = {
    # A raw HL7 v2 segment about a person (patient, next of kin, guarantor, insurance): every field
    # is an identifier, so everything after the segment id goes.
    "hl7_segment": r"(?P<ctx>(?<![A-Za-z0-9])(?:PID|PD1|NK1|GT1|IN1|IN2|IN3|MRG)\|)[^\r\n]*",
    # Context words first: "DOB: 1961-04-12" is a birth date before it is a date.
    "birth_date": (
        r"(?P<ctx>(?i:\b(?:dob|d\.o\.b\.?|date\s+of\s+birth|birth\s*date|born)\b)\s*[:=#]?\s*(?:on\s+)?)"
        + _DATE
    ),
    "mrn": (
        r"(?P<ctx>(?i:\b(?:mrn|medical\s+record(?:\s+(?:number|no\.?|\#))?|chart\s+(?:number|no\.?|\#))"
        r")\s*[:=#]?\s*)[A-Za-z0-9][A-Za-z0-9-]{3,}"
    ),
    "ssn": (
        r"(?<![\w-])(?!000|666|9\d\d)\d{3}[- ](?!00)\d{2}[- ](?!0000)\d{4}(?![\w-])"
        r"|(?P<ctx>(?i:\b(?:ssn|social\s+security(?:\s+(?:number|no\.?))?)\b)\s*[:=#]?\s*)\d{9}\b"
    ),
    "name": (
        r"(?P<ctx>(?i:\b(?:patient|pt|member|subscriber|guarantor|insured|guardian)(?:'s)?"
        r"(?:\s+(?:full\s+)?name)?|\b(?:full|first|last|given|family)\s+name|^name)\s*[:=]\s*)"
        rf"[A-Z][A-Za-z'.-]+(?:,?\s+(?!{_CONTEXT_WORDS})[A-Z][A-Za-z'.-]*){{0,3}}"
        # HL7 XPN: FAMILY^GIVEN[^MIDDLE...]; trigger events such as ADT^A01 have digits and stay.
        r"|\b[A-Za-z][A-Za-z'-]*\^[A-Za-z][A-Za-z'-]*(?![\w])(?:\^[A-Za-z'-]*)*"
    ),
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "phone": (
        r"(?<![\w+-])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?![\w-])"
        r"|(?<![\w+])\+[1-9]\d{9,14}\b"
    ),
    # Safe Harbor removes every element of a date but the year; a date that is part of a
    # timestamp (2024-05-01T10:00) is when the telemetry happened and stays.
    "date": (
        r"\b(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])/(?:19|20)\d{2}\b"
        r"|\b(?:19|20)\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])\b(?![T ]?\d{1,2}:)"
    ),
}

ALL_KEY_DETECTORS: frozenset[str] = frozenset(KEY_DETECTORS)
ALL_VALUE_DETECTORS: frozenset[str] = frozenset(VALUE_DETECTORS)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalize_key(key: str) -> str:
    """``patient.birthDate`` -> ``_patient_birth_date_`` (the form key detectors match)."""
    return "_" + _NON_WORD.sub("_", _CAMEL.sub("_", key).lower()).strip("_") + "_"


def compile_key_detectors(names: Iterable[str]) -> Callable[[str], str | None]:
    """A function from an attribute key to the name of the first detector that matches, or None."""
    chosen = [name for name in KEY_DETECTORS if name in set(names)]
    if not chosen:
        return lambda key: None
    pattern = re.compile("|".join(f"(?P<{name}>{KEY_DETECTORS[name]})" for name in chosen))

    def detect(key: str) -> str | None:
        match = pattern.search(normalize_key(key))
        return match.lastgroup if match else None

    return detect


def compile_value_detectors(names: Iterable[str]) -> re.Pattern[str] | None:
    """One alternation over the chosen value detectors; group ``<name>`` tells which matched.

    Context groups are renamed ``<name>_ctx`` so each stays unique in the combined pattern.
    """
    chosen = [name for name in VALUE_DETECTORS if name in set(names)]
    if not chosen:
        return None
    parts = [
        f"(?P<{name}>{VALUE_DETECTORS[name].replace('(?P<ctx>', f'(?P<{name}_ctx>')})" for name in chosen
    ]
    return re.compile("|".join(parts))


__all__ = [
    "ALL_KEY_DETECTORS",
    "ALL_VALUE_DETECTORS",
    "KEY_DETECTORS",
    "VALUE_DETECTORS",
    "compile_key_detectors",
    "compile_value_detectors",
    "normalize_key",
]
