"""Record-to-report: every GL posting goes through ``gl-postings`` to the ERP's ``erp.gl.post``.

Payments (billing), invoices (accounts payable), labor costs (HR) and manual journals all post the
same way, so the GL posting outage hits them all. A posting that fails is parked by the integration
engine and retried once the ERP answers again (a new ``erp.gl.post`` span with the same
``hc.key.journal``); the queue keeps flowing because the consumer acknowledges what it parked.
"""

from __future__ import annotations

from simulator.estate import ERP_FINANCE, RECORD_TO_REPORT
from simulator.model import AttributeValue
from simulator.workflows.base import Journey, hc, queue_latency_ns
from simulator.workflows.base import queue_hop as _queue_hop
from vitals.kernel.units import MINUTE_NS

BASE_ERROR_RATE = 0.0005
RETRY_SPREAD_NS = 5 * MINUTE_NS  # parked postings are replayed over this long once the ERP is back

#: Which subledger a posting comes from, by stream.
SOURCES = {
    "claim": ("AR", "C"),
    "patient-payment": ("AR", "P"),
    "requisition": ("AP", "A"),
    "labor": ("Payroll", "L"),
    "journal": ("Manual", "M"),
}


def post_to_gl(
    j: Journey,
    *,
    producer_name: str,
    producer_service: str,
    producer_attrs: dict[str, AttributeValue],
    published_ns: int,
    workflow: str,
    amount: float,
    keys: dict[str, AttributeValue],
    link: tuple[int, int] | None = None,
) -> None:
    """Publish one posting to ``gl-postings`` and record how the ERP handled it."""
    source, tag = SOURCES[j.stream]
    journal = j.key("J" + tag)
    latency = queue_latency_ns(j)
    base_error = j.chance(BASE_ERROR_RATE)
    fix_delay = j.lognormal_ns(2 * 3600, 0.4, cap_s=6 * 3600)
    consumed = published_ns + latency
    outage = j.effects.gl_outage(consumed)
    attrs = {
        **hc(workflow, "gl.posted", "erp", j.facility, amount=amount, hc_key_journal=journal),
        **keys,
        "erp.journal.source": source,
        "erp.ledger": "general",
    }
    error: str | None = None
    if outage is not None:
        attrs["http.response.status_code"] = outage.status_code
        attrs["error.type"] = str(outage.status_code)
        error = f"GL posting API unavailable ({outage.status_code}); posting parked for retry"
        window = outage.window
        retry_at = window.end_ns + (consumed - window.start_ns) * RETRY_SPREAD_NS // (
            window.end_ns - window.start_ns
        )
    elif base_error:
        attrs["error.type"] = "PeriodClosed"
        error = "posting date falls in a closed period; parked for the accountant"
        retry_at = consumed + fix_delay
    p_trace, p_span = j.trace(), j.sid()
    c_trace, c_span, _, c_end = _queue_hop(
        j,
        "gl-postings",
        producer=(p_trace, p_span, 0, producer_name, producer_service),
        consumer_name="erp.gl.post",
        consumer_service=ERP_FINANCE,
        published_ns=published_ns,
        consumed_ns=consumed,
        producer_attrs=producer_attrs,
        consumer_attrs=attrs,
        consumer_error=error,
        consumer_ms=90.0,
        producer_links=(link,) if link is not None else (),
    )
    if error is None:
        return
    ok = {k: v for k, v in attrs.items() if k not in {"http.response.status_code", "error.type"}}
    ok["erp.retry.attempt"] = 1
    j.span(
        j.trace(),
        j.sid(),
        0,
        "erp.gl.post",
        ERP_FINANCE,
        "internal",
        max(retry_at, c_end),
        max(retry_at, c_end) + j.lognormal_ns(0.09, 0.5),
        ok,
        links=((c_trace, c_span),),
    )


def journal(j: Journey) -> None:
    """A manual journal entry (accruals, reclasses): a trickle, a flood at month-end close."""
    amount = j.money(12000.0, 1.1)
    post_to_gl(
        j,
        producer_name="erp.journal.submit",
        producer_service=ERP_FINANCE,
        producer_attrs=hc(RECORD_TO_REPORT, None, "erp", j.facility, amount=amount),
        published_ns=j.origin_ns,
        workflow=RECORD_TO_REPORT,
        amount=amount,
        keys={},
    )


__all__ = ["BASE_ERROR_RATE", "journal", "post_to_gl"]
