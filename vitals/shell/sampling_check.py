"""Where collector.yaml's span sampling would make an SLA's counts estimates (``vitals config check``).

The collector keeps one healthy span in N of a group and weighs it N; the SLA engine counts the
weight. That is exact for an SLA whose every selector and slice reads only what a group's spans
share (:data:`GROUPED_ATTRIBUTES`, ``collector.sampling.group_key``), and for latency only when
every span the SLA could call bad is kept as itself: the sampler keeps spans at least ``slow``
long, so the rule's ``slow`` must be at most the SLA's ``under``.

- **error**: a rule may sample spans a latency SLA selects and keeps spans whole only from a
  ``slow`` above the SLA's ``under``. The bad count is then an estimate exactly where the SLA
  looks (spans between ``under`` and ``slow``), one kept span weighing N can page, and the fix
  is one line that costs little (spans that slow are few when the SLA is met).
- **warning**: a rule may sample spans a ratio, latency or freshness SLA selects, and the SLA
  tells spans apart by an attribute the sampler does not group by (``attributes:`` in a
  selector, or ``slice_by``). Counts stay unbiased but become estimates; an SLA that has to be
  exact wants the rule narrowed, the user may accept it, so this does not fail the check unless
  asked (``--strict``).

Pure: plain config models in, findings out; the shell names files and lines.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from collector.sampling import Sampling, SamplingRule
from slas.spec import SLA, FreshnessSli, LatencySli, RatioSli, Selector
from vitals.kernel.units import format_duration

__all__ = ["GROUPED_ATTRIBUTES", "Finding", "globs_overlap", "may_sample", "sampling_findings", "shadowed"]

#: Span attributes every span of one sampling group shares (``collector.sampling.group_key``:
#: service, facility, workflow, system, service line, the messaging destination and the message
#: type). Span name and kind are grouped too (selector fields).
GROUPED_ATTRIBUTES = frozenset(
    {
        "service.name",
        "hc.facility",
        "hc.workflow",
        "hc.system",
        "hc.service_line",
        "hc.message.type",
        "messaging.destination.name",
    }
)
#: Attributes a sampled span never has (spans with them are always kept): a selector requiring
#: one can never pick a sampled span, and within sampled groups it is the same (absent) for all.
NEVER_SAMPLED_ATTRIBUTES = frozenset({"hc.stage", "hc.amount"})

_GLOB_CHARS = re.compile(r"[*?\[]")

Severity = Literal["error", "warning"]
FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Finding:
    """One SLA whose counts a sampling rule would turn into estimates."""

    severity: Severity
    #: Where in collector.yaml the fix goes, e.g. ("sampling", "rules", 0, "slow").
    field: FieldPath
    sla_id: str
    message: str


def _never_sampled(attribute: str) -> bool:
    return attribute in NEVER_SAMPLED_ATTRIBUTES or attribute.startswith("hc.key.")


# --------------------------------------------------------------------------- globs


@functools.lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern))


#: One position of a glob: a star, or the set of characters it accepts (negated: all but those).
_Token = Literal["*"] | tuple[bool, frozenset[str]]


def _tokens(pattern: str) -> tuple[_Token, ...]:
    """A glob (``fnmatch``: ``*``, ``?``, ``[...]``, ``[!...]``) as positions."""
    out: list[_Token] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        i += 1
        if c == "*":
            if not out or out[-1] != "*":
                out.append("*")
        elif c == "?":
            out.append((True, frozenset()))
        elif c == "[":
            end = i + 1 if pattern[i : i + 1] == "!" else i
            end = pattern.find("]", end + 1 if pattern[end : end + 1] == "]" else end)
            if end < 0:
                out.append((False, frozenset("[")))
                continue
            body, negated = pattern[i:end], False
            if body.startswith("!"):
                body, negated = body[1:], True
            chars: set[str] = set()
            j = 0
            while j < len(body):
                if j + 2 < len(body) and body[j + 1] == "-":
                    chars.update(chr(k) for k in range(ord(body[j]), ord(body[j + 2]) + 1))
                    j += 3
                else:
                    chars.add(body[j])
                    j += 1
            out.append((negated, frozenset(chars)))
            i = end + 1
        else:
            out.append((False, frozenset(c)))
    return tuple(out)


def _chars_meet(a: tuple[bool, frozenset[str]], b: tuple[bool, frozenset[str]]) -> bool:
    (a_not, a_set), (b_not, b_set) = a, b
    if a_not and b_not:
        return True  # both exclude finitely many characters
    if a_not:
        return bool(b_set - a_set)
    if b_not:
        return bool(a_set - b_set)
    return bool(a_set & b_set)


@functools.lru_cache(maxsize=1024)
def globs_overlap(a: str, b: str) -> bool:
    """Whether some text matches both globs (exact, case-sensitive as the matchers are)."""
    x, y = _tokens(a), _tokens(b)

    @functools.cache
    def meet(i: int, j: int) -> bool:
        if i == len(x) and j == len(y):
            return True
        if i < len(x) and x[i] == "*":
            return meet(i + 1, j) or (j < len(y) and meet(i, j + 1))
        if j < len(y) and y[j] == "*":
            return meet(i, j + 1) or (i < len(x) and meet(i + 1, j))
        if i == len(x) or j == len(y):
            return False
        left, right = x[i], y[j]
        assert left != "*" and right != "*"
        return _chars_meet(left, right) and meet(i + 1, j + 1)

    return meet(0, 0)


# --------------------------------------------------------------------------- matching


def may_sample(rule: SamplingRule, selector: Selector) -> bool:
    """Whether ``rule`` could sample a span ``selector`` picks (over-approximate only in that
    a span the selector picks may still turn out always kept: failed, slow, a queue hop)."""
    if selector.stage is not None or selector.status == "error":
        return False  # hc.stage spans and failed spans are always kept
    if selector.kind is not None and not set(selector.kind) & set(rule.kinds):
        return False
    if any(_never_sampled(attribute) for attribute in selector.attributes):
        return False
    if selector.service is not None and not any(globs_overlap(rule.service, p) for p in selector.service):
        return False
    if rule.name is not None and selector.span is not None:
        return any(globs_overlap(rule.name, p) for p in selector.span)
    return True


def _covers(glob: str | None, patterns: tuple[str, ...] | None) -> bool:
    """Whether every text ``patterns`` accept matches ``glob`` (None: matches anything). Only
    the cases that are plain to decide: a glob of stars, or plain names that match it."""
    if glob is None or set(glob) == {"*"}:
        return True
    if patterns is None or any(_GLOB_CHARS.search(p) for p in patterns):
        return False
    return all(_glob(glob).fullmatch(p) is not None for p in patterns)


def shadowed(rules: Sequence[SamplingRule], index: int, selector: Selector) -> bool:
    """Whether an earlier rule takes every span ``selector`` picks that rule ``index`` would
    (the first matching rule decides, so rule ``index`` never sees them)."""
    later = rules[index]
    kinds = set(later.kinds) & (set(selector.kind) if selector.kind is not None else set(later.kinds))
    return any(
        kinds <= set(rule.kinds)
        and _covers(rule.service, selector.service)
        and _covers(rule.name, selector.span)
        for rule in rules[:index]
    )


def _ungrouped(selectors: Sequence[Selector | None], slice_by: Sequence[str]) -> list[str]:
    """Attributes (selector ``attributes:`` and ``slice_by``) a sampling group's spans may differ in."""
    named = [a for s in selectors if s is not None for a in s.attributes]
    return sorted({a for a in [*named, *slice_by] if a not in GROUPED_ATTRIBUTES and not _never_sampled(a)})


