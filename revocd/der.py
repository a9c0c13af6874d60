"""A tiny strict DER reader: tag, length, content bounds. No I/O, no parsing of values.

Used where cryptography offers no API (splitting a CRL into tbsCertList and entries
without materialising a million Python objects; OCSP requests with several CertIDs).
It accepts only definite, minimal-length encodings and single-octet tags, and every
read is bounds-checked, so hostile input raises `DerError`, never IndexError.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass

# What the reader (and the CRL walk) reads: bytes, or a file mapped read-only. A CRL worker
# maps the CRL and the indexes it is given instead of reading them: mapped pages come from
# the page cache as they are touched, while a read fills tens of MB of fresh memory, whose
# page faults slow the processes answering beside it (docs/decisions/0008).
ReadOnlyBytes = bytes | mmap.mmap


class DerError(ValueError):
    """The bytes are not the DER that was expected here."""


@dataclass(frozen=True, slots=True)
class Tlv:
    tag: int
    start: int  # offset of the tag octet
    content_start: int
    end: int  # offset just past the content

    @property
    def length(self) -> int:
        return self.end - self.content_start


def read_tlv(data: ReadOnlyBytes | memoryview, pos: int, limit: int | None = None) -> Tlv:
    """Read one TLV at `pos`; it must end at or before `limit` (default: end of data)."""
    end_limit = len(data) if limit is None else limit
    if pos + 2 > end_limit:
        raise DerError(f"truncated DER at offset {pos}")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DerError(f"multi-octet tag at offset {pos} is not supported")
    first = data[pos + 1]
    if first < 0x80:
        length, header = first, 2
    elif first == 0x80:
        raise DerError(f"indefinite length at offset {pos} is not DER")
    else:
        count = first & 0x7F
        if count > 4 or pos + 2 + count > end_limit:
            raise DerError(f"bad length of length at offset {pos}")
        length = int.from_bytes(data[pos + 2 : pos + 2 + count], "big")
        if length < 0x80 or data[pos + 2] == 0:
            raise DerError(f"non-minimal length at offset {pos}")
        header = 2 + count
    content_start = pos + header
    end = content_start + length
    if end > end_limit:
        raise DerError(f"DER value at offset {pos} runs past its container ({end} > {end_limit})")
    return Tlv(tag, pos, content_start, end)


def expect(data: ReadOnlyBytes | memoryview, pos: int, tag: int, limit: int | None = None) -> Tlv:
    tlv = read_tlv(data, pos, limit)
    if tlv.tag != tag:
        raise DerError(f"expected tag 0x{tag:02x} at offset {pos}, found 0x{tlv.tag:02x}")
    return tlv


def children(data: ReadOnlyBytes | memoryview, parent: Tlv) -> list[Tlv]:
    """The TLVs directly inside a constructed value, which must exactly fill it."""
    out: list[Tlv] = []
    pos = parent.content_start
    while pos < parent.end:
        tlv = read_tlv(data, pos, parent.end)
        out.append(tlv)
        pos = tlv.end
    return out


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes((length,))
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def encode_tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + encode_length(len(content)) + content
