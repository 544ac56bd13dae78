"""`vitals serve --help` must say plainly what --insecure-no-auth opens, not only telemetry."""

from __future__ import annotations

from click.testing import CliRunner

from vitals.shell.serve import serve


def test_insecure_no_auth_help_names_api_scopes_and_metrics() -> None:
    result = CliRunner().invoke(serve, ["--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    start = text.index("--insecure-no-auth Allow")
    help_text = text[start : start + 600]
    for phrase in (
        "write telemetry",
        "/metrics",
        "JSON API",
        "every scope",
        "configuration",
        "acknowledge",
        "silences",
    ):
        assert phrase in help_text, phrase
