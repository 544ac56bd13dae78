"""Selector matching, compiled once so each new span costs a few dictionary lookups.

A tick matches every new span against every SLA; :class:`SelectorIndex` buckets selectors by
their exact stage or span name so a span is only tested against the selectors that could match.
"""

from __future__ import annotations

import fnmatch
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from slas.records import PointRecord, SpanRecord
from slas.spec import Selector

__all__ = ["CompiledSelector", "SelectorIndex", "attribute_text", "match_attributes", "slice_of"]

T = TypeVar("T")
_GLOB = re.compile(r"[*?\[]")

#: Selector field -> span attribute it reads
ATTRIBUTE_FIELDS = {
    "stage": "hc.stage",
    "workflow": "hc.workflow",
    "system": "hc.system",
    "message_type": "hc.message.type",
}


def attribute_text(value: Any) -> str | None:
    """Attribute values compare as text; true/false in lower case as YAML writes them."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _text_matcher(patterns: Iterable[str]) -> Callable[[str | None], bool]:
    patterns = tuple(patterns)
    exact = frozenset(p for p in patterns if not _GLOB.search(p))
    globbed = [re.compile(fnmatch.translate(p)) for p in patterns if _GLOB.search(p)]
    if not globbed:
        return lambda value: value in exact

    def match(value: str | None) -> bool:
        if value is None:
            return False
        return value in exact or any(g.match(value) for g in globbed)

    return match


def match_attributes(
    wanted: Mapping[str, tuple[str, ...]],
) -> Callable[[Mapping[str, Any]], bool]:
    checks = [(key, _text_matcher(values)) for key, values in wanted.items()]

    def match(attributes: Mapping[str, Any]) -> bool:
        return all(check(attribute_text(attributes.get(key))) for key, check in checks)

    return match


class CompiledSelector:
    """A selector as a predicate over :class:`SpanRecord`."""

    def __init__(self, selector: Selector) -> None:
        self.selector = selector
        checks: list[Callable[[SpanRecord], bool]] = []
        for field_name, attribute in ATTRIBUTE_FIELDS.items():
            patterns = getattr(selector, field_name)
            if patterns is not None:
                checks.append(_attribute_check(attribute, _text_matcher(patterns)))
        if selector.span is not None:
            name_match = _text_matcher(selector.span)
            checks.append(lambda span: name_match(span.name))
        if selector.service is not None:
            service_match = _text_matcher(selector.service)
            checks.append(lambda span: service_match(span.service))
        if selector.kind is not None:
            kinds = frozenset(selector.kind)
            checks.append(lambda span: span.kind in kinds)
        if selector.status == "error":
            checks.append(lambda span: span.status == "error")
        elif selector.status == "ok":
            checks.append(lambda span: span.status != "error")
        if selector.attributes:
            attributes_match = match_attributes(selector.attributes)
            checks.append(lambda span: attributes_match(span.attributes))
        self._checks = tuple(checks)

    def __call__(self, span: SpanRecord) -> bool:
        for check in self._checks:  # noqa: SIM110 - a plain loop: this runs for every new span and SLA
            if not check(span):
                return False
        return True

    def bucket(self) -> tuple[str, tuple[str, ...]] | None:
        """An exact stage or span name every match must have, for indexing; None if there is none."""
        selector = self.selector
        if selector.stage and not any(_GLOB.search(p) for p in selector.stage):
            return "stage", selector.stage
        if selector.span and not any(_GLOB.search(p) for p in selector.span):
            return "name", selector.span
        return None


def _attribute_check(attribute: str, match: Callable[[str | None], bool]) -> Callable[[SpanRecord], bool]:
    return lambda span: match(attribute_text(span.attributes.get(attribute)))


class SelectorIndex(Generic[T]):
    """Selectors with payloads; ``candidates(span)`` returns the payloads whose selector matches."""

    def __init__(self) -> None:
        self._by_stage: dict[str, list[tuple[CompiledSelector, T]]] = defaultdict(list)
        self._by_name: dict[str, list[tuple[CompiledSelector, T]]] = defaultdict(list)
        self._always: list[tuple[CompiledSelector, T]] = []

    def add(self, selector: CompiledSelector, payload: T) -> None:
        bucket = selector.bucket()
        if bucket is None:
            self._always.append((selector, payload))
            return
        field_name, values = bucket
        target = self._by_stage if field_name == "stage" else self._by_name
        for value in values:
            target[value].append((selector, payload))

    def matches(self, span: SpanRecord) -> list[T]:
        out: list[T] = []
        stage = span.attributes.get("hc.stage")
        for group in (
            self._by_stage.get(stage, ()) if isinstance(stage, str) else (),
            self._by_name.get(span.name, ()),
            self._always,
        ):
            for selector, payload in group:
                if selector(span):
                    out.append(payload)
        return out


def slice_of(slice_by: tuple[str, ...], attributes: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """The slice key (``hc.facility=north-campus``) and labels; ``""`` when an attribute is missing."""
    if not slice_by:
        return "", {}
    labels: dict[str, str] = {}
    for attribute in slice_by:
        value = attribute_text(attributes.get(attribute))
        if value is None or value == "":
            return "", {}
        labels[attribute] = value
    return ",".join(f"{k}={v}" for k, v in labels.items()), labels


def point_matches(where: Mapping[str, tuple[str, ...]]) -> Callable[[PointRecord], bool]:
    attributes_match = match_attributes(where)
    return lambda point: attributes_match(point.attributes)
