"""Bearer-token authentication of sending sources (the same check for HTTP and gRPC).

Two kinds of tokens are accepted: those in collector.yaml's ``tokens:`` (a secret per source
name), and API tokens with the ``ingest`` scope made with ``vitals tokens create NAME --scope
ingest`` (the token's name is the source name), read through ``access.cache.TokenCache`` so a
request costs no query and a revocation reaches the collector within the cache's time to live.

While no token of either kind was ever created, anyone may send when the collector listens on
loopback only (or was told ``--insecure-no-auth``). Once one was, every request needs a valid one,
even after all were revoked or expired: revoking the last token never turns authentication off.
``/metrics`` then needs a token with the ``read`` scope.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from access.cache import TokenCache

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
    """Maps ``Authorization: Bearer <token>`` to the source name.

    Every configured token is compared in constant time, so timing does not reveal how much of
    a guess was right; store tokens are found by the SHA-256 of the secret (nothing to time).
    ``anonymous_allowed``: whether a collector where no token was ever created lets anyone in (loopback or
    ``--insecure-no-auth``); it is asked on each request, as store tokens come and go.
    """

    def __init__(
        self,
        tokens: Mapping[str, str],
        store: TokenCache | None = None,
        *,
        anonymous_allowed: bool = True,
    ) -> None:
        self._tokens = [(token.encode(), source) for token, source in tokens.items()]
        self._store = store
        self._anonymous_allowed = anonymous_allowed

    @property
    def enabled(self) -> bool:
        """Whether a token is required now."""
        if self._tokens or not self._anonymous_allowed:
            return True
        return self._store is not None and self._store.any_created()

    def source(self, authorization: str | None) -> str | None:
        """The source name for this header value, or None when it is not a valid token."""
        if not self.enabled:
            return ANONYMOUS
        candidate = bearer_credentials(authorization)
        if candidate is None:
            return None
        found: str | None = None
        for token, source in self._tokens:
            if hmac.compare_digest(token, candidate):
                found = source
        if found is None and self._store is not None:
            principal = self._store.authenticate(candidate.decode())
            if principal is not None and principal.allows("ingest"):
                found = principal.name
                self._store.note_use(found)
        return found

    def reader_status(self, authorization: str | None) -> int:
        """200, 401 or 403 for a reader of the process's own figures (``/metrics``).

        While no token is required, anyone who may send may read. Once one is, the reader needs
        an API token with the ``read`` scope (``admin`` and ``write`` imply it): the figures name
        sources and show traffic, which an ingest token's holder has no business reading.
        """
        if not self.enabled:
            return 200
        candidate = bearer_credentials(authorization)
        if candidate is None or self._store is None:
            return 401
        principal = self._store.authenticate(candidate.decode())
        if principal is None:
            return 401
        if not principal.allows("read"):
            return 403
        self._store.note_use(principal.name)
        return 200


__all__ = ["ANONYMOUS", "TokenAuthenticator", "bearer_credentials"]
