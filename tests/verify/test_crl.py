"""SPEC.md's CRL acceptance rules: each refusal has its reason code, each edge is exact."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from revocd.der import encode_tlv
from revocd.errors import Rejected
from revocd.evidence import UPSTREAM_ONLY_REASONS, RejectReason
from revocd.verify.crl import verify_crl
from tests.support.dercrl import RSA_SHA256, raw_entry, reason_extensions, utctime
from tests.support.pki import T0, Entry, make_ca, make_crl, new_key
from tests.verify.helpers import (
    ECDSA_SHA384,
    ISSUING,
    NO_CRL_SIGN,
    NOW,
    OTHER,
    SKEW,
    UNKNOWN,
    crl,
    ctx,
    idp,
    idp_url,
    raw,
)

WHEN = utctime(T0 - timedelta(days=1))
CRITICAL_UNKNOWN = [(x509.UnrecognizedExtension(UNKNOWN, b"\x05\x00"), True)]


def _pem_with_bad_base64() -> bytes:
    return b"-----BEGIN X509 CRL-----\nMIIB!!!\n-----END X509 CRL-----\n"


# id -> (CRL bytes, extra context options, expected reason)
REJECTIONS: list[tuple[str, Callable[[], bytes], dict[str, int], RejectReason]] = [
    ("oversize", lambda: crl(5), {"max_bytes": 100}, RejectReason.OVERSIZE),  # ~250 bytes
    ("garbage", lambda: b"\x01\x02garbage", {}, RejectReason.MALFORMED),
    ("empty-body", lambda: b"", {}, RejectReason.MALFORMED),
    ("truncated", lambda: crl(5)[:-10], {}, RejectReason.MALFORMED),
    ("trailing-bytes", lambda: crl(5) + b"\x00", {}, RejectReason.MALFORMED),
    (
        "html-error-page",
        lambda: b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        {},
        RejectReason.MALFORMED,
    ),
    ("bad-pem-base64", _pem_with_bad_base64, {}, RejectReason.MALFORMED),
    ("non-minimal-serial", lambda: raw(raw_entry(b"\x00\x01", WHEN)), {}, RejectReason.MALFORMED),
    (
        "non-minimal-negative-serial",
        lambda: raw(raw_entry(b"\xff\xff", WHEN)),
        {},
        RejectReason.MALFORMED,
    ),
    (
        "revocation-date-month-13",
        lambda: raw(raw_entry(b"\x05", encode_tlv(0x17, b"251301000000Z"))),
        {},
        RejectReason.MALFORMED,
    ),
    (
        "revocation-date-hour-24",
        lambda: raw(raw_entry(b"\x05", encode_tlv(0x17, b"251231240000Z"))),
        {},
        RejectReason.MALFORMED,
    ),
    (
        "revocation-date-without-z",
        lambda: raw(raw_entry(b"\x05", encode_tlv(0x17, b"2512310000000"))),
        {},
        RejectReason.MALFORMED,
    ),
    (
        "reason-code-7",
        lambda: raw(raw_entry(b"\x05", WHEN, reason_extensions(b"\x0a\x01\x07"))),
        {},
        RejectReason.MALFORMED,
    ),
    (
        "reason-code-11",
        lambda: raw(raw_entry(b"\x05", WHEN, reason_extensions(b"\x0a\x01\x0b"))),
        {},
        RejectReason.MALFORMED,
    ),
    (
        "reason-code-not-enumerated",
        lambda: raw(raw_entry(b"\x05", WHEN, reason_extensions(b"\x02\x01\x01"))),
        {},
        RejectReason.MALFORMED,
    ),
    ("another-ca", lambda: make_crl(OTHER, [5]), {}, RejectReason.WRONG_ISSUER),
    (
        "issuer-name-with-extra-rdn",
        lambda: crl(
            5,
            issuer_name=x509.Name(
                [*ISSUING.name, x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "x")]
            ),
        ),
        {},
        RejectReason.WRONG_ISSUER,
    ),
    (
        "issuer-name-in-other-order",
        lambda: crl(5, issuer_name=x509.Name(list(reversed(list(ISSUING.name))))),
        {},
        RejectReason.WRONG_ISSUER,
    ),
    ("signed-by-another-key", lambda: crl(5, signer=new_key()), {}, RejectReason.BAD_SIGNATURE),
    (
        "outer-algorithm-differs-from-inner",
        lambda: raw(raw_entry(b"\x05", WHEN), outer_algorithm=ECDSA_SHA384),
        {},
        RejectReason.BAD_SIGNATURE,
    ),
    (
        "rsa-algorithm-on-ec-key",
        lambda: raw(inner_algorithm=RSA_SHA256, outer_algorithm=RSA_SHA256),
        {},
        RejectReason.BAD_SIGNATURE,
    ),
    (
        "entry-altered-after-signing",
        lambda: crl(0x55).replace(b"\x02\x01\x55", b"\x02\x01\x56"),
        {},
        RejectReason.BAD_SIGNATURE,
    ),
    (
        "ca-without-crl-sign",
        lambda: make_crl(NO_CRL_SIGN, [5]),
        {"ca": 1},
        RejectReason.ISSUER_CANNOT_SIGN_CRL,
    ),
    (
        "unknown-critical-crl-extension",
        lambda: crl(5, extensions=CRITICAL_UNKNOWN),
        {},
        RejectReason.UNKNOWN_CRITICAL_EXTENSION,
    ),
    (
        "unknown-critical-entry-extension",
        lambda: crl(Entry(5, extra_extensions=CRITICAL_UNKNOWN)),
        {},
        RejectReason.UNKNOWN_CRITICAL_EXTENSION,
    ),
    (
        "this-update-beyond-skew",
        lambda: crl(this_update=NOW + SKEW + timedelta(seconds=1), next_update=NOW + timedelta(1)),
        {},
        RejectReason.NOT_YET_VALID,
    ),
    (
        "next-update-equals-this-update",
        lambda: crl(this_update=T0, next_update=T0),
        {},
        RejectReason.BAD_VALIDITY,
    ),
    (
        "next-update-before-this-update",
        lambda: raw(next_update=utctime(T0 - timedelta(seconds=1))),
        {},
        RejectReason.BAD_VALIDITY,
    ),
    ("no-next-update", lambda: raw(next_update=None), {}, RejectReason.BAD_VALIDITY),
    (
        "delta-crl",
        lambda: crl(extensions=[(x509.DeltaCRLIndicator(2), True)]),
        {},
        RejectReason.UNSUPPORTED_SCOPE,
    ),
    (
        "idp-only-some-reasons",
        lambda: crl(
            extensions=[idp(only_some_reasons=frozenset({x509.ReasonFlags.key_compromise}))]
        ),
        {},
        RejectReason.UNSUPPORTED_SCOPE,
    ),
    (
        "idp-indirect-crl",
        lambda: crl(extensions=[idp(indirect_crl=True)]),
        {},
        RejectReason.UNSUPPORTED_SCOPE,
    ),
    (
        "idp-only-ca-certs",
        lambda: crl(extensions=[idp(only_contains_ca_certs=True)]),
        {},
        RejectReason.UNSUPPORTED_SCOPE,
    ),
    (
        "idp-only-attribute-certs",
        lambda: crl(extensions=[idp(only_contains_attribute_certs=True)]),
        {},
        RejectReason.UNSUPPORTED_SCOPE,
    ),
    (
        "idp-url-not-configured",
        lambda: crl(extensions=[idp_url("http://pki.acme.example/shard7.crl")]),
        {},
        RejectReason.UNSUPPORTED_SCOPE,
    ),
    (
        "idp-relative-name",
        lambda: crl(
            extensions=[
                idp(
                    relative_name=x509.RelativeDistinguishedName(
                        [x509.NameAttribute(NameOID.COMMON_NAME, "shard 7")]
                    )
                )
            ]
        ),
        {},
        RejectReason.UNSUPPORTED_SCOPE,
    ),
    (
        "idp-without-uri",
        lambda: crl(extensions=[idp(full_name=[x509.DNSName("pki.acme.example")])]),
        {},
        RejectReason.UNSUPPORTED_SCOPE,
    ),
    (
        "entry-certificate-issuer",
        lambda: crl(
            Entry(5, extra_extensions=[(x509.CertificateIssuer([x509.DNSName("x.example")]), True)])
        ),
        {},
        RejectReason.UNSUPPORTED_SCOPE,
    ),
]


@pytest.mark.parametrize(
    ("make", "options", "reason"),
    [case[1:] for case in REJECTIONS],
    ids=[case[0] for case in REJECTIONS],
)
def test_each_rule_refuses_with_its_reason(
    make: Callable[[], bytes], options: dict[str, int], reason: RejectReason
) -> None:
    issuer = NO_CRL_SIGN if options.get("ca") else ISSUING
    with pytest.raises(Rejected) as refused:
        verify_crl(make(), ctx(issuer, max_bytes=options.get("max_bytes", 10**7)))
    assert refused.value.reason is reason
    assert len(refused.value.detail) > 20  # says what is wrong, not just the code


def test_every_crl_reject_reason_has_a_case() -> None:
    history_only = {
        RejectReason.ROLLBACK,
        RejectReason.EQUIVOCATION,
        RejectReason.OLDER_THAN_ACCEPTED,
    }
    covered = {case[3] for case in REJECTIONS}
    assert covered == set(RejectReason) - history_only - UPSTREAM_ONLY_REASONS


def test_a_wrong_issuer_names_both_names() -> None:
    with pytest.raises(Rejected) as refused:
        verify_crl(make_crl(OTHER, [5]), ctx(ISSUING))
    assert "Someone Else" in refused.value.detail
    assert "Acme Issuing CA" in refused.value.detail


def test_the_size_limit_is_inclusive() -> None:
    data = crl(5)
    assert verify_crl(data, ctx(ISSUING, max_bytes=len(data))).meta.entry_count == 1


def test_this_update_exactly_at_the_skew_edge_is_accepted() -> None:
    data = crl(this_update=NOW + SKEW, next_update=NOW + timedelta(days=1))
    assert verify_crl(data, ctx(ISSUING)).meta.this_update == NOW + SKEW


def test_an_expired_crl_is_still_evidence() -> None:
    # Staleness is the freshness module's business: an old CRL is verified, not refused.
    data = crl(5, this_update=T0 - timedelta(days=30), next_update=T0 - timedelta(days=23))
    assert verify_crl(data, ctx(ISSUING)).meta.next_update == T0 - timedelta(days=23)


def test_a_ca_without_key_usage_may_sign_crls() -> None:
    plain = make_ca("No Key Usage", key_usage_crl_sign=None)
    assert verify_crl(make_crl(plain, [5]), ctx(plain)).meta.entry_count == 1
