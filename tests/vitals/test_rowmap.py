"""RowMap: dataclasses to rows and back by the tables' naming rules, refusing fields without a column."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import pytest
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import StatementError

from vitals.kernel.db import BigIntId, JsonDocument, create_engine
from vitals.kernel.rowmap import Composite, JsonOf, RowMap, Stored

T0 = 1_780_000_000.5

metadata = MetaData()
things = Table(
    "things",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("name", String(32), nullable=False),
    Column("at_unix_nano", BigInteger, nullable=False),  # seconds in Python
    Column("seen_unix_nano", BigInteger),  # nanoseconds in Python
    Column("labels", JsonDocument, nullable=False),
    Column("tags", JsonDocument, nullable=False),
    Column("lo", Integer),
    Column("hi", Integer),
    Column("note", String(32), nullable=False),  # a column no field stores
    sqlite_autoincrement=True,
)


@dataclass(frozen=True)
class Thing:
    name: str
    at: float
    labels: Mapping[str, str]
    seen_ns: int | None = None
    tags: tuple[str, ...] = ()
    span: tuple[int, int] | None = None
    id: int | None = None


def _span(lo: int | None, hi: int | None) -> tuple[int, int] | None:
    return None if lo is None or hi is None else (lo, hi)


def _span_columns(thing: Thing) -> tuple[int | None, int | None]:
    return thing.span or (None, None)


TAGS = JsonOf(lambda stored: tuple(stored or ()), list)
SPAN = Composite(("lo", "hi"), _span, _span_columns)
THINGS = RowMap(Thing, things, fields={"tags": TAGS, "span": SPAN})


@pytest.fixture
def db(store_url: str) -> Iterator[Engine]:
    engine = create_engine(store_url)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def test_rows_round_trip_by_the_naming_rules_and_the_table_keeps_nanoseconds(db: Engine) -> None:
    first = Thing(
        "a", T0, {"hc.facility": "north"}, seen_ns=1_780_000_000_123_456_789, tags=("x", "y"), span=(1, 9)
    )
    second = Thing("b", T0 + 60, {})
    with db.begin() as conn:
        conn.execute(THINGS.insert(), [THINGS.params(t, note="n") for t in (first, second)])
    with db.connect() as conn:
        loaded = [THINGS.load(r) for r in conn.execute(THINGS.select().order_by(things.c.id))]
        raw = conn.execute(select(things.c.at_unix_nano, things.c.tags).where(things.c.name == "a")).one()
        later = [THINGS.load(r).name for r in conn.execute(THINGS.select().where(THINGS.c.at > T0))]
    assert [t.id is not None for t in loaded] == [True, True]
    assert [replace(t, id=None) for t in loaded] == [first, second]
    assert tuple(raw) == (1_780_000_000_500_000_000, ["x", "y"])  # what SQL readers see
    assert later == ["b"]  # WHERE binds seconds through the field's type too


def test_partial_updates_and_compare_and_set_conditions_use_field_names(db: Engine) -> None:
    with db.begin() as conn:
        conn.execute(THINGS.insert(), THINGS.params(Thing("a", T0, {}), note="n"))
    with db.begin() as conn:
        missed = conn.execute(update(things).where(*THINGS.match(seen_ns=5)).values(THINGS.set(at=T0 + 1)))
        hit = conn.execute(
            update(things).where(*THINGS.match(seen_ns=None, name="a")).values(THINGS.set(at=T0 + 1))
        )
    assert (missed.rowcount, hit.rowcount) == (0, 1)
    with db.connect() as conn:
        (thing,) = [THINGS.load(r) for r in conn.execute(THINGS.select())]
    assert thing.at == T0 + 1


def test_a_column_no_field_stores_must_be_given(db: Engine) -> None:
    with pytest.raises(KeyError, match="nope"):
        THINGS.params(Thing("a", T0, {}), nope=1)
    with db.begin() as conn, pytest.raises(StatementError, match="'note'"):
        conn.execute(THINGS.insert(), THINGS.params(Thing("a", T0, {})))


def test_a_field_without_a_column_fails_when_the_map_is_built() -> None:
    @dataclass(frozen=True)
    class Grown(Thing):
        colour: str = "red"

    with pytest.raises(TypeError, match=r"Grown\.colour has no column in things"):
        RowMap(Grown, things, fields={"tags": TAGS, "span": Composite(("lo", "hi"), _span, _span_columns)})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"nope": Stored("name")}, "has no field"),
        ({"tags": Stored("missing")}, "has no column 'missing'"),
        ({"tags": Stored("name"), "span": SPAN}, "mapped twice"),
    ],
)
def test_declarations_name_real_fields_and_columns_once(
    fields: dict[str, Stored | Composite[Thing]], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        RowMap(Thing, things, fields=fields)


@dataclass(frozen=True)
class Plain:
    name: str
    detail: Mapping[str, int] = field(default_factory=dict)


def test_a_json_field_is_written_as_a_plain_document() -> None:
    table = Table(
        "plain", MetaData(), Column("name", String(8), primary_key=True), Column("detail", JsonDocument)
    )
    rowmap = RowMap(Plain, table)
    bind = rowmap.binds["detail"].type.bind_processor(sqlite.dialect())
    assert bind is not None and bind(MappingProxyType({"n": 1})) == '{"n":1}'
