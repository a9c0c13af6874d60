"""SPEC.md's CRL acceptance rules: each refusal has its reason code, each edge is exact."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ObjectIdentifier

from revocd.errors import Rejected
from revocd.verify.crl import CrlCheckContext, verify_crl
from tests.support.dercrl import assemble_crl
from tests.support.pki import T0, Entry, make_ca, make_crl, new_key

URL = "http://pki.acme.example/issuing.crl"
NOW = T0 + timedelta(hours=1)
SKEW = timedelta(minutes=5)
UNKNOWN = ObjectIdentifier("1.3.6.1.4.1.55555.1")


def ctx(ca, *, urls=(URL,), now=NOW, max_bytes=10**7) -> CrlCheckContext:
    return CrlCheckContext(
        ca.cert.public_bytes(serialization.Encoding.DER),
        "acme-issuing",
        URL,
        urls,
        now,
        SKEW,
        max_bytes,
    )


@pytest.fixture(scope="module")
def ca():
    return make_ca("Acme Issuing CA")


def idp(**kw) -> tuple[x509.ExtensionType, bool]:
    args = {
        "full_name": None,
        "relative_name": None,
        "only_contains_user_certs": False,
        "only_contains_ca_certs": False,
        "only_some_reasons": None,
        "indirect_crl": False,
        "only_contains_attribute_certs": False,
    }
    args.update(kw)
    return x509.IssuingDistributionPoint(**args), True


def cases(ca):
    other = make_ca("Someone Else")
    good = make_crl(ca, [Entry(5)], number=3)
    return {
        "garbage": (b"\x01\x02garbage", {}, "malformed"),
        "html-error-page": (b"<html><body>502 Bad Gateway</body></html>", {}, "malformed"),
        "truncated": (good[:-10], {}, "malformed"),
        "trailing-bytes": (good + b"\x00", {}, "malformed"),
        "bad-pem-base64": (
            b"-----BEGIN X509 CRL-----\n!!!!\n-----END X509 CRL-----\n",
            {},
            "malformed",
        ),
        "oversize": (good, {"max_bytes": len(good) - 1}, "oversize"),
        "another-ca": (make_crl(other, [], number=1), {}, "wrong_issuer"),
        "signed-by-another-key": (
            make_crl(ca, [], number=1, signer=new_key()),
            {},
            "bad_signature",
        ),
        "unknown-critical-crl-extension": (
            make_crl(ca, [], extensions=[(x509.UnrecognizedExtension(UNKNOWN, b"\x05\x00"), True)]),
            {},
            "unknown_critical_extension",
        ),
        "unknown-critical-entry-extension": (
            make_crl(
                ca,
                [
                    Entry(
                        5,
                        extra_extensions=[(x509.UnrecognizedExtension(UNKNOWN, b"\x05\x00"), True)],
                    )
                ],
            ),
            {},
            "unknown_critical_extension",
        ),
        "this-update-beyond-skew": (
            make_crl(
                ca,
                [],
                this_update=NOW + SKEW + timedelta(seconds=1),
                next_update=NOW + timedelta(days=1),
            ),
            {},
            "not_yet_valid",
        ),
        "next-update-equals-this-update": (
            make_crl(ca, [], this_update=T0, next_update=T0),
            {},
            "bad_validity",
        ),
        "delta-crl": (
            make_crl(ca, [], extensions=[(x509.DeltaCRLIndicator(2), True)]),
            {},
            "unsupported_scope",
        ),
        "idp-only-some-reasons": (
            make_crl(
                ca,
                [],
                extensions=[idp(only_some_reasons=frozenset({x509.ReasonFlags.key_compromise}))],
            ),
            {},
            "unsupported_scope",
        ),
        "idp-indirect": (
            make_crl(ca, [], extensions=[idp(indirect_crl=True)]),
            {},
            "unsupported_scope",
        ),
        "idp-ca-only": (
            make_crl(ca, [], extensions=[idp(only_contains_ca_certs=True)]),
            {},
            "unsupported_scope",
        ),
        "idp-other-url": (
            make_crl(
                ca,
                [],
                extensions=[
                    idp(
                        full_name=[
                            x509.UniformResourceIdentifier("http://pki.acme.example/shard7.crl")
                        ]
                    )
                ],
            ),
            {},
            "unsupported_scope",
        ),
        "idp-relative-name": (
            make_crl(
                ca,
                [],
                extensions=[
                    idp(
                        relative_name=x509.RelativeDistinguishedName(
                            [x509.NameAttribute(x509.NameOID.COMMON_NAME, "shard")]
                        )
                    )
                ],
            ),
            {},
            "unsupported_scope",
        ),
        "entry-certificate-issuer": (
            make_crl(
                ca,
                [
                    Entry(
                        5,
                        extra_extensions=[
                            (x509.CertificateIssuer([x509.DNSName("x.example")]), True)
                        ],
                    )
                ],
            ),
            {},
            "unsupported_scope",
        ),
    }


@pytest.mark.parametrize(
    "name",
    [
        "garbage",
        "html-error-page",
        "truncated",
        "trailing-bytes",
        "bad-pem-base64",
        "oversize",
        "another-ca",
        "signed-by-another-key",
        "unknown-critical-crl-extension",
        "unknown-critical-entry-extension",
        "this-update-beyond-skew",
        "next-update-equals-this-update",
        "delta-crl",
        "idp-only-some-reasons",
        "idp-indirect",
        "idp-ca-only",
        "idp-other-url",
        "idp-relative-name",
        "entry-certificate-issuer",
    ],
)
def test_each_rule_refuses_with_its_reason(ca, name):
    data, options, reason = cases(ca)[name]
    with pytest.raises(Rejected) as refused:
        verify_crl(data, ctx(ca, **({"max_bytes": options["max_bytes"]} if options else {})))
    assert refused.value.reason.value == reason
    assert refused.value.detail


def test_a_ca_without_crl_sign_cannot_sign_crls():
    weak = make_ca("No CRL Sign", key_usage_crl_sign=False)
    with pytest.raises(Rejected) as refused:
        verify_crl(make_crl(weak, []), ctx(weak))
    assert refused.value.reason.value == "issuer_cannot_sign_crl"


def test_a_ca_without_key_usage_may_sign_crls():
    plain = make_ca("No Key Usage", key_usage_crl_sign=None)
    assert verify_crl(make_crl(plain, [Entry(5)]), ctx(plain)).meta.entry_count == 1


@pytest.mark.parametrize(
    ("urls", "idp_url"),
    [
        ((URL,), URL),
        ((URL,), "HTTP://PKI.ACME.EXAMPLE:80/issuing.crl"),
        (("file:///srv/issuing.crl", URL), URL),
    ],
    ids=["same-url", "case-and-default-port", "one-of-the-mirrors"],
)
def test_an_idp_naming_a_configured_url_is_complete(ca, urls, idp_url):
    crl = make_crl(
        ca, [Entry(5)], extensions=[idp(full_name=[x509.UniformResourceIdentifier(idp_url)])]
    )
    assert verify_crl(crl, ctx(ca, urls=urls)).meta.entry_count == 1


def test_only_user_certs_is_accepted(ca):
    crl = make_crl(ca, [], extensions=[idp(only_contains_user_certs=True)])
    assert verify_crl(crl, ctx(ca)).meta.crl_number == 1


def test_this_update_exactly_at_the_skew_edge_is_accepted(ca):
    crl = make_crl(ca, [], this_update=NOW + SKEW, next_update=NOW + timedelta(days=1))
    assert verify_crl(crl, ctx(ca)).meta.this_update == NOW + SKEW


def test_issuer_names_match_as_rfc5280_names_not_bytes(ca):
    from cryptography.x509.name import _ASN1Type
    from cryptography.x509.oid import NameOID

    loose = x509.Name(
        [
            x509.NameAttribute(
                NameOID.ORGANIZATION_NAME, "REVOCD  Tests", _type=_ASN1Type.UTF8String
            ),
            x509.NameAttribute(
                NameOID.COMMON_NAME, " acme issuing ca", _type=_ASN1Type.PrintableString
            ),
        ]
    )
    assert loose.public_bytes() != ca.cert.subject.public_bytes()
    evidence = verify_crl(make_crl(ca, [Entry(5)], issuer_name=loose), ctx(ca))
    assert evidence.meta.entry_count == 1


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed25519"], ids=["rsa", "ec", "ed25519"])
def test_rsa_ec_and_eddsa_issuers(kind):
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else new_key(kind)
    if kind == "ed25519":
        issuer = make_ca_ed25519(key)
        crl = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer.cert.subject)
            .last_update(T0)
            .next_update(T0 + timedelta(days=1))
            .sign(key, None)
            .public_bytes(serialization.Encoding.DER)
        )
    else:
        issuer = make_ca(f"{kind} CA", key=key)
        crl = make_crl(issuer, [Entry(5)])
    assert verify_crl(crl, ctx(issuer)).meta.this_update == T0


def make_ca_ed25519(key):
    from cryptography.x509.oid import NameOID

    from tests.support.pki import CA

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ed25519 CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(T0 - timedelta(days=1))
        .not_valid_after(T0 + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, None)
    )
    return CA(cert, key)


def test_pem_and_der_give_the_same_evidence(ca):
    der = make_crl(ca, [Entry(5), Entry(6, reason=None)], number=9)
    pem = x509.load_der_x509_crl(der).public_bytes(serialization.Encoding.PEM)
    a, b = verify_crl(der, ctx(ca)), verify_crl(pem, ctx(ca))
    assert a.meta == b.meta
    assert a.index == b.index
    assert b.der == der


def test_negative_and_leading_zero_serials_are_different(ca):
    crl = assemble_crl(
        ca, [-1, 0x1001], number=1, this_update=T0, next_update=T0 + timedelta(days=1)
    )
    index = verify_crl(crl, ctx(ca)).index
    assert index.lookup(b"\xff") is not None
    assert index.lookup(b"\x00\xff") is None


def test_a_crl_without_next_update_is_bad_validity(ca):
    crl = assemble_crl(ca, [5], number=1, this_update=T0, next_update=None)
    with pytest.raises(Rejected) as refused:
        verify_crl(crl, ctx(ca))
    assert refused.value.reason.value == "bad_validity"
    assert "no nextUpdate" in refused.value.detail
