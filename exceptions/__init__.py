"""The exception work queue: failed business transactions grouped by signature, owned, replayed."""

from __future__ import annotations

__all__: list[str] = []
