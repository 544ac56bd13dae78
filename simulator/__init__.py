"""The synthetic regional health system behind ``vitals simulate`` and ``vitals demo``.

A pure, seeded generator (:class:`Generator`) turns the estate (facilities, systems, workflows,
volumes) and a scenario of incidents into time-ordered span and gauge descriptions; an emitter
(:class:`OtelEmitter`) turns those into real OpenTelemetry SDK spans and OTLP exports.
"""

from __future__ import annotations

from simulator.emitter import ExportError, ListSink, OtelEmitter
from simulator.generator import Generator
from simulator.incidents import Effects, compile_effects
from simulator.model import MetricSpec, QueueHop, SpanSpec
from simulator.otlp import CollectorUnavailable, Endpoint, preflight
from simulator.runner import RunPlan, RunResult, run
from simulator.scenario import GROUND_TRUTH, ExpectedEffect, Scenario, load_scenario, parse_scenario

__all__ = [
    "GROUND_TRUTH",
    "CollectorUnavailable",
    "Effects",
    "Endpoint",
    "ExpectedEffect",
    "ExportError",
    "Generator",
    "ListSink",
    "MetricSpec",
    "OtelEmitter",
    "QueueHop",
    "RunPlan",
    "RunResult",
    "Scenario",
    "SpanSpec",
    "compile_effects",
    "load_scenario",
    "parse_scenario",
    "preflight",
    "run",
]
