"""The stored form of a span's JSON columns (``attributes``, ``events``, ``links``): packed bytes.

A span's attributes are a few hundred bytes of JSON whose keys (and many values) are the same on
every span: OpenTelemetry's semantic-convention keys, the ``hc.*`` keys, ``true``. Raw deflate
with a preset dictionary of those strings stores them as short back-references from the first
span on, where a database's own compression (PostgreSQL TOAST) only starts at about 2 KB a row.

Format, for ever: one version byte, then the payload. Version 1 is raw deflate (no zlib header
or checksum: the database keeps the bytes intact) of the UTF-8 JSON text with
:data:`DICTIONARY_V1` preset. The dictionary is part of the format: a value packed with it can
only be read with it, so a better dictionary is a new version byte, never an edit. A value whose
first byte is not a known version is plain UTF-8 JSON text (its first byte is ``{``, ``[``, a
quote, a digit, ``t``, ``f``, ``n`` or blank), which the migration writes on its way through and
other writers may store; :func:`unpack` reads both.

Pure: no database, no SQLAlchemy (``collector.tables.PackedJson`` binds it for readers; the
sink calls :func:`pack` on the JSON text it already has).
"""

from __future__ import annotations

import zlib
from typing import Final

#: The current format's version byte.
VERSION_1: Final = 1

# fmt: off
# Most useful last: deflate reaches the end of the dictionary with the shortest distances.
_WORDS_V1: Final = (
    # Values common in telemetry of any kind.
    '"GET"', '"POST"', '"PUT"', '"DELETE"', '"http"', '"https"', '"grpc"', '"tcp"', '"ip_tcp"',
    '"ok"', '"error"', '"OK"', '"ERROR"', '"UNSET"', '"internal"', '"server"', '"client"',
    '"producer"', '"consumer"', '"python"', '"java"', '"dotnet"', '"go"', '"nodejs"',
    '"opentelemetry"', '"production"', '"staging"', '"rabbitmq"', '"kafka"', '"activemq"',
    '"ibmmq"', '"aws_sqs"', '"azure_service_bus"', '"jms"', '"postgresql"', '"mssql"',
    '"oracle"', '"mysql"', '"redis"', '"SELECT"', '"INSERT"', '"UPDATE"', '"send"', '"receive"',
    '"publish"', '"create"', '"settle"', '"process"', '"deliver"', '"HL7"', '"X12"', '"FHIR"',
    '"ADT^A01"', '"ADT^A03"', '"ADT^A04"', '"ADT^A08"', '"ORM^O01"', '"ORU^R01"', '"DFT^P03"',
    '"SIU^S12"', '"MDM^T02"', '"X12-837"', '"X12-835"', '"X12-270"', '"X12-271"', '"X12-276"',
    '"X12-277"', '"[REDACTED:',
    # OpenTelemetry semantic-convention keys.
    '"exception.type":"', '"exception.message":"', '"exception.stacktrace":"',
    '"exception.escaped":', '"http.method":"', '"http.request.method":"', '"http.route":"',
    '"http.status_code":', '"http.response.status_code":', '"http.url":"', '"http.target":"',
    '"http.scheme":"', '"http.flavor":"', '"url.full":"', '"url.path":"', '"url.scheme":"',
    '"url.query":"', '"server.address":"', '"server.port":', '"client.address":"',
    '"network.protocol.version":"', '"network.peer.address":"', '"network.peer.port":',
    '"network.transport":"', '"user_agent.original":"', '"rpc.system":"', '"rpc.service":"',
    '"rpc.method":"', '"rpc.grpc.status_code":', '"db.system":"', '"db.name":"',
    '"db.namespace":"', '"db.operation":"', '"db.operation.name":"', '"db.statement":"',
    '"db.query.text":"', '"db.collection.name":"', '"db.user":"', '"peer.service":"',
    '"net.peer.name":"', '"net.peer.port":', '"net.host.name":"', '"net.transport":"',
    '"messaging.system":"', '"messaging.operation":"', '"messaging.operation.type":"',
    '"messaging.operation.name":"', '"messaging.destination.name":"',
    '"messaging.destination.kind":"', '"messaging.message.id":"',
    '"messaging.message.body.size":', '"messaging.consumer.group.name":"',
    '"messaging.batch.message_count":', '"messaging.rabbitmq.destination.routing_key":"',
    '"messaging.kafka.message.key":"', '"messaging.kafka.consumer.group":"',
    '"messaging.kafka.destination.partition":', '"code.function":"', '"code.function.name":"',
    '"code.namespace":"', '"code.filepath":"', '"code.file.path":"', '"code.lineno":',
    '"code.line.number":', '"thread.id":', '"thread.name":"', '"retry.count":', '"error.type":"',
    '"otel.status_code":"', '"otel.status_description":"', '"enduser.id":"',
    '"time_unix_nano":', '"trace_id":"', '"span_id":"', '"name":"exception","attributes":{',
    '"name":"', '"attributes":{',
    # Vitals' business attributes (DESIGN.md), the hashed correlation keys last.
    '"hc.denial.code":"', '"hc.remit.status":"', '"hc.payer":"', '"hc.paid_amount":',
    '"hc.supply.category":"', '"hc.cost_center":"', '"hc.occurred_at":"', '"hc.amount":"',
    '"hc.service_line":"', '"hc.facility":"', '"hc.message.type":"', '"hc.system":"',
    '"hc.stage":"', '"hc.workflow":"', '"patient-to-cash"', '"hc.key.journal":"',
    '"hc.key.item":"', '"hc.key.order":"', '"hc.key.patient":"', '"hc.key.account":"',
    '"hc.key.claim":"', '"hc.key.charge":"', '"hc.key.encounter":"', '"retry.count":0,',
    '"thread.id":1', '"messaging.operation.type":"process"', '"messaging.system":"rabbitmq"',
)
# fmt: on