def _counted(sla: SLA) -> tuple[Selector, list[Selector | None]] | None:
    """The selector choosing the spans an SLA counts one by one, and every selector it reads."""
    spec = sla.sli.spec
    if isinstance(spec, RatioSli):
        return spec.total, [spec.total, spec.bad, spec.good]
    if isinstance(spec, LatencySli | FreshnessSli):
        return spec.select, [spec.select]
    return None  # lag: hc.key.* spans, never sampled; gauge: metric points


def _duration(seconds: float) -> str:
    """Exact, as the user would write it back (``format_duration`` rounds to whole seconds)."""
    return format_duration(seconds) if float(seconds).is_integer() else f"{seconds * 1000:g}ms"


def _sla_text(sla: SLA, place: tuple[str, int | None] | None) -> str:
    if place is None:
        return repr(sla.id)
    file, line = place
    return f"{sla.id!r} ({file}:{line})" if line else f"{sla.id!r} ({file})"


def _rule_text(index: int, rule: SamplingRule) -> str:
    name = f", name {rule.name}" if rule.name is not None else ""
    return f"rule {index} (service {rule.service}{name})"


def sampling_findings(
    sampling: Sampling, slas: Sequence[SLA], places: Mapping[str, tuple[str, int | None]] | None = None
) -> list[Finding]:
    """Every (rule, SLA) pair where the rule's sampling makes the SLA's counts estimates.

    ``places`` (SLA id -> file and line, as ``slas.loading`` records them) names where each SLA
    is defined in the messages.
    """
    if not sampling.enabled:
        return []
    findings: list[Finding] = []
    for index, rule in enumerate(sampling.rules):
        at: FieldPath = ("sampling", "rules", index)
        for sla in slas:
            counted = _counted(sla)
            if (
                counted is None
                or not may_sample(rule, counted[0])
                or shadowed(sampling.rules, index, counted[0])
            ):
                continue
            named = _sla_text(sla, (places or {}).get(sla.id))
            latency = sla.sli.latency
            slow = rule.slow if rule.slow is not None else sampling.slow
            if latency is not None and slow > latency.under:
                source = "its slow" if rule.slow is not None else "sampling.slow, as the rule gives no slow"
                findings.append(
                    Finding(
                        "error",
                        (*at, "slow"),
                        sla.id,
                        f"{_rule_text(index, rule)} may sample spans that latency SLA {named} counts, "
                        f"keeping spans whole only from {_duration(slow)} ({source}) while the SLA "
                        f"calls a span bad from {_duration(latency.under)}: a kept span would stand "
                        f"for spans on both sides of that line; give the rule slow: "
                        f"{_duration(latency.under)} or less",
                    )
                )
            ungrouped = _ungrouped(counted[1], sla.slice_by)
            if ungrouped:
                findings.append(
                    Finding(
                        "warning",
                        at,
                        sla.id,
                        f"{_rule_text(index, rule)} may sample spans that {sla.kind} SLA {named} "
                        f"counts, and the SLA tells spans apart by {', '.join(ungrouped)}, which the "
                        f"sampler does not group by: its counts become estimates; narrow the rule "
                        f"(name, kinds) so it leaves those spans alone",
                    )
                )
    return findings
