"""The bad-event tables of the SLA page, as a person reads them: what matters first, in words.

A row leads with what a person acts on: the money, how old it is, the facility (and for a denial
its code and the payer); the hashed correlation key comes last, shortened (the journey link holds
it whole). Headers are words, amounts are money with separators and durations have one format, in
the table and in its CSV alike. Pure (no Streamlit): the query's frame in, the shown frame out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from dashboards import views
from dashboards.timerange import format_duration, format_time
from vitals.kernel.units import NS

#: How many characters of a hashed key a table shows (then "…").
KEY_CHARS = 12
KEY_HEADER = "key (HMAC hash)"
#: Columns that hold links (the page shows them as links, not as their address).
LINKS = {"start trace": "trace", "journey": "journey", "trace": "open trace"}

Link = Callable[..., str]


def short_key(value: Any) -> str:
    """``3f9a1c0b7d2e…``: enough to tell keys apart at a glance; the journey link holds it whole."""
    if _missing(value):
        return "-"
    text = str(value)
    return text if len(text) <= KEY_CHARS else text[:KEY_CHARS] + "…"


def _money(value: Any) -> str:
    return "-" if _missing(value) else views.money(float(value))


def _time(value: Any, tz: str) -> str:
    return "-" if _missing(value) else format_time(int(value), tz, seconds=True)


def _missing(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and pd.isna(value))


def _text(value: Any) -> str:
    return "-" if _missing(value) else str(value)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]


def lag_table(frame: pd.DataFrame, *, now_ns: int, tz: str, link: Link) -> pd.DataFrame:
    """Late objects: amount, age, overdue, facility first; the key last, shortened."""
    sliced = "slice" in frame
    rows = [
        {
            **({"slice": r["slice"]} if sliced else {}),
            "amount": _money(r["amount"]),
            "age": format_duration((now_ns - int(r["started"])) / NS),
            "overdue by": format_duration(float(r["overdue_s"])),
            "facility": _text(r["facility"]),
            "service line": _text(r["service_line"]),
            "started": _time(r["started"], tz),
            "deadline": _time(r["deadline"], tz),
            "completed": "not yet" if _missing(r["completed"]) else _time(r["completed"], tz),
            "start trace": link("traces", trace=r["start_trace_id"])
            if not _missing(r["start_trace_id"])
            else None,
            "journey": link("traces", key=r["key_hash"]),
            KEY_HEADER: short_key(r["key_hash"]),
        }
        for r in _records(frame)
    ]
    return pd.DataFrame.from_records(rows, columns=(["slice"] if sliced else []) + _LAG_COLUMNS)


_LAG_COLUMNS = [
    "amount",
    "age",
    "overdue by",
    "facility",
    "service line",
    "started",
    "deadline",
    "completed",
    "start trace",
    "journey",
    KEY_HEADER,
]


def span_table(frame: pd.DataFrame, *, now_ns: int, tz: str, link: Link) -> pd.DataFrame:
    """Failed or slow spans: amount, when and age, facility, the denial code and payer when any
    row has one, then what failed and the trace."""
    denials = "denial_code" in frame and frame["denial_code"].notna().any()
    payers = "payer" in frame and frame["payer"].notna().any()
    out: list[dict[str, Any]] = []
    for r in _records(frame):
        row: dict[str, Any] = {"slice": r["slice"]} if "slice" in frame else {}
        row |= {
            "amount": _money(r["amount"]),
            "when": _time(r["start"], tz),
            "age": format_duration((now_ns - int(r["start"])) / NS),
            "facility": _text(r["facility"]),
        }
        if denials:
            row["denial code"] = _text(r["denial_code"])
        if payers:
            row["payer"] = _text(r["payer"])
        row |= {
            "service": _text(r["service"]),
            "span": _text(r["name"]),
            "status": _text(r["status"]),
            "message": _text(r["status_message"]),
            "duration": format_duration(float(r["duration_ms"]) / 1000),
            "trace": link("traces", trace=r["trace_id"]),
        }
        out.append(row)
    return without_empty(pd.DataFrame.from_records(out), OPTIONAL_SPAN_COLUMNS)


def freshness_table(frame: pd.DataFrame, *, tz: str) -> pd.DataFrame:
    """Silent periods, the slice first when the rows come from several."""
    rows = []
    for r in _records(frame):
        row = {"slice": r["slice"]} if "slice" in frame else {}
        row |= {
            "silent from": _time(r["silent_from"], tz),
            "silent until": "still silent" if r["ongoing"] else _time(r["silent_until"], tz),
            "silent for": format_duration(float(r["silent_s"])),
            "ongoing": "yes" if r["ongoing"] else "no",
        }
        rows.append(row)
    return pd.DataFrame.from_records(rows)


def gauge_value_text(metric: str, value: Any) -> str:
    """A gauge's sample in its unit: an age as a duration, a depth in messages, stuck as a word.

    A bare "3481.795" beside "minutes" leaves a reader guessing whether it is seconds or messages.
    """
    if value is None or pd.isna(value):
        return "-"
    number = float(value)
    if metric.endswith(("_seconds", ".seconds", "_age", ".age")):
        return format_duration(number)
    if metric.endswith("stuck"):
        return "stuck" if number >= 1 else "not stuck"
    if metric.endswith(("depth", "messages")):
        return f"{number:,.0f} messages"
    return f"{number:,.6g} ({metric})"


def gauge_table(frame: pd.DataFrame, *, tz: str, metric: str) -> pd.DataFrame:
    """Minutes out of bounds, per queue, with the worst sample in the metric's unit; a period
    still going on says so (as a freshness table's silence does)."""
    return pd.DataFrame.from_records(
        [
            {
                "queue": _text(r["queue"]),
                "from": _time(r["from"], tz),
                "until": "still out of bounds" if r.get("ongoing") else _time(r["until"], tz),
                "minutes out of bounds": int(r["minutes"]),
                "worst": gauge_value_text(metric, r["worst"]),
                "ongoing": "yes" if r.get("ongoing") else "no",
            }
            for r in _records(frame)
        ],
        columns=GAUGE_COLUMNS,
    )


GAUGE_COLUMNS = ["queue", "from", "until", "minutes out of bounds", "worst", "ongoing"]
#: Span columns that say nothing for some SLAs (a denial is "unset" with no message): shown only
#: when some row has something in them.
OPTIONAL_SPAN_COLUMNS = ("status", "message")
_NOTHING = {"-", "unset"}


def without_empty(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """``frame`` without those of ``columns`` that carry nothing ("-", "unset") in every row."""
    empty = [c for c in columns if c in frame and len(frame) and all(str(v) in _NOTHING for v in frame[c])]
    return frame.drop(columns=empty)


def group_table(frame: pd.DataFrame, *, tz: str) -> pd.DataFrame:
    """Identical bad events grouped: how many and how much first, then what they are (span,
    denial code, payer, message; a column none of the groups has is left out), then when."""
    rows = [
        {
            "bad events": int(r["events"]),
            "amount": _money(r["amount"]) if float(r["amount"] or 0) else "-",
            "denial code": _text(r["denial_code"]),
            "payer": _text(r["payer"]),
            "span": _text(r["name"]),
            "message": _text(r["status_message"]),
            "first": _time(r["first"], tz),
            "last": _time(r["last"], tz),
        }
        for r in _records(frame)
    ]
    shown = pd.DataFrame.from_records(
        rows, columns=["bad events", "amount", "denial code", "payer", "span", "message", "first", "last"]
    )
    return without_empty(shown, ("amount", "denial code", "payer", "message"))
