"""Vitals: operational observability and SLA monitoring for healthcare integration.

Two layers live here, with the components between them:

- ``vitals.kernel``: the small foundation every component may import (settings, the database
  engine and migrations, units, config-file loading with line-accurate errors, the runtime
  contract a component installs into). It imports no component.
- ``vitals.shell``: the ``vitals`` command, the demo, the benchmarks and the assembly of the
  ``vitals serve`` process. It imports the components; no component imports it.

The components are the top-level packages ``collector``, ``slas``, ``alerts``, ``dashboards`` and
``simulator``; ``[tool.importlinter]`` in ``pyproject.toml`` writes the layering down and CI checks it.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
