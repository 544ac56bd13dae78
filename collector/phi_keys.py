"""The vocabulary of identifier kinds, as the words of a key: attribute keys, and the column,
form-field and JSON member names in front of a value in free text (``WHERE mrn = '…'``,
``?patient_name=…``, ``"birthDate": "…"``).

Keys are matched in a normalised form: camelCase split, lower case, every run of other characters
turned into ``_``, wrapped in ``_`` so that patterns match whole words. ``service.name`` or
``server.address`` are OpenTelemetry conventions, not identifiers, and the patterns are written
not to catch them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import re2

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

#: Member names that say "identifier" only in a document carried as text (FHIR JSON, forms,
#: ``tel:`` URIs), never as attribute keys: ``name`` or ``address`` alone are OpenTelemetry words.
#: name -> (kind, what value it takes): ``structured`` only a JSON array or object (a FHIR
#: ``HumanName``, ``ContactPoint``, ``Identifier`` or ``Address`` list), ``person`` that or two to
#: four capitalised words (``name="Jane Doe"``, ``q=Jane+Doe``; ``name="erp.gl.post"`` stays),
#: ``capitalised`` a quoted value, a value after ``=``, or one starting with a capital after ``:``
#: (``address family: inet`` stays), ``any`` every value.
TEXT_KEYS: dict[str, tuple[str, str]] = {
    "name": ("name", "person"),
    "q": ("name", "person"),
    "query": ("name", "person"),
    "search": ("name", "person"),
    "given": ("name", "capitalised"),
    "family": ("name", "capitalised"),
    "telecom": ("phone", "structured"),
    "tel": ("phone", "any"),
    "identifier": ("mrn", "structured"),
    "address": ("address", "structured"),
}

ALL_KEY_DETECTORS: frozenset[str] = frozenset(KEY_DETECTORS)

#: Words of the vocabulary that only qualify another (``patient_id``, ``first_name``,
#: ``zip_code``): a key made of these alone names no identifier.
_QUALIFIERS = frozenset(
    {"number", "no", "num", "id", "first", "last", "middle", "full", "maiden", "legal", "sur", "fore"}
    | {"display", "preferred", "line", "of", "date", "day", "dt", "time", "code", "serial", "scan"}
)


def key_stems() -> list[str]:
    """The words at least one of which every key the vocabulary flags contains (lower case),
    taken from the patterns themselves: a pattern over free text can look for them first."""
    words = {
        word
        for pattern in KEY_DETECTORS.values()
        for word in re.findall(r"[a-z][a-z0-9]+", pattern.replace("_?", "_"))
    }
    return sorted((words - _QUALIFIERS) | set(TEXT_KEYS), key=lambda word: (-len(word), word))


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalize_key(key: str) -> str:
    """``patient.birthDate`` -> ``_patient_birth_date_`` (the form key detectors match)."""
    return "_" + _NON_WORD.sub("_", _CAMEL.sub("_", key).lower()).strip("_") + "_"


def _alternation(names: Iterable[str]) -> Any:
    chosen = [name for name in KEY_DETECTORS if name in set(names)]
    if not chosen:
        return None
    return re2.compile("|".join(f"(?P<{name}>{KEY_DETECTORS[name]})" for name in chosen))


def compile_key_detectors(names: Iterable[str]) -> Callable[[str], str | None]:
    """A function from an attribute key to the name of the first detector that matches, or None."""
    pattern = _alternation(names)
    if pattern is None:
        return lambda key: None

    def detect(key: str) -> str | None:
        match = pattern.search(normalize_key(key))
        # Every alternative is a named group, so a match always names its detector.
        return str(match.lastgroup) if match else None

    return detect


_ALL = _alternation(ALL_KEY_DETECTORS)


def text_key_kind(key: str) -> tuple[str, str] | None:
    """(kind, value shape) of the key in front of a value in free text, or None: the key
    detectors' vocabulary (any value), else the last word of the key in ``TEXT_KEYS``."""
    normalized = normalize_key(key)
    match = _ALL.search(normalized) if _ALL is not None else None
    if match is not None:
        return str(match.lastgroup), "any"
    return TEXT_KEYS.get(normalized[:-1].rpartition("_")[2])


__all__ = [
    "ALL_KEY_DETECTORS",
    "KEY_DETECTORS",
    "TEXT_KEYS",
    "compile_key_detectors",
    "key_stems",
    "normalize_key",
    "text_key_kind",
]
