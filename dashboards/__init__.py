"""Dashboards: the Streamlit app over the store, its rollups, queries and figure builders.

Public surface for other packages: ``refresh`` (fold new telemetry into the dashboard rollups;
``vitals serve`` runs it through ``dashboards.service``) and ``load_catalog`` (what the dashboard
knows about the SLA files). The app itself starts with ``vitals dashboard``.
"""

from __future__ import annotations

from dashboards.catalog import Catalog, load_catalog
from dashboards.rollup import RefreshReport, refresh

__all__ = ["Catalog", "RefreshReport", "load_catalog", "refresh"]
