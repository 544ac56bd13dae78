"""Where the work queue reads failed spans and keeps its groups and replay attempts.

``ExceptionStore`` is the edge: ``SqlExceptionStore`` (``exceptions.sqlstore``) over the real
store, ``InMemoryExceptionStore`` here for tests of the queue's logic. A state change or a batch
of replay attempts is written with its audit entries in one transaction, so the audit log never
misses a change nor records one that did not happen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from access.model import AuditEntry
from exceptions.model import Attempt, Group, GroupChanged, Outcome


@dataclass(frozen=True)
class FailedSpan:
    """An error span of a business transaction, as the collector stored it (already redacted)."""

    trace_id: str
    span_id: str
    stage: str
    system: str
    status_message: str
    at: float
    amount: float | None = None
    workflow: str = ""
    facility: str = ""
    attributes: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class StageSpan:
    """A later span of a replayed trace at the replayed stage: how the replay went."""

    trace_id: str
    stage: str
    ok: bool
    at: float


class ExceptionStore(Protocol):
    def failed_spans(
        self, since: float, *, stage: str | None = None, system: str | None = None, attributes: bool = False
    ) -> list[FailedSpan]: ...

    def keys_of(self, refs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, str]]:
        """``hc.key.*`` name -> hash for each (trace id, span id)."""
        ...

    def stage_spans(self, trace_ids: Sequence[str], stage: str, after: float) -> list[StageSpan]: ...

    def groups(self) -> list[Group]: ...

    def group(self, group_id: str) -> Group | None: ...

    def save_groups(self, groups: Sequence[Group]) -> None:
        """Insert new groups; for known ones write only the figures (their state is people's,
        changed meanwhile perhaps), except a reopen (``new`` by ``system``) of a group still
        closed since before its last failure."""
        ...

    def update_group(self, group: Group, audit: Sequence[AuditEntry], *, before: Group) -> None:
        """Write the state change if the group's state is still ``before``'s, else GroupChanged."""
        ...

    def add_attempts(
        self, attempts: Sequence[Attempt], group: Group, audit: Sequence[AuditEntry], *, before: Group
    ) -> None:
        """Record the attempts, add the sent ones to ``replayed``, and the state if unchanged."""
        ...

    def attempts(
        self, *, group_id: str | None = None, interface: str | None = None, since: float | None = None
    ) -> list[Attempt]: ...

    def set_outcomes(self, outcomes: Sequence[tuple[int, Outcome, float]]) -> None: ...


class InMemoryExceptionStore:
    """The store as lists: spans are added by the test, audit entries kept in ``audit``."""

    def __init__(self) -> None:
        self.spans: list[FailedSpan] = []
        self.stage_rows: list[StageSpan] = []
        self.keys: dict[tuple[str, str], dict[str, str]] = {}
        self._groups: dict[str, Group] = {}
        self._attempts: list[Attempt] = []
        self.audit: list[AuditEntry] = []

    def failed_spans(
        self, since: float, *, stage: str | None = None, system: str | None = None, attributes: bool = False
    ) -> list[FailedSpan]:
        return [
            s
            for s in self.spans
            if s.at >= since
            and (stage is None or s.stage == stage)
            and (system is None or s.system == system)
        ]

    def keys_of(self, refs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, str]]:
        return {r: dict(self.keys[r]) for r in refs if r in self.keys}

    def stage_spans(self, trace_ids: Sequence[str], stage: str, after: float) -> list[StageSpan]:
        wanted = set(trace_ids)
        return [s for s in self.stage_rows if s.trace_id in wanted and s.stage == stage and s.at > after]

    def groups(self) -> list[Group]:
        return list(self._groups.values())

    def group(self, group_id: str) -> Group | None:
        return self._groups.get(group_id)

    def save_groups(self, groups: Sequence[Group]) -> None:
        for g in groups:
            stored = self._groups.get(g.id)
            if stored is None:
                self._groups[g.id] = g
                continue
            reopen = (
                g.state == "new"
                and g.state_by == "system"
                and not stored.open
                and stored.state_at < g.last_seen
            )
            if reopen:
                self._groups[g.id] = g
            else:
                self._groups[g.id] = replace(
                    g,
                    state=stored.state,
                    owner=stored.owner,
                    state_by=stored.state_by,
                    state_at=stored.state_at,
                )

    def _unchanged(self, before: Group) -> bool:
        stored = self._groups.get(before.id)
        return stored is not None and (stored.state, stored.state_at) == (before.state, before.state_at)

    def update_group(self, group: Group, audit: Sequence[AuditEntry], *, before: Group) -> None:
        if not self._unchanged(before):
            raise GroupChanged(f"group {group.id} changed meanwhile; look at it again and retry")
        self._groups[group.id] = group
        self.audit.extend(audit)

    def add_attempts(
        self, attempts: Sequence[Attempt], group: Group, audit: Sequence[AuditEntry], *, before: Group
    ) -> None:
        for a in attempts:
            self._attempts.append(replace(a, id=len(self._attempts) + 1))
        stored = self._groups[group.id]
        sent = sum(1 for a in attempts if a.status == "sent")
        if self._unchanged(before):
            stored = replace(
                stored, state=group.state, owner=group.owner, state_by=group.state_by, state_at=group.state_at
            )
        self._groups[group.id] = replace(stored, replayed=stored.replayed + sent)
        self.audit.extend(audit)

    def attempts(
        self, *, group_id: str | None = None, interface: str | None = None, since: float | None = None
    ) -> list[Attempt]:
        return [
            a
            for a in self._attempts
            if (group_id is None or a.group_id == group_id)
            and (interface is None or a.interface == interface)
            and (since is None or a.at >= since)
        ]

    def set_outcomes(self, outcomes: Sequence[tuple[int, Outcome, float]]) -> None:
        by_id = {i: (o, at) for i, o, at in outcomes}
        self._attempts = [
            replace(a, outcome=by_id[a.id][0], outcome_at=by_id[a.id][1]) if a.id in by_id else a
            for a in self._attempts
        ]


__all__ = ["ExceptionStore", "FailedSpan", "InMemoryExceptionStore", "StageSpan"]
