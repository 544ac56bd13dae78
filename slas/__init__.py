"""The SLA engine: SLA files, SLI kinds, rollups, error budgets, burn rates and evaluations.

Public surface: load and validate SLA files (``load_slas``, ``load_sla_path``), the evaluation
contract (``Evaluation``, ``BurnRate``), the engine (``SlaEngine``) and its service hook
(``slas.service.install``).
"""

from __future__ import annotations

from slas.engine import SlaEngine, TickResult
from slas.loading import SlaConfig, load_sla_config, load_sla_path, load_slas
from slas.model import BurnRate, Evaluation
from slas.spec import SLA

__all__ = [
    "SLA",
    "BurnRate",
    "Evaluation",
    "SlaConfig",
    "SlaEngine",
    "TickResult",
    "load_sla_config",
    "load_sla_path",
    "load_slas",
]
