"""Blobs (compressed, sealed) and pack files.

Blob on the store: ``seal(codec(1) || payload, aad=blob_id)``; codec 0 = raw, 1 = one zstd frame.
Pack: ``blob || blob || ... || seal(header, aad=b"havn-pack-header") || u32le(len(sealed header))``,
header = records of ``<B 32s I I I`` (type, blob id, offset, length, raw length). The pack's object
name is the SHA-256 (hex) of all its bytes: ``packs/<first 2 hex>/<64 hex>``.
"""

from __future__ import annotations

import hashlib
import json
import struct
import threading
from dataclasses import dataclass

import zstandard

from .crypto import OVERHEAD, seal, unseal
from .errors import IntegrityError

DATA, TREE = 0, 1
TYPE_NAMES = {DATA: "data", TREE: "tree"}
TYPE_CODES = {"data": DATA, "tree": TREE}

CODEC_RAW, CODEC_ZSTD = 0, 1
ZSTD_LEVEL = 1  # level 3 stored ~1 % less for ~0.9 CPU-s more per GB (docs/benchmarks.md)
PACK_HEADER_AAD = b"havn-pack-header"
HEADER_RECORD = struct.Struct("<B32sIII")
TRAILER = struct.Struct("<I")

_local = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    # One compressor per thread: sharing one across threads crashes the process.
    c = getattr(_local, "zc", None)
    if c is None:
        c = _local.zc = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    return c


def _decompressor() -> zstandard.ZstdDecompressor:
    d = getattr(_local, "zd", None)
    if d is None:
        d = _local.zd = zstandard.ZstdDecompressor()
    return d


def compress(data: bytes) -> bytes:
    """``codec || payload``: zstd when it saves space, else raw."""
    packed = _compressor().compress(data)
    if len(packed) < len(data):
        return b"\x01" + packed
    return b"\x00" + data


def decompress(data: bytes, raw_length: int | None = None) -> bytes:
    if not data:
        raise IntegrityError("empty blob payload")
    codec, payload = data[0], memoryview(data)[1:]
    if codec == CODEC_RAW:
        return bytes(payload)
    if codec == CODEC_ZSTD:
        try:
            return _decompressor().decompress(payload, max_output_size=raw_length or 0)
        except zstandard.ZstdError as exc:
            raise IntegrityError(f"bad zstd payload: {exc}") from None
    raise IntegrityError(f"unknown codec {codec}")


def encode_blob(keys, bid: bytes, data: bytes) -> bytes:
    return seal(keys, compress(data), aad=bid)


def decode_blob(keys, bid: bytes, sealed, raw_length: int | None = None) -> bytes:
    return decompress(unseal(keys, sealed, aad=bid), raw_length)


def pack_key(pack_id: str) -> str:
    return f"packs/{pack_id[:2]}/{pack_id}"


@dataclass(frozen=True, slots=True)
class PackEntry:
    blob_id: bytes
    type: int
    offset: int
    length: int
    raw_length: int


class PackBuilder:
    """Collects sealed blobs; finish() returns (pack id, pack bytes, entries)."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.entries: list[PackEntry] = []
        self.size = 0

    def add(self, bid: bytes, type_: int, sealed: bytes, raw_length: int) -> None:
        self.entries.append(PackEntry(bid, type_, self.size, len(sealed), raw_length))
        self.parts.append(sealed)
        self.size += len(sealed)

    def __len__(self) -> int:
        return len(self.entries)

    def finish(self, keys) -> tuple[str, bytes, list[PackEntry]]:
        header = b"".join(
            HEADER_RECORD.pack(e.type, e.blob_id, e.offset, e.length, e.raw_length)
            for e in self.entries
        )
        sealed = seal(keys, header, aad=PACK_HEADER_AAD)
        self.parts += (sealed, TRAILER.pack(len(sealed)))
        data = b"".join(self.parts)
        self.parts = []
        return hashlib.sha256(data).hexdigest(), data, self.entries


def header_size(n_blobs: int) -> int:
    """Bytes a pack's sealed header and trailer take for n blobs."""
    return HEADER_RECORD.size * n_blobs + OVERHEAD + TRAILER.size


def parse_pack(keys, data: bytes) -> list[PackEntry]:
    """Read and authenticate a whole pack's header; check the blobs tile the data region."""
    return parse_pack_tail(keys, data, len(data))


def parse_pack_tail(keys, tail: bytes, size: int) -> list[PackEntry]:
    """Like ``parse_pack`` from only the last bytes of a pack of ``size`` bytes (``tail`` must
    hold the sealed header and trailer: see ``header_span``)."""
    if size < TRAILER.size + OVERHEAD or len(tail) < TRAILER.size:
        raise IntegrityError("pack too short")
    (hlen,) = TRAILER.unpack_from(tail, len(tail) - TRAILER.size)
    start = size - TRAILER.size - hlen
    if start < 0 or hlen + TRAILER.size > len(tail):
        raise IntegrityError("pack header length out of range")
    at = len(tail) - TRAILER.size - hlen
    header = unseal(keys, memoryview(tail)[at : at + hlen], aad=PACK_HEADER_AAD)
    if len(header) % HEADER_RECORD.size:
        raise IntegrityError("pack header has a partial record")
    entries, pos = [], 0
    for type_, bid, off, length, raw in HEADER_RECORD.iter_unpack(header):
        if off != pos or type_ not in TYPE_NAMES:
            raise IntegrityError("pack header does not describe the pack")
        entries.append(PackEntry(bid, type_, off, length, raw))
        pos += length
    if pos != start:
        raise IntegrityError("pack blobs do not end where the header starts")
    return entries


def header_span(tail: bytes, size: int) -> int:
    """How many bytes from the end of a pack of ``size`` bytes hold its header and trailer,
    read from the trailer at the end of ``tail`` (IntegrityError if out of range)."""
    if len(tail) < TRAILER.size:
        raise IntegrityError("pack too short")
    (hlen,) = TRAILER.unpack_from(tail, len(tail) - TRAILER.size)
    if hlen + TRAILER.size > size:
        raise IntegrityError("pack header length out of range")
    return hlen + TRAILER.size


def seal_json(keys, obj, aad: bytes) -> bytes:
    """JSON objects (config, index, snapshot, lock): ``seal(codec || payload, aad)``, UTF-8 JSON."""
    raw = json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
    return seal(keys, compress(raw), aad=aad)


def unseal_json(keys, sealed: bytes, aad: bytes):
    raw = decompress(unseal(keys, sealed, aad=aad))
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise IntegrityError(f"sealed object is not JSON: {exc}") from None


def object_id(sealed: bytes) -> str:
    return hashlib.sha256(sealed).hexdigest()
