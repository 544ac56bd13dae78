"""TLS for Vitals' listeners: checked PEM files and the server contexts built from them.

One place reads the certificate, key and client CA a site configures, so every listener (OTLP/HTTP,
OTLP/gRPC, the API, the dashboard) serves the same files the same way and a bad file is caught
when the configuration is loaded, with a sentence a person can act on, rather than as an OpenSSL
error code at the first handshake. Building a context reads the files afresh, so a renewed
certificate is served after a restart.
"""

from __future__ import annotations

import logging
import os
import ssl
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

#: Oldest protocol served: TLS 1.0 and 1.1 are deprecated (RFC 8996) and fail security reviews.
MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2

_log = logging.getLogger(__name__)

# (path, mode) pairs already warned about, so a key loaded by several listeners warns once.
_warned: set[tuple[Path, int]] = set()

_NEW_CERT = "(see docs/how-to/tls.md, 'A certificate for a test')"


class TlsFileError(ValueError):
    """A certificate or key file that cannot be served; the message says what is wrong."""


def _read(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TlsFileError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise TlsFileError(f"{what} {path} is a directory, not a file") from None
    except OSError as exc:
        raise TlsFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if not data.strip():
        raise TlsFileError(f"{what} {path} is empty")
    return data


def read_certificates(path: Path, what: str = "certificate file") -> bytes:
    """The file's bytes, once they are shown to be one or more PEM certificates."""
    data = _read(path, what)
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise TlsFileError(
            f"{what} {path} holds no PEM certificate (a '-----BEGIN CERTIFICATE-----' block); "
            f"a DER file converts with: openssl x509 -inform der -in FILE -out FILE.pem {_NEW_CERT}"
        )
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise TlsFileError(f"{what} {path} is not a valid PEM certificate: {exc}") from None
    return data


def read_private_key(path: Path, what: str = "key file") -> bytes:
    """The file's bytes, once they are shown to be an unencrypted PEM private key."""
    data = _read(path, what)
    if b"PRIVATE KEY-----" not in data:
        hint = " (it holds a certificate: the key is another file)" if b"CERTIFICATE-----" in data else ""
        raise TlsFileError(f"{what} {path} holds no PEM private key{hint}")
    try:
        serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise TlsFileError(
            f"{what} {path} is encrypted with a passphrase, which Vitals cannot be given; decrypt it "
            "into a file only Vitals' user can read: openssl pkey -in FILE -out FILE.key"
        ) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise TlsFileError(f"{what} {path} is not a valid PEM private key: {exc}") from None
    return data


def key_permission_problem(path: Path) -> str | None:
    """A sentence when the key file is readable by its group or others, else None.

    A warning rather than a refusal: a container or secret store may mount the key with modes
    Vitals cannot change, yet a site that can should know its key is exposed to other users.
    """
    if os.name != "posix":
        return None
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    if not mode & (stat.S_IRWXG | stat.S_IRWXO):
        return None
    return (
        f"key file {path} has mode {mode:04o}: its group or other users can read it; "
        f"make it readable only by Vitals' user: chmod 600 {path}"
    )


def warn_if_key_exposed(path: Path) -> None:
    """Log ``key_permission_problem`` once per file and mode."""
    problem = key_permission_problem(path)
    if problem is None:
        return
    seen = (path.resolve(), stat.S_IMODE(path.stat().st_mode))
    if seen in _warned:
        return
    _warned.add(seen)
    _log.warning("%s", problem)


@dataclass(frozen=True)
class ServerTls:
    """What a listener serves: a certificate chain and its key, and, for mutual TLS, the CA
    whose certificates clients must present (a client without one is refused at the handshake)."""

    #: PEM: the server certificate first, then any intermediates.
    cert_file: Path
    #: PEM private key of the certificate, unencrypted.
    key_file: Path
    #: PEM CA certificate(s); when set, every client must present a certificate they signed.
    client_ca_file: Path | None = None

    def check(self) -> None:
        """Raise ``TlsFileError`` unless every file is readable PEM and the key is the certificate's."""
        self.context()

    def without_client_certs(self) -> ServerTls:
        """The same certificate, clients not asked for one (for listeners authenticated by tokens)."""
        return ServerTls(self.cert_file, self.key_file)

    def context(self) -> ssl.SSLContext:
        """A server context: TLS 1.2 or newer, Python's default ciphers, client certificates
        required and verified against ``client_ca_file`` when it is set."""
        read_certificates(self.cert_file)
        read_private_key(self.key_file)
        warn_if_key_exposed(self.key_file)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = MINIMUM_VERSION
        try:
            context.load_cert_chain(self.cert_file, self.key_file)
        except ssl.SSLError as exc:
            raise TlsFileError(
                f"key file {self.key_file} is not the key of certificate {self.cert_file} ({exc.reason})"
            ) from None
        if self.client_ca_file is not None:
            context.load_verify_locations(
                cadata=read_certificates(self.client_ca_file, "client CA file").decode()
            )
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    def pem(self) -> tuple[bytes, bytes, bytes | None]:
        """(certificate chain, key, client CA or None) as bytes, e.g. for gRPC's credentials."""
        client_ca = None
        if self.client_ca_file is not None:
            client_ca = read_certificates(self.client_ca_file, "client CA file")
        return read_certificates(self.cert_file), read_private_key(self.key_file), client_ca


__all__ = [
    "MINIMUM_VERSION",
    "ServerTls",
    "TlsFileError",
    "read_certificates",
    "read_private_key",
]
