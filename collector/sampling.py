"""Volume control: keep every span an SLA or an investigation needs, sample healthy bulk exactly.

A span is always stored as itself (weight 1) when it carries business meaning (``hc.stage``,
``hc.amount``, ``hc.key.*``), failed, was slow, is a queue hop (producer, consumer, span
links), or no rule names its service. The rest, healthy spans a rule names, are sampled *within
one request*: they are grouped by every column the dashboard's rollups group spans by (service,
span name, kind, interface, facility, minute of start time), and the lifted columns SLAs select
by (workflow, system, service line, minute of event time); each group of ``g`` spans keeps
``ceil(g / N)`` of them and those carry weights summing to ``g``. Rollups that sum
``sample_weight`` therefore count exactly what was received, minute by minute; what becomes an
estimate is only the latency of the sampled spans (sums and maxima from the kept ones).

Within a group the spans kept are those whose trace id hashes lowest, so the same traces tend
to be kept in every group (a trace is kept or dropped whole as far as the groups allow). The
decision depends only on the request's content: an exporter's retry of the same request keeps
the same spans with the same weights, which the store then skips as duplicates.

The policy is plain data and the functions are pure; ``collector.ingest`` applies them to each
converted request before it reaches the writer.
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from collector.rows import SPAN_INDEX, Row, WriteBatch, with_sample_weight
from vitals.kernel.units import NS, Duration, Fraction

#: Kinds a rule may sample. Producer and consumer spans are queue hops: the service map joins
#: them by links and correlation keys, so they are always kept.
Kind = Literal["internal", "server", "client", "unspecified"]
SAMPLEABLE_KINDS: tuple[Kind, ...] = ("internal", "server", "client", "unspecified")

#: Most spans one kept span may stand for (``one_in``'s bound); far below the store's 32-bit limit.
MAX_ONE_IN = 100_000
DEFAULT_SLOW_S = 1.0

_TRACE, _SPAN = SPAN_INDEX["trace_id"], SPAN_INDEX["span_id"]
_NAME, _SERVICE, _KIND = SPAN_INDEX["name"], SPAN_INDEX["service_name"], SPAN_INDEX["kind"]
_START, _DURATION = SPAN_INDEX["start_time_unix_nano"], SPAN_INDEX["duration_ns"]
_STATUS, _ATTRS, _LINKS = SPAN_INDEX["status_code"], SPAN_INDEX["attributes"], SPAN_INDEX["links"]
_STAGE, _AMOUNT = SPAN_INDEX["hc_stage"], SPAN_INDEX["hc_amount"]
_FACILITY, _MESSAGE_TYPE = SPAN_INDEX["hc_facility"], SPAN_INDEX["hc_message_type"]
_DESTINATION = SPAN_INDEX["messaging_destination"]
_WORKFLOW, _SYSTEM, _LINE = SPAN_INDEX["hc_workflow"], SPAN_INDEX["hc_system"], SPAN_INDEX["hc_service_line"]
_EVENT = SPAN_INDEX["event_time_unix_nano"]
_MINUTE_NS = 60 * NS


# --------------------------------------------------------------------------- the policy


@dataclass(frozen=True)
class SampleRule:
    """Healthy spans of matching services (and span names, kinds) keep one in ``one_in``."""

    service: str
    one_in: int
    name: str | None = None
    kinds: frozenset[str] = frozenset(SAMPLEABLE_KINDS)
    #: Spans at least this long (ns) are kept whole; None: the policy's default.
    slow_ns: int | None = None

    def matches(self, service: str, name: str, kind: str) -> bool:
        return (
            kind in self.kinds
            and _glob(self.service).fullmatch(service) is not None
            and (self.name is None or _glob(self.name).fullmatch(name) is not None)
        )


@dataclass(frozen=True)
class SamplingPolicy:
    """Rules in order (the first that matches a span decides) and the default slow threshold."""

    rules: tuple[SampleRule, ...] = ()
    slow_ns: int = int(DEFAULT_SLOW_S * NS)
    #: (service, name, kind) -> the rule deciding it; filled as spans are seen.
    _decided: dict[tuple[str, str, str], SampleRule | None] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def active(self) -> bool:
        return bool(self.rules)

    def rule_for(self, service: str, name: str, kind: str) -> SampleRule | None:
        key = (service, name, kind)
        try:
            return self._decided[key]
        except KeyError:
            pass
        rule = next((r for r in self.rules if r.matches(service, name, kind)), None)
        if len(self._decided) < 100_000:  # span names may be unbounded; the cache is not
            self._decided[key] = rule
        return rule


_GLOBS: dict[str, re.Pattern[str]] = {}


def _glob(pattern: str) -> re.Pattern[str]:
    compiled = _GLOBS.get(pattern)
    if compiled is None:
        compiled = _GLOBS[pattern] = re.compile(fnmatch.translate(pattern))
    return compiled


# --------------------------------------------------------------------------- the decision

GroupKey = tuple[str, str, str, str, str, str, str, str, str, int, int]


def always_kept(row: Row) -> bool:
    """Spans kept whatever the rules say: business stages and amounts, correlation keys,
    errors, queue hops (producer, consumer, span links)."""
    if row[_STAGE] is not None or row[_AMOUNT] is not None or row[_STATUS] == "error":
        return True
    if row[_LINKS] is not None or row[_KIND] not in SAMPLEABLE_KINDS:
        return True
    attrs = row[_ATTRS]
    # A value quoting these keys only makes the check keep a span it could have sampled.
    return isinstance(attrs, str) and ('"hc.key.' in attrs or '"hc.amount"' in attrs)


def group_key(row: Row) -> GroupKey:
    """What readers group spans by, so one group's weights land in one cell: the dashboard's
    rollups (service, span name, kind, interface, facility, minute of start) and the columns an
    SLA selects or slices spans by (message type, workflow, system, service line, minute of event
    time). The interface is the destination, else the message type; the message type is a column
    of its own too, since an SLA may select it on spans that also carry a destination."""
    return (
        row[_SERVICE],
        row[_NAME],
        row[_KIND],
        row[_DESTINATION] or "",
        row[_MESSAGE_TYPE] or "",
        row[_FACILITY] or "",
        row[_WORKFLOW] or "",
        row[_SYSTEM] or "",
        row[_LINE] or "",
        row[_START] // _MINUTE_NS,
        row[_EVENT] // _MINUTE_NS,
    )


def trace_rank(trace_id: str) -> bytes:
    """The order spans are kept in: a hash of the trace id, the same in every group and every
    collector, so the traces kept in one group tend to be kept in the others."""
    return hashlib.blake2b(trace_id.encode(), digest_size=8).digest()


def weights(size: int, one_in: int) -> list[int]:
    """Weights of the spans a group of ``size`` keeps at one in ``one_in``: ``ceil(size/one_in)``
    of them, as even as possible, summing to ``size``."""
    kept = math.ceil(size / one_in)
    base, extra = divmod(size, kept)
    return [base + 1] * extra + [base] * (kept - extra)


@dataclass(frozen=True)
class Sampled:
    """A request's rows after sampling, and how many spans of each service were left out."""

    batch: WriteBatch
    dropped: dict[str, int]

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


