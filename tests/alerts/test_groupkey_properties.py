"""Properties of group keys over generated label sets (hypothesis)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from alerts import config
from alerts.routing import group_key, group_ref, label_set
from tests.support.properties import PROPERTIES

TREE = config.parse(
    """
route:
  receiver: default
  group_by: [alertname]
  routes:
    - receiver: ledger
      matchers: ['team="finance"', 'sla=~"gl-.*"']
      group_by: [sla, facility]
      continue: true
    - receiver: audit
      matchers: ['team="finance"', 'sla=~"gl-.*"']
      group_by: [sla, facility]
    - receiver: everything
      matchers: ['team="all"']
      group_by: ['...']
receivers: [{name: default}, {name: ledger}, {name: audit}, {name: everything}]
"""
)
LEDGER, AUDIT, EVERYTHING = TREE.route.routes

NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True)
VALUES = st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=10)
LABELS = st.dictionaries(NAMES, VALUES, max_size=6)
#: What the ledger route's sla=~"gl-.*" accepts after "gl-": "." is any character but a newline.
SLAS = VALUES.filter(lambda v: "\n" not in v)


def ledger_labels(extra: dict[str, str], sla: str, facility: str) -> dict[str, str]:
    return {**extra, "team": "finance", "sla": f"gl-{sla}", "facility": facility}


@PROPERTIES
@given(LABELS, SLAS, VALUES, st.data())
def test_a_key_does_not_depend_on_label_order(
    extra: dict[str, str], sla: str, facility: str, data: st.DataObject
) -> None:
    labels = ledger_labels(extra, sla, facility)
    shuffled = dict(data.draw(st.permutations(list(labels.items()))))
    assert TREE.route.match(shuffled)[0] is LEDGER
    assert group_key(LEDGER, shuffled) == group_key(LEDGER, labels)
    assert group_ref(LEDGER, shuffled) == group_ref(LEDGER, labels)


@PROPERTIES
@given(LABELS, LABELS, SLAS, VALUES)
def test_only_group_by_labels_shape_the_key(
    extra: dict[str, str], other: dict[str, str], sla: str, f: str
) -> None:
    assert group_key(LEDGER, ledger_labels(extra, sla, f)) == group_key(LEDGER, ledger_labels(other, sla, f))


@PROPERTIES
@given(LABELS, SLAS, VALUES, SLAS)
def test_different_group_label_values_give_different_keys(
    extra: dict[str, str], sla: str, facility: str, other: str
) -> None:
    same = group_key(LEDGER, ledger_labels(extra, sla, facility))
    assert (group_key(LEDGER, ledger_labels(extra, sla, other)) == same) is (other == facility)
    assert (group_key(LEDGER, ledger_labels(extra, other, facility)) == same) is (other == sla)


@PROPERTIES
@given(LABELS, LABELS)
def test_label_sets_print_one_to_one(a: dict[str, str], b: dict[str, str]) -> None:
    assert (label_set(a) == label_set(b)) is (a == b)


@PROPERTIES
@given(LABELS)
def test_grouping_by_everything_keys_by_every_label(labels: dict[str, str]) -> None:
    labels = {**labels, "team": "all"}
    (route,) = TREE.route.match(labels)
    assert route is EVERYTHING
    assert group_key(route, labels) == '{}/{team="all"}:' + label_set(labels)


@PROPERTIES
@given(LABELS, SLAS, VALUES)
def test_siblings_with_the_same_matchers_share_keys_but_not_groups(
    extra: dict[str, str], sla: str, facility: str
) -> None:
    labels = ledger_labels(extra, sla, facility)
    assert [r.opts.receiver for r in TREE.route.match(labels)] == ["ledger", "audit"]
    assert group_key(LEDGER, labels) == group_key(AUDIT, labels)
    assert group_ref(LEDGER, labels) != group_ref(AUDIT, labels)
