"""The alerting tables: a documented interface (the dashboard and BI tools read them).

Times are Unix nanoseconds like every Vitals table. ``alerts`` holds one row per alert
(fingerprint) with its current state; ``alert_events`` its history; ``alert_silences`` the
silences (who acknowledged, silenced or reloaded what is in access's ``audit_log``); ``alert_groups`` the
notification state of each route group (timers, what was notified, escalation); ``alert_outbox``
every notification to deliver, with its delivery state; ``alert_channel_pacing`` the next moment
each delivery lane (a Slack channel, a webhook) may be sent to, shared by every dispatcher process;
``alert_state`` small named values such as the evaluation watermark.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table, Text

from vitals.kernel.db import BigIntId, JsonDocument, metadata

alerts = Table(
    "alerts",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("fingerprint", String(32), nullable=False, unique=True),
    Column("sla_id", String(128), nullable=False),
    Column("slice", Text, nullable=False, default=""),
    Column("tier", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # firing, acknowledged, suppressed, resolved
    Column("active", Boolean, nullable=False),  # the condition as last evaluated
    Column("priority", String(2), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("domain", Text, nullable=False),
    Column("owner", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("labels", JsonDocument, nullable=False),
    Column("figures", JsonDocument, nullable=False),
    Column("started_at_unix_nano", BigInteger, nullable=False),
    Column("last_evaluated_at_unix_nano", BigInteger, nullable=False),
    Column("clear_since_unix_nano", BigInteger),
    Column("resolved_at_unix_nano", BigInteger),
    Column("acknowledged_by", Text),
    Column("acknowledged_at_unix_nano", BigInteger),
    Column("ack_comment", Text),
    Column("suppressed_by", JsonDocument, nullable=False),
    Column("transitions", JsonDocument, nullable=False),
    Column("flapping", Boolean, nullable=False, default=False),
    Column("hysteresis_holds", Integer, nullable=False, default=0),
    Column("flap_holds", Integer, nullable=False, default=0),
    Column("episode", Integer, nullable=False, default=1),
    Column("page_seen_at_unix_nano", BigInteger),  # a page tier last fired (severity hysteresis)
    Column("version", Integer, nullable=False, default=0),
    Column("updated_at_unix_nano", BigInteger, nullable=False),
    Index(None, "state"),
    Index(None, "sla_id", "slice"),
    Index(None, "resolved_at_unix_nano"),
    sqlite_autoincrement=True,
)

alert_events = Table(
    "alert_events",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("fingerprint", String(32), nullable=False),
    Column("at_unix_nano", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("actor", Text, nullable=False),
    Column("detail", JsonDocument, nullable=False),
    Index(None, "fingerprint", "at_unix_nano"),
    Index(None, "at_unix_nano"),
    sqlite_autoincrement=True,
)

alert_silences = Table(
    "alert_silences",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("matchers", JsonDocument, nullable=False),  # list of matcher strings
    Column("starts_at_unix_nano", BigInteger, nullable=False),
    Column("ends_at_unix_nano", BigInteger, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at_unix_nano", BigInteger, nullable=False),
    Column("expire_on_resolve", Boolean, nullable=False, default=False),
    Column("time_intervals", JsonDocument),  # recurring windows (Alertmanager time_interval specs)
    Column("matched_any", Boolean, nullable=False, default=False),
    Column("expired_by", Text),
    Column("source", String(16), nullable=False),
    Index(None, "ends_at_unix_nano"),
    sqlite_autoincrement=True,
)

alert_groups = Table(
    "alert_groups",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("group_ref", String(32), nullable=False, unique=True),
    Column("group_key", Text, nullable=False),
    Column("route_key", Text, nullable=False),
    Column("receiver", Text, nullable=False),
    Column("group_labels", JsonDocument, nullable=False),
    Column("open", Boolean, nullable=False),
    Column("state", JsonDocument, nullable=False),
    Column("version", Integer, nullable=False, default=0),
    Column("updated_at_unix_nano", BigInteger, nullable=False),
    sqlite_autoincrement=True,
)

alert_outbox = Table(
    "alert_outbox",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("key", String(255), nullable=False, unique=True),  # idempotency key
    Column("receiver", Text, nullable=False),
    Column("integration", String(64), nullable=False),  # e.g. slack_configs[0]
    Column("kind", String(16), nullable=False),  # slack_bot, slack_webhook, webhook, alertmanager, console
    Column("action", String(8), nullable=False),  # post, update, reply
    Column("target", String(128), nullable=False),  # pacing/ordering lane: channel or URL hash
    Column("parent_key", String(255)),
    Column("group_ref", String(32), nullable=False),
    Column("notification", JsonDocument, nullable=False),
    Column("status", String(12), nullable=False),  # pending, sending, sent, failed_over, dead, skipped
    Column("attempts", Integer, nullable=False, default=0),
    Column("not_before_unix_nano", BigInteger, nullable=False),
    Column("first_failure_at_unix_nano", BigInteger),
    Column("attempt_started_at_unix_nano", BigInteger),
    Column("lease_owner", Text),
    Column("lease_until_unix_nano", BigInteger),
    Column("last_error", Text),
    Column("result", JsonDocument),  # e.g. {"channel": "C123", "ts": "1700000000.000100"}
    Column("fallback_of", BigInteger),
    Column("created_at_unix_nano", BigInteger, nullable=False),
    Column("sent_at_unix_nano", BigInteger),
    Index(None, "status", "not_before_unix_nano"),
    Index(None, "target", "id"),
    # Retention's read of finished rows created before its cutoff (a0007).
    Index(None, "created_at_unix_nano"),
    sqlite_autoincrement=True,
)

alert_channel_pacing = Table(
    "alert_channel_pacing",
    metadata,
    Column("channel", String(128), primary_key=True),  # the outbox lane (alert_outbox.target)
    Column("next_send_at_unix_nano", BigInteger, nullable=False),
)

alert_state = Table(
    "alert_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", JsonDocument, nullable=False),
    Column("updated_at_unix_nano", BigInteger, nullable=False),
)

#: Slack button clicks applied, so a replayed request is answered without applying it again.
alert_slack_actions = Table(
    "alert_slack_actions",
    metadata,
    Column("key", String(64), primary_key=True),  # sha256 of user, action_id, action_ts, trigger_id, value
    Column("trigger_id", String(255), nullable=False),
    Column("action_ts", String(32), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("action_id", String(255), nullable=False),
    Column("outcome", Text),  # the answer given; NULL while the first request applies it
    Column("received_at_unix_nano", BigInteger, nullable=False),
    Column("replays", Integer, nullable=False, default=0),
    Index(None, "received_at_unix_nano"),
)

__all__ = [
    "alert_channel_pacing",
    "alert_events",
    "alert_groups",
    "alert_outbox",
    "alert_silences",
    "alert_slack_actions",
    "alert_state",
    "alerts",
]
