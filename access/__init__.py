"""Access: API tokens, scopes and the audit log, shared by the collector, the API, the dashboard and the CLI."""

from __future__ import annotations

from access.model import SCOPES, AuditEntry, AuditLog, Principal, Scope, TokenInfo, TokenStore

__all__ = ["SCOPES", "AuditEntry", "AuditLog", "Principal", "Scope", "TokenInfo", "TokenStore"]
