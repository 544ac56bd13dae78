"""Which team owns a group: the receiver the alert route tree picks for the group's labels.

The same tree that sends an SLA's alert to a team sends it the failures of its interfaces, so
ownership is configured once, in alerts.yaml. A group's labels are its stage, system, workflow
and facility, plus the labels its interface adds in exceptions.yaml (such as ``owner``, which the
starter route tree matches on).
"""

from __future__ import annotations

from collections.abc import Mapping

from alerts.routing import Route


def group_route_labels(
    *, stage: str, system: str, workflow: str, facility: str, extra: Mapping[str, str]
) -> dict[str, str]:
    labels = {"stage": stage, "system": system, "workflow": workflow, "facility": facility}
    labels.update(extra)
    return {k: v for k, v in labels.items() if v}


def team_for(route: Route, labels: Mapping[str, str]) -> str:
    """The receiver of the first route that handles ``labels`` (the root's when none matches)."""
    found = route.match(labels)
    return found[0].opts.receiver if found else route.opts.receiver


__all__ = ["group_route_labels", "team_for"]
