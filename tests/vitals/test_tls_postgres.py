"""The store URL's ``sslmode`` reaches libpq unchanged: Vitals' engine connects to a PostgreSQL
that serves a certificate made for the test when the URL says ``verify-full`` with that CA, and
refuses a server that speaks no TLS, or one whose certificate another CA signed."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from tests.support.private_postgres import PrivatePostgres, private_postgres
from tests.support.tls import Certs, make_certs
from vitals.kernel.db import create_engine, current_heads, migrate

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def turn_on_ssl(server: PrivatePostgres, certs: Certs) -> None:
    """Serve ``certs``' server certificate: the files go where the server's user may read them
    (its key only by it), and ssl is turned on by a reload (no restart needed since PostgreSQL 10)."""
    for source, name in ((certs.cert, "server.crt"), (certs.key, "server.key")):
        target = server.folder / name
        shutil.copyfile(source, target)
        target.chmod(0o600)
        if os.geteuid() == 0:
            shutil.chown(target, "postgres", "postgres")
    engine = create_engine(server.url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f"ALTER SYSTEM SET ssl_cert_file = '{server.folder / 'server.crt'}'"))
            conn.execute(text(f"ALTER SYSTEM SET ssl_key_file = '{server.folder / 'server.key'}'"))
            conn.execute(text("ALTER SYSTEM SET ssl = on"))
            conn.execute(text("SELECT pg_reload_conf()"))
    finally:
        engine.dispose()


@pytest.fixture
def ssl_server(certs: Certs) -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        turn_on_ssl(server, certs)
        yield server


def encrypted(url: str) -> bool:
    """Whether this connection of Vitals' engine is encrypted, as the server sees it."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return bool(
                conn.execute(text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).scalar_one()
            )
    finally:
        engine.dispose()


def test_verify_full_with_the_servers_ca_connects_encrypted(
    ssl_server: PrivatePostgres, certs: Certs
) -> None:
    url = f"{ssl_server.url}?sslmode=verify-full&sslrootcert={certs.ca}"
    assert encrypted(url)
    assert not encrypted(f"{ssl_server.url}?sslmode=disable")
    # The URL is passed on as written: the whole schema is migrated over TLS (as vitals serve does).
    engine = create_engine(url)
    try:
        migrate(engine)
        assert current_heads(engine)
    finally:
        engine.dispose()


def test_verify_full_refuses_a_certificate_another_ca_signed(
    ssl_server: PrivatePostgres, certs: Certs
) -> None:
    with pytest.raises(OperationalError, match="certificate verify failed"):
        encrypted(f"{ssl_server.url}?sslmode=verify-full&sslrootcert={certs.other_ca}")


def test_require_refuses_a_server_without_ssl() -> None:
    with private_postgres() as server, pytest.raises(OperationalError) as caught:
        encrypted(f"{server.url}?sslmode=require")
    assert "server does not support SSL, but SSL was required" in str(caught.value)


def test_a_relative_sslrootcert_is_read_from_the_working_directory(
    ssl_server: PrivatePostgres, certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libpq, not Vitals, reads ``sslrootcert``: a relative path starts at the process's working
    directory (the how-to says to write absolute paths)."""
    monkeypatch.chdir(certs.ca.parent)
    assert encrypted(f"{ssl_server.url}?sslmode=verify-full&sslrootcert={Path(certs.ca.name)}")
