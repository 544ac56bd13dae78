"""Block Kit messages and payloads: what a responder sees, within Slack's limits."""

from __future__ import annotations

import re
from dataclasses import replace

from alerts.config import DashboardLinks
from alerts.links import links_for
from alerts.messages import fallback_text, slack_message, slack_reply
from alerts.model import Alert, Figures
from alerts.notification import AlertView, Notification
from alerts.payloads import console_line, webhook_body
from tests.alerts.factories import T0
from tests.support.fake_slack import validate_blocks

FIGURES = Figures(
    title="Charges post within 24 h of the procedure",
    kind="lag",
    objective=0.95,
    sli=0.912,
    good=9120,
    total=10000,
    window_label="7d",
    budget_remaining=0.25,
    time_to_exhaustion_s=3 * 3600 + 600,
    at_risk_amount=184320.5,
    burn_rate=16.2,
    burn_threshold=14.4,
    evaluated_at=T0 + 1800,
)


def alert(i: int = 0, **changes: object) -> Alert:
    base = Alert(
        fingerprint=f"{i:016x}",
        sla_id="charge-lag",
        slice="hc.facility=north-campus",
        tier="1h/5m",
        labels={
            "sla": "charge-lag",
            "priority": "P1",
            "severity": "page",
            "facility": "north-campus",
            "owner": "revenue-integration",
            "domain": "revenue-cycle",
        },
        figures=FIGURES,
        started_at=T0,
        last_evaluated_at=T0 + 1800,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def note(alerts: list[Alert], **changes: object) -> Notification:
    links = DashboardLinks(url="https://vitals.example.org")
    base = Notification(
        key="g:1:1",
        receiver="integration-oncall",
        action="post",
        kind="firing",
        group_ref="abcdef0123456789",
        group_key='{}:{sla="charge-lag"}',
        group_labels={"sla": "charge-lag"},
        alerts=tuple(AlertView.of(a, links_for(links, a)) for a in alerts),
        created_at=T0 + 1800,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_the_message_carries_what_a_responder_needs() -> None:
    message = slack_message(note([alert()]))
    validate_blocks(message["blocks"])
    text = str(message["blocks"])
    assert message["blocks"][0]["text"]["text"] == "[FIRING] P1 Charges post within 24 h of the procedure"
    for needle in (
        "*Observed* 91.20% vs *objective* 95.00% over 7d",
        "9,120 good of 10,000",
        "*Budget remaining* 25.0% (exhausted in 3h10m)",
        "*Facility* north-campus",
        "*Since* <!date^1780000000^{date_num} {time}|2026-05-28 20:26 UTC> (30m)",
        "*Burn rate* 16.2x (threshold 14.4x)",
        "*at risk* $184,320",
        "owner revenue-integration",
    ):
        assert needle in text, needle
    actions = next(b for b in message["blocks"] if b["type"] == "actions")["elements"]
    assert [e.get("action_id") for e in actions] == [
        "vitals_ack_group",
        "vitals_silence_group",
        "vitals_link_sla",
        "vitals_link_evidence",
    ]
    assert (
        actions[2]["url"] == "https://vitals.example.org/sla?sla=charge-lag&slice=hc.facility%3Dnorth-campus"
    )
    # the evidence: the SLA page (its bad events) over a range that covers the alert
    assert (
        actions[3]["url"]
        == "https://vitals.example.org/sla?sla=charge-lag&slice=hc.facility%3Dnorth-campus&range=1d"
    )
    # the plain-text fallback says the same
    fallback = message["text"]
    assert fallback.startswith("[FIRING] P1 Charges post within 24 h of the procedure")
    assert (
        "observed 91.20% vs objective 95.00% over 7d" in fallback
        and "budget remaining 25.0% (exhausted in 3h10m)" in fallback
    )
    assert "Evidence: https://vitals.example.org/sla?sla=charge-lag" in fallback
    resolved = links_for(DashboardLinks(url="https://v.example"), alert(resolved_at=T0 + 7200))
    assert resolved["evidence"] == (
        "https://v.example/sla?sla=charge-lag&slice=hc.facility%3Dnorth-campus"
        "&range=custom&from=2026-05-28T19:26:40Z&to=2026-05-28T22:41:40Z"
    )
    whole = links_for(DashboardLinks(url="https://v.example"), alert(slice=""))
    assert whole["sla"] == "https://v.example/sla?sla=charge-lag"  # no empty slice parameter


def test_many_alerts_and_long_titles_stay_within_slack_limits() -> None:
    long = replace(FIGURES, title="Very long SLA title " * 20)
    many = [alert(i, figures=long, tier=f"tier-{i}") for i in range(30)]
    message = slack_message(note(many))
    validate_blocks(message["blocks"])  # would raise on a duplicate action_id or an oversized text
    assert len(message["text"]) <= 3000
    assert "+22 more alerts in this group" in str(message["blocks"])
    ack_buttons = [b["accessory"]["action_id"] for b in message["blocks"] if "accessory" in b]
    assert len(ack_buttons) == 8 == len(set(ack_buttons))


def test_states_show_in_place() -> None:
    acked = alert(
        acknowledged_by="alice (slack:U1)", acknowledged_at=T0 + 900, ack_comment="restarting the interface"
    )
    silenced = alert(1, tier="6h/30m", suppressed_by=("silence:4",))
    message = slack_message(note([acked, silenced]))
    validate_blocks(message["blocks"])
    text = str(message["blocks"])
    assert (
        ":eyes: Acknowledged by alice (slack:U1) at <!date^1780000900^{date_num} {time}|2026-05-28 20:41 UTC>"
        ": restarting the interface"
    ) in text
    assert ":zzz: Suppressed (silence:4)" in text
    assert "vitals_ack_group" not in text  # nothing left to acknowledge


def test_resolved_and_escalated() -> None:
    resolved = alert(resolved_at=T0 + 3600)
    message = slack_message(note([resolved], kind="resolved"))
    validate_blocks(message["blocks"])
    assert message["blocks"][0]["text"]["text"].startswith("[RESOLVED]")
    assert "*Resolved* <!date^1780003600^{date_num} {time}|2026-05-28 21:26 UTC> after 1h" in str(
        message["blocks"]
    )
    assert "vitals_ack" not in str(message["blocks"]) and "vitals_silence" not in str(message["blocks"])
    reply = slack_reply(note([resolved], action="reply", kind="resolved", highlight=(resolved.fingerprint,)))
    validate_blocks(reply["blocks"])
    assert "Resolved" in reply["blocks"][0]["text"]["text"]
    escalated = note(
        [alert()], kind="escalated", note="Escalated to oncall-lead (level 2 of 3): not acknowledged yet"
    )
    message = slack_message(escalated)
    assert message["blocks"][0]["text"]["text"].startswith("[ESCALATED] P1")
    assert ":arrow_up: *Escalated to oncall-lead (level 2 of 3): not acknowledged yet*" in str(
        message["blocks"]
    )


def test_without_interactivity_the_buttons_become_links() -> None:
    message = slack_message(note([alert()]), interactive=False)
    validate_blocks(message["blocks"])
    urls = [e["url"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert urls[0] == "https://vitals.example.org/alerts?silence=0000000000000000"
    assert "accessory" not in str(message["blocks"])


def test_console_and_webhook_render_the_same_facts() -> None:
    n = note([alert()], note="")
    line = console_line(n)
    assert line.startswith(
        "[vitals alert] firing -> integration-oncall: [FIRING] P1 Charges post within 24 h"
    )
    assert "observed 91.20% vs objective 95.00% over 7d" in line
    body = webhook_body(n, "https://vitals.example.org", max_alerts=0, key="k/1")
    assert body["commonLabels"]["sla"] == "charge-lag" and body["vitals"]["notificationKey"] == "k/1"
    two = webhook_body(note([alert(), alert(1)]), "", max_alerts=1)
    assert len(two["alerts"]) == 1 and two["truncatedAlerts"] == 1
    assert fallback_text(n).count("\n") == 2  # headline, the alert, the evidence link


def test_a_resolved_reply_previews_as_resolved_while_the_group_still_fires() -> None:
    """The notification preview of a "resolved" reply is the text fallback: it says resolved."""
    resolved = alert(resolved_at=T0 + 3600)
    still = alert(1, tier="6h/30m")
    n = note([resolved, still], action="reply", kind="resolved", highlight=(resolved.fingerprint,))
    assert n.status == "firing"  # the group as a whole
    reply = slack_reply(n)
    assert reply["text"].startswith("[RESOLVED] P1 Charges post within 24 h")
    assert "resolved 2026-05-28 21:26 UTC" in reply["text"]
    assert still.fingerprint not in reply["text"] and "6h/30m" not in reply["text"]
    # a reply about a new alert firing, and the parent message, still say firing
    firing = slack_reply(replace(n, kind="firing", highlight=(still.fingerprint,)))
    assert firing["text"].startswith("[FIRING]")
    assert slack_message(replace(n, action="update"))["text"].startswith("[FIRING]")


def test_times_are_shown_as_times_never_epoch_seconds() -> None:
    """Block Kit: Slack's date formatting (the reader's time zone); plain text and console: UTC."""
    views = [alert(acknowledged_by="ann", acknowledged_at=T0 + 900), alert(1, resolved_at=T0 + 3600)]
    n = note(views)
    reply = slack_reply(replace(n, action="reply", kind="resolved", highlight=(views[1].fingerprint,)))
    rendered = [str(slack_message(n)["blocks"]), str(reply["blocks"])]
    for text in rendered:
        bare = re.findall(r"(?<![\\^\d])1780\d{6}(?!\^)", text)
        assert bare == [], text
        assert "<!date^" in text
    plain = [slack_message(n)["text"], reply["text"], console_line(n)]
    for text in plain:
        assert "1780" not in text and "UTC" in text
