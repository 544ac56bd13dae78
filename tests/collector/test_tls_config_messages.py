"""docs/how-to/tls.md shows what each command prints for a bad tls: file; keep them in step."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tests.support.tls import make_certs
from vitals.shell.cli import main


def test_config_check_prints_lines_and_serve_adds_a_header(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    config = tmp_path / "config"
    config.mkdir()
    (config / "collector.yaml").write_text(
        f"tls:\n  cert_file: {certs.cert}\n  key_file: {certs.client_key}\n"
    )
    where = config / "collector.yaml"
    line = f"{where}:3: tls.key_file: key file {certs.client_key} is not the key of certificate"
    db = ["--db", f"sqlite:///{tmp_path / 'vitals.db'}", "--config", str(config)]

    checked = CliRunner().invoke(main, ["config", "check", *db])
    assert checked.exit_code == 1, checked.output
    assert line in checked.stderr
    assert "invalid collector config" not in checked.output

    served = CliRunner().invoke(main, ["serve", *db])
    assert served.exit_code == 1, served.output
    assert f"Error: invalid collector config:\n{line}" in served.stderr
