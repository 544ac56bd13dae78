"""The dashboard over HTTPS: ``vitals dashboard --tls-cert-file --tls-key-file`` serves the
certificate, a client trusting its CA is answered, and a bad certificate is refused before
Streamlit starts."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from dashboards.cli import dashboard, streamlit_argv
from tests.support.services import free_port
from tests.support.tls import Certs, make_certs
from vitals.kernel.tls import ServerTls


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def test_streamlit_gets_the_certificate(certs: Certs) -> None:
    argv = streamlit_argv("127.0.0.1", 8501, ServerTls(certs.cert, certs.key))
    assert f"--server.sslCertFile={certs.cert}" in argv
    assert f"--server.sslKeyFile={certs.key}" in argv
    assert not [flag for flag in streamlit_argv("127.0.0.1", 8501) if flag.startswith("--server.ssl")]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--tls-cert-file", "{cert}"], "HTTPS needs both --tls-cert-file and --tls-key-file"),
        (["--tls-key-file", "{key}"], "HTTPS needs both --tls-cert-file and --tls-key-file"),
        (["--tls-cert-file", "{missing}", "--tls-key-file", "{key}"], "does not exist"),
        (["--tls-cert-file", "{cert}", "--tls-key-file", "{cert}"], "holds no PEM private key"),
        (["--tls-cert-file", "{cert}", "--tls-key-file", "{client_key}"], "is not the key of certificate"),
    ],
)
def test_a_bad_certificate_is_refused_before_streamlit_starts(
    tmp_path: Path, certs: Certs, flags: list[str], message: str
) -> None:
    names = {
        "cert": certs.cert,
        "key": certs.key,
        "client_key": certs.client_key,
        "missing": tmp_path / "missing.pem",
    }
    args = [flag.format(**names) for flag in flags]
    result = CliRunner().invoke(
        dashboard,
        ["--db", f"sqlite:///{tmp_path / 'vitals.db'}", "--config", str(tmp_path), "--no-migrate", *args],
    )
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_key_others_can_read_is_served_with_a_warning(
    tmp_path: Path, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    from dashboards.cli import _tls

    key = tmp_path / "exposed.key"
    key.write_bytes(certs.key.read_bytes())
    key.chmod(0o640)
    with caplog.at_level("WARNING", logger="vitals.kernel.tls"):
        assert _tls(certs.cert, key) == ServerTls(certs.cert, key)
    [message] = [record.getMessage() for record in caplog.records if record.name == "vitals.kernel.tls"]
    assert str(key) in message
    assert "0640" in message
    assert f"chmod 600 {key}" in message


def trusting(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def wait_for_health(
    url: str, verify: ssl.SSLContext, process: subprocess.Popen[bytes], deadline_s: float
) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the dashboard exited with {process.returncode}")
        try:
            if httpx.get(url, verify=verify, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {deadline_s}s")


@pytest.fixture
def https_dashboard(tmp_path: Path, certs: Certs) -> Iterator[int]:
    port = free_port()
    log_path = tmp_path / "dashboard.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vitals",
                "dashboard",
                "--db",
                f"sqlite:///{tmp_path / 'vitals.db'}",
                "--config",
                str(tmp_path),
                "--port",
                str(port),
                "--tls-cert-file",
                str(certs.cert),
                "--tls-key-file",
                str(certs.key),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
        try:
            try:
                wait_for_health(f"https://127.0.0.1:{port}/_stcore/health", trusting(certs.ca), process, 60)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{log_path.read_text(errors='replace')}") from None
            yield port
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert "Vitals dashboard: https://127.0.0.1:" in log_path.read_text(errors="replace")


@pytest.mark.e2e
def test_the_dashboard_answers_over_https(https_dashboard: int, certs: Certs) -> None:
    base = f"https://127.0.0.1:{https_dashboard}"
    assert httpx.get(f"{base}/_stcore/health", verify=trusting(certs.ca), timeout=10).text == "ok"
    page = httpx.get(f"{base}/", verify=trusting(certs.ca), timeout=10)
    assert page.status_code == 200
    assert "<html" in page.text.lower()
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{base}/_stcore/health", verify=trusting(certs.other_ca), timeout=10)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{https_dashboard}/_stcore/health", timeout=10)
