"""Extended key usage, as revocd asks about it: may this certificate sign OCSP responses?"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID


def allows_ocsp_signing(cert: x509.Certificate) -> bool:
    """Whether `cert` carries id-kp-OCSPSigning (RFC 6960 4.2.2.2). A certificate without
    the extension does not (cryptography 51 no longer builds an empty one to ask)."""
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return ExtendedKeyUsageOID.OCSP_SIGNING in usages
