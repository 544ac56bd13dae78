"""Dataclasses <-> table rows, declared once per class, on SQLAlchemy Core.

Why not the ORM's imperative mapping (``registry().map_imperatively``): it instruments the class
itself. Every instance gets an ``_sa_instance_state`` attribute, which a frozen dataclass refuses
(``FrozenInstanceError`` as soon as one is constructed), and the class attributes become SQLAlchemy
descriptors, so merely importing a store would change how the pure core's values behave everywhere,
the in-memory test stores included. The stores also write with compare-and-set Core statements
(optimistic versions, outbox leases, idempotent upserts) whose row counts a unit of work would hide.

So a :class:`RowMap` maps on Core and leaves the class untouched. For each field of a dataclass it
knows the column that stores it and the SQLAlchemy type that converts between the two, and
SQLAlchemy does the converting: :meth:`RowMap.select` reads each column coerced to its field's type
and labelled with the field's name, so ``row._mapping`` is the dataclass' keyword arguments;
:meth:`RowMap.insert` and :attr:`RowMap.binds` bind each field's value through the same type. The
conversions are ``TypeDecorator`` classes (:class:`UnixSeconds`, :class:`JsonOf`), applied with
``type_coerce`` rather than declared on the tables, because the tables are a documented interface
that the dashboard, BI tools and ad-hoc SQL read as nanosecond integers and JSON documents.

Most fields need no declaration, by the naming the tables follow:

* a field is stored in the column of the same name, as that column's own type (in a JSON column,
  as it is, any mapping as a plain dict);
* a field ``x_ns`` (integer nanoseconds, as in ``slas``) in the column ``x_unix_nano``;
* a field ``x`` (float seconds, as in ``alerts``) in ``x_unix_nano``, through :class:`UnixSeconds`.

Anything else is declared per field: a type (the column by the rules above, converted by that
type, e.g. ``JsonOf(Figures.from_json, Figures.to_json)``), :class:`Stored` (another column), or
:class:`Composite` (one field in several columns); or per class, a :class:`Document` (the fields
without a column of their own, kept in one JSON column by the class' own codec). A field with no
column by these rules and no declaration fails when the map is built, at import, so a field added
to a dataclass without a column cannot be dropped silently on its way through the database.

Nothing here is for the collector's hot path, which writes prepared tuples (``collector.rows``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import BigInteger, Table, bindparam, insert, literal, select, type_coerce
from sqlalchemy.engine import Dialect, Row
from sqlalchemy.sql.expression import BindParameter, ColumnElement, Insert, Select
from sqlalchemy.types import TypeDecorator, TypeEngine

from vitals.kernel.db import JsonDocument
from vitals.kernel.units import NS

__all__ = ["Composite", "Document", "JsonOf", "RowMap", "Stored", "UnixSeconds", "unix_nano"]

T = TypeVar("T")


def unix_nano(seconds: float) -> int:
    """Float seconds since the epoch as the integer nanoseconds of a ``*_unix_nano`` column."""
    return round(seconds * NS)


class UnixSeconds(TypeDecorator[float]):
    """Float seconds in Python, integer nanoseconds in the column."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: float | None, dialect: Dialect) -> int | None:
        return None if value is None else unix_nano(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> float | None:
        return None if value is None else int(value) / NS


class JsonOf(TypeDecorator[Any]):
    """A value kept as a JSON document: ``dump`` gives the document, ``load`` reads it back.

    ``None`` is written as SQL NULL without calling ``dump``; ``load`` sees NULL as ``None`` (so it
    can read a missing document as an empty collection).
    """

    impl = JsonDocument
    cache_ok = True

    def __init__(self, load: Callable[[Any], Any], dump: Callable[[Any], Any]) -> None:
        super().__init__()
        self.load = load
        self.dump = dump

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else self.dump(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return self.load(value)


def _same(value: Any) -> Any:
    return value


def _plain(value: Any) -> Any:
    return dict(value) if isinstance(value, Mapping) else value


#: A JSON column's field without a declared type: stored as it is (any Mapping as a dict).
_JSON = JsonOf(_same, _plain)


@dataclass(frozen=True)
class Stored:
    """A field kept in ``column``, converted by ``type`` (default: the column's own type)."""

    column: str
    type: TypeEngine[Any] | None = None


@dataclass(frozen=True)
class Composite(Generic[T]):
    """A field kept in several columns (the ORM's ``composite``).

    ``dump`` receives the whole object, since a column such as a state may summarise other fields
    too; ``load`` receives the columns' values in order and returns the field's value.
    """

    columns: tuple[str, ...]
    load: Callable[..., Any]
    dump: Callable[[T], tuple[Any, ...]]


@dataclass(frozen=True)
class Document(Generic[T]):
    """The fields without a column of their own, kept together in one JSON ``column``.

    ``dump(obj)`` is the document; ``load(document, **fields)`` builds the object from it and from
    the fields read from their own columns, except those the document holds too (such a column is
    a copy for SQL readers; the document is what the object is read from).
    """

    column: str
    load: Callable[..., T]
    dump: Callable[[T], Mapping[str, Any]]


class _Columns:
    """The mapped fields as typed column expressions, for WHERE and ORDER BY (``map.c.started_at``)."""

    def __init__(self, columns: Mapping[str, ColumnElement[Any]]) -> None:
        self._columns = dict(columns)

    def __getattr__(self, name: str) -> ColumnElement[Any]:
        try:
            return self._columns[name]
        except KeyError:
            raise AttributeError(name) from None


class RowMap(Generic[T]):
    """How the dataclass ``cls`` is stored in ``table`` (see the module docstring for the rules)."""

    def __init__(
        self,
        cls: type[T],
        table: Table,
        *,
        fields: Mapping[str, Stored | Composite[T] | TypeEngine[Any]] | None = None,
        document: Document[T] | None = None,
    ) -> None:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls!r} is not a dataclass")
        self.cls = cls
        self.table = table
        declared = dict(fields or {})
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(declared) - set(names))
        if unknown:
            raise TypeError(f"{cls.__name__} has no field(s) {', '.join(unknown)}")
        self._plain: dict[str, tuple[str, TypeEngine[Any]]] = {}
        self._composites: dict[str, Composite[T]] = {}
        self._document = document
        owner: dict[str, str] = {}  # column -> the field (or document) that writes it

        def claim(column: str, by: str) -> None:
            if column not in table.c:
                raise TypeError(f"{cls.__name__}.{by}: {table.name} has no column {column!r}")
            if column in owner:
                raise TypeError(f"{table.name}.{column} is mapped twice ({owner[column]} and {by})")
            owner[column] = by

        for name in names:
            spec = declared.get(name)
            if isinstance(spec, Composite):
                for column in spec.columns:
                    claim(column, name)
                self._composites[name] = spec
                continue
            stored = spec if isinstance(spec, Stored) else self._by_name(name, spec)
            if stored is None:
                if document is None:
                    raise TypeError(
                        f"{cls.__name__}.{name} has no column in {table.name}: add one (and a "
                        "migration) or declare where the field is stored"
                    )
                continue  # kept in the document
            claim(stored.column, name)
            self._plain[name] = (stored.column, stored.type or table.c[stored.column].type)
        if document is not None:
            claim(document.column, "the document")

        whole_columns = [c for spec in self._composites.values() for c in spec.columns]
        if document is not None:
            whole_columns.append(document.column)
        labels = [*self._plain, *whole_columns]
        clashes = sorted({label for label in labels if labels.count(label) > 1})
        if clashes:
            raise TypeError(f"{cls.__name__}: field and column names clash: {', '.join(clashes)}")

        self.c = _Columns(
            {
                name: type_coerce(table.c[column], type_)
                if type_ is not table.c[column].type
                else table.c[column]
                for name, (column, type_) in self._plain.items()
            }
        )
        self._read: list[ColumnElement[Any]] = [
            *(getattr(self.c, name).label(name) for name in self._plain),
            *(table.c[column].label(column) for column in whole_columns),
        ]
        generated = table.autoincrement_column
        types = {column: type_ for column, type_ in self._plain.values()}
        #: A bind for every column an INSERT or UPDATE writes (all but the generated id), named by
        #: its column and typed by its field; :meth:`params` gives their values.
        self.binds: dict[str, BindParameter[Any]] = {
            c.name: bindparam(c.name, type_=types.get(c.name, c.type))
            for c in table.columns
            if c is not generated
        }

    def _by_name(self, name: str, type_: TypeEngine[Any] | None) -> Stored | None:
        """The column of field ``name`` by the naming rules, converted by ``type_`` if given."""
        columns = self.table.c
        if name in columns:
            if type_ is None and isinstance(columns[name].type, JsonDocument):
                type_ = _JSON
            return Stored(name, type_)
        if name.endswith("_ns") and f"{name[:-3]}_unix_nano" in columns:
            return Stored(f"{name[:-3]}_unix_nano", type_)
        if f"{name}_unix_nano" in columns:
            return Stored(f"{name}_unix_nano", type_ or UnixSeconds())
        return None

    # --- reading ---------------------------------------------------------------------------------

    def select(self) -> Select[Any]:
        """``SELECT`` of the columns :meth:`load` reads, each labelled with its field's name."""
        return select(*self._read)

    def load(self, row: Row[Any]) -> T:
        """The object a row of :meth:`select` holds."""
        data = row._mapping
        values = {name: data[name] for name in self._plain}
        for name, spec in self._composites.items():
            values[name] = spec.load(*(data[column] for column in spec.columns))
        if self._document is None:
            return self.cls(**values)
        document = data[self._document.column]
        return self._document.load(document, **{k: v for k, v in values.items() if k not in document})

    # --- writing ---------------------------------------------------------------------------------

    def insert(self) -> Insert:
        """``INSERT`` of one row or many (executemany) from :meth:`params`."""
        return insert(self.table).values(self.binds)

    def params(self, obj: T, **columns: Any) -> dict[str, Any]:
        """The values of :attr:`binds` for ``obj``: its fields (converted by the binds' types), and
        ``columns`` for the columns no field stores; a value in ``columns`` also wins over a field's."""
        unknown = sorted(set(columns) - set(self.binds))
        if unknown:
            raise KeyError(f"{self.table.name} has no written column(s) {', '.join(unknown)}")
        values = {column: getattr(obj, name) for name, (column, _) in self._plain.items()}
        for spec in self._composites.values():
            values.update(zip(spec.columns, spec.dump(obj), strict=True))
        if self._document is not None:
            values[self._document.column] = self._document.dump(obj)
        values.update(columns)
        return {column: values[column] for column in self.binds if column in values}

    def set(self, **fields: Any) -> dict[str, Any]:
        """``UPDATE ... SET`` values for some fields, converted like every write: ``.values(m.set(...))``."""
        return {self._plain[name][0]: literal(value, self._plain[name][1]) for name, value in fields.items()}

    def match(self, **fields: Any) -> list[ColumnElement[bool]]:
        """Conditions that the row's fields equal these values (``None`` matching NULL)."""
        out: list[ColumnElement[bool]] = []
        for name, value in fields.items():
            column = getattr(self.c, name)
            out.append(column.is_(None) if value is None else column == value)
        return out
