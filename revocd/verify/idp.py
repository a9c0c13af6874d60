"""Scope of a CRL: is it complete for its issuer, or does it cover only part of it?

Until partitioned and delta CRLs are declared in the configuration, revocd reads a CRL as
complete only when nothing in it says otherwise; a partial CRL is rejected as
`unsupported_scope`, never read as complete (a wrong "good" is a security hole).

Rejected: a delta CRL (deltaCRLIndicator); an issuingDistributionPoint with
onlySomeReasons, indirectCRL, onlyContainsCACerts or onlyContainsAttributeCerts; a
distribution point given as URIs none of which is one of the issuer's configured CRL URLs;
a distribution point given as nameRelativeToCRLIssuer or as non-URI names.

Accepted: onlyContainsUserCerts. That is the usual shape of an issuing CA's CRL (its
subordinate CAs, if any, are covered by the parent's ARL), and revocd answers for
end-entity certificates; rejecting it would turn most real partners into outages.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from cryptography import x509

from revocd.errors import Rejected
from revocd.evidence import RejectReason

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_url(url: str) -> str:
    """Scheme and host are case-insensitive, a default port is the same as none."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal keeps its brackets, so a port stays unambiguous
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")


def check_scope(extensions: x509.Extensions, configured_urls: tuple[str, ...]) -> None:
    for ext in extensions:
        if isinstance(ext.value, x509.DeltaCRLIndicator):
            raise Rejected(
                RejectReason.UNSUPPORTED_SCOPE,
                f"delta CRL (base CRL number {ext.value.crl_number}); delta CRLs are not "
                "supported yet: configure the partner's complete CRL",
            )
        if isinstance(ext.value, x509.IssuingDistributionPoint):
            check_idp(ext.value, configured_urls)


def check_idp(idp: x509.IssuingDistributionPoint, configured_urls: tuple[str, ...]) -> None:
    partial = [
        name
        for name, present in (
            ("onlySomeReasons", bool(idp.only_some_reasons)),
            ("indirectCRL", idp.indirect_crl),
            ("onlyContainsCACerts", idp.only_contains_ca_certs),
            ("onlyContainsAttributeCerts", idp.only_contains_attribute_certs),
        )
        if present
    ]
    if partial:
        raise Rejected(
            RejectReason.UNSUPPORTED_SCOPE,
            f"issuingDistributionPoint makes this CRL partial ({', '.join(partial)}); "
            "partitioned and indirect CRLs are not supported yet",
        )
    if idp.relative_name is not None:
        raise Rejected(
            RejectReason.UNSUPPORTED_SCOPE,
            "issuingDistributionPoint names its scope relative to the CRL issuer; "
            "partitioned CRLs are not supported yet",
        )
    if idp.full_name is None:
        return
    uris = [n.value for n in idp.full_name if isinstance(n, x509.UniformResourceIdentifier)]
    if not uris:
        raise Rejected(
            RejectReason.UNSUPPORTED_SCOPE,
            "issuingDistributionPoint names its scope without a URI; "
            "partitioned CRLs are not supported yet",
        )
    configured = {normalise_url(u) for u in configured_urls}
    if not any(normalise_url(u) in configured for u in uris):
        raise Rejected(
            RejectReason.UNSUPPORTED_SCOPE,
            f"issuingDistributionPoint {', '.join(uris)} is not one of this issuer's "
            f"configured CRL URLs ({', '.join(configured_urls)}); it may be one partition "
            "of a partitioned CRL: add the URL to the issuer's crl list if it is complete",
        )
