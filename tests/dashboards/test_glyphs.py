"""Status glyphs render without an emoji font: Debian's Chromium draws them with DejaVu Sans
(a colour-emoji glyph such as U+1F525 showed as a box there)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from dashboards.figures.palette import STATUS

#: Glyphs the operations page writes into its tables (status words of feeds and queues).
OPERATIONS_GLYPHS = "✖✔"


def _glyphs() -> set[str]:
    return {c for s in STATUS.values() for c in s.icon if not c.isascii()} | set(OPERATIONS_GLYPHS)


def test_status_glyphs_are_outside_the_emoji_planes() -> None:
    assert all(ord(c) < 0x1F000 for c in _glyphs())


def test_dejavu_sans_has_every_status_glyph() -> None:
    if shutil.which("fc-list") is None:
        # .ci/run installs Chromium, which brings fontconfig: under CI its absence is a failure.
        if os.environ.get("CI"):
            pytest.fail("fontconfig (fc-list) is not installed; .ci/run installs it with chromium")
        pytest.skip("fontconfig is not installed (it comes with chromium)")
    for glyph in sorted(_glyphs()):
        families = subprocess.run(
            ["fc-list", f":charset={ord(glyph):x}", "family"], capture_output=True, text=True, check=True
        ).stdout
        assert "DejaVu Sans" in families, f"{glyph} (U+{ord(glyph):04X}) needs a font other than DejaVu Sans"
