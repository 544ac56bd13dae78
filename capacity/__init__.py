"""Capacity planning: measured drain capacity, seasonal volume forecasts, headroom at the peaks."""

from __future__ import annotations

__all__: list[str] = []
