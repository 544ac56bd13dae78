"""The FastAPI app of ``/api/v1``, built from its dependencies (``ApiDeps``) alone.

Its OpenAPI document, generated from the typed handlers, is served at ``/api/v1/openapi.json``.
No Swagger UI or ReDoc: both load their scripts from a CDN, and Vitals makes no request beyond
its own machine.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Request

from api import admin, alerting, apis, errors, exceptions, slas
from api.deps import ApiDeps
from api.errors import COMMON, ApiError

PREFIX = "/api/v1"
OPENAPI_PATH = f"{PREFIX}/openapi.json"
VERSION = "1"


def _printable(text: str) -> bool:
    """No NUL (the store refuses it) and no lone surrogate (not encodable)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def plain_values(request: Request) -> None:
    """Path and query values the store can hold, else a 400 naming the value's place."""
    for where, values in (("path", request.path_params), ("query", request.query_params)):
        for name, value in values.items():
            if isinstance(value, str) and not _printable(value):
                raise ApiError(400, f"{where} value {name} has a NUL or an invalid character")


def create_app(deps: ApiDeps) -> FastAPI:
    app = FastAPI(
        title="Vitals API",
        version=VERSION,
        description=(
            "SLA status and history, incidents, alerts, silences, the audit log and the configuration "
            "in force. Authenticate with `Authorization: Bearer <token>` (`vitals tokens create`); "
            "while no token exists, requests are anonymous and the server listens on loopback only."
        ),
        openapi_url=OPENAPI_PATH,
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.deps = deps
    errors.install(app)
    api = APIRouter(prefix=PREFIX, responses=COMMON, dependencies=[Depends(plain_values)])
    api.include_router(slas.router)
    api.include_router(alerting.router)
    api.include_router(admin.router)
    api.include_router(exceptions.router)
    api.include_router(apis.router)
    app.include_router(api)
    return app


__all__ = ["OPENAPI_PATH", "PREFIX", "create_app"]
