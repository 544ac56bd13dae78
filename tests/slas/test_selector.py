from __future__ import annotations

from slas.selector import CompiledSelector, SelectorIndex, slice_of
from slas.spec import Selector
from tests.slas.helpers import Timeline


def sel(**fields: object) -> CompiledSelector:
    return CompiledSelector(Selector.model_validate(fields))


def test_fields_globs_status_kind_and_attributes() -> None:
    tl = Timeline()
    adt = tl.span(0, name="HL7 ADT^A01 process", service="integration-engine", hc__message__type="ADT^A01")
    failed = tl.span(0, name="erp.gl.post", service="erp-finance", status="error", hc__stage="gl.posted")
    client = tl.span(0, name="payer.eligibility.check", kind="client", hc__facility="north-campus")
    assert sel(span="HL7 ADT^* process")(adt)
    assert sel(message_type=["ADT^A01", "ADT^A03"], service="integration-*")(adt)
    assert not sel(message_type="ADT^A03")(adt)
    assert sel(stage="gl.posted", status="error")(failed)
    assert not sel(status="ok")(failed)
    assert sel(status="ok")(adt)  # unset counts as ok
    assert sel(kind="client")(client) and not sel(kind="server")(client)
    assert sel(attributes={"hc.facility": "north-*"})(client)
    assert not sel(attributes={"hc.facility": "south-campus"})(client)
    assert not sel(attributes={"hc.denial.code": "*"})(client)  # absent attribute never matches


def test_attribute_values_compare_as_text() -> None:
    tl = Timeline()
    span = tl.span(0, retry=True, attempts=3, ratio=2.0)
    assert sel(attributes={"retry": True, "attempts": 3, "ratio": "2"})(span)


def test_index_returns_each_matching_payload_once() -> None:
    tl = Timeline()
    index: SelectorIndex[str] = SelectorIndex()
    index.add(sel(stage=["charge.posted", "charge.sent"]), "by-stage")
    index.add(sel(span="billing.charge.post"), "by-name")
    index.add(sel(service="billing"), "generic")
    index.add(sel(stage="gl.posted"), "other")
    span = tl.span(0, name="billing.charge.post", service="billing", hc__stage="charge.posted")
    assert sorted(index.matches(span)) == ["by-name", "by-stage", "generic"]


def test_slice_keys() -> None:
    assert slice_of(("hc.facility",), {"hc.facility": "north-campus"}) == (
        "hc.facility=north-campus",
        {"hc.facility": "north-campus"},
    )
    assert slice_of(("hc.facility", "hc.service_line"), {"hc.facility": "a", "hc.service_line": "b"})[0] == (
        "hc.facility=a,hc.service_line=b"
    )
    assert slice_of(("hc.facility",), {}) == ("", {})
    assert slice_of((), {"hc.facility": "a"}) == ("", {})
