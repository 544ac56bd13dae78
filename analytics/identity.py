"""Which API a span is a call of, and who called it: pure rules over a stored span's fields.

An API is (service, route template, method), seen from one side (``server`` or ``client``).
Only server and client spans that carry a route template count: ``http.route`` (server) or
``url.template`` (client). A span with only a concrete URL (``url.full``, ``url.path``) is left
out on purpose: its path would carry identifiers, and a dashboard keyed on them would both leak
and explode. Templates are normalised again (segments that look like ids become ``{id}``: four
or more digits, UUIDs, long hex, long tokens with digits; numbers of up to three digits stay, as
X12 transaction sets such as ``/eligibility/270`` and versions are spelled so;
redaction markers ``{redacted}``, the query string is dropped), because a mis-instrumented
service may send a concrete path as its route.

FHIR: the interaction (``read``, ``vread``, ``search``, ``create``, ``update``, ``patch``,
``delete``, ``history``, ``capabilities``) and the resource type come from ``fhir.interaction``
and ``fhir.resource_type`` when the span carries them, else from the route of a FHIR base
(a path with a ``fhir`` segment) and the method, as the FHIR REST specification lays them out.

The consumer is the first of the configured attributes the span carries (by default
``client.id``); a span with none is counted under the empty consumer, shown as "(unknown)". The
user agent is not a fallback: it names software, not a consumer, and varies per version.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

__all__ = [
    "ALL",
    "DEFAULT_CONSUMER_ATTRIBUTES",
    "ERROR_CLASSES",
    "FHIR_INTERACTIONS",
    "ApiKey",
    "api_of",
    "error_class",
    "fhir_of",
    "http_status",
    "normalise_route",
    "side_of",
    "signature",
]

#: A key column's value in rows that sum over it (every consumer, or every API); a span's own
#: ``*`` is stored as ``{*}`` so the two never mix.
ALL = "*"
#: Attributes read for the consumer, first present wins.
DEFAULT_CONSUMER_ATTRIBUTES: tuple[str, ...] = ("client.id",)
FHIR_INTERACTIONS = (
    "read",
    "vread",
    "search",
    "create",
    "update",
    "patch",
    "delete",
    "history",
    "capabilities",
)
#: FHIR REST: method on a type -> interaction; method on an instance -> interaction.
_ON_TYPE = {"GET": "search", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
_ON_INSTANCE = {"GET": "read", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
#: Error classes, in the order the pages show them.
ERROR_CLASSES = ("4xx", "5xx", "other")
MAX_TEXT = 200

_ID_SEGMENT = re.compile(
    r"^(?:\d{4,}|[0-9a-fA-F]{8}-[0-9a-fA-F-]{27,}|[0-9a-fA-F]{12,}|(?=[^{]*\d)[A-Za-z0-9._-]{16,})$"
)
_REDACTED = re.compile(r"\[REDACTED:[^\]]*\]|%5BREDACTED")
_RESOURCE = re.compile(r"^[A-Z][A-Za-z]+$")
_SIGNATURE_IDS = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|\b[0-9a-fA-F]{16,}\b|\d+"
)


class ApiKey(NamedTuple):
    """One API as seen by one consumer (the rollup key without its time bucket)."""

    service: str
    side: str  # server | client
    route: str
    method: str
    interaction: str  # a FHIR interaction, or ''
    resource_type: str  # a FHIR resource type, or ''
    consumer: str


def side_of(kind: str | None) -> str | None:
    """``server`` or ``client`` for the span kinds that are API calls, else None."""
    text = (kind or "").lower().removeprefix("span_kind_")
    return {"server": "server", "client": "client", "2": "server", "3": "client"}.get(text)


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value)[:MAX_TEXT]


def normalise_route(route: str) -> str:
    """A route template with no identifiers in it (see the module docstring)."""
    path = route.split("?", 1)[0].split("#", 1)[0].strip()
    parts = []
    for segment in path.split("/"):
        if _REDACTED.search(segment):
            parts.append("{redacted}")
        elif _ID_SEGMENT.match(segment):
            parts.append("{id}")
        else:
            parts.append(segment)
    return "/".join(parts)[:MAX_TEXT] or "/"


def _is_param(segment: str) -> bool:
    return segment.startswith(("{", ":", "<")) or segment in ("{id}", "{redacted}", "*")


def fhir_of(route: str, method: str, attributes: Mapping[str, Any]) -> tuple[str, str]:
    """(interaction, resource type) of a FHIR call, or ('', '') for any other API."""
    interaction = _text(attributes.get("fhir.interaction")).lower()
    resource = _text(attributes.get("fhir.resource_type") or attributes.get("fhir.resource.type"))
    segments = [s for s in route.split("/") if s]
    lowered = [s.lower() for s in segments]
    base = next((i for i, s in enumerate(lowered) if s == "fhir"), None)
    if base is None and not (interaction or resource):
        return "", ""
    rest = segments[(base or 0) + 1 :] if base is not None else segments
    # Skip a version segment (r4, R5, stu3, dstu2).
    while rest and re.match(r"^(?:r\d|stu\d|dstu\d)$", rest[0], re.IGNORECASE):
        rest = rest[1:]
    derived_resource, derived = _derive(rest, method)
    resource = resource or derived_resource
    if interaction not in FHIR_INTERACTIONS:
        interaction = derived
    return interaction, resource


def _derive(rest: Sequence[str], method: str) -> tuple[str, str]:
    if not rest:
        return "", ""
    if rest[0] == "metadata":
        return "", "capabilities" if method == "GET" else ""
    if rest[0] == "_history":
        return "", "history"
    resource = rest[0] if _RESOURCE.match(rest[0]) else ""
    if not resource:
        return "", ""
    tail = list(rest[1:])
    if not tail:
        return resource, _ON_TYPE.get(method, "")
    if tail == ["_search"]:
        return resource, "search"
    if tail == ["_history"]:
        return resource, "history"
    if len(tail) == 1 and _is_param(tail[0]):
        return resource, _ON_INSTANCE.get(method, "")
    if len(tail) >= 2 and tail[1] == "_history":
        return resource, "vread" if len(tail) == 3 else "history"
    return resource, ""


def http_status(attributes: Mapping[str, Any]) -> int | None:
    value = attributes.get("http.response.status_code", attributes.get("http.status_code"))
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def error_class(status: int | None, span_error: bool) -> str | None:
    """``4xx``, ``5xx``, ``other`` (a failed span with no HTTP error status) or None (success)."""
    if status is not None and 500 <= status <= 599:
        return "5xx"
    if status is not None and 400 <= status <= 499:
        return "4xx"
    return "other" if span_error else None


def signature(status: int | None, message: str | None) -> str:
    """An error's group: its HTTP status and its (already redacted) status message with numbers
    and hex ids replaced by ``#``, so one failure mode reads as one line."""
    text = _SIGNATURE_IDS.sub("#", (message or "").strip())
    text = re.sub(r"\s+", " ", text)[:MAX_TEXT]
    head = str(status) if status is not None else "error"
    return f"{head} {text}".strip()


