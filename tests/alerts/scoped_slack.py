"""The fake Slack with the parts these tests need on top: a bot token's scopes, and healing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from tests.support.fake_slack import FakeSlack

#: The scopes docs/how-to/slack.md asks for.
FULL_SCOPES = ("chat:write", "channels:read", "channels:history", "groups:read", "groups:history")
#: Method -> (scope for public channels, scope for private channels), as Slack checks them.
NEEDS = {
    "conversations.list": ("channels:read", "groups:read"),
    "conversations.history": ("channels:history", "groups:history"),
    "conversations.replies": ("channels:history", "groups:history"),
}


class ScopedSlack(FakeSlack):
    """Reports its token's scopes (``X-OAuth-Scopes``) and refuses methods the token lacks."""

    def __init__(self, scopes: Iterable[str] = FULL_SCOPES, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scopes = set(scopes)

    def __enter__(self) -> ScopedSlack:
        self.start()
        return self

    def heal(self) -> None:
        """Drop the faults still queued (Slack answers again)."""
        with self._lock:
            self._faults.clear()

    def _api(self, method: str, request: web.Request, args: dict[str, Any]) -> web.Response:
        needs = NEEDS.get(method)
        authed = request.headers.get("Authorization") == f"Bearer {self.token}"
        if authed and needs is not None and not self.scopes & set(needs):
            response = self._err("missing_scope", needed=needs[0], provided=",".join(sorted(self.scopes)))
        else:
            response = super()._api(method, request, args)
        if authed:
            response.headers["X-OAuth-Scopes"] = ",".join(sorted(self.scopes))
        return response
