"""Certificate serial numbers as DER INTEGER values.

A serial is kept as its DER INTEGER *content octets* (minimal two's complement), the
form it has on the wire. So DER ``ff`` is -1 and DER ``00ff`` is 255: two different
serials, never confused by a byte-string comparison that ignores the sign. People see
the value in lowercase hex, a negative one with a leading ``-``.
"""

from __future__ import annotations

import re

_HEX = re.compile(r"^[0-9a-f]+$")
MAX_SERIAL_OCTETS = 126  # RFC 5280 allows 20; tolerate broken CAs, but bound it


def content_from_int(value: int) -> bytes:
    """The minimal two's-complement content octets of a DER INTEGER."""
    length = (value + (value < 0)).bit_length() // 8 + 1
    return value.to_bytes(length, "big", signed=True)


def int_from_content(content: bytes) -> int:
    return int.from_bytes(content, "big", signed=True)


def is_minimal(content: bytes) -> bool:
    """DER requires the shortest encoding: no redundant leading 00 or ff octet."""
    if not content:
        return False
    if len(content) == 1:
        return True
    first, second = content[0], content[1]
    return not ((first == 0x00 and second < 0x80) or (first == 0xFF and second >= 0x80))


def serial_hex(content: bytes) -> str:
    """Lowercase hex of the serial's value; ``-`` prefix for a negative one."""
    value = int_from_content(content)
    return f"-{-value:x}" if value < 0 else f"{value:x}"


def parse_serial_hex(text: str) -> bytes:
    """A serial typed by a person (``0A:1B``, ``0x0a1b``, ``a1b``, ``-1``) -> content octets.

    The hex is read as the serial's *value* (as `openssl x509 -serial` prints it), so
    ``ff`` and ``00ff`` both mean 255. Raises ValueError naming the problem.
    """
    cleaned = text.strip().lower().replace(":", "").replace(" ", "")
    negative = cleaned.startswith("-")
    if negative:
        cleaned = cleaned[1:]
    if cleaned.startswith("0x"):
        cleaned = cleaned[2:]
    if not cleaned or not _HEX.match(cleaned) or len(cleaned) > 2 * MAX_SERIAL_OCTETS:
        raise ValueError(
            f"serial {text!r} is not a hex number (use e.g. 0a1b2c or 0A:1B:2C, up to "
            f"{MAX_SERIAL_OCTETS} octets)"
        )
    value = int(cleaned, 16)
    return content_from_int(-value if negative else value)
