"""MkDocs hook: the config-file reference, generated from the pydantic models that validate the files.

A page marks where the tables go with the model that validates a file (or one of its sections)
and, optionally, the YAML path where that model sits in the file:

    <!-- config-reference collector.config:CollectorConfig -->
    <!-- config-reference collector.queues.config:AnyPoller pollers[] -->

The marker becomes one table per model reachable from there (field, type, default, description),
so the reference says exactly what the loader accepts and cannot drift from it. Descriptions come
from ``Field(description=...)``, else the ``#:`` comment above the field, else a comment after it.
"""

from __future__ import annotations

import importlib
import inspect
import io
import json
import re
import tokenize
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page
from pydantic import BaseModel, BeforeValidator, PlainValidator, SecretStr, TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from vitals.kernel.secrets import Secret
from vitals.kernel.timeintervals import IntervalSet
from vitals.kernel.units import format_duration, parse_duration, parse_fraction, parse_size

MARKER = re.compile(r"<!-- config-reference (?P<target>[\w.]+:\w+)(?: (?P<path>\S+))? -->")

#: Config grammars written as text (``15m``, ``64MiB``, ``99.5%``), named by their parser.
NAMED_PARSERS: dict[Callable[[Any], Any], str] = {
    parse_duration: "duration",
    parse_size: "size",
    parse_fraction: "percentage",
}
#: Models users never write in the shape of their fields: shown as what they accept instead.
WRITTEN_AS: dict[type[BaseModel], str] = {
    IntervalSet: "a time interval's name, one inline time interval, or a list of them",
}
SCALARS: dict[Any, str] = {
    str: "text",
    SecretStr: "text",
    int: "integer",
    float: "number",
    bool: "boolean",
    datetime: "date-time",
    date: "date",
    Any: "any",
}


@dataclass(frozen=True)
class Located:
    """A model, the YAML paths where the reference meets it, and the heading it gets."""

    model: type[BaseModel]
    paths: tuple[str, ...]
    title: str
    anchor: str


def on_page_markdown(markdown: str, *, page: Page, config: MkDocsConfig, files: Files) -> str:
    shown: dict[type[BaseModel], Located] = {}  # a model shared by two markers gets one table
    return MARKER.sub(lambda match: render(match["target"], match["path"] or "", shown), markdown)


def render(target: str, path: str, shown: dict[type[BaseModel], Located] | None = None) -> str:
    """The Markdown for one marker: a heading, summary and table per model under ``target``.

    Models in ``shown`` already have a table on the page: they are linked to, not repeated.
    """
    shown = {} if shown is None else shown
    module_name, attribute = target.split(":")
    root = getattr(importlib.import_module(module_name), attribute)
    located = [item for item in locate(root, path) if item.model not in shown]
    anchors = {**{item.model: item for item in located}, **shown}
    shown.update(anchors)
    return "\n\n".join(_model_section(item, anchors) for item in located) + "\n"


def locate(root: Any, path: str) -> list[Located]:
    """Every model reachable from ``root``, parents before children, each once.

    A model met at one path is titled by it (``redaction.detectors``); one met at several (a
    selector) by its class name, with the paths listed under the title.
    """
    paths: dict[type[BaseModel], list[str]] = {}
    variants: dict[type[BaseModel], str] = {}

    def visit(annotation: Any, where: str) -> None:
        members = list(_models_in(annotation))
        for model in members:
            discriminator = _discriminator(model) if len(members) > 1 else None
            if discriminator:
                variants[model] = discriminator
            if model in paths:
                if where not in paths[model]:
                    paths[model].append(where)
                continue
            paths[model] = [where]
            for name, info in documented_fields(model):
                suffix = "[]" if _is_collection(info.annotation) else ""
                visit(_full_annotation(info), f"{where}.{_yaml_name(name, info)}{suffix}".lstrip("."))

    visit(root, path)
    located = []
    for model, where in paths.items():
        if len(where) > 1:
            title = model.__name__.removesuffix("Model")
        else:
            title = f"`{where[0]}`" if where[0] else "Top level"
        if model in variants:
            title += f" with `type: {variants[model]}`"
        located.append(Located(model, tuple(where), title, "fields-" + _slug(title)))
    return located


