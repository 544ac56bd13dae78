from __future__ import annotations

from vitals.shell.cli import main

main()
