"""Bearer-token authentication of sending sources (the same check for HTTP and gRPC)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

#: The source name recorded when no tokens are configured (authentication is off).
ANONYMOUS = "anonymous"


def bearer_credentials(authorization: str | None) -> bytes | None:
    """The token of an ``Authorization: Bearer <token>`` header (the scheme in any case, RFC 9110),
    or None when there is none.

    A header that is not valid UTF-8 reaches Python with its bytes kept as surrogates (aiohttp);
    those cannot be encoded, so such a header is simply not a token.
    """
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    try:
        return credentials.strip().encode()
    except UnicodeEncodeError:
        return None


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
        candidate = bearer_credentials(authorization)
        if candidate is None:
            return None
        found: str | None = None
        for token, source in self._tokens:
            if hmac.compare_digest(token, candidate):
                found = source
        return found


__all__ = ["ANONYMOUS", "TokenAuthenticator", "bearer_credentials"]
