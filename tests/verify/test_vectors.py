"""The checked-in vectors give the outcomes tests/vectors/README.md promises."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from revocd.errors import Rejected
from revocd.evidence import RevocationReason
from revocd.verify.crl import CrlCheckContext, verify_crl

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
CA = x509.load_pem_x509_certificate((VECTORS / "vectors-ca.pem").read_bytes())
CTX = CrlCheckContext(
    CA.public_bytes(serialization.Encoding.DER),
    "vectors",
    "file:///v.crl",
    ("file:///v.crl",),
    datetime(2026, 6, 1, tzinfo=UTC),
    timedelta(minutes=5),
    10**6,
)
ROW = re.compile(
    r"^\| `(?P<file>[\w.-]+\.der)` \|.*\| (?P<outcome>accept|reject `(?P<reason>\w+)`)"
)


def readme_table() -> dict[str, str]:
    """file -> "accept" or the reason code, from the README's table."""
    rows = {}
    for line in (VECTORS / "README.md").read_text().splitlines():
        if match := ROW.match(line):
            rows[match["file"]] = match["reason"] or "accept"
    return rows


TABLE = readme_table()


def load(name: str) -> bytes:
    return (VECTORS / name).read_bytes()


@pytest.mark.parametrize(("name", "outcome"), sorted(TABLE.items()), ids=sorted(TABLE))
def test_vector(name: str, outcome: str) -> None:
    if outcome == "accept":
        assert verify_crl(load(name), CTX).meta.entry_count >= 1
        return
    with pytest.raises(Rejected) as refused:
        verify_crl(load(name), CTX)
    assert refused.value.reason.value == outcome


def test_every_vector_file_has_a_row_and_every_row_a_file() -> None:
    assert set(TABLE) == {path.name for path in VECTORS.glob("*.der")}
    assert len(TABLE) >= 12


def test_complete_vector_lists_1001_as_key_compromise() -> None:
    evidence = verify_crl(load("crl-complete.der"), CTX)
    assert evidence.meta.crl_number == 5
    found = evidence.index.lookup(b"\x10\x01")
    assert found is not None
    assert found.reason == RevocationReason.KEY_COMPROMISE


def test_negative_serial_vector_keeps_minus_one_and_255_apart() -> None:
    index = verify_crl(load("crl-negative-serial.der"), CTX).index
    assert index.lookup(b"\xff") is not None
    assert index.lookup(b"\x00\xff") is not None
    assert len(index) == 2


def test_generalizedtime_vector_reads_the_2051_date() -> None:
    (entry,) = verify_crl(load("crl-generalizedtime-2050.der"), CTX).index
    assert entry.revoked_at == datetime(2051, 6, 1, tzinfo=UTC)