def documented_fields(model: type[BaseModel]) -> list[tuple[str, FieldInfo]]:
    """The fields a file may hold: not the ones excluded from dumps (retired spellings)."""
    return [(name, info) for name, info in model.model_fields.items() if not info.exclude]


def field_rows(
    model: type[BaseModel], anchors: dict[type[BaseModel], Located]
) -> list[tuple[str, str, str, str]]:
    """(field, type, default, description) for each field, as Markdown table cells."""
    rows = []
    for name, info in documented_fields(model):
        annotation = _full_annotation(info)
        rows.append(
            (
                f"`{_yaml_name(name, info)}`",
                describe(annotation, anchors) + _examples(info.examples),
                _default(info, annotation, anchors),
                _description(model, name, info),
            )
        )
    return rows


def describe(annotation: Any, anchors: dict[type[BaseModel], Located]) -> str:
    """A type as a reader of the YAML file thinks of it, linking to nested models' tables."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _describe_annotated(args[0], args[1:], anchors)
    if origin is Literal:
        return "one of " + ", ".join(f"`{value}`" for value in args)
    if origin in (Union, types.UnionType):
        shown = [describe(arg, anchors) for arg in args if arg is not type(None)]
        return " or ".join(dict.fromkeys(shown))
    if origin in (list, tuple, set, frozenset):
        return "list of " + describe(args[0], anchors) if args else "list"
    if origin is dict:
        return f"map of {describe(args[0], anchors)} to {describe(args[1], anchors)}" if args else "map"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in WRITTEN_AS:
            return WRITTEN_AS[annotation]
        target = anchors.get(annotation)
        if target is None:
            return "object"
        # A model met at one path is "an object" of that path; a shared one is named (a Selector).
        return f"[{target.title if len(target.paths) > 1 else 'object'}](#{target.anchor})"
    return SCALARS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _describe_annotated(
    inner: Any, metadata: tuple[Any, ...], anchors: dict[type[BaseModel], Located]
) -> str:
    """A validated type: named after its parser, else after the input its validator declares."""
    shown = describe(inner, anchors)
    for meta in metadata:
        if not isinstance(meta, BeforeValidator | PlainValidator):
            continue
        if meta.func in NAMED_PARSERS:
            shown = NAMED_PARSERS[meta.func]
        elif meta.json_schema_input_type is not PydanticUndefined:
            shown = describe(meta.json_schema_input_type, anchors)
    examples = [
        example for meta in metadata if isinstance(meta, FieldInfo) for example in meta.examples or ()
    ]
    return shown + _examples(examples) + _bounds(metadata)


def _examples(examples: list[Any] | None) -> str:
    return ", e.g. " + ", ".join(f"`{example}`" for example in examples) if examples else ""


def _model_section(item: Located, anchors: dict[type[BaseModel], Located]) -> str:
    lines = [f"### {item.title} {{ #{item.anchor} }}", ""]
    if len(item.paths) > 1:
        lines += ["Used at " + ", ".join(f"`{path}`" for path in item.paths) + ".", ""]
    summary = _docstring(item.model)
    if summary:
        lines += [summary, ""]
    lines += ["| field | type | default | description |", "| --- | --- | --- | --- |"]
    lines += [
        "| " + " | ".join(_cell(cell) for cell in row) + " |" for row in field_rows(item.model, anchors)
    ]
    return "\n".join(lines)


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation not in WRITTEN_AS:
            yield annotation
        return
    for arg in get_args(annotation):
        yield from _models_in(arg)


def _full_annotation(info: FieldInfo) -> Any:
    """The field's type with the validators and constraints pydantic moved into ``metadata``."""
    return Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation


