"""Certificates made for one test (trustme): a server CA and its certificate for 127.0.0.1, a
client CA and a sender's certificate for mutual TLS, and an unrelated CA that trusts neither."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class Certs:
    #: The CA that signed the server certificate (what clients trust).
    ca: Path
    #: The server certificate chain and its key, for 127.0.0.1 and localhost.
    cert: Path
    key: Path
    #: The CA that signs senders' certificates (``tls.client_ca_file``).
    client_ca: Path
    #: A sender's certificate and key, signed by ``client_ca``.
    client_cert: Path
    client_key: Path
    #: A CA unrelated to both: a client trusting it rejects the server; a sender's certificate
    #: it signed (``stranger_cert``) is refused by the server.
    other_ca: Path
    stranger_cert: Path
    stranger_key: Path


def make_certs(folder: Path) -> Certs:
    folder.mkdir(parents=True, exist_ok=True)
    ca, client_ca, other_ca = trustme.CA(), trustme.CA(), trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = client_ca.issue_cert("integration-engine.example")
    stranger = other_ca.issue_cert("integration-engine.example")
    certs = Certs(
        *(
            folder / name
            for name in (
                "ca.pem",
                "server.pem",
                "server.key",
                "client-ca.pem",
                "client.pem",
                "client.key",
                "other-ca.pem",
                "stranger.pem",
                "stranger.key",
            )
        )
    )
    ca.cert_pem.write_to_path(str(certs.ca))
    client_ca.cert_pem.write_to_path(str(certs.client_ca))
    other_ca.cert_pem.write_to_path(str(certs.other_ca))
    for issued, cert, key in (
        (server, certs.cert, certs.key),
        (client, certs.client_cert, certs.client_key),
        (stranger, certs.stranger_cert, certs.stranger_key),
    ):
        cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
        issued.private_key_pem.write_to_path(str(key))
    return certs


__all__ = ["Certs", "make_certs"]
