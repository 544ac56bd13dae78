"""Access to the real services on this machine (PostgreSQL, MariaDB, Redis, RabbitMQ, NATS).

A test that needs one is skipped when it is down on a developer's laptop, but under CI (``CI``
set) it fails instead: a skipped database test proves nothing.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PG_HOST = os.environ.get("VITALS_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("VITALS_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("VITALS_TEST_PG_USER", "root")
PG_ADMIN_DB = os.environ.get("VITALS_TEST_PG_DB", "test")
MARIADB_HOST = os.environ.get("VITALS_TEST_MARIADB_HOST", "127.0.0.1")
MARIADB_PORT = int(os.environ.get("VITALS_TEST_MARIADB_PORT", "3306"))
MARIADB_USER = os.environ.get("VITALS_TEST_MARIADB_USER", "root")

SERVICES = {
    "postgresql": (PG_HOST, PG_PORT),
    "mariadb": (MARIADB_HOST, MARIADB_PORT),
    "redis": ("127.0.0.1", 6379),
    "rabbitmq": ("127.0.0.1", 5672),
    "rabbitmq-management": ("127.0.0.1", 15672),
    "nats": ("127.0.0.1", 4222),
}


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(service: str) -> None:
    host, port = SERVICES[service]
    if port_open(host, port):
        return
    message = f"{service} is not reachable on {host}:{port}"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; under CI a service test must run, not skip", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    """An ephemeral port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    require("postgresql")
    import psycopg

    name = f"vitals_test_{uuid.uuid4().hex[:12]}"
    admin = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={PG_ADMIN_DB}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def mariadb_database() -> Iterator[str]:
    """A fresh, empty MariaDB database for one test; dropped afterwards."""
    require("mariadb")
    import pymysql

    name = f"vitals_test_{uuid.uuid4().hex[:12]}"

    def admin(statement: str) -> None:
        conn = pymysql.connect(host=MARIADB_HOST, port=MARIADB_PORT, user=MARIADB_USER, autocommit=True)
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement)
        finally:
            conn.close()

    admin(f"CREATE DATABASE `{name}`")
    try:
        yield f"mysql+pymysql://{MARIADB_USER}@{MARIADB_HOST}:{MARIADB_PORT}/{name}"
    finally:
        admin(f"DROP DATABASE IF EXISTS `{name}`")
