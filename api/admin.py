"""``/api/v1/audit`` (read only: the API has no way to change it) and ``/api/v1/config`` (the
configuration in force, secrets masked). Both need the ``admin`` scope.

The API reads ``collector.yaml``, ``alerts.yaml`` and ``slas/`` itself; files of components it
may not import (``dashboard.yaml``) come as ``ApiDeps.config_documents`` from the shell.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from access.model import AuditEntry, Principal
from alerts.schema import AlertsFileModel
from api.auth import deps_of, needs
from api.masked import masked
from api.models import AuditList, AuditOut, ConfigFile, ConfigView
from api.ranges import LAST_NANOSECOND_S
from collector.config import FILE_NAME as COLLECTOR_FILE
from collector.config import load_collector_config
from slas import load_sla_path
from vitals.kernel.configfile import ConfigError, load_yaml, validate

router = APIRouter()
Admin = Annotated[Principal, Depends(needs("admin"))]
MAX_LIMIT = 5000


def _seconds(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    try:
        seconds = moment.timestamp()
    except (OverflowError, ValueError):
        raise ValueError("since and until must be times between 1970 and 9999") from None
    # The log keeps nanoseconds in 64 bits (1677 to 2262): beyond that, nothing was recorded.
    return max(-LAST_NANOSECOND_S, min(seconds, LAST_NANOSECOND_S))


@router.get("/audit", tags=["admin"])
def audit(
    *,
    request: Request,
    caller: Admin,
    since: Annotated[datetime | None, Query(description="entries at or after this time")] = None,
    until: Annotated[datetime | None, Query(description="entries before this time")] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> AuditList:
    """Who did what, when and from where, newest first: acknowledgements, silences, config
    reloads, tokens, logins and page reads, from every component (access's audit log)."""
    entries = deps_of(request).audit.query(
        since=_seconds(since), until=_seconds(until), actor=actor, action=action, limit=limit
    )
    return AuditList(audit=[_entry(e) for e in entries])


#: Where the client's address of an API write was kept before it had its ``remote`` column.
_OLD_REMOTE_KEY = "remote"


def _entry(e: AuditEntry) -> AuditOut:
    detail = dict(e.detail)
    # Alerting's entries written through the API before the address had its column carry it in
    # their detail: shown where every other entry shows it.
    tagged = detail.pop(_OLD_REMOTE_KEY, "") if not e.remote else ""
    return AuditOut(
        id=e.id,
        at=datetime.fromtimestamp(e.at, tz=UTC),
        actor=e.actor,
        action=e.action,
        target=e.target,
        source=e.source,
        remote=e.remote or str(tagged),
        detail=detail,
    )


def _file(name: str, path: FilePath, read: Any) -> ConfigFile:
    try:
        return ConfigFile(file=name, content=masked(read(path)))
    except ConfigError as exc:
        return ConfigFile(file=name, content=None, error=str(exc))


def _alerts_model(path: FilePath) -> Any:
    if not path.exists():
        return None
    return validate(AlertsFileModel, load_yaml(path))


@router.get("/config", tags=["admin"])
def config(request: Request, caller: Admin) -> ConfigView:
    """The configuration files as validated now, every secret shown as where it comes from
    (``{"secret": "environment variable X"}``), never its value."""
    deps = deps_of(request)
    directory = deps.config_dir
    files = [
        _file(COLLECTOR_FILE, directory, load_collector_config),
        _file("alerts.yaml", directory / "alerts.yaml", _alerts_model),
    ]
    slas = directory / "slas"
    if slas.is_dir():
        files.append(_file("slas/", slas, lambda p: load_sla_path(p).slas))
    # Other components' files (dashboard.yaml), read by what the shell handed over.
    files.extend(_file(name, directory, read) for name, read in deps.config_documents.items())
    return ConfigView(
        config_dir=str(directory), files=files, alerts_running_digest=deps.alerts_config().digest or None
    )


__all__ = ["router"]
