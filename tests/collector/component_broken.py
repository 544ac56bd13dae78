"""A component whose own import is broken: ``vitals serve`` must fail, not skip it."""

from __future__ import annotations

import vitals_dependency_that_does_not_exist  # type: ignore[import-not-found]  # noqa: F401
