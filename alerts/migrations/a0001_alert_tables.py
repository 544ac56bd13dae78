"""alert tables

Revision ID: a0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vitals.kernel.db


revision = "a0001"
down_revision = None
branch_labels = ("alerts",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_audit",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("at_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("detail", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_audit")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("alert_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_audit_at_unix_nano"), ["at_unix_nano"], unique=False)

    op.create_table(
        "alert_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("at_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("detail", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("alert_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_events_at_unix_nano"), ["at_unix_nano"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_alert_events_fingerprint_at_unix_nano"),
            ["fingerprint", "at_unix_nano"],
            unique=False,
        )

    op.create_table(
        "alert_groups",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("group_ref", sa.String(length=32), nullable=False),
        sa.Column("group_key", sa.Text(), nullable=False),
        sa.Column("route_key", sa.Text(), nullable=False),
        sa.Column("receiver", sa.Text(), nullable=False),
        sa.Column("group_labels", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("state", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at_unix_nano", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_groups")),
        sa.UniqueConstraint("group_ref", name=op.f("uq_alert_groups_group_ref")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "alert_outbox",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("receiver", sa.Text(), nullable=False),
        sa.Column("integration", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column("parent_key", sa.String(length=255), nullable=True),
        sa.Column("group_ref", sa.String(length=32), nullable=False),
        sa.Column("notification", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("first_failure_at_unix_nano", sa.BigInteger(), nullable=True),
        sa.Column("attempt_started_at_unix_nano", sa.BigInteger(), nullable=True),
        sa.Column("lease_owner", sa.Text(), nullable=True),
        sa.Column("lease_until_unix_nano", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("result", vitals.kernel.db.JsonDocument(), nullable=True),
        sa.Column("fallback_of", sa.BigInteger(), nullable=True),
        sa.Column("created_at_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("sent_at_unix_nano", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_outbox")),
        sa.UniqueConstraint("key", name=op.f("uq_alert_outbox_key")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("alert_outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_outbox_status_not_before_unix_nano"),
            ["status", "not_before_unix_nano"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_alert_outbox_target_id"), ["target", "id"], unique=False)

    op.create_table(
        "alert_silences",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("matchers", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.Column("starts_at_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("ends_at_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("expire_on_resolve", sa.Boolean(), nullable=False),
        sa.Column("time_intervals", vitals.kernel.db.JsonDocument(), nullable=True),
        sa.Column("matched_any", sa.Boolean(), nullable=False),
        sa.Column("expired_by", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_silences")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("alert_silences", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_silences_ends_at_unix_nano"), ["ends_at_unix_nano"], unique=False
        )

    op.create_table(
        "alert_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.Column("updated_at_unix_nano", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_alert_state")),
    )
    op.create_table(
        "alerts",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("sla_id", sa.String(length=128), nullable=False),
        sa.Column("slice", sa.Text(), nullable=False),
        sa.Column("tier", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.String(length=2), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("labels", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.Column("figures", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.Column("started_at_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("last_evaluated_at_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("clear_since_unix_nano", sa.BigInteger(), nullable=True),
        sa.Column("resolved_at_unix_nano", sa.BigInteger(), nullable=True),
        sa.Column("acknowledged_by", sa.Text(), nullable=True),
        sa.Column("acknowledged_at_unix_nano", sa.BigInteger(), nullable=True),
        sa.Column("ack_comment", sa.Text(), nullable=True),
        sa.Column("suppressed_by", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.Column("transitions", vitals.kernel.db.JsonDocument(), nullable=False),
        sa.Column("flapping", sa.Boolean(), nullable=False),
        sa.Column("hysteresis_holds", sa.Integer(), nullable=False),
        sa.Column("flap_holds", sa.Integer(), nullable=False),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at_unix_nano", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_alerts_fingerprint")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alerts_resolved_at_unix_nano"), ["resolved_at_unix_nano"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_alerts_sla_id_slice"), ["sla_id", "slice"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_state"))
        batch_op.drop_index(batch_op.f("ix_alerts_sla_id_slice"))
        batch_op.drop_index(batch_op.f("ix_alerts_resolved_at_unix_nano"))

    op.drop_table("alerts")
    op.drop_table("alert_state")
    with op.batch_alter_table("alert_silences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_silences_ends_at_unix_nano"))

    op.drop_table("alert_silences")
    with op.batch_alter_table("alert_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_outbox_target_id"))
        batch_op.drop_index(batch_op.f("ix_alert_outbox_status_not_before_unix_nano"))

    op.drop_table("alert_outbox")
    op.drop_table("alert_groups")
    with op.batch_alter_table("alert_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_events_fingerprint_at_unix_nano"))
        batch_op.drop_index(batch_op.f("ix_alert_events_at_unix_nano"))

    op.drop_table("alert_events")
    with op.batch_alter_table("alert_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_audit_at_unix_nano"))

    op.drop_table("alert_audit")
