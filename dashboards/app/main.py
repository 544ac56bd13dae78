"""Vitals dashboard: the script ``vitals dashboard`` hands to ``streamlit run``."""

from __future__ import annotations

from dashboards.ui.shell import main

main()
