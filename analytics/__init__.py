"""API analytics: per API and per consumer rates, error classes and latency, from rollups."""

from __future__ import annotations

__all__: list[str] = []
