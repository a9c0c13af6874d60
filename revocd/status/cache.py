"""The in-memory status cache: the configured issuers and their current evidence.

Each issuer's `IssuerEvidence` is immutable; accepting a CRL builds a new one and swaps
it in with one dict assignment, so a lookup never sees half an update and needs no
lock. Lookups are a dict access plus a binary search in a `RevokedIndex`.

Issuers are found by configured name, by hex SHA-1 / SHA-256 key hash (what a person
or a script types), by OCSP (name hash, key hash) pairs, or from a certificate whose
signature the issuer's key verifies (so cross-signed copies resolve to one issuer).

A reload (`reconfigure`) builds new indexes and swaps them in with plain assignments, so a
lookup sees the old issuers or the new ones, never a mix. A kept issuer keeps its
evidence; a removed one is answered `unknown_issuer` from then on (a request already past
the lookup still gets its answer: the removed issuers' evidence is kept until the next
reload).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from revocd.errors import NotFound
from revocd.model import Issuer, Partner, ocsp_hashes
from revocd.status.answer import Answer, IssuerEvidence, decide


class UnknownIssuer(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(
            "unknown_issuer",
            f"issuer {ref!r} is not configured (use a configured issuer name, or the hex "
            "SHA-1/SHA-256 hash of its public key; GET /v1/partners lists them)",
        )


class StatusLookup(Protocol):
    """The one seam the responders need: find an issuer, answer for a serial."""

    def find_issuer(self, ref: str) -> Issuer: ...

    def issuer_of(self, cert: x509.Certificate) -> Issuer: ...

    def answer(self, issuer: Issuer, serial: bytes, now: datetime) -> Answer: ...


class StatusCache:
    def __init__(self, partners: Sequence[Partner]) -> None:
        self._issuers: dict[str, Issuer] = {}
        self._by_ref: dict[str, Issuer] = {}
        self._by_name_hash: dict[bytes, list[Issuer]] = {}
        self._by_ocsp_id: dict[tuple[bytes, bytes], Issuer] = {}
        self._evidence: dict[str, IssuerEvidence] = {}
        self._retired: dict[str, IssuerEvidence] = {}  # removed by the last reload
        self._index(partners, {})
        self.ready = False
        # Called after each install / once ready: how replica processes follow this cache.
        self.on_install: list[Callable[[IssuerEvidence], None]] = []
        self.on_ready: list[Callable[[], None]] = []

    def _index(self, partners: Sequence[Partner], evidence: Mapping[str, IssuerEvidence]) -> None:
        issuers: dict[str, Issuer] = {}
        by_ref: dict[str, Issuer] = {}
        by_name_hash: dict[bytes, list[Issuer]] = {}
        by_ocsp_id: dict[tuple[bytes, bytes], Issuer] = {}
        kept: dict[str, IssuerEvidence] = {}
        for partner in partners:
            for issuer in partner.issuers:
                key = issuer.key
                issuers[issuer.name] = issuer
                by_ref[issuer.name] = issuer
                for ref in key.hex_ids():
                    by_ref[ref] = issuer
                by_name_hash.setdefault(key.name_sha256, []).append(issuer)
                by_ocsp_id[(key.name_sha1, key.key_sha1)] = issuer
                by_ocsp_id[(key.name_sha256, key.key_sha256)] = issuer
                for algorithm in ("sha384", "sha512"):  # CertIDs may use them (RFC 6960)
                    by_ocsp_id[ocsp_hashes(issuer.cert, algorithm)] = issuer
                kept[issuer.name] = (
                    evidence.get(issuer.name)
                    or self._evidence.get(issuer.name)
                    or IssuerEvidence(issuer.name, partner.policy.grace)
                )
        self._retired = {n: e for n, e in self._evidence.items() if n not in kept}
        self._issuers, self._by_ref = issuers, by_ref
        self._by_name_hash, self._by_ocsp_id = by_name_hash, by_ocsp_id
        self._evidence = kept

    def reconfigure(
        self, partners: Sequence[Partner], evidence: Mapping[str, IssuerEvidence]
    ) -> None:
        """Serve `partners` from now on. `evidence`: for issuers that are new (or whose
        certificate changed) and issuers whose evidence changed (a new grace); every other
        kept issuer keeps the evidence it has."""
        known = {name: issuer.key for name, issuer in self._issuers.items()}
        self._index(partners, evidence)
        for item in evidence.values():
            if known.get(item.issuer) != self._issuers[item.issuer].key:
                continue  # new to the followers too: they get it when they restart
            for listener in self.on_install:
                listener(item)

    @property
    def issuers(self) -> Iterable[Issuer]:
        return self._issuers.values()

    def install(self, evidence: IssuerEvidence) -> None:
        """Swap in an issuer's new evidence (one assignment: atomic for readers)."""
        if evidence.issuer not in self._issuers:
            raise KeyError(f"issuer {evidence.issuer!r} is not configured")
        self._evidence[evidence.issuer] = evidence
        for listener in self.on_install:
            listener(evidence)

    def set_ready(self) -> None:
        """The store is loaded: answers may be given from here on."""
        self.ready = True
        for listener in self.on_ready:
            listener()

    def evidence(self, issuer: str) -> IssuerEvidence:
        found = self._evidence.get(issuer) or self._retired.get(issuer)
        if found is None:
            raise KeyError(issuer)
        return found

    def find_issuer(self, ref: str) -> Issuer:
        issuer = self._by_ref.get(ref) or self._by_ref.get(ref.lower().replace(":", ""))
        if issuer is None:
            raise UnknownIssuer(ref)
        return issuer

    def find_by_ocsp_id(self, name_hash: bytes, key_hash: bytes) -> Issuer | None:
        return self._by_ocsp_id.get((name_hash, key_hash))

    def issuer_of(self, cert: x509.Certificate) -> Issuer:
        """The configured issuer whose key signed `cert`."""
        name_hash = hashlib.sha256(cert.issuer.public_bytes()).digest()
        for issuer in self._by_name_hash.get(name_hash, ()):
            try:
                cert.verify_directly_issued_by(issuer.cert)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return issuer
        raise UnknownIssuer(cert.issuer.rfc4514_string())

    def answer(self, issuer: Issuer, serial: bytes, now: datetime) -> Answer:
        return decide(self.evidence(issuer.name), serial, now)
