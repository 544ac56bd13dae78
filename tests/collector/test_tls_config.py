"""collector.yaml's ``tls:`` section: what a site can get wrong is named with its file, line and
field when the file is loaded, before any listener opens."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from collector.config import Tls, load_collector_config
from tests.support.tls import Certs, make_certs
from vitals.kernel.configfile import ConfigError
from vitals.kernel.tls import ServerTls, TlsFileError


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def load(tmp_path: Path, text: str) -> Tls:
    (tmp_path / "collector.yaml").write_text(text)
    return load_collector_config(tmp_path, environ={}).tls


def errors(tmp_path: Path, text: str) -> list[tuple[int | None, str, str]]:
    (tmp_path / "collector.yaml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_collector_config(tmp_path, environ={})
    for issue in caught.value.issues:
        assert issue.file == str(tmp_path / "collector.yaml")
    return [(issue.line, issue.field, issue.message) for issue in caught.value.issues]


def test_tls_is_off_by_default(tmp_path: Path) -> None:
    tls = load(tmp_path, "retention: {spans: 2d}\n")
    assert tls == Tls()
    assert tls.server() is None
    assert tls.api_server() is None


def test_relative_paths_start_at_the_config_directory(tmp_path: Path, certs: Certs) -> None:
    folder = tmp_path / "tls"
    folder.mkdir()
    for source in (certs.cert, certs.key, certs.client_ca):
        (folder / source.name).write_bytes(source.read_bytes())
    tls = load(
        tmp_path,
        "tls:\n  cert_file: tls/server.pem\n  key_file: tls/server.key\n"
        "  client_ca_file: tls/client-ca.pem\n  require_client_cert: true\n",
    )
    assert tls.server() == ServerTls(folder / "server.pem", folder / "server.key", folder / "client-ca.pem")
    # The API serves the same certificate and asks no client certificate (tokens authenticate).
    assert tls.api_server() == ServerTls(folder / "server.pem", folder / "server.key")


def test_the_server_context_requires_client_certificates_only_with_mutual_tls(certs: Certs) -> None:
    plain = ServerTls(certs.cert, certs.key).context()
    assert plain.verify_mode == ssl.CERT_NONE
    assert plain.minimum_version == ssl.TLSVersion.TLSv1_2
    mutual = ServerTls(certs.cert, certs.key, certs.client_ca).context()
    assert mutual.verify_mode == ssl.CERT_REQUIRED


def test_a_missing_certificate_file(tmp_path: Path, certs: Certs) -> None:
    found = errors(tmp_path, f"tls:\n  cert_file: missing.pem\n  key_file: {certs.key}\n")
    assert found == [(2, "tls.cert_file", f"certificate file {tmp_path / 'missing.pem'} does not exist")]


def test_a_key_without_a_certificate(tmp_path: Path, certs: Certs) -> None:
    found = errors(tmp_path, f"# TLS\ntls:\n  key_file: {certs.key}\n")
    assert found == [(3, "tls.cert_file", "key_file is set but cert_file is not: TLS needs both")]


def test_a_certificate_without_a_key(tmp_path: Path, certs: Certs) -> None:
    found = errors(tmp_path, f"tls:\n  cert_file: {certs.cert}\n")
    assert found == [(2, "tls.key_file", "cert_file is set but key_file is not: TLS needs both")]


def test_files_that_are_not_pem(tmp_path: Path, certs: Certs) -> None:
    (tmp_path / "notes.txt").write_text("our certificate is on the wiki\n")
    (tmp_path / "empty.pem").write_text("")
    found = errors(
        tmp_path,
        f"tls:\n  cert_file: notes.txt\n  key_file: {certs.cert}\n  client_ca_file: empty.pem\n"
        "  require_client_cert: true\n",
    )
    assert [(line, field) for line, field, _ in found] == [
        (2, "tls.cert_file"),
        (3, "tls.key_file"),
        (4, "tls.client_ca_file"),
    ]
    assert "holds no PEM certificate" in found[0][2]
    assert "holds no PEM private key (it holds a certificate: the key is another file)" in found[1][2]
    assert found[2][2] == f"client CA file {tmp_path / 'empty.pem'} is empty"


def test_an_unreadable_file(tmp_path: Path, certs: Certs) -> None:
    (tmp_path / "certs").mkdir()
    found = errors(tmp_path, f"tls:\n  cert_file: certs\n  key_file: {certs.key}\n")
    assert found == [
        (2, "tls.cert_file", f"certificate file {tmp_path / 'certs'} is a directory, not a file")
    ]


def test_a_broken_certificate_block(tmp_path: Path, certs: Certs) -> None:
    (tmp_path / "broken.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"
    )
    found = errors(tmp_path, f"tls:\n  cert_file: broken.pem\n  key_file: {certs.key}\n")
    assert [(line, field) for line, field, _ in found] == [(2, "tls.cert_file")]
    assert "is not a valid PEM certificate" in found[0][2]


def test_a_key_that_is_not_the_certificates(tmp_path: Path, certs: Certs) -> None:
    found = errors(tmp_path, f"tls:\n  cert_file: {certs.cert}\n  key_file: {certs.client_key}\n")
    assert len(found) == 1
    line, field, message = found[0]
    assert (line, field) == (3, "tls.key_file")
    assert message.startswith(f"key file {certs.client_key} is not the key of certificate {certs.cert}")


def test_an_encrypted_key(tmp_path: Path, certs: Certs) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(certs.key.read_bytes(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    (tmp_path / "locked.key").write_bytes(encrypted)
    found = errors(tmp_path, f"tls:\n  cert_file: {certs.cert}\n  key_file: locked.key\n")
    assert [(line, field) for line, field, _ in found] == [(3, "tls.key_file")]
    assert "is encrypted with a passphrase" in found[0][2]


def test_mutual_tls_fields_go_together(tmp_path: Path, certs: Certs) -> None:
    server = f"tls:\n  cert_file: {certs.cert}\n  key_file: {certs.key}\n"
    assert errors(tmp_path, server + "  require_client_cert: true\n") == [
        (4, "tls.client_ca_file", "require_client_cert needs client_ca_file, the CA that signs them")
    ]
    assert errors(tmp_path, server + f"  client_ca_file: {certs.client_ca}\n") == [
        (
            4,
            "tls.require_client_cert",
            "client_ca_file is set: say require_client_cert: true to turn on mutual TLS",
        )
    ]
    found = errors(tmp_path, f"tls:\n  client_ca_file: {certs.client_ca}\n  require_client_cert: true\n")
    assert found == [
        (2, "tls.cert_file", "client_ca_file (mutual TLS) needs the server's cert_file and key_file")
    ]


def test_an_unknown_field(tmp_path: Path) -> None:
    assert errors(tmp_path, "tls:\n  certificate: server.pem\n") == [
        (2, "tls.certificate", "unknown field (check its spelling and indentation)")
    ]


def test_a_tls_section_built_in_code_refuses_contradictions(certs: Certs) -> None:
    with pytest.raises(ValueError, match=r"tls\.cert_file: key_file is set but cert_file is not"):
        Tls(key_file=certs.key).server()


def test_the_context_reads_the_files_afresh(tmp_path: Path, certs: Certs) -> None:
    cert = tmp_path / "server.pem"
    cert.write_bytes(certs.cert.read_bytes())
    tls = ServerTls(cert, certs.key)
    tls.check()
    cert.unlink()
    with pytest.raises(TlsFileError, match="does not exist"):
        tls.context()


def _copy_key(tmp_path: Path, certs: Certs, mode: int) -> tuple[Path, Path]:
    cert = tmp_path / "server.pem"
    key = tmp_path / "server.key"
    cert.write_bytes(certs.cert.read_bytes())
    key.write_bytes(certs.key.read_bytes())
    key.chmod(mode)
    return cert, key


def test_a_key_others_can_read_is_served_with_a_warning(
    tmp_path: Path, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    _copy_key(tmp_path, certs, 0o644)
    with caplog.at_level("WARNING", logger="vitals.kernel.tls"):
        tls = load(tmp_path, "tls:\n  cert_file: server.pem\n  key_file: server.key\n")
        server = tls.server()
        assert server is not None
        server.context()
    messages = [record.getMessage() for record in caplog.records if record.name == "vitals.kernel.tls"]
    assert len(messages) == 1, messages  # once per file and mode, however many listeners load it
    assert str(tmp_path / "server.key") in messages[0]
    assert "0644" in messages[0]
    assert f"chmod 600 {tmp_path / 'server.key'}" in messages[0]


def test_a_key_only_its_owner_reads_gives_no_warning(
    tmp_path: Path, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = _copy_key(tmp_path, certs, 0o600)
    with caplog.at_level("WARNING", logger="vitals.kernel.tls"):
        ServerTls(cert, key).context()
    assert not [record for record in caplog.records if record.name == "vitals.kernel.tls"]
