"""``vitals store stats`` on a filled store: figures consistent with COUNT(*), MIN and MAX."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import Engine

from collector.tables import metric_points, span_keys, spans
from tests.support.factories import insert_metric_points, insert_spans, metric_row, span_row
from vitals.kernel.storestats import StoreStats, TableStats, bytes_per_span
from vitals.shell.cli import main

T0 = 1_796_083_200.0  # 2026-12-01T00:00:00Z


def fill(engine: Engine) -> None:
    insert_spans(
        engine,
        [
            span_row(start_s=T0 + i, attributes={"hc.stage": "adt.received", "hc.key.encounter": f"{i:064x}"})
            for i in range(400)
        ],
    )
    insert_metric_points(
        engine, [metric_row(name="queue.depth", value=i, time_s=T0 + 60 * i) for i in range(30)]
    )


def stats_json(engine: Engine) -> dict[str, Any]:
    result = CliRunner().invoke(
        main, ["store", "stats", "--db", engine.url.render_as_string(hide_password=False), "--json"]
    )
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


def test_the_figures_match_the_tables(engine: Engine) -> None:
    fill(engine)
    figures = stats_json(engine)
    by_table = {t["table"]: t for t in figures["tables"]}
    with engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
        assert set(by_table) == names
        for name in names:
            assert by_table[name]["rows"] == conn.execute(text(f'SELECT COUNT(*) FROM "{name}"')).scalar_one()
        first, last = conn.execute(
            select(func.min(spans.c.event_time_unix_nano), func.max(spans.c.event_time_unix_nano))
        ).one()
        keys_first = conn.execute(select(func.min(span_keys.c.event_time_unix_nano))).scalar_one()
        points_last = conn.execute(select(func.max(metric_points.c.time_unix_nano))).scalar_one()
    assert (by_table["spans"]["rows"], by_table["span_keys"]["rows"], by_table["metric_points"]["rows"]) == (
        400,
        400,
        30,
    )
    assert (by_table["spans"]["oldest_ns"], by_table["spans"]["newest_ns"]) == (first, last)
    assert by_table["span_keys"]["oldest_ns"] == keys_first
    assert by_table["metric_points"]["newest_ns"] == points_last
    assert by_table["collector_state"]["oldest_ns"] is None
    for name in ("spans", "span_keys", "metric_points"):
        assert by_table[name]["table_bytes"] > 0 and by_table[name]["index_bytes"] > 0
    spans_bytes = sum(by_table[t]["total_bytes"] for t in ("spans", "span_keys", "span_resources"))
    assert figures["bytes_per_span"] == spans_bytes / 400
    assert sum(t["total_bytes"] for t in figures["tables"]) <= figures["store_bytes"]


def test_the_sizes_are_the_databases_own(engine: Engine) -> None:
    fill(engine)
    by_table = {t["table"]: t for t in stats_json(engine)["tables"]}
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            expected = conn.execute(text("SELECT SUM(pgsize) FROM dbstat WHERE name = 'spans'")).scalar_one()
            total = conn.execute(
                text(
                    "SELECT SUM(pgsize) FROM dbstat"
                    " WHERE name IN (SELECT name FROM sqlite_master WHERE tbl_name = 'spans')"
                )
            ).scalar_one()
        else:
            # spans is partitioned by day: its bytes are those of its partitions.
            leaves = "FROM pg_partition_tree('spans') WHERE isleaf"
            expected = conn.execute(text(f"SELECT SUM(pg_table_size(relid)) {leaves}")).scalar_one()
            total = conn.execute(text(f"SELECT SUM(pg_total_relation_size(relid)) {leaves}")).scalar_one()
    assert by_table["spans"]["table_bytes"] == expected
    assert by_table["spans"]["total_bytes"] == total


def test_the_text_output_names_every_table_and_the_bytes_per_span(engine: Engine) -> None:
    fill(engine)
    result = CliRunner().invoke(
        main, ["store", "stats", "--db", engine.url.render_as_string(hide_password=False)]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["table", "rows", "table", "indexes", "oldest", "newest"]
    spans_line = next(line for line in lines if line.startswith("spans "))
    assert spans_line.split()[1] == "400" and "2026-12-01 00:00:00Z" in spans_line
    assert any(line.startswith("bytes per span: ") and "over 400 spans" in line for line in lines)


def test_bytes_per_span_without_spans_is_none() -> None:
    empty = StoreStats("sqlite", (TableStats("spans", 0, 4096, 4096),), 8192)
    assert bytes_per_span(empty) is None
    only = StoreStats(
        "sqlite", (TableStats("spans", 2, 1000, 500), TableStats("span_keys", 2, 300, 200)), 9999
    )
    assert bytes_per_span(only) == 1000.0


def test_store_is_a_listed_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert "store" in result.output and "Rows, bytes and time covered per table" in result.output
