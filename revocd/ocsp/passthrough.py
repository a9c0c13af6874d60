"""Pass-through signing: may an upstream OCSP response be relayed to this client as is?

Only when it answers exactly the request: the request has one CertID, the response one
SingleResponse, for that CertID (same hash algorithm, issuer hashes and serial), and the
response's nonce is the request's (both absent, in practice: a nonce revocd sent upstream
is never one a client sent). Anything else is answered by revocd's fallback signer. Pure.
"""

from __future__ import annotations

import hmac

from cryptography import x509
from cryptography.x509 import ocsp

from revocd.ocsp.asn1 import CertId
from revocd.serials import content_from_int


def relayable(der: bytes, cert_id: CertId, nonce: bytes | None) -> bool:
    try:
        response = ocsp.load_der_ocsp_response(der)
        singles = list(response.responses)
        extensions = response.extensions
    except ValueError:
        return False
    if len(singles) != 1:
        return False
    single = singles[0]
    if not (
        single.hash_algorithm.name == cert_id.hash_algorithm
        and hmac.compare_digest(single.issuer_name_hash, cert_id.name_hash)
        and hmac.compare_digest(single.issuer_key_hash, cert_id.key_hash)
        and content_from_int(single.serial_number) == cert_id.serial
    ):
        return False
    try:
        sent = extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return nonce is None
    return nonce is not None and hmac.compare_digest(sent, nonce)
