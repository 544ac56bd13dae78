"""Small display helpers shared by the pages: status badges, tables with CSV, time columns.

How numbers are written (issue 14), the same on the page and in its CSV download: times with
their zone (:func:`time_columns`), durations as ``format_duration`` text (:func:`duration_columns`),
amounts as money with thousands separators (:func:`money_columns`), headers in words
(``frame.rename(columns=views.header)``). :func:`table` writes the CSV as the table reads: its
column labels, its number formats, links as full URLs and states as plain words.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urljoin

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboards import timerange, views
from dashboards.figures.palette import STATUS, style

#: Where a CSV's links point when the browser did not say where the app is: the address
#: ``vitals dashboard`` serves by default (the same default as alerts.yaml's ``dashboard.url``).
DEFAULT_BASE_URL = "http://localhost:8501/"
#: The glyphs put before state words on the pages ("✖ firing", "✔ OK"); a CSV has the word alone.
STATE_GLYPHS = frozenset({*(s.icon for s in STATUS.values()), "⊘", "○", "●", "🔥"})
#: A chart no taller than this is a sparkline: no toolbar over it (it would cover the line on a phone).
SPARKLINE_MAX_HEIGHT = 150


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
    """Plain icon and word for tables (the colour comes from the badge elsewhere); a table's CSV
    download keeps the word alone (:func:`plain_state`)."""
    s = style(status)
    return f"{s.icon} {s.word}"


def chart(fig: go.Figure, *, key: str, toolbar: bool | None = None) -> None:
    """A plotly chart; ``toolbar=False`` hides plotly's toolbar (the mode bar).

    By default a sparkline (no taller than :data:`SPARKLINE_MAX_HEIGHT`) has none: on a 390 px
    phone screen the toolbar would cover the whole line. Larger charts keep it (zoom, download).
    """
    if toolbar is None:
        height = fig.layout.height
        toolbar = height is None or height > SPARKLINE_MAX_HEIGHT
    config: dict[str, Any] = {"displaylogo": False, "responsive": True}
    if not toolbar:
        config["displayModeBar"] = False
    st.plotly_chart(fig, key=key, config=config)


def base_url() -> str:
    """The app's address as the browser opened it (behind a proxy too), for links in a CSV."""
    try:
        url = st.context.url
    except Exception:  # outside a script run: no browser to ask
        url = None
    return url or DEFAULT_BASE_URL


def absolute(link: str, base: str) -> str:
    """A page's relative link (``traces?trace=…``, ``./?sla=…``) as a full URL from ``base``."""
    return urljoin(base, link) if link else link


def plain_state(value: Any) -> Any:
    """``✖ firing`` -> ``firing``: a state's word without the glyph shown before it on the page."""
    if isinstance(value, str):
        head, _space, rest = value.partition(" ")
        if head in STATE_GLYPHS and rest:
            return rest
    return value


def number_text(value: Any, fmt: str | None) -> str:
    """A number as a column_config format shows it: ``dollar`` as money, ``percent`` as a share."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    try:
        number = float(value)
    except (TypeError, ValueError):  # text in a number column: as it is
        return str(value)
    if math.isinf(number):
        return str(value)
    if fmt in ("dollar", "accounting"):
        return views.money(number)
    if fmt == "percent":
        return views.pct(number)
    if fmt and "%" in fmt:
        try:
            return fmt % (int(number) if fmt.rstrip().endswith(("d", "i")) else number)
        except (TypeError, ValueError):
            return str(value)
    if number.is_integer():
        return f"{int(number):,}" if fmt == "localized" else str(int(number))
    return f"{number:,}" if fmt == "localized" else str(value)


def csv_frame(frame: pd.DataFrame, column_config: Mapping[str, Any] | None, base: str) -> pd.DataFrame:
    """The table as its CSV download writes it: what the page shows, readable on its own.

    Headers are the column labels; numbers follow the column's format (money with thousands
    separators, shares with %); link columns are full URLs from ``base`` (a relative link means
    nothing in a spreadsheet); states are plain words (no glyphs); yes/no for true/false.
    """
    config = dict(column_config or {})
    out = frame.copy()
    labels: dict[str, str] = {}
    for name, spec in config.items():
        if name not in out.columns or not isinstance(spec, Mapping):
            continue
        type_config = spec.get("type_config") or {}
        kind = type_config.get("type")
        if kind == "link":
            out[name] = [absolute(v, base) if isinstance(v, str) else v for v in out[name]]
        elif kind == "number":
            out[name] = [number_text(v, type_config.get("format")) for v in out[name]]
        if spec.get("label"):
            labels[name] = str(spec["label"])
    for name in out.columns:
        column = out[name]
        if pd.api.types.is_bool_dtype(column.dtype):
            out[name] = ["yes" if v else "no" for v in column]
        elif pd.api.types.is_object_dtype(column.dtype) or pd.api.types.is_string_dtype(column.dtype):
            out[name] = [plain_state(v) for v in column]
    return out.rename(columns=labels)


def csv_bytes(frame: pd.DataFrame, column_config: Mapping[str, Any] | None, base: str) -> bytes:
    return csv_frame(frame, column_config, base).to_csv(index=False).encode("utf-8")


def time_columns(frame: pd.DataFrame, columns: Sequence[str], tz: str) -> pd.DataFrame:
    """Nanosecond columns as readable times with their zone (the CSV keeps the same text)."""

    def text(value: Any) -> str:
        return "-" if value is None or pd.isna(value) else timerange.format_time(int(value), tz, seconds=True)

    out = frame.copy()
    for name in columns:
        if name in out.columns:
            out[name] = out[name].map(text)
    return out


def money_columns(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Amounts as money text ("$12,345", "$300.00"), the same in the table and its CSV."""

    def text(value: Any) -> str:
        return "-" if value is None or pd.isna(value) else views.money(float(value))

    out = frame.copy()
    for name in columns:
        if name in out.columns:
            out[name] = out[name].map(text)
    return out


def duration_columns(frame: pd.DataFrame, columns: Mapping[str, float]) -> pd.DataFrame:
    """Durations as format_duration text ("53m 02s"); ``columns`` maps a column to its unit in
    seconds (1e-3 for a column in ms, 1e-9 in ns). The same text as every other duration."""

    def text(value: Any, unit: float) -> str:
        return "-" if value is None or pd.isna(value) else timerange.format_duration(float(value) * unit)

    out = frame.copy()
    for name, unit in columns.items():
        if name in out.columns:
            out[name] = [text(v, unit) for v in out[name]]
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
    """A table with its CSV download beside it (the same columns, as shown: see :func:`csv_frame`)."""
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
            csv_bytes(frame, column_config, base_url()),
            file_name=file_name,
            mime="text/csv",
            key=f"{key}-csv",
            icon=":material/download:",
            on_click="ignore",
        )


def no_data(message: str) -> None:
    """An empty result, said in words (never drawn as a zero)."""
    st.info(message, icon=":material/info:")
