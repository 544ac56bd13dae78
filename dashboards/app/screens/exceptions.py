"""Exceptions: failed transactions grouped by signature, their owner and state; assign, replay and
resolve (engineers and admins; every action audited with the signed-in user)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboards.queries import exceptions as q
from dashboards.ui import widgets
from dashboards.ui.frame import PageContext, render
from exceptions.model import GroupNotFound, TransitionError
from vitals.kernel.units import NS

#: A message to show after the rerun that follows an action.
FLASH = "exceptions.flash"
ACTORS = ("engineer", "admin")


def _who(ctx: PageContext) -> str:
    if ctx.identity.username:
        return ctx.identity.username
    return st.text_input("Your name (for the audit log)", key="exceptions.by", max_chars=80).strip()


def _actions(ctx: PageContext, group_id: str, now: float) -> None:
    config_dir = Path(ctx.res.settings.config_dir)
    with st.form("exceptions-act", clear_on_submit=True):
        action = st.radio("Action", ["assign", "replay", "resolve", "ignore"], horizontal=True)
        owner = st.text_input("Owner (assign)", max_chars=200)
        limit = st.number_input("At most (replay)", min_value=1, max_value=1000, value=50)
        comment = st.text_input("Comment", max_chars=500)
        by = _who(ctx)
        submitted = st.form_submit_button("Apply", type="primary")
    if not submitted:
        return
    if not by:
        st.error("Give your name: the audit log records who acted.")
        return
    try:
        if action == "replay":
            report = q.replay_group(ctx.engine, config_dir, group_id, actor=by, now=now, limit=int(limit))
            message = (
                f"Replayed group {group_id}: {report.count('sent')} sent, {report.count('refused')} refused, "
                f"{report.count('error')} failed to send, {report.deferred} deferred by the rate limit."
            )
        else:
            group = q.act(
                ctx.engine, group_id, action, actor=by, now=now, owner=owner or None, comment=comment
            )
            message = f"Group {group_id} is {group.state}" + (
                f", owner {group.owner}." if group.owner else "."
            )
    except (GroupNotFound, TransitionError) as exc:
        st.error(f"Not done: {exc}")
        return
    st.session_state[FLASH] = message
    st.rerun()


def body(ctx: PageContext) -> None:
    st.title("Exceptions")
    flash = st.session_state.pop(FLASH, None)
    if flash:
        st.success(str(flash))
    now = ctx.now_ns / NS
    page = q.load_page(ctx.engine, Path(ctx.res.settings.config_dir), now)
    if page.problem:
        st.error(f"**The configuration has errors:**\n\n```\n{page.problem}\n```", icon=":material/error:")
        return
    include_closed = st.toggle("Show resolved and ignored", value=False)
    shown = q.rows(page.groups, include_closed=include_closed)
    if not shown:
        widgets.no_data("No failed business transactions (error spans with hc.stage) to work on.")
        return
    frame = pd.DataFrame(shown)
    for column in ("first seen", "last seen"):
        frame[column] = [ctx.fmt(int(v * NS)) for v in frame[column]]
    widgets.table(
        frame,
        key="exceptions-groups",
        file_name="exceptions.csv",
        column_config={"amount": st.column_config.NumberColumn(format="dollar")},
        caption="Failed transactions grouped by stage, system and message (identifiers removed), the most "
        "recent first. Team: the alerts.yaml route for the group's labels.",
    )
    group_id = st.selectbox(
        "Group",
        [r["id"] for r in shown],
        format_func=lambda i: next(f"{i} {r['stage']}: {r['message']}" for r in shown if r["id"] == i),
    )
    if group_id is None:
        return
    tried = q.attempts(ctx.engine, group_id)
    if tried:
        st.caption("Replay attempts of this group")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "at": ctx.fmt(int(a.at * NS)),
                        "trace": a.trace_id,
                        "status": a.status,
                        "outcome": a.outcome,
                        "by": a.actor,
                        "result": a.result,
                    }
                    for a in tried
                ]
            ),
            hide_index=True,
        )
    if ctx.identity.role in ACTORS:
        _actions(ctx, group_id, now)


render("exceptions", body)