def sample(batch: WriteBatch, policy: SamplingPolicy) -> Sampled:
    """``batch`` with healthy spans named by ``policy``'s rules sampled; other rows as they are.

    The kept spans' weights sum to their group's size, so sum(sample_weight) over any rollup cell
    equals the spans received into it. A span repeated in the request (same trace and span id) is
    counted once, as the store would.
    """
    if not policy.active or not batch.spans:
        return Sampled(batch, {})
    # Members as (trace rank, span id, position): sorted as they are, no key function.
    groups: dict[GroupKey, list[tuple[bytes, str, int]]] = {}
    one_in: dict[GroupKey, int] = {}
    ranks: dict[str, bytes] = {}
    seen: set[tuple[str, str]] = set()
    repeated: set[int] = set()
    rows = batch.spans
    for i, row in enumerate(rows):
        if always_kept(row):
            continue
        rule = policy.rule_for(row[_SERVICE], row[_NAME], row[_KIND])
        if rule is None:
            continue
        slow = policy.slow_ns if rule.slow_ns is None else rule.slow_ns
        if row[_DURATION] >= slow:
            continue
        trace, span = row[_TRACE], row[_SPAN]
        if (trace, span) in seen:
            repeated.add(i)
            continue
        seen.add((trace, span))
        rank = ranks.get(trace)
        if rank is None:
            rank = ranks[trace] = trace_rank(trace)
        key = group_key(row)
        members = groups.get(key)
        if members is None:
            members = groups[key] = []
            one_in[key] = rule.one_in
        members.append((rank, span, i))
    if not groups:
        return Sampled(batch, {})
    weight_of: dict[int, int] = {}
    dropped: dict[str, int] = {}
    for key, members in groups.items():
        ws = weights(len(members), one_in[key])
        if len(ws) == len(members):
            continue  # nothing to leave out: every span stands for itself
        members.sort()
        for (_rank, _span, i), w in zip(members, ws, strict=False):
            weight_of[i] = w
        for _rank, _span, i in members[len(ws) :]:
            weight_of[i] = 0
        dropped[key[0]] = dropped.get(key[0], 0) + len(members) - len(ws)
    if not weight_of and not repeated:
        return Sampled(batch, {})
    kept: list[Row] = []
    gone: set[tuple[str, str]] = set()
    for i, row in enumerate(rows):
        if i in repeated:
            continue
        w = weight_of.get(i, 1)
        if w == 0:
            gone.add((row[_TRACE], row[_SPAN]))
        elif w == 1:
            kept.append(row)
        else:
            kept.append(with_sample_weight(row, w))
    keys = batch.span_keys
    if gone and keys:  # keyed spans are always kept; this only guards the invariant
        keys = [k for k in keys if (k[2], k[3]) not in gone]
    return Sampled(WriteBatch(spans=kept, span_keys=keys, metric_points=batch.metric_points), dropped)


