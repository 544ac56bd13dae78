"""Alerting: SLA evaluations in, priority-routed notifications out, never lost and never doubled.

Public surface:

- ``alerts.api``: the Python API the dashboard uses (list, acknowledge, silences, audit log);
- ``alerts.service.install``: the ``vitals serve`` component (scheduler jobs, HTTP routes);
- ``alerts.config``: ``alerts.yaml`` loading and validation (``load``, ``load_for``, ``parse``);
- ``alerts.cli.alerts``: the ``vitals alerts`` command group.

The pure core (matchers, routing, time intervals, inhibition, silences, lifecycle, grouping,
escalation, messages) works on the frozen values of ``alerts.model`` and ``alerts.notification``;
the edges are ``alerts.store.AlertStore`` (``SqlStore``, ``MemoryStore``) and
``alerts.senders.Sender`` (Slack, webhooks, Alertmanager, console, ``MemorySender``).
"""

from __future__ import annotations

from access.model import AuditEntry
from alerts.config import AlertsConfig, load, load_for, parse
from alerts.model import Alert, AlertEvent, AlertState, Figures

__all__ = [
    "Alert",
    "AlertEvent",
    "AlertState",
    "AlertsConfig",
    "AuditEntry",
    "Figures",
    "load",
    "load_for",
    "parse",
]
