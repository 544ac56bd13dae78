"""The secret that keys the HMAC of ``hc.key.*`` values.

Configured (``redaction.hash_secret`` in collector.yaml, or the environment variable
``VITALS_HASH_SECRET`` when that is left out) it is the operator's; otherwise a random one is
generated on first start and kept in ``collector_state`` so hashes stay comparable across
restarts. That fallback keeps a fresh install working, but whoever can read the store can then
test guesses of a key against its hash, so the collector warns until a secret is configured.
"""

from __future__ import annotations

import logging
import secrets

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from collector.config import CollectorConfig
from collector.tables import collector_state

log = logging.getLogger(__name__)

STATE_NAME = "hash_secret"


def stored_hash_secret(engine: Engine) -> bytes:
    """The store's generated secret, created on first use (safe when two processes race)."""
    query = select(collector_state.c.value).where(collector_state.c.name == STATE_NAME)
    with engine.begin() as conn:
        value = conn.execute(query).scalar()
        if value is not None:
            return str(value).encode()
    try:
        with engine.begin() as conn:
            conn.execute(collector_state.insert().values(name=STATE_NAME, value=secrets.token_hex(32)))
    except IntegrityError:
        pass  # another process created it first; use theirs
    with engine.begin() as conn:
        return str(conn.execute(query).scalar_one()).encode()


def resolve_hash_secret(config: CollectorConfig, engine: Engine) -> bytes:
    configured = config.hash_secret()
    if configured is not None:
        return configured
    log.warning(
        "no hash secret configured for hc.key.* values: using one generated and kept in the store. "
        "Set VITALS_HASH_SECRET (or redaction.hash_secret: {env: ...} or {file: ...} in collector.yaml) "
        "so the secret does not sit next to the hashes it protects."
    )
    return stored_hash_secret(engine)


__all__ = ["resolve_hash_secret", "stored_hash_secret"]
