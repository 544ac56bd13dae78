"""The versioned JSON API (``/api/v1``): FastAPI handlers whose types make the OpenAPI document.

``create_app(ApiDeps(...))`` builds the app from its dependencies; ``api.server.ApiServer`` runs
it with uvicorn inside an existing event loop (``vitals serve``); ``api.service`` is the
component that ``vitals serve`` installs next to the collector.
"""

from __future__ import annotations

from api.app import OPENAPI_PATH, PREFIX, create_app
from api.deps import ApiDeps

__all__ = ["OPENAPI_PATH", "PREFIX", "ApiDeps", "create_app"]
