"""YAML config files whose errors name the file, the line and the field.

People edit SLA, alert and collector files by hand and keep them under version control, so an
error must point at the exact spot. We keep the line of every mapping key and list item while
loading, validate with pydantic, and translate pydantic's error locations back to lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import TypeAdapter, ValidationError

T = TypeVar("T")

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class ConfigIssue:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field or '(top level)'}: {self.message}"


class ConfigError(Exception):
    """One or more problems in config files; ``str()`` lists them one per line."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))

    @classmethod
    def single(cls, file: str | Path, line: int | None, field: str, message: str) -> ConfigError:
        return cls([ConfigIssue(str(file), line, field, message)])


@dataclass(frozen=True)
class LoadedYaml:
    """Parsed YAML plus the line (1-based) of every key and list item, by path."""

    file: str
    data: Any
    lines: dict[FieldPath, int] = field(default_factory=dict)

    def line_of(self, path: Iterable[str | int]) -> int | None:
        """The line of ``path`` or of its nearest ancestor that has one."""
        parts = tuple(path)
        while parts:
            if parts in self.lines:
                return self.lines[parts]
            parts = parts[:-1]
        return self.lines.get((), None)


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.loader = yaml.SafeLoader("")
        self.lines: dict[FieldPath, int] = {}

    def build(self, node: yaml.Node, path: FieldPath) -> Any:
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    merged = self.build(value_node, path)
                    for item in merged if isinstance(merged, list) else [merged]:
                        if isinstance(item, dict):
                            for k, v in item.items():
                                result.setdefault(k, v)
                    continue
                key = self.build(key_node, path)
                if not isinstance(key, str | int | float | bool):
                    raise ConfigError.single(
                        self.file, key_node.start_mark.line + 1, _dotted(path), "mapping keys must be scalars"
                    )
                if key in result:
                    raise ConfigError.single(
                        self.file,
                        key_node.start_mark.line + 1,
                        _dotted((*path, str(key))),
                        "duplicate key (it appears earlier in the same mapping)",
                    )
                child = (*path, key if isinstance(key, str | int) else str(key))
                self.lines[child] = key_node.start_mark.line + 1
                result[key] = self.build(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                child = (*path, index)
                self.lines[child] = item.start_mark.line + 1
                items.append(self.build(item, child))
            return items
        if isinstance(node, yaml.ScalarNode) and node.tag in _SEXAGESIMAL_TAGS and ":" in node.value:
            # YAML 1.1 reads 17:00 as the base-60 number 1020; YAML 1.2 and Go's YAML (hence
            # Alertmanager configs) read the text, which is what a time of day field expects.
            return node.value
        return self.loader.construct_object(node, deep=True)


_SEXAGESIMAL_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


def _dotted(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_yaml(text: str, file: str | Path) -> LoadedYaml:
    """Parse YAML text, keeping lines; a syntax error becomes a ConfigError with its line."""
    name = str(file)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError.single(name, line, "", f"invalid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError.single(name, None, "", f"invalid YAML: {exc}") from exc
    if node is None:
        return LoadedYaml(name, None, {})
    builder = _Builder(name)
    data = builder.build(node, ())
    builder.lines[()] = node.start_mark.line + 1
    return LoadedYaml(name, data, builder.lines)


def load_yaml(path: str | Path) -> LoadedYaml:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError.single(path, None, "", "file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError.single(path, None, "", f"cannot read file: {exc}") from exc
    return parse_yaml(text, path)


def _data_path(loc: Sequence[str | int], data: Any) -> FieldPath:
    """Keep only the parts of a pydantic location that walk through the data itself.

    Pydantic inserts union member and validator names into locations; they are not fields.
    """
    path: list[str | int] = []
    current = data
    for part in loc:
        if isinstance(current, dict) and part in current:
            path.append(part)
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(part)
            current = current[part]
    return tuple(path)


def issues_from_validation(
    error: ValidationError, loaded: LoadedYaml, prefix: FieldPath = ()
) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    seen: set[tuple[FieldPath, str]] = set()
    for err in error.errors(include_url=False):
        loc = tuple(err.get("loc", ()))
        path = _data_path((*prefix, *loc), loaded.data)
        # A missing field is reported at its parent; name it in the field column anyway.
        named = path
        if err.get("type") == "missing" and loc:
            named = (*path, loc[-1])
        message = str(err.get("msg", "invalid value"))
        ctx = err.get("ctx") or {}
        if err.get("type") == "extra_forbidden":
            message = "unknown field (check its spelling and indentation)"
        elif "error" in ctx and isinstance(ctx["error"], Exception):
            message = str(ctx["error"])
        key = (named, message)
        if key in seen:
            continue
        seen.add(key)
        issues.append(ConfigIssue(loaded.file, loaded.line_of(path), _dotted(named), message))
    return issues


def validate(
    model: Any,
    loaded: LoadedYaml,
    data: Any = None,
    prefix: FieldPath = (),
    context: Mapping[str, Any] | None = None,
) -> Any:
    """Validate ``data`` (default: the whole document) against a pydantic type.

    ``prefix`` is where ``data`` sits inside the document, so line numbers stay right when a
    caller validates one part at a time. ``context`` is pydantic's validation context (e.g.
    ``SecretSources.context()``, so secret fields are read, and their errors located, here).
    """
    target = loaded.data if data is None and not prefix else data
    try:
        return TypeAdapter(model).validate_python(target, context=context)
    except ValidationError as exc:
        raise ConfigError(issues_from_validation(exc, loaded, prefix)) from exc
