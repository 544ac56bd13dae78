"""Seeded randomness and identifiers: the same seed gives the same telemetry, byte for byte.

Each (stream, facility, time slot) draws from its own random generator derived from the seed, so a
slot's business objects do not depend on which window is being generated: back-filling three days
and then running live yields exactly the spans a single longer run would. Trace and span ids come
from the same generators and reach the OpenTelemetry SDK through :class:`PlannedIdGenerator`.
"""

from __future__ import annotations

import hashlib
import math
import random

from opentelemetry.sdk.trace.id_generator import IdGenerator


def derive_seed(seed: int, *parts: str | int) -> int:
    """A 64-bit seed for one sub-stream; stable across Python versions and processes."""
    text = "\x1f".join([str(seed), *map(str, parts)]).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def stream_rng(seed: int, *parts: str | int) -> random.Random:
    return random.Random(derive_seed(seed, *parts))


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw; exact for small means, normal approximation above 40 (plenty for volumes)."""
    if lam <= 0:
        return 0
    if lam < 40:
        limit = math.exp(-lam)
        count, product = 0, rng.random()
        while product > limit:
            count += 1
            product *= rng.random()
        return count
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


def trace_id(rng: random.Random) -> int:
    return rng.getrandbits(128) or 1


def span_id(rng: random.Random) -> int:
    return rng.getrandbits(64) or 1


class PlannedIdGenerator(IdGenerator):
    """Hands the SDK the ids the generator planned for the span about to start.

    The emitter calls :meth:`plan` right before ``tracer.start_span``; the SDK then asks for a span
    id (and, for a root span, a trace id) exactly once. Asking without a plan is a bug, not a
    reason to invent an id that would break reproducibility.
    """

    def __init__(self) -> None:
        self._trace_id = 0
        self._span_id = 0

    def plan(self, trace_id: int, span_id: int) -> None:
        self._trace_id = trace_id
        self._span_id = span_id

    def generate_span_id(self) -> int:
        value, self._span_id = self._span_id, 0
        if not value:
            raise RuntimeError("span id requested without a plan")
        return value

    def generate_trace_id(self) -> int:
        value, self._trace_id = self._trace_id, 0
        if not value:
            raise RuntimeError("trace id requested without a plan")
        return value

    def is_trace_id_random(self) -> bool:
        return True


__all__ = ["PlannedIdGenerator", "derive_seed", "poisson", "span_id", "stream_rng", "trace_id"]
