"""Access: API tokens, scopes and the audit log, shared by the collector, API, dashboard and CLI.

``access.model`` the plain values and protocols; ``access.tokens`` the token stores (SQL and in
memory); ``access.audit`` the audit log; ``access.cache`` active tokens held in memory for the
collector; ``access.cli`` ``vitals tokens`` and ``vitals audit``. Only the model is imported here,
so importing ``access`` pulls in no SQLAlchemy.
"""

from __future__ import annotations

from access.model import SCOPES, AuditEntry, AuditLog, Principal, Scope, TokenInfo, TokenStore

__all__ = ["SCOPES", "AuditEntry", "AuditLog", "Principal", "Scope", "TokenInfo", "TokenStore"]
