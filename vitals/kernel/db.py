"""The store: one SQLAlchemy engine factory and one schema for SQLite and PostgreSQL.

Every package declares its tables on the shared ``metadata`` below and owns an Alembic branch
of migrations (``<package>/migrations/``); ``migrate`` applies all branches' heads. The kernel's
own tables (``KERNEL_TABLES``: the leases) are the ``kernel`` branch, in ``migrations/versions/``
here. The kernel names no component: the packages that own tables register under the
``vitals.schema`` entry-point group (``pyproject.toml``), so an installation's schema is whatever
its installed components declare. SQLite gets WAL mode so the dashboard and the SLA engine read
while the collector writes.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import BigInteger, Integer, MetaData, Text, event
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import Connection, Dialect, Engine, make_url
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

#: The entry-point group naming packages whose ``tables`` module declares tables and whose
#: ``migrations`` folder holds a branch.
SCHEMA_ENTRY_POINTS = "vitals.schema"


def schema_packages() -> tuple[str, ...]:
    """The installed packages that own tables, in a stable order."""
    found = {ep.value for ep in entry_points(group=SCHEMA_ENTRY_POINTS)}
    if not found:
        raise RuntimeError(
            f"no package registers the {SCHEMA_ENTRY_POINTS!r} entry points: install Vitals "
            "(pip install -e .) rather than running it from an uninstalled checkout"
        )
    return tuple(sorted(found))


#: Auto-incrementing 64-bit id; SQLite needs INTEGER for a rowid alias.
BigIntId: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")


class _PgJsonb(UserDefinedType[Any]):
    """JSONB without SQLAlchemy's own serialisation: writers hand over JSON text already."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "JSONB"


class JsonDocument(TypeDecorator[Any]):
    """JSON as TEXT on SQLite and JSONB on PostgreSQL, so ad-hoc SQL can query it natively.

    Bind values may be JSON text (the fast path used by the collector) or Python objects;
    results are always Python objects on both databases.
    """

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(_PgJsonb())
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None or isinstance(value, str):
            return value
        return orjson.dumps(value).decode()

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str | bytes):
            return orjson.loads(value)
        return value


def normalize_url(url: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://, mysql://, mariadb://) and pick
    the drivers Vitals installs (psycopg 3, PyMySQL)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    for scheme in ("mysql://", "mariadb://"):
        if url.startswith(scheme):
            url = "mysql+pymysql://" + url[len(scheme) :]
    return url


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(normalize_url(engine_or_url))
    return url.get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never block the writer. NORMAL: a commit survives a process crash (kill -9);
    # set VITALS_SQLITE_SYNCHRONOUS=FULL to also survive power loss at some cost in commit latency.
    import os

    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={os.environ.get('VITALS_SQLITE_SYNCHRONOUS', 'NORMAL')}")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # A bounded page cache per connection (KiB when negative): a process holds a pool of
    # connections, and each one's cache grows to its bound and stays. The store writer's
    # connection sets its own, larger one (collector.sql_sink).
    cursor.execute(f"PRAGMA cache_size=-{sqlite_cache_kib()}")
    cursor.close()


#: Environment variable: the page cache of each SQLite connection, in MiB (default 2).
SQLITE_CACHE_ENV = "VITALS_SQLITE_CACHE_MIB"
DEFAULT_SQLITE_CACHE_MIB = 2.0


def sqlite_cache_kib() -> int:
    """The bound of each SQLite connection's page cache, in KiB (``VITALS_SQLITE_CACHE_MIB``, 2 MiB
    by default; an unreadable value falls back to it)."""
    import os

    raw = os.environ.get(SQLITE_CACHE_ENV, "").strip()
    try:
        mib = float(raw) if raw else DEFAULT_SQLITE_CACHE_MIB
    except ValueError:
        mib = DEFAULT_SQLITE_CACHE_MIB
    return max(64, int(mib * 1024))


def create_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with the pragmas and pool settings Vitals relies on."""
    url = normalize_url(url)
    sa_url = make_url(url)
    if sa_url.get_backend_name() == "sqlite":
        database = sa_url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        connect_args = kwargs.pop("connect_args", {})
        connect_args.setdefault("check_same_thread", False)
        engine = sa_create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa_create_engine(url, **kwargs)


#: Kernel modules that declare tables of their own (the kernel branch of migrations).
KERNEL_TABLES = ("vitals.kernel.lease",)


def load_all_tables() -> MetaData:
    """Import every package's ``tables`` module so ``metadata`` knows the whole schema."""
    for module in KERNEL_TABLES:
        importlib.import_module(module)
    for package in schema_packages():
        try:
            importlib.import_module(f"{package}.tables")
        except ModuleNotFoundError as exc:  # a package that declares no tables yet
            if exc.name != f"{package}.tables":
                raise
    return metadata


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    root = Path(__file__).resolve().parent
    cfg = Config()
    cfg.set_main_option("script_location", str(root / "migrations"))
    locations = [str(root / "migrations" / "versions")]
    for package in schema_packages():
        module = importlib.import_module(package)
        versions = Path(next(iter(module.__path__))) / "migrations"
        if versions.is_dir():
            locations.append(str(versions))
    cfg.set_main_option("version_locations", " ".join(locations))
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision of every branch; safe to call on every start."""
    from alembic import command

    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Two processes starting together must not both create the tables.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7243019)")
        command.upgrade(_alembic_config(connection), "heads")


def current_heads(engine: Engine) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def fetch_tuples(conn: Connection, query: Any) -> list[tuple[Any, ...]]:
    """The rows of ``query`` as the driver's plain tuples.

    For long numeric reads (the SLA history reads tens of thousands of minutes): building a
    SQLAlchemy ``Row`` per row costs as much as the query itself and holds the GIL, which the
    dashboard's parallel queries need. Only for queries whose binds need no type processing.
    """
    # Post-compile (expanding IN) parameters are rendered now, since the driver gets the text as is.
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    args: Any = tuple(params[name] for name in compiled.positiontup or ()) if compiled.positional else params
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled), args)
        return list(cursor.fetchall())
    finally:
        cursor.close()
