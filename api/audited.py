"""Alerting writes through the API, each audited once, with where the request came from.

``alerts.actions`` writes every acknowledgement and silence with its audit entry in one
transaction (actor and source as given), into the one audit log (access's ``audit_log``). The
API passes the token's name as the actor and ``api`` as the source, and hands the actions this
store, which adds the client's address to those entries on their way in: the one entry of each
write says who, what, when and from where. The API writes no entry of its own for them (that
would record each write twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy.engine import Engine

from alerts.model import AuditEntry
from alerts.silences import Silence
from alerts.sqlstore import SqlStore

SOURCE = "api"
#: Where the client's address goes in the detail of alerting's audit entries.
REMOTE_KEY = "remote"


def _tagged(entry: AuditEntry, remote: str) -> AuditEntry:
    return replace(entry, detail={**dict(entry.detail), REMOTE_KEY: remote})


class RemoteTaggingStore(SqlStore):
    """``SqlStore`` whose audit entries carry ``remote`` (the client's address) in their detail."""

    def __init__(self, engine: Engine, remote: str) -> None:
        super().__init__(engine)
        self.remote = remote

    def commit(self, *, audits: Sequence[AuditEntry] = (), **kwargs: Any) -> None:
        super().commit(audits=[_tagged(a, self.remote) for a in audits], **kwargs)

    def add_silence(self, silence: Silence, source: str, audit: AuditEntry) -> int:
        return super().add_silence(silence, source, _tagged(audit, self.remote))

    def add_audit(self, entry: AuditEntry) -> None:
        super().add_audit(_tagged(entry, self.remote))


__all__ = ["REMOTE_KEY", "SOURCE", "RemoteTaggingStore"]