def _is_collection(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Annotated or origin in (Union, types.UnionType):
        return any(_is_collection(arg) for arg in get_args(annotation))
    return origin in (list, tuple, set, frozenset)


def _yaml_name(name: str, info: FieldInfo) -> str:
    return info.alias or name


def _discriminator(model: type[BaseModel]) -> str | None:
    info = model.model_fields.get("type")
    if info is not None and get_origin(info.annotation) is Literal and len(get_args(info.annotation)) == 1:
        return str(get_args(info.annotation)[0])
    return None


def _bounds(metadata: tuple[Any, ...]) -> str:
    words = {"ge": "at least", "gt": "above", "le": "at most", "lt": "below"}
    found = [
        f"{word} {getattr(meta, key)}"
        for meta in metadata
        for key, word in words.items()
        if hasattr(meta, key)
    ]
    return f" ({', '.join(found)})" if found else ""


def _default(info: FieldInfo, annotation: Any, anchors: dict[type[BaseModel], Located]) -> str:
    if info.is_required():
        return "*required*"
    value = info.get_default(call_default_factory=True, validated_data={})
    plain = _reveal_defaults(value)
    if plain is not value:
        return f"`{plain}`" if isinstance(plain, str) else f"`{json.dumps(plain)}`"
    if isinstance(value, BaseModel):
        target = anchors.get(type(value))
        return f"[its defaults](#{target.anchor})" if target else "its defaults"
    if value is None:
        return "`null`"
    parser = next((meta.func for meta in info.metadata if isinstance(meta, BeforeValidator)), None)
    if parser is parse_duration:
        return f"`{format_duration(value)}`"
    if parser is parse_size:
        return f"`{_format_size(value)}`"
    if parser is parse_fraction:
        return f"`{value:.2%}`"
    shown = TypeAdapter(annotation).dump_python(value, mode="json")
    return f"`{shown}`" if isinstance(shown, str) else f"`{json.dumps(shown)}`"


def _reveal_defaults(value: Any) -> Any:
    """Inline secrets in a default are not secret (the URL of a local broker): show them."""
    if isinstance(value, Secret) and value.value is not None:
        return value.reveal()
    if isinstance(value, list | tuple) and any(isinstance(item, Secret) for item in value):
        return [_reveal_defaults(item) for item in value]
    return value


def _format_size(size: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"


def _description(model: type[BaseModel], name: str, info: FieldInfo) -> str:
    if info.description:
        return info.description
    # A subclass that only changes a default (RabbitMQ's ``exclude``) keeps its parent's words.
    found = (_source_comment(cls, name) for cls in model.__mro__ if name in inspect.get_annotations(cls))
    return next((text for text in found if text), "")


def _source_comment(cls: type, name: str) -> str:
    """The ``#:`` lines above ``name: ...`` in the class body, else the comment on that line."""
    try:
        lines, _ = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return ""
    declaration = re.compile(rf"^\s+{re.escape(name)}\s*:")
    for index, line in enumerate(lines):
        if not declaration.match(line):
            continue
        above: list[str] = []
        for previous in reversed(lines[:index]):
            if not previous.strip().startswith("#:"):
                break
            above.insert(0, previous.strip()[2:].strip())
        trailing = _trailing_comment(line)
        if above and trailing:
            return f"{' '.join(above)} ({trailing})"
        return " ".join(above) or trailing
    return ""


def _trailing_comment(line: str) -> str:
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line.strip()).readline))
    except (tokenize.TokenError, SyntaxError):
        return ""
    return next((token.string.lstrip("#").strip() for token in tokens if token.type == tokenize.COMMENT), "")


def _docstring(model: type[BaseModel]) -> str:
    """The first paragraph of the model's own docstring (the rest is for programmers)."""
    doc = model.__dict__.get("__doc__")
    return inspect.cleandoc(doc).split("\n\n")[0] if isinstance(doc, str) else ""


def _cell(text: str) -> str:
    """One table cell: on one line, with pipes outside code spans escaped (inside they are text)."""
    parts = re.split(r"(`[^`]*`)", text.replace("\n", " "))
    return "".join(part if part.startswith("`") else part.replace("|", "\\|") for part in parts)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
