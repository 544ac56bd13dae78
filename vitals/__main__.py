from __future__ import annotations

from vitals.cli import main

main()