# --------------------------------------------------------------------------- collector.yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SamplingRule(_Strict):
    """Which healthy spans are sampled, and how hard."""

    #: Glob of ``service.name`` values (case-sensitive), e.g. ``fhir-*``.
    service: str = Field(min_length=1)
    #: Glob of span names; left out, every span of the service (of the kinds below).
    name: str | None = Field(default=None, min_length=1)
    #: Span kinds sampled (producer and consumer spans are always kept).
    kinds: list[Kind] = Field(default_factory=lambda: list(SAMPLEABLE_KINDS), min_length=1)
    #: Keep one span in this many of each group (2 or more). Give this or ``rate``.
    one_in: int | None = Field(default=None, ge=2, le=MAX_ONE_IN)
    #: Or the share kept, such as ``10%`` (one in 10); rounded to one in a whole number.
    rate: Fraction | None = None
    #: Spans at least this long are kept whole; left out, ``sampling.slow``.
    slow: Duration | None = None

    @model_validator(mode="after")
    def _one_way(self) -> SamplingRule:
        if (self.one_in is None) == (self.rate is None):
            raise ValueError("give one_in (keep one in N) or rate (such as 10%), not both or neither")
        if self.rate is not None and not 1 / MAX_ONE_IN <= self.rate <= 0.5:
            raise ValueError(f"rate must be between {100 / MAX_ONE_IN:g}% and 50%")
        if self.slow is not None and self.slow <= 0:
            raise ValueError("slow must be more than 0s")
        return self

    def rule(self) -> SampleRule:
        one_in = self.one_in if self.one_in is not None else round(1 / (self.rate or 1))
        return SampleRule(
            service=self.service,
            name=self.name,
            one_in=one_in,
            kinds=frozenset(self.kinds),
            slow_ns=None if self.slow is None else int(self.slow * NS),
        )


class Sampling(_Strict):
    """Volume control: healthy high-volume spans sampled, with counts kept exact by weights."""

    #: Off by default: every span is stored. On, the rules below apply.
    enabled: bool = False
    #: Spans at least this long are always kept (a rule's ``slow`` overrides it for its spans).
    slow: Duration = DEFAULT_SLOW_S
    #: Rules in order; the first matching a span decides. Spans no rule matches are kept.
    rules: list[SamplingRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sensible(self) -> Sampling:
        if self.slow <= 0:
            raise ValueError("slow must be more than 0s")
        if self.enabled and not self.rules:
            raise ValueError("enabled: true needs at least one rule (spans no rule matches are kept)")
        return self

    def policy(self) -> SamplingPolicy:
        """The policy ``collector.ingest`` applies; with sampling off, one that keeps everything."""
        if not self.enabled:
            return SamplingPolicy()
        return SamplingPolicy(tuple(r.rule() for r in self.rules), int(self.slow * NS))


__all__ = [
    "SAMPLEABLE_KINDS",
    "SampleRule",
    "Sampled",
    "Sampling",
    "SamplingPolicy",
    "SamplingRule",
    "always_kept",
    "group_key",
    "sample",
    "weights",
]
