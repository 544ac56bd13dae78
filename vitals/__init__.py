"""Vitals: operational observability and SLA monitoring for healthcare integration.

This shell package holds what every part shares: settings, the database engine and migrations,
config-file loading with line-accurate errors, and the ``vitals`` command line.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
