"""Migration c0009: ``span_keys`` loses its ``hc_stage`` column (the span has it) and keeps every
key; the downgrade gives each key its span's stage back, on both databases."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Column, MetaData, Text, inspect, select, text

from collector.tables import span_keys, spans
from tests.support.factories import key_rows, span_row
from vitals.kernel.db import _alembic_config, create_engine, migrate

T0_S = 1_796_083_200.0  # 2026-12-01


def test_keys_lose_the_stage_column_and_the_downgrade_restores_it(store_url: str) -> None:
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), "c0008")
        rows = [
            span_row(
                name=f"s{i}",
                start_s=T0_S + i * 3600.0,
                attributes={"hc.stage": f"stage-{i % 3}", "hc.key.charge": f"{i:064x}"},
            )
            for i in range(12)
        ]
        old_keys = span_keys.to_metadata(MetaData())
        old_keys.append_column(Column("hc_stage", Text))
        with engine.begin() as conn:
            conn.execute(spans.insert(), rows)
            conn.execute(
                old_keys.insert(),
                [{**k, "hc_stage": r["hc_stage"]} for r in rows for k in key_rows(r)],
            )
        migrate(engine)
        assert "hc_stage" not in {c["name"] for c in inspect(engine).get_columns("span_keys")}
        with engine.connect() as conn:
            stored = {(r.key_hash, r.trace_id) for r in conn.execute(select(span_keys))}
        assert stored == {(f"{i:064x}", r["trace_id"]) for i, r in enumerate(rows)}

        with engine.begin() as conn:
            command.downgrade(_alembic_config(conn), "c0008")
        with engine.connect() as conn:
            stages = sorted(conn.execute(text("SELECT hc_stage FROM span_keys")).scalars())
        assert stages == sorted(f"stage-{i % 3}" for i in range(12))
    finally:
        engine.dispose()
