"""The Exceptions page's data and actions: the work queue of ``exceptions.queue`` over the store.

The page is a thin script; this module loads the groups (refreshed from the stored spans), turns
them into table rows, and applies the page's actions with the signed-in user as the actor and
``dashboard`` as the audit source.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from alerts.config import load_for as load_alerts
from exceptions.config import ExceptionsConfig, load_for
from exceptions.model import OPEN_STATES, Attempt, Group
from exceptions.queue import ReplayReport, change_state, refresh, replay
from exceptions.sqlstore import SqlExceptionStore
from vitals.kernel.configfile import ConfigError

SOURCE = "dashboard"


@dataclass(frozen=True)
class ExceptionsPage:
    groups: tuple[Group, ...] = ()
    #: The config error that stops the page (exceptions.yaml or alerts.yaml), else "".
    problem: str = ""


def _configs(config_dir: Path) -> tuple[ExceptionsConfig, Any]:
    return load_for(config_dir), load_alerts(config_dir, read_secrets=False).route


def load_page(engine: Engine, config_dir: Path, now: float) -> ExceptionsPage:
    try:
        config, route = _configs(config_dir)
    except ConfigError as exc:
        return ExceptionsPage(problem=str(exc))
    return ExceptionsPage(tuple(refresh(SqlExceptionStore(engine), route, config, now)))


def rows(groups: tuple[Group, ...], *, include_closed: bool) -> list[dict[str, Any]]:
    return [
        {
            "id": g.id,
            "state": g.state,
            "failed": g.count,
            "amount": g.amount,
            "team": g.team,
            "owner": g.owner,
            "stage": g.stage,
            "system": g.system,
            "message": g.message,
            "first seen": g.first_seen,
            "last seen": g.last_seen,
            "replayed": g.replayed,
            "succeeded": g.succeeded,
            "failed again": g.failed_again,
            "interface": g.interface,
        }
        for g in groups
        if include_closed or g.state in OPEN_STATES
    ]


def attempts(engine: Engine, group_id: str) -> list[Attempt]:
    return SqlExceptionStore(engine).attempts(group_id=group_id)


def act(
    engine: Engine,
    group_id: str,
    verb: str,
    *,
    actor: str,
    now: float,
    owner: str | None = None,
    comment: str = "",
) -> Group:
    return change_state(
        SqlExceptionStore(engine),
        group_id,
        verb,
        actor=actor,
        source=SOURCE,
        now=now,
        owner=owner,
        comment=comment,
    )


def replay_group(
    engine: Engine, config_dir: Path, group_id: str, *, actor: str, now: float, limit: int
) -> ReplayReport:
    config = load_for(config_dir)
    return replay(
        SqlExceptionStore(engine), config, group_id, actor=actor, source=SOURCE, now=now, limit=limit
    )


__all__ = ["SOURCE", "ExceptionsPage", "act", "attempts", "load_page", "replay_group", "rows"]
