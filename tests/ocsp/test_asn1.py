"""The OCSP request reader against requests made by the real `openssl ocsp` client,
against cryptography's parser, and against garbage."""

from __future__ import annotations

import contextlib
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from hypothesis import given, settings
from hypothesis import strategies as st

from revocd.model import IssuerKey
from revocd.ocsp.asn1 import MalformedRequest, parse_request
from revocd.serials import content_from_int
from tests.support.peers import need_binary
from tests.support.pki import issue, make_ca

CA = make_ca("OCSP Test CA")
KEY = IssuerKey.from_certificate(CA.cert)


def openssl_request(tmp_path, *args: str) -> bytes:
    openssl = need_binary("openssl")
    issuer = tmp_path / "issuer.pem"
    issuer.write_bytes(CA.pem())
    out = tmp_path / "req.der"
    subprocess.run(
        [openssl, "ocsp", "-issuer", str(issuer), *args, "-reqout", str(out)],
        check=True,
        capture_output=True,
    )
    return out.read_bytes()


@pytest.mark.peer
@pytest.mark.parametrize(
    ("args", "algorithm", "serials", "nonce"),
    [
        (["-serial", "0x1001"], "sha1", [0x1001], True),
        (
            ["-serial", "0x1001", "-serial", "0x2002", "-serial", "7"],
            "sha1",
            [0x1001, 0x2002, 7],
            True,
        ),
        (["-sha256", "-serial", "0x1001"], "sha256", [0x1001], True),
        (["-serial", "0x1001", "-no_nonce"], "sha1", [0x1001], False),
    ],
    ids=["one-sha1", "three-serials-in-order", "sha256", "no-nonce"],
)
def test_requests_from_openssl(tmp_path, args, algorithm, serials, nonce):
    request = parse_request(openssl_request(tmp_path, *args))
    assert [c.serial for c in request.cert_ids] == [content_from_int(s) for s in serials]
    assert {c.hash_algorithm for c in request.cert_ids} == {algorithm}
    expected_key = KEY.key_sha1 if algorithm == "sha1" else KEY.key_sha256
    assert all(c.key_hash == expected_key for c in request.cert_ids)
    assert (request.nonce is not None) is nonce
    if nonce:
        assert request.nonce_extension is not None
        assert 1 <= len(request.nonce) <= 128


@pytest.mark.parametrize(
    "algorithm",
    [hashes.SHA1(), hashes.SHA256(), hashes.SHA384(), hashes.SHA512()],
    ids=lambda a: a.name,
)
def test_agrees_with_cryptography_on_single_requests(algorithm):
    leaf, _ = issue(CA, serial=0x4242)
    built = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(leaf, CA.cert, algorithm)
        .add_extension(x509.OCSPNonce(b"0123456789abcdef"), critical=False)
        .build()
    )
    der = built.public_bytes(serialization.Encoding.DER)
    ours = parse_request(der)
    (cert_id,) = ours.cert_ids
    assert cert_id.serial == content_from_int(built.serial_number)
    assert cert_id.name_hash == built.issuer_name_hash
    assert cert_id.key_hash == built.issuer_key_hash
    assert cert_id.hash_algorithm == algorithm.name
    assert ours.nonce == b"0123456789abcdef"
    assert cert_id.der in der


def _with_nonce(value: bytes) -> bytes:
    leaf, _ = issue(CA, serial=5)
    return (
        ocsp.OCSPRequestBuilder()
        .add_certificate(leaf, CA.cert, hashes.SHA1())
        .add_extension(x509.OCSPNonce(value), critical=False)
        .build()
        .public_bytes(serialization.Encoding.DER)
    )


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"\x30\x00", "not SEQUENCE"),
        (b"\x30\x80\x00\x00", "indefinite"),
        (b"\x30\x03\x30\x01\x00", "DER"),
        (b"A" * 20_000, "over"),
        (_with_nonce(b""), "nonce is 0 octets"),
        (_with_nonce(b"n" * 129), "nonce is 129 octets"),
    ],
    ids=[
        "empty",
        "empty-sequence",
        "indefinite-length",
        "truncated",
        "too-big",
        "empty-nonce",
        "long-nonce",
    ],
)
def test_malformed_requests(data, words):
    with pytest.raises(MalformedRequest, match=words):
        parse_request(data)


def test_a_128_octet_nonce_is_accepted():
    assert parse_request(_with_nonce(b"n" * 128)).nonce == b"n" * 128


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise_anything_but_malformed(data):
    with contextlib.suppress(MalformedRequest):
        parse_request(data)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=300), st.integers(min_value=0, max_value=255))
def test_mutated_real_requests_never_crash(position, value):
    der = bytearray(_with_nonce(b"abcdefgh"))
    der[position % len(der)] = value
    with contextlib.suppress(MalformedRequest):
        parse_request(bytes(der))
