"""The error signature of a failed business transaction: what its failures have in common.

Two failures belong together when they failed at the same stage, against the same system, with
the same message once every identifier is taken out of it: "claim 81234 rejected" and "claim
99120 rejected" are one problem, seen twice. The message comes from the stored span, which the
collector already redacted; normalising it again removes what redaction leaves on purpose
(numbers, hex and UUID ids, quoted values, ``[REDACTED:kind]`` markers), so a signature holds no
identifier and no PHI and is safe to show, store and send.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

#: A normalised message is cut here: the signature is a label, not the whole text.
MAX_MESSAGE = 300

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\[REDACTED:[^\]]*\]"), "<redacted>"),
    (
        re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
        "<uuid>",
    ),
    (re.compile(r"\"[^\"]*\"|'[^']*'|`[^`]*`"), "<value>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    # A hex id: long enough to be no word, with at least one digit and one letter.
    (re.compile(r"\b(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    # Digits after letters: an id (MRN12345) from 3 digits on; HL7, PV1, X12 are names, kept.
    (re.compile(r"(?<=[A-Za-z])\d{3,}"), "<n>"),
    (re.compile(r"(?<![A-Za-z\d])\d+(?:[.,]\d+)*"), "<n>"),
)
_SPACE = re.compile(r"\s+")


def normalise(message: str | None) -> str:
    """The message with identifiers replaced by placeholders and spaces collapsed."""
    text = message or ""
    for pattern, placeholder in _RULES:
        text = pattern.sub(placeholder, text)
    text = _SPACE.sub(" ", text).strip()
    return text[:MAX_MESSAGE] or "(no message)"


@dataclass(frozen=True, order=True)
class Signature:
    stage: str
    system: str
    message: str

    @property
    def key(self) -> str:
        """A short stable id of the group (its row's primary key, the API's and CLI's handle)."""
        text = f"{self.stage}\x1f{self.system}\x1f{self.message}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def signature_of(stage: str, system: str | None, status_message: str | None) -> Signature:
    return Signature(stage, system or "", normalise(status_message))


__all__ = ["MAX_MESSAGE", "Signature", "normalise", "signature_of"]