#: Version 1's preset dictionary (part of the format: never edit it; add a version instead).
DICTIONARY_V1: Final = ",".join(_WORDS_V1).encode()

_WBITS: Final = -15  # raw deflate, 32 KiB window


class PackedError(ValueError):
    """Bytes that are not a packed value of any known version."""


def pack(text: str) -> bytes:
    """The stored bytes of ``text`` (JSON text): version 1."""
    # Level 6, memLevel 8: within 1% of the smallest output at a seventh of level 9's set-up time
    # (about 12 us a span; the set-up, which hashes the dictionary, is most of it).
    packer = zlib.compressobj(6, zlib.DEFLATED, _WBITS, 8, zlib.Z_DEFAULT_STRATEGY, DICTIONARY_V1)
    data = text.encode("utf-8", "surrogatepass")
    return b"\x01" + packer.compress(data) + packer.flush()


def unpack(data: bytes | bytearray | memoryview) -> str:
    """The JSON text of stored bytes: a packed value, or plain UTF-8 JSON text."""
    raw = bytes(data)
    if raw[:1] == b"\x01":
        unpacker = zlib.decompressobj(_WBITS, zdict=DICTIONARY_V1)
        try:
            text = unpacker.decompress(raw[1:]) + unpacker.flush()
        except zlib.error as error:
            raise PackedError(f"a damaged packed value: {error}") from None
        if not unpacker.eof:
            raise PackedError("a truncated packed value")
        try:
            return text.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError as error:
            raise PackedError(f"a damaged packed value: {error}") from None
    if raw[:1] and raw[0] < 0x09:
        raise PackedError(f"a packed value of unknown version {raw[0]}")
    return raw.decode("utf-8", "surrogatepass")


def packed_or_none(text: str | None) -> bytes | None:
    """:func:`pack`, keeping a missing value missing (``events``, ``links`` are often null)."""
    return None if text is None else pack(text)


__all__ = ["DICTIONARY_V1", "VERSION_1", "PackedError", "pack", "packed_or_none", "unpack"]
