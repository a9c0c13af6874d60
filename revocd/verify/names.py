"""RFC 5280 7.1 name comparison: the CRL issuer must *match* the CA subject, not byte-equal.

Two names match when they have the same RDNs in the same order, each RDN the same set of
attribute types, and each value equal after the normalisation RFC 4518 prescribes in
outline: NFKC-normalised, case folded, leading/trailing whitespace removed and inner
runs of whitespace collapsed. So a PrintableString "Acme  CA" and a UTF8String
"acme ca" match; a different attribute order or type does not. Non-string values
(bytes) compare exactly.
"""

from __future__ import annotations

import unicodedata

from cryptography import x509


def _normalise(value: str | bytes) -> str | bytes:
    if isinstance(value, bytes):
        return value
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def _rdn_key(rdn: x509.RelativeDistinguishedName) -> list[tuple[str, str | bytes]]:
    return sorted(
        ((attr.oid.dotted_string, _normalise(attr.value)) for attr in rdn),
        key=lambda item: (item[0], repr(item[1])),
    )


def names_match(a: x509.Name, b: x509.Name) -> bool:
    rdns_a, rdns_b = list(a.rdns), list(b.rdns)
    if len(rdns_a) != len(rdns_b):
        return False
    return all(_rdn_key(x) == _rdn_key(y) for x, y in zip(rdns_a, rdns_b, strict=True))
