"""Errors as JSON ``{"error": "..."}`` with the status that says whose fault it is.

A client's bad value is a 4xx with a sentence naming the field; a 5xx means a bug or an outage
(the store), never a value someone sent.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from alerts.lifecycle import AckError
from alerts.silences import SilenceError
from alerts.store import Conflict, NotFound
from api.models import ErrorBody


class ApiError(Exception):
    """An answer other than 2xx, raised from a handler: status and message."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


#: The error answers every operation may give, for the OpenAPI document.
COMMON: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "no token, or a wrong, expired or revoked one"},
    403: {"model": ErrorBody, "description": "the token lacks the scope"},
    400: {"model": ErrorBody, "description": "a value cannot be applied (or holds a NUL)"},
    422: {"model": ErrorBody, "description": "a value in the request is not valid"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "no such object"}}
BAD: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "the request cannot be applied"}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "changed meanwhile; try again"}
}


def _json(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _field(loc: Any) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "the request"


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        response = _json(exc.status, exc.message)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        summary = "; ".join(f"{_field(e['loc'])}: {e['msg']}" for e in errors[:5]) or "invalid request"
        return _json(422, summary, detail=errors)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        response = _json(exc.status_code, str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return _json(404, str(exc.args[0]) if exc.args else "not found")

    @app.exception_handler(Conflict)
    async def conflict(request: Request, exc: Conflict) -> JSONResponse:
        return _json(409, str(exc))

    async def bad(request: Request, exc: Exception) -> JSONResponse:
        return _json(400, str(exc))

    for kind in (AckError, SilenceError, ValueError):
        app.add_exception_handler(kind, bad)


__all__ = ["BAD", "COMMON", "CONFLICT", "NOT_FOUND", "ApiError", "install"]
