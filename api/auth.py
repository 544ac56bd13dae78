"""Who is calling: ``Authorization: Bearer <token>`` checked against the token store.

While no token was ever created, every request is anonymous with every scope: ``vitals serve``
then listens on loopback only (see ``access``; ``ApiDeps.anonymous_allowed``). Once one was (even
if it is now revoked or expired, so revoking the last token never opens the API), a request
without a valid token is a 401 and a token without the scope an operation needs a 403. ``admin``
implies ``write`` implies ``read``; an ``ingest`` token (an instrumented service's) reads nothing
here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from access.model import SCOPES, AuditEntry, Principal, Scope
from api.deps import ApiDeps
from api.errors import ApiError

log = logging.getLogger("vitals.api")

ANONYMOUS = Principal("anonymous", frozenset(SCOPES), kind="anonymous")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="vitals"'}
#: Documents the scheme in OpenAPI; the check itself is ``principal`` (no auto 403 from FastAPI).
bearer = HTTPBearer(auto_error=False, description="an API token: vitals tokens create NAME --scope read")


def deps_of(request: Request) -> ApiDeps:
    deps: ApiDeps = request.app.state.deps
    return deps


def principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    deps = deps_of(request)
    now = deps.clock()
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, secret = header.partition(" ")
        secret = secret.strip()
        if scheme.lower() == "bearer" and secret and secret.isprintable():
            found = deps.tokens.authenticate(secret, now=now)
            if found is not None:
                return found
    if deps.anonymous_allowed and not deps.tokens.any_created():
        return ANONYMOUS
    if header is None:
        refused(request, "anonymous", 401)
        raise ApiError(401, "this API needs a token: Authorization: Bearer <token>", _CHALLENGE)
    refused(request, "unknown token", 401)
    raise ApiError(401, "the bearer token is not valid (wrong, expired or revoked)", _CHALLENGE)


def refused(request: Request, who: str, status: int) -> None:
    """Record a refused request (``access.refused``): repeated 401s are how a scan or a leaked,
    revoked token shows up. One insert; a failing audit log is logged, never turned into a 5xx
    (the caller is refused either way)."""
    deps = deps_of(request)
    entry = AuditEntry(
        deps.clock(),
        who,
        "access.refused",
        f"{request.method} {request.url.path}",
        "api",
        remote=remote(request),
        detail={"status": status},
    )
    try:
        deps.audit.record(entry)
    except Exception as exc:
        log.warning("could not record a refused request in the audit log: %s", exc)


def needs(scope: Scope) -> Callable[..., Principal]:
    """A dependency: the caller, who must hold ``scope`` (else 403)."""

    def check(request: Request, caller: Annotated[Principal, Depends(principal)]) -> Principal:
        if not caller.allows(scope):
            refused(request, caller.name, 403)
            held = ", ".join(sorted(caller.scopes)) or "none"
            raise ApiError(403, f"token {caller.name!r} lacks the {scope} scope (it has: {held})")
        return caller

    check.__name__ = f"needs_{scope}"
    return check


def actor(caller: Principal, given: str | None) -> str:
    """Who did it, for the audit log: the token's name; anonymous callers may name themselves."""
    if caller.kind == "anonymous":
        name = (given or "").strip()
        return name or "anonymous"
    return caller.name


def remote(request: Request) -> str:
    return request.client.host if request.client is not None else ""


__all__ = ["ANONYMOUS", "actor", "bearer", "deps_of", "needs", "principal", "refused", "remote"]
