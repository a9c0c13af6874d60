"""GET /ocsp/{base64}: the path decoding that real clients' URL variants rely on."""

from __future__ import annotations

import base64
import re
from urllib.parse import quote, unquote

from hypothesis import given
from hypothesis import strategies as st

from revocd.web.ocsp_routes import decode_get


def _reference(raw: str) -> bytes | None:
    """The straightforward decoder decode_get must agree with (unquote, then base64)."""
    text = unquote(raw).lstrip("/").replace(" ", "+").strip()
    if not text:
        return None
    text += "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(text)
        return base64.b64decode(text, validate=True)
    except ValueError:
        return None


@given(st.binary(max_size=300))
def test_every_client_spelling_of_a_request_decodes_to_its_bytes(body: bytes) -> None:
    der = b"\x30" + body  # a DER SEQUENCE: its base64 starts with "M", never with "/"
    plain = base64.b64encode(der).decode()
    spellings = [
        plain,  # unescaped, as some clients send it
        quote(plain, safe=""),  # fully escaped: %2F %2B %3D
        re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(plain, safe="")),
        plain.replace("+", "%2B").rstrip("="),  # missing padding
        "/" + plain,  # the double slash of /ocsp//MEI...
        base64.urlsafe_b64encode(der).decode().rstrip("="),  # URL-safe alphabet
    ]
    for spelling in spellings:
        assert decode_get(spelling) == der, spelling


@given(st.text(alphabet="ABCDEFabcdef0123456789+/=%-_ 2F3D", max_size=80))
def test_any_path_decodes_exactly_as_unquote_then_base64(raw: str) -> None:
    assert decode_get(raw) == _reference(raw)