@functools.lru_cache(maxsize=4096)
def _route_facts(raw: str, method: str, fhir: tuple[str, str]) -> tuple[str, str, str]:
    """The normalised route and FHIR facts: a function of few distinct inputs (templates), so
    cached; the fold calls it for every span."""
    route = normalise_route(raw)
    attributes = {"fhir.interaction": fhir[0], "fhir.resource_type": fhir[1]}
    interaction, resource = fhir_of(route, method, attributes)
    return route, interaction, resource


def api_of(
    service: str,
    kind: str | None,
    attributes: Mapping[str, Any],
    consumer_attributes: Sequence[str] = DEFAULT_CONSUMER_ATTRIBUTES,
) -> ApiKey | None:
    """The API a span is a call of, or None when it is not an API call (see the module docstring)."""
    side = side_of(kind)
    if side is None:
        return None
    raw = _text(attributes.get("http.route") if side == "server" else None) or _text(
        attributes.get("url.template") or attributes.get("http.route")
    )
    if not raw:
        return None
    method = _text(attributes.get("http.request.method") or attributes.get("http.method")).upper()[:16]
    fhir = (
        _text(attributes.get("fhir.interaction")),
        _text(attributes.get("fhir.resource_type") or attributes.get("fhir.resource.type")),
    )
    route, interaction, resource = _route_facts(raw, method, fhir)
    consumer = next((_text(attributes[key]) for key in consumer_attributes if attributes.get(key)), "")
    if _REDACTED.search(consumer):
        consumer = "{redacted}"
    if consumer == ALL:
        consumer = "{*}"
    if service == ALL:
        service = "{*}"
    return ApiKey(service, side, route, method, interaction, resource, consumer)
