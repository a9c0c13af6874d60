"""CRLs revocd must accept, and the evidence it makes of them (entries, reasons, meta)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from revocd.errors import Rejected
from revocd.evidence import RevocationReason
from revocd.revoked import Revocation
from revocd.verify.crl import verify_crl
from tests.support.dercrl import raw_crl, raw_entry, reason_extensions, utctime
from tests.support.pki import CA, T0, Entry, make_ca, new_key
from tests.verify.helpers import ISSUING, NOW, UNKNOWN, URL, crl, ctx, idp, idp_url, raw


def test_meta_describes_the_crl() -> None:
    der = crl(Entry(5), Entry(6, reason=None), 7, number=42)
    evidence = verify_crl(der, ctx(ISSUING))
    parsed = x509.load_der_x509_crl(der)
    assert evidence.meta.source_url == URL
    assert evidence.meta.crl_number == 42
    assert evidence.meta.this_update == T0
    assert evidence.meta.next_update == T0 + timedelta(days=7)
    assert evidence.meta.entry_count == 3
    assert evidence.meta.der_sha256 == hashlib.sha256(der).digest()
    assert evidence.meta.tbs_sha256 == hashlib.sha256(parsed.tbs_certlist_bytes).digest()
    assert evidence.meta.accepted_at == NOW
    assert evidence.der == der


def test_entries_keep_their_dates_and_reasons() -> None:
    when = T0 - timedelta(days=3, seconds=17)
    der = crl(
        Entry(5, revoked_at=when, reason=x509.ReasonFlags.certificate_hold),
        Entry(6, reason=None),
        Entry(2**159 - 1, reason=x509.ReasonFlags.superseded),
    )
    assert sorted(verify_crl(der, ctx(ISSUING)).index, key=lambda r: r.serial) == [
        Revocation(b"\x05", when, RevocationReason.CERTIFICATE_HOLD),
        Revocation(b"\x06", T0 - timedelta(days=1), None),
        Revocation(b"\x7f" + b"\xff" * 19, T0 - timedelta(days=1), RevocationReason.SUPERSEDED),
    ]


@pytest.mark.parametrize("count", [2, 300], ids=["small", "pem-over-4k"])
def test_pem_and_der_give_the_same_evidence(count: int) -> None:
    der = crl(Entry(5), Entry(6, reason=None), *range(100, 100 + count - 2), number=9)
    pem = x509.load_der_x509_crl(der).public_bytes(serialization.Encoding.PEM)
    decorated = b"Certificate Revocation List:\n  text dump...\n" + pem.replace(b"\n", b"\r\n")
    a = verify_crl(der, ctx(ISSUING))
    assert a.meta.entry_count == count
    for data in (pem, decorated):
        b = verify_crl(data, ctx(ISSUING))
        assert (b.meta, b.index, b.der) == (a.meta, a.index, der)


@pytest.mark.parametrize(
    ("configured", "in_idp"),
    [
        ((URL,), [URL]),
        ((URL,), ["HTTP://PKI.Acme.EXAMPLE/issuing.crl"]),
        ((URL,), ["http://pki.acme.example:80/issuing.crl"]),
        (("https://pki.acme.example/x.crl",), ["https://PKI.acme.example:443/x.crl"]),
        (("file:///srv/issuing.crl", URL), [URL]),
        ((URL,), ["ldap://ldap.acme.example/cn=x", URL]),
    ],
    ids=[
        "same-url",
        "host-case",
        "http-default-port",
        "https-default-port",
        "one-of-the-mirrors",
        "one-of-several-uris",
    ],
)
def test_an_idp_naming_a_configured_url_is_complete(
    configured: tuple[str, ...], in_idp: list[str]
) -> None:
    names = [x509.UniformResourceIdentifier(u) for u in in_idp]
    der = crl(5, extensions=[idp(full_name=names)])
    assert verify_crl(der, ctx(ISSUING, urls=configured)).meta.entry_count == 1


def test_an_idp_path_is_case_sensitive() -> None:
    der = crl(5, extensions=[idp_url("http://pki.acme.example/ISSUING.crl")])
    with pytest.raises(Rejected) as refused:
        verify_crl(der, ctx(ISSUING))
    assert refused.value.reason.value == "unsupported_scope"
    assert URL in refused.value.detail  # names the configured URLs


def test_only_user_certs_is_accepted() -> None:
    der = crl(5, extensions=[idp(only_contains_user_certs=True, full_name=None)])
    assert verify_crl(der, ctx(ISSUING)).meta.entry_count == 1


def _attr(oid: x509.ObjectIdentifier, value: str, kind: _ASN1Type) -> x509.NameAttribute:
    return x509.NameAttribute(oid, value, _type=kind)


@pytest.mark.parametrize(
    ("org", "cn"),
    [
        (("REVOCD TESTS", _ASN1Type.UTF8String), ("acme issuing ca", _ASN1Type.UTF8String)),
        (("revocd  tests ", _ASN1Type.UTF8String), (" Acme   Issuing CA", _ASN1Type.UTF8String)),
        (("revocd tests", _ASN1Type.PrintableString), ("Acme Issuing CA", _ASN1Type.UTF8String)),
        (("Revocd Tests", _ASN1Type.PrintableString), ("ACME ISSUING CA", _ASN1Type.BMPString)),
        (("revocd tests", _ASN1Type.UTF8String), ("\uff21cme Issuing CA", _ASN1Type.UTF8String)),
    ],
    ids=[
        "case",
        "whitespace",
        "printablestring-vs-utf8string",
        "bmpstring-and-case",
        "fullwidth-letter-nfkc",
    ],
)
def test_issuer_names_match_as_rfc5280_names_not_bytes(
    org: tuple[str, _ASN1Type], cn: tuple[str, _ASN1Type]
) -> None:
    loose = x509.Name([_attr(NameOID.ORGANIZATION_NAME, *org), _attr(NameOID.COMMON_NAME, *cn)])
    assert loose.public_bytes() != ISSUING.name.public_bytes()
    assert verify_crl(crl(5, issuer_name=loose), ctx(ISSUING)).meta.entry_count == 1


def _ed25519_ca() -> CA:
    key = ed25519.Ed25519PrivateKey.generate()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ed25519 CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(T0 - timedelta(days=1))
        .not_valid_after(T0 + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, None)
    )
    return CA(cert, key)  # type: ignore[arg-type]


RSA_KEY = new_key("rsa")
PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


@pytest.mark.parametrize(
    ("kind", "digest", "pad"),
    [
        ("rsa", hashes.SHA256(), padding.PKCS1v15()),
        ("rsa", hashes.SHA512(), padding.PKCS1v15()),
        ("rsa", hashes.SHA256(), PSS),
        ("ec", hashes.SHA256(), None),
        ("ec384", hashes.SHA384(), None),
        ("ec521", hashes.SHA512(), None),
        ("ed25519", None, None),
    ],
    ids=[
        "rsa-pkcs1-sha256",
        "rsa-pkcs1-sha512",
        "rsa-pss",
        "ecdsa-sha256",
        "ecdsa-p384-sha384",
        "ecdsa-p521-sha512",
        "ed25519",
    ],
)
def test_rsa_ec_and_eddsa_issuers(
    kind: str, digest: hashes.HashAlgorithm | None, pad: padding.AsymmetricPadding | None
) -> None:
    if kind == "ed25519":
        issuer = _ed25519_ca()
    else:
        keys = {
            "rsa": RSA_KEY,
            "ec": new_key(),
            "ec384": ec.generate_private_key(ec.SECP384R1()),
            "ec521": ec.generate_private_key(ec.SECP521R1()),
        }
        issuer = make_ca(f"{kind} CA", key=keys[kind])
    revoked = x509.RevokedCertificateBuilder().serial_number(5).revocation_date(T0).build()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.name)
        .last_update(T0)
        .next_update(T0 + timedelta(days=1))
        .add_revoked_certificate(revoked)
    )
    signed = builder.sign(issuer.key, digest, rsa_padding=pad)  # type: ignore[arg-type]
    der = signed.public_bytes(serialization.Encoding.DER)
    assert verify_crl(der, ctx(issuer)).index.lookup(b"\x05") is not None


def test_a_pss_crl_signed_by_another_key_is_refused() -> None:
    issuer = make_ca("rsa CA", key=RSA_KEY)
    der = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.name)
        .last_update(T0)
        .next_update(T0 + timedelta(days=1))
        .sign(new_key("rsa"), hashes.SHA256(), rsa_padding=PSS)
        .public_bytes(serialization.Encoding.DER)
    )
    with pytest.raises(Rejected) as refused:
        verify_crl(der, ctx(issuer))
    assert refused.value.reason.value == "bad_signature"


@pytest.mark.parametrize(
    "make",
    [
        crl,
        lambda: raw_crl(ISSUING, None, this_update=THIS, next_update=NEXT),
        lambda: raw_crl(ISSUING, [], this_update=THIS, next_update=NEXT),
    ],
    ids=["builder-omits-the-list", "hand-made-without-list", "hand-made-empty-list"],
)
def test_a_crl_without_entries(make: Callable[[], bytes]) -> None:
    evidence = verify_crl(make(), ctx(ISSUING))
    assert evidence.meta.entry_count == 0
    assert len(evidence.index) == 0
    assert evidence.index.lookup(b"\x05") is None


THIS, NEXT = utctime(T0), utctime(T0 + timedelta(days=1))


def test_a_crl_without_crl_number() -> None:
    evidence = verify_crl(crl(5, number=None), ctx(ISSUING))
    assert evidence.meta.crl_number is None
    assert evidence.meta.entry_count == 1


def test_negative_serial_ff_and_255_are_different_serials() -> None:
    when = utctime(T0 - timedelta(days=1))
    der = raw(
        raw_entry(b"\xff", when, reason_extensions(b"\x0a\x01\x01")),
        raw_entry(b"\x00\xff", when, reason_extensions(b"\x0a\x01\x04")),
        raw_entry(b"\x80", when),
    )
    index = verify_crl(der, ctx(ISSUING)).index
    minus_one, two_five_five = index.lookup(b"\xff"), index.lookup(b"\x00\xff")
    assert minus_one is not None
    assert minus_one.reason == RevocationReason.KEY_COMPROMISE
    assert two_five_five is not None
    assert two_five_five.reason == RevocationReason.SUPERSEDED
    assert index.lookup(b"\x80") is not None  # -128
    assert index.lookup(b"\x00\x80") is None  # 128 is not listed


def test_a_serial_listed_twice_answers_with_its_earliest_revocation() -> None:
    der = raw(
        raw_entry(b"\x05", utctime(T0 - timedelta(days=1)), reason_extensions(b"\x0a\x01\x04")),
        raw_entry(b"\x05", utctime(T0 - timedelta(days=9)), reason_extensions(b"\x0a\x01\x01")),
    )
    found = verify_crl(der, ctx(ISSUING)).index.lookup(b"\x05")
    assert found == Revocation(b"\x05", T0 - timedelta(days=9), RevocationReason.KEY_COMPROMISE)


def test_generalized_time_dates_after_2049() -> None:
    when = datetime(2051, 6, 1, 12, 30, 5, tzinfo=UTC)
    der = crl(Entry(5, revoked_at=when), next_update=datetime(2052, 1, 1, tzinfo=UTC))
    found = verify_crl(der, ctx(ISSUING)).index.lookup(b"\x05")
    assert found is not None
    assert found.revoked_at == when


def test_understood_and_non_critical_extensions_are_accepted() -> None:
    noncritical = (x509.UnrecognizedExtension(UNKNOWN, b"\x05\x00"), False)
    invalidity = (x509.InvalidityDate(datetime(2025, 12, 1)), False)
    der = crl(
        Entry(5, extra_extensions=[invalidity, noncritical]),
        extensions=[noncritical],
    )
    found = verify_crl(der, ctx(ISSUING)).index.lookup(b"\x05")
    assert found is not None
    assert found.reason == RevocationReason.KEY_COMPROMISE


def test_verification_runs_in_a_process_pool() -> None:
    """The poller sends (bytes, context) to worker processes: both must pickle, and the
    evidence that comes back must be the same as verifying in-process."""
    import multiprocessing
    import pickle
    from concurrent.futures import ProcessPoolExecutor

    data = crl(Entry(5), Entry(6, reason=None), number=3)
    context = ctx(ISSUING)
    assert pickle.loads(pickle.dumps(context)) == context
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        remote = pool.submit(verify_crl, data, context).result(timeout=60)
    local = verify_crl(data, context)
    assert (remote.meta, list(remote.index), remote.der) == (local.meta, list(local.index), data)
