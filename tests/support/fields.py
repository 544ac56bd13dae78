"""Checks that a sample value exercises every field of its dataclass."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from typing import Any


def assert_every_field_set(obj: Any, assigned: Collection[str] = ()) -> None:
    """Every field of ``obj`` differs from its default, except those a store assigns (ids, versions).

    A round trip of such a sample shows any field a store drops (it would come back as the default);
    a field added to the dataclass fails here until the sample gives it a value.
    """
    for f in dataclasses.fields(obj):
        if f.name in assigned:
            continue
        name = f"{type(obj).__name__}.{f.name}"
        if f.default is not dataclasses.MISSING:
            assert getattr(obj, f.name) != f.default, f"{name} is left at its default"
        if f.default_factory is not dataclasses.MISSING:
            assert getattr(obj, f.name) != f.default_factory(), f"{name} is left at its default"
