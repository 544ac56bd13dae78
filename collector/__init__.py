"""The collector: OTLP receivers, PHI redaction, the telemetry tables and their durable writer.

``vitals serve`` runs it (``collector.cli``); other packages read what it stores
(``collector.tables``) and compute the same values it does (``hash_key``, ``series_id``).
"""

from __future__ import annotations

from collector.config import CollectorConfig, load_collector_config
from collector.redaction import RedactionPolicy, Redactor, hash_key
from collector.rows import series_id
from collector.sink import InMemorySink, TelemetrySink

__all__ = [
    "CollectorConfig",
    "InMemorySink",
    "RedactionPolicy",
    "Redactor",
    "TelemetrySink",
    "hash_key",
    "load_collector_config",
    "series_id",
]
