"""The SLA engine: SLA files, SLI kinds, rollups, error budgets, burn rates and evaluations.

Public surface: load and validate SLA files (``load_slas``, ``load_sla_path``), the evaluation
contract (``Evaluation``, ``BurnRate``), the engine (``SlaEngine``) and its service hook
(``slas.service.install``), and the read API other components use instead of the engine's
tables: an SLA's history (``slas.history``: evaluations and the engine's per-minute rollups)
and the business objects of its lag SLAs (``slas.lag_history``), and whether a feed's silence
is news by its own history, as freshness SLAs judge it (``slas.silence``).
"""

from __future__ import annotations

from slas.engine import SlaEngine, TickResult
from slas.history import (
    EvaluationSample,
    History,
    Point,
    current_evaluations,
    newest_evaluation_ns,
    sampled_evaluations,
    sla_history,
)
from slas.lag_history import LagFigures, LagScope, LateObject, lag_figures, lag_histogram, late_objects
from slas.loading import SlaConfig, load_sla_config, load_sla_path, load_slas
from slas.model import BurnRate, Evaluation
from slas.silence import (
    FeedExpectation,
    HistoryExpectation,
    feed_expectation,
    history_minutes,
    history_windows,
)
from slas.spec import SLA

__all__ = [
    "SLA",
    "BurnRate",
    "Evaluation",
    "EvaluationSample",
    "FeedExpectation",
    "History",
    "HistoryExpectation",
    "LagFigures",
    "LagScope",
    "LateObject",
    "Point",
    "SlaConfig",
    "SlaEngine",
    "TickResult",
    "current_evaluations",
    "feed_expectation",
    "history_minutes",
    "history_windows",
    "lag_figures",
    "lag_histogram",
    "late_objects",
    "load_sla_config",
    "load_sla_path",
    "load_slas",
    "newest_evaluation_ns",
    "sampled_evaluations",
    "sla_history",
]
