"""SLA files that several tests serve: one copy, so a change to the SLA file format is made once."""

from __future__ import annotations

#: One ratio SLA over ``erp.gl.post`` spans, evaluated every second (live ``vitals serve`` tests).
GL = """\
evaluation: {interval: 1s}
slas:
  - id: gl-posting-errors
    title: GL postings succeed
    domain: finance
    owner: finance-systems
    priority: P2
    objective: 90%
    window: 1d
    sli:
      ratio:
        total: {span: erp.gl.post}
        bad: {status: error}
"""
