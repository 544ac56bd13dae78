"""Items of an OTLP request that cannot be stored, counted by reason for ``partial_success``.

Exporters ignore ``partial_success``, so the same counts also go to the collector's metrics
(label ``reason``, a short fixed vocabulary), while the message names a few offenders by their
position in the request so the sender can find them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: reason label -> what the sender should read.
REASONS: dict[str, str] = {
    "invalid_trace_id": "trace_id must be 16 bytes (32 hex digits) and not all zero",
    "invalid_span_id": "span_id must be 8 bytes (16 hex digits) and not all zero",
    "invalid_parent_span_id": "parent_span_id must be empty or 8 bytes (16 hex digits)",
    "missing_start_time": "start_time_unix_nano is missing",
    "missing_end_time": "end_time_unix_nano is missing",
    "end_before_start": "end_time_unix_nano is before start_time_unix_nano",
    "time_out_of_range": "a timestamp or count does not fit in a signed 64-bit integer",
    "missing_metric_name": "the metric has no name",
    "missing_time": "time_unix_nano is missing",
}

#: How many offenders the message names; the counts cover all of them.
_EXAMPLES = 5


@dataclass
class Rejections:
    counts: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    #: (attribute, why) -> items stored without that attribute's meaning (kept as a plain attribute).
    ignored: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, reason: str, where: str, n: int = 1) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + n
        if len(self.examples) < _EXAMPLES:
            self.examples.append(f"{where}: {REASONS[reason]}")

    def ignore(self, attribute: str, why: str) -> None:
        """An item is stored, but ``attribute`` (a fixed name, never the sender's value) was unusable."""
        key = (attribute, why)
        self.ignored[key] = self.ignored.get(key, 0) + 1

    def message(self, noun: str) -> str:
        """``"2 spans rejected (invalid_trace_id: 2); resource_spans[0]...spans[3]: trace_id ..."``.

        Ignored attributes follow: ``"hc.occurred_at is not a time on 1 span; stored ..."``.
        """
        parts: list[str] = []
        if self.counts:
            by_reason = ", ".join(f"{reason}: {n}" for reason, n in sorted(self.counts.items()))
            more = self.total - len(self.examples)
            tail = f"; and {more} more" if more > 0 else ""
            parts.append(f"{self.total} {noun} rejected ({by_reason}); " + "; ".join(self.examples) + tail)
        for (attribute, why), n in sorted(self.ignored.items()):
            parts.append(
                f"{attribute} is {why} on {n} {noun}; those were stored with it as a plain attribute only"
            )
        return "; ".join(parts)


__all__ = ["REASONS", "Rejections"]
