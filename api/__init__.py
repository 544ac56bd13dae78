"""The versioned JSON API (``/api/v1``): FastAPI handlers whose types make the OpenAPI document."""

from __future__ import annotations

__all__: list[str] = []
