"""Small display helpers shared by the pages: status badges, tables with CSV, time columns."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboards import timerange
from dashboards.figures.palette import style


def badge_html(status: str) -> str:
    s = style(status)
    return (
        f'<span class="vitals-status" data-status="{html.escape(status)}" '
        f'style="color:{s.colour};font-weight:700;white-space:nowrap">{s.icon} {s.word}</span>'
    )


def tile_title_html(title: str) -> str:
    """An SLA title in full, wrapping over as many lines as it needs (and whole on hover)."""
    text = html.escape(title)
    return (
        f'<div class="vitals-tile-title" title="{text}" '
        f'style="font-weight:600;line-height:1.3;white-space:normal;overflow-wrap:anywhere">{text}</div>'
    )


def status_text(status: str) -> str:
    """Plain icon and word for tables and CSV (the colour comes from the badge elsewhere)."""
    s = style(status)
    return f"{s.icon} {s.word}"


def chart(fig: go.Figure, *, key: str) -> None:
    st.plotly_chart(fig, key=key, config={"displaylogo": False, "responsive": True})


def time_columns(frame: pd.DataFrame, columns: Sequence[str], tz: str) -> pd.DataFrame:
    """Nanosecond columns as readable times with their zone (the CSV keeps the same text)."""

    def text(value: Any) -> str:
        return "-" if value is None or pd.isna(value) else timerange.format_time(int(value), tz, seconds=True)

    out = frame.copy()
    for name in columns:
        if name in out.columns:
            out[name] = out[name].map(text)
    return out


def table(
    frame: pd.DataFrame,
    *,
    key: str,
    file_name: str,
    column_config: Mapping[str, Any] | None = None,
    caption: str | None = None,
    height: int | None = None,
) -> None:
    """A table with its CSV download beside it (the same columns, as shown)."""
    with st.container(key=f"table-{key}"):
        if caption:
            st.caption(caption)
        st.dataframe(
            frame,
            hide_index=True,
            column_config=dict(column_config or {}),
            height=height if height is not None else "auto",
            width="stretch",
        )
        st.download_button(
            "Download CSV",
            frame.to_csv(index=False).encode("utf-8"),
            file_name=file_name,
            mime="text/csv",
            key=f"{key}-csv",
            icon=":material/download:",
            on_click="ignore",
        )


def no_data(message: str) -> None:
    """An empty result, said in words (never drawn as a zero)."""
    st.info(message, icon=":material/info:")
