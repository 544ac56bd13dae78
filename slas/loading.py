"""Reading SLA files: every problem reported at once, each with its file, line and field.

A directory of SLA files is one namespace: ids and named time intervals must be unique across
files (a duplicate names both places), and ``during:`` may use an interval from any file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slas.spec import SLA, Correction, EvaluationSettings, FreshnessSli, GaugeSli, SlaFile
from vitals.kernel.configfile import ConfigError, ConfigIssue, LoadedYaml, load_yaml, validate
from vitals.kernel.timeintervals import IntervalSet, NamedInterval

__all__ = ["SlaConfig", "load_sla_config", "load_sla_path", "load_slas", "sla_files"]


@dataclass(frozen=True)
class SlaConfig:
    slas: list[SLA]
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)
    files: tuple[Path, ...] = ()
    #: sla id -> (file, line) where it is defined
    places: dict[str, tuple[str, int | None]] = field(default_factory=dict)


def sla_files(path: str | Path) -> list[Path]:
    """The YAML files a path stands for: a file, a directory of them, or a config dir with slas/."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.exists():
        raise ConfigError.single(path, None, "", "no such file or directory")
    folder = path / "slas" if (path / "slas").is_dir() else path
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in {".yaml", ".yml"})


def load_slas(config_dir: str | Path) -> list[SLA]:
    """The SLAs of a config directory (``<config_dir>/slas/*.yaml``), validated; raises ConfigError."""
    folder = Path(config_dir) / "slas"
    if not folder.is_dir():
        return []
    return load_sla_config(sla_files(folder)).slas


def load_sla_path(path: str | Path, interval_files: Iterable[Path] = ()) -> SlaConfig:
    """SLAs of a file or directory; ``interval_files`` may define time intervals they refer to."""
    return load_sla_config(sla_files(path), interval_files)


def _validated(
    model: Any, loaded: LoadedYaml, data: Any, prefix: tuple[str | int, ...], issues: list[ConfigIssue]
) -> Any:
    try:
        return validate(model, loaded, data, prefix)
    except ConfigError as exc:
        issues.extend(exc.issues)
        return None


def load_sla_config(files: Iterable[Path], interval_files: Iterable[Path] = ()) -> SlaConfig:
    issues: list[ConfigIssue] = []
    slas: list[tuple[SLA, LoadedYaml, int]] = []
    intervals: dict[str, tuple[NamedInterval, str, int | None]] = {}
    places: dict[str, tuple[str, int | None]] = {}
    evaluation: tuple[EvaluationSettings, str, int | None] | None = None
    files = list(files)
    for path in files:
        try:
            loaded = load_yaml(path)
        except ConfigError as exc:
            issues.extend(exc.issues)
            continue
        if loaded.data is None:
            continue
        if not isinstance(loaded.data, dict):
            issues.append(
                ConfigIssue(loaded.file, loaded.line_of(()), "", "expected a mapping with a slas: list")
            )
            continue
        top = _validated(SlaFile, loaded, loaded.data, (), issues)
        if top is None:
            continue
        for index, item in enumerate(loaded.data.get("time_intervals") or []):
            named = _validated(NamedInterval, loaded, item, ("time_intervals", index), issues)
            if named is None:
                continue
            line = loaded.line_of(("time_intervals", index))
            if named.name in intervals:
                _, other_file, other_line = intervals[named.name]
                issues.append(
                    ConfigIssue(
                        loaded.file,
                        line,
                        f"time_intervals[{index}].name",
                        f"time interval {named.name!r} is already defined at {other_file}:{other_line}",
                    )
                )
                continue
            intervals[named.name] = (named, loaded.file, line)
        if "evaluation" in loaded.data:
            settings = _validated(
                EvaluationSettings, loaded, loaded.data["evaluation"] or {}, ("evaluation",), issues
            )
            line = loaded.line_of(("evaluation",))
            if settings is not None:
                if evaluation is not None:
                    issues.append(
                        ConfigIssue(
                            loaded.file,
                            line,
                            "evaluation",
                            f"evaluation settings are already given at {evaluation[1]}:{evaluation[2]}",
                        )
                    )
                else:
                    evaluation = (settings, loaded.file, line)
        for index, item in enumerate(loaded.data.get("slas") or []):
            sla = _validated(SLA, loaded, item, ("slas", index), issues)
            if sla is None:
                continue
            line = loaded.line_of(("slas", index, "id"))
            if sla.id in places:
                other_file, other_line = places[sla.id]
                issues.append(
                    ConfigIssue(
                        loaded.file,
                        line,
                        f"slas[{index}].id",
                        f"SLA id {sla.id!r} is already used at {other_file}:{other_line}",
                    )
                )
                continue
            places[sla.id] = (loaded.file, line)
            slas.append((sla, loaded, index))
    own = {Path(f).resolve() for f in files}
    for path in interval_files:
        if Path(path).resolve() in own:
            continue
        try:
            loaded = load_yaml(path)
        except ConfigError as exc:
            issues.extend(exc.issues)
            continue
        data = loaded.data if isinstance(loaded.data, dict) else {}
        for index, item in enumerate(data.get("time_intervals") or []):
            named = _validated(NamedInterval, loaded, item, ("time_intervals", index), issues)
            if named is not None and named.name not in intervals:
                intervals[named.name] = (named, loaded.file, loaded.line_of(("time_intervals", index)))
    resolved = []
    for sla, loaded, index in slas:
        resolved.append(_resolve_intervals(sla, loaded, index, intervals, issues))
    if issues:
        raise ConfigError(issues)
    return SlaConfig(
        slas=resolved,
        evaluation=evaluation[0] if evaluation else EvaluationSettings(),
        files=tuple(files),
        places=places,
    )


def _resolve_intervals(
    sla: SLA,
    loaded: LoadedYaml,
    index: int,
    named: dict[str, tuple[NamedInterval, str, int | None]],
    issues: list[ConfigIssue],
) -> SLA:
    def resolve(ref: IntervalSet | None, path: tuple[str | int, ...]) -> IntervalSet | None:
        if ref is None or ref.intervals:
            return ref
        assert ref.name is not None
        if ref.name not in named:
            known = ", ".join(sorted(named)) or "none defined"
            issues.append(
                ConfigIssue(
                    loaded.file,
                    loaded.line_of(path),
                    ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in path).replace(".[", "["),
                    f"unknown time interval {ref.name!r} (known: {known}); define it under time_intervals:",
                )
            )
            return ref
        return IntervalSet(name=ref.name, intervals=tuple(named[ref.name][0].time_intervals))

    base: tuple[str | int, ...] = ("slas", index)
    spec = sla.sli.spec
    update: dict[str, Any] = {}
    if isinstance(spec, FreshnessSli | GaugeSli) and spec.during is not None:
        during = resolve(spec.during, (*base, "sli", sla.kind, "during"))
        new_spec = spec.model_copy(update={"during": during})
        update["sli"] = sla.sli.model_copy(update={sla.kind: new_spec})
    corrections: list[Correction] = []
    for position, original in enumerate(sla.corrections):
        correction = original
        if original.during is not None:
            during = resolve(original.during, (*base, "corrections", position, "during"))
            correction = original.model_copy(update={"during": during})
        corrections.append(correction)
    if sla.corrections:
        update["corrections"] = tuple(corrections)
    return sla.model_copy(update=update) if update else sla
