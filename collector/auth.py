"""Bearer-token authentication of sending sources (the same check for HTTP and gRPC)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

#: The source name recorded when no tokens are configured (authentication is off).
ANONYMOUS = "anonymous"


class TokenAuthenticator:
    """Maps ``Authorization: Bearer <token>`` to the configured source name.

    Every configured token is compared in constant time, so timing does not reveal how much of
    a guess was right.
    """

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._tokens = [(token.encode(), source) for token, source in tokens.items()]

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def source(self, authorization: str | None) -> str | None:
        """The source name for this header value, or None when it is not a valid token."""
        if not self._tokens:
            return ANONYMOUS
        if not authorization:
            return None
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        candidate = credentials.strip().encode()
        found: str | None = None
        for token, source in self._tokens:
            if hmac.compare_digest(token, candidate):
                found = source
        return found


__all__ = ["ANONYMOUS", "TokenAuthenticator"]
