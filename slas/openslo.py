"""OpenSLO v1 ``SLO``/``SLI`` documents whose metric source is Vitals, converted to native SLA files.

The ``Vitals`` metric source type (documented in docs/how-to/write-an-sla.md) carries a Vitals
selector or metric::

    metricSource:
      type: Vitals
      spec:
        selector: {span: erp.gl.post}          # spans (ratio good/bad/total, or latency threshold)
        # or
        metric: queue.oldest_age_seconds       # metric_points samples (gauge threshold)
        where: {queue: charges-outbound}

Everything that cannot be expressed natively is an error naming the file, line and field; parts
that have no Vitals meaning (alert policies, services) are skipped with a note.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from slas.spec import SLA
from vitals.kernel.configfile import ConfigError, ConfigIssue, LoadedYaml, issues_from_validation, parse_yaml
from vitals.kernel.units import format_duration

__all__ = ["Conversion", "convert_openslo"]

SOURCE_TYPE = "Vitals"
_DURATION = re.compile(r"^(\d+)([mhdwMQY])$")
_CALENDARS = {"d": "day", "w": "week", "M": "month", "Q": "quarter", "Y": "year"}
_ANNOTATION = "vitals/"


@dataclass
class Conversion:
    slas: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class _Doc:
    def __init__(self, loaded: LoadedYaml, data: Any, path: tuple[str | int, ...]) -> None:
        self.loaded, self.data, self.path = loaded, data, path

    def issue(self, rel: tuple[str | int, ...], message: str) -> ConfigIssue:
        full = (*self.path, *rel)
        dotted = ""
        for part in rel:
            dotted += f"[{part}]" if isinstance(part, int) else (f".{part}" if dotted else str(part))
        return ConfigIssue(self.loaded.file, self.loaded.line_of(full), dotted, message)

    def get(self, *rel: str | int) -> Any:
        value = self.data
        for part in rel:
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and isinstance(part, int) and part < len(value):
                value = value[part]
            else:
                return None
        return value


def _documents(text: str, file: str) -> list[tuple[LoadedYaml, Any, tuple[str | int, ...]]]:
    """Every OpenSLO object in a file: single documents, lists of them, or several YAML documents."""
    lines = text.splitlines(keepends=True)
    separators = [i for i, line in enumerate(lines) if line.rstrip() == "---"]
    bounds, previous = [], 0
    for separator in separators:
        bounds.append((previous, separator))
        previous = separator + 1
    bounds.append((previous, len(lines)))
    out: list[tuple[LoadedYaml, Any, tuple[str | int, ...]]] = []
    for start, end in bounds:
        chunk = "".join(lines[start:end])
        if not chunk.strip():
            continue
        loaded = parse_yaml("\n" * start + chunk, file)
        if isinstance(loaded.data, list):
            out.extend((loaded, item, (index,)) for index, item in enumerate(loaded.data))
        elif loaded.data is not None:
            out.append((loaded, loaded.data, ()))
    return out


def _window(doc: _Doc, issues: list[ConfigIssue]) -> Any:
    windows = doc.get("spec", "timeWindow")
    if not windows:
        return "28d"
    if len(windows) > 1:
        issues.append(doc.issue(("spec", "timeWindow"), "Vitals SLAs have one window; give one timeWindow"))
    window = windows[0]
    duration = str(window.get("duration", ""))
    match = _DURATION.match(duration)
    if not match:
        issues.append(doc.issue(("spec", "timeWindow", 0, "duration"), f"unsupported duration {duration!r}"))
        return None
    number, unit = int(match.group(1)), match.group(2)
    if window.get("isRolling", False):
        if unit in "MQY":
            issues.append(
                doc.issue(
                    ("spec", "timeWindow", 0, "duration"),
                    f"a rolling window of {duration} cannot map: Vitals rolls over days or weeks (e.g. 30d)",
                )
            )
            return None
        return f"{number}{unit}"
    if number != 1 or unit not in _CALENDARS:
        issues.append(
            doc.issue(
                ("spec", "timeWindow", 0, "duration"),
                f"a calendar window of {duration} cannot map: use 1d, 1w, 1M, 1Q or 1Y",
            )
        )
        return None
    calendar: dict[str, Any] = {"calendar": _CALENDARS[unit]}
    zone = (window.get("calendar") or {}).get("timeZone")
    if zone:
        calendar["time_zone"] = zone
    return calendar


def _source(
    doc: _Doc, rel: tuple[str | int, ...], sources: dict[str, str], issues: list[ConfigIssue]
) -> dict[str, Any] | None:
    metric_source = doc.get(*rel, "metricSource")
    if not isinstance(metric_source, dict):
        issues.append(doc.issue((*rel,), "metricSource is missing"))
        return None
    kind = metric_source.get("type") or sources.get(str(metric_source.get("metricSourceRef")))
    if kind != SOURCE_TYPE:
        issues.append(
            doc.issue(
                (*rel, "metricSource", "type"),
                f"metric source type {kind!r} is not {SOURCE_TYPE}: only Vitals sources can be imported",
            )
        )
        return None
    spec = metric_source.get("spec")
    if not isinstance(spec, dict) or not ({"selector", "metric"} & set(spec)):
        issues.append(doc.issue((*rel, "metricSource", "spec"), "a Vitals source needs selector: or metric:"))
        return None
    return spec


def _objective(doc: _Doc, issues: list[ConfigIssue]) -> dict[str, Any] | None:
    objectives = doc.get("spec", "objectives") or []
    if len(objectives) != 1:
        issues.append(
            doc.issue(
                ("spec", "objectives"), f"Vitals SLAs have one objective; this SLO has {len(objectives)}"
            )
        )
        return None
    objective = objectives[0]
    if "target" not in objective and "targetPercent" not in objective:
        issues.append(doc.issue(("spec", "objectives", 0), "give target (0..1) or targetPercent"))
        return None
    return dict(objective)


def _indicator(
    doc: _Doc, slis: dict[str, _Doc], issues: list[ConfigIssue]
) -> tuple[_Doc, tuple[str | int, ...]] | None:
    if doc.get("spec", "indicator") is not None:
        return doc, ("spec", "indicator", "spec")
    ref = doc.get("spec", "indicatorRef")
    if ref is not None:
        if ref not in slis:
            issues.append(doc.issue(("spec", "indicatorRef"), f"no SLI named {ref!r} in the file"))
            return None
        return slis[ref], ("spec",)
    issues.append(doc.issue(("spec",), "an SLO needs indicator: or indicatorRef:"))
    return None


def _sli(  # noqa: PLR0917
    slo: _Doc,
    sli_doc: _Doc,
    base: tuple[str | int, ...],
    objective: dict[str, Any],
    sources: dict[str, str],
    issues: list[ConfigIssue],
) -> dict[str, Any] | None:
    method = slo.get("spec", "budgetingMethod") or "Occurrences"
    ratio = sli_doc.get(*base, "ratioMetric")
    threshold = sli_doc.get(*base, "thresholdMetric")
    if ratio is not None:
        rel = (*base, "ratioMetric")
        if method != "Occurrences":
            issues.append(
                slo.issue(
                    ("spec", "budgetingMethod"), f"{method} cannot map for a ratio: Vitals counts occurrences"
                )
            )
            return None
        if "raw" in ratio:
            issues.append(sli_doc.issue((*rel, "raw"), "raw ratios cannot map: give good or bad, and total"))
            return None
        total = _source(sli_doc, (*rel, "total"), sources, issues)
        part = "good" if "good" in ratio else "bad"
        other = _source(sli_doc, (*rel, part), sources, issues)
        if total is None or other is None:
            return None
        if "selector" not in total or "selector" not in other:
            issues.append(
                sli_doc.issue(rel, "a ratio needs span selectors (selector:) for total and good/bad")
            )
            return None
        return {"ratio": {"total": total["selector"], part: other["selector"]}}
    if threshold is not None:
        rel = (*base, "thresholdMetric")
        source = _source(sli_doc, rel, sources, issues)
        if source is None:
            return None
        op, value = objective.get("op"), objective.get("value")
        if value is None or op not in {"lt", "lte", "gt", "gte"}:
            issues.append(
                slo.issue(("spec", "objectives", 0), "a threshold SLI needs op (lt, lte, gt, gte) and value")
            )
            return None
        if "selector" in source:
            if op not in {"lt", "lte"}:
                issues.append(
                    slo.issue(("spec", "objectives", 0, "op"), "span latency must be below a bound: op lt")
                )
                return None
            return {"latency": {"select": source["selector"], "under": format_duration(float(value))}}
        if method != "Timeslices":
            issues.append(
                slo.issue(
                    ("spec", "budgetingMethod"),
                    "a metric threshold maps to per-minute timeslices: use Timeslices",
                )
            )
            return None
        window = str(objective.get("timeSliceWindow", "1m"))
        if window != "1m":
            issues.append(slo.issue(("spec", "objectives", 0, "timeSliceWindow"), "Vitals timeslices are 1m"))
            return None
        bound = "max" if op in {"lt", "lte"} else "min"
        gauge: dict[str, Any] = {"metric": source["metric"], bound: value}
        if source.get("where"):
            gauge["where"] = source["where"]
        return {"gauge": gauge}
    issues.append(sli_doc.issue(base, "only ratioMetric and thresholdMetric can map"))
    return None


def convert_openslo(path: str | Path) -> Conversion:
    """Convert the SLO documents of an OpenSLO file; raises ConfigError listing what cannot map."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError.single(file, None, "", f"cannot read file: {exc}") from exc
    docs = [_Doc(loaded, data, rel) for loaded, data, rel in _documents(text, file)]
    issues: list[ConfigIssue] = []
    result = Conversion()
    slis: dict[str, _Doc] = {}
    sources: dict[str, str] = {}
    slos: list[_Doc] = []
    for doc in docs:
        if not isinstance(doc.data, dict):
            issues.append(doc.issue((), "expected an OpenSLO object"))
            continue
        version, kind, name = doc.get("apiVersion"), doc.get("kind"), doc.get("metadata", "name")
        if version != "openslo/v1":
            issues.append(
                doc.issue(("apiVersion",), f"unsupported apiVersion {version!r}: Vitals imports openslo/v1")
            )
            continue
        if kind == "SLO":
            slos.append(doc)
        elif kind == "SLI":
            slis[str(name)] = doc
        elif kind == "DataSource":
            sources[str(name)] = str(doc.get("spec", "type"))
        else:
            result.notes.append(f"skipped {kind} {name!r}: Vitals has no equivalent")
    if not slos and not issues:
        issues.append(ConfigIssue(file, None, "", "no SLO documents to import"))
    for slo in slos:
        before = len(issues)
        name = slo.get("metadata", "name")
        annotations = slo.get("metadata", "annotations") or {}
        labels = slo.get("metadata", "labels") or {}
        team = labels.get("team")
        owner = team[0] if isinstance(team, list) and team else team
        objective = _objective(slo, issues)
        window = _window(slo, issues)
        found = _indicator(slo, slis, issues)
        sli = _sli(slo, found[0], found[1], objective, sources, issues) if found and objective else None
        if len(issues) > before or objective is None or sli is None:
            continue
        target = objective.get("target")
        if target is None:
            target = float(objective["targetPercent"]) / 100
        sla: dict[str, Any] = {
            "id": str(name),
            "title": slo.get("metadata", "displayName") or slo.get("spec", "description") or str(name),
            "domain": annotations.get(f"{_ANNOTATION}domain") or slo.get("spec", "service") or "imported",
            "owner": annotations.get(f"{_ANNOTATION}owner")
            or owner
            or slo.get("spec", "service")
            or "unassigned",
            "priority": annotations.get(f"{_ANNOTATION}priority", "P3"),
            "objective": f"{round(float(target) * 100, 6):g}%",
            "window": window,
        }
        if slo.get("spec", "description"):
            sla["description"] = slo.get("spec", "description")
        if annotations.get(f"{_ANNOTATION}slice_by"):
            sla["slice_by"] = [
                s.strip() for s in str(annotations[f"{_ANNOTATION}slice_by"]).split(",") if s.strip()
            ]
        sla["sli"] = sli
        if slo.get("spec", "alertPolicies"):
            result.notes.append(
                f"SLO {name!r}: alertPolicies not imported "
                "(Vitals alerts on burn rates; route them in alerts.yaml)"
            )
        try:
            SLA.model_validate(sla)
        except ValidationError as exc:
            issues.extend(issues_from_validation(exc, slo.loaded, slo.path))
            continue
        result.slas.append(sla)
    if issues:
        raise ConfigError(issues)
    return result
