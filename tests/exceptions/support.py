"""Failed charges for the work queue's tests: stored spans with stage, system, amount and keys."""

from __future__ import annotations

import hashlib
from typing import Any

from tests.support.factories import span_row

T0 = 1_780_000_000.0
ALERTS_YAML = """\
route:
  receiver: console
  routes:
    - matchers: ['owner="finance-systems"']
      receiver: finance-systems
    - matchers: ['stage="claim.submit"']
      receiver: revenue-cycle
receivers:
  - name: console
    console_configs: [{}]
  - name: finance-systems
    console_configs: [{}]
  - name: revenue-cycle
    console_configs: [{}]
"""


def key_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def failed_charge(
    i: int, *, at: float, message: str = "", amount: float = 100.0, status: str = "error", **extra: Any
) -> dict[str, Any]:
    """A failed ``erp.charge.post`` span whose message carries an id that normalisation removes."""
    attributes: dict[str, Any] = {
        "hc.workflow": "charge-capture",
        "hc.stage": "charge.post",
        "hc.system": "erp",
        "hc.facility": "north",
        "hc.amount": amount,
        "hc.key.charge_id": key_hash(f"charge-{i}"),
        "mirth.message_id": str(1000 + i),
    }
    attributes.update(extra)
    row = span_row(
        name="erp.charge.post",
        service="charge-router",
        start_s=at,
        status=status,
        attributes=attributes,
        trace_id=f"{i:032x}",
        span_id=f"{i:016x}",
    )
    row["status_message"] = message or (
        f"ERP rejected charge {9000 + i}: GL account 'A-{i}' closed" if status == "error" else None
    )
    return row
