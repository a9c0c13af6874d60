"""The Store protocol: what revocd persists, independent of the backend.

Two implementations: `sqlite` (embedded, default) and `postgres` (several replicas).
One contract test suite (tests/store/test_contract.py) runs against both.

What is kept:

* per source: its last accepted CRL (metadata, raw DER, compact index), the HTTP
  validators (ETag / Last-Modified) of that body, last success and last error;
* per issuer (keyed by `IssuerKey.id`, so renaming an issuer keeps its history):
  the sticky revocations, serials seen revoked in an accepted CRL that a newer one
  dropped. They never turn good again.

* per (issuer, serial): the last accepted upstream OCSP answer (with its DER), so an
  upstream `revoked` survives a restart while the partner's responder is down.

`accept_crl` writes the CRL and the new sticky entries in one transaction, and
returns only once they are durable: evidence is persisted before it is served.
`save_upstream` is the same for an upstream OCSP answer; it never replaces a revoked
answer with a good or unknown one (except a released certificateHold), nor a newer
answer with an older one, whatever the caller does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from revocd.evidence import CrlEvidence, CrlMeta
from revocd.revoked import RevokedIndex
from revocd.status.answer import StickyRevocation
from revocd.upstream.verify import UpstreamAnswer


@dataclass(frozen=True, slots=True)
class Validators:
    """HTTP validators of the last accepted body, for conditional GET."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """What the store remembers about one source (no index, no DER: cheap to load)."""

    source_id: str
    meta: CrlMeta | None
    validators: Validators
    last_success: datetime | None
    last_error: str | None
    last_error_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoredUpstream:
    """An accepted upstream OCSP answer and the URL that gave it."""

    url: str
    answer: UpstreamAnswer


@dataclass(frozen=True, slots=True)
class StoredIssuer:
    """An issuer's state at start-up: its newest accepted CRL (with index) and sticky set."""

    issuer_id: str
    crl: CrlMeta | None
    index: RevokedIndex
    sticky: dict[bytes, StickyRevocation]


class Store(Protocol):
    async def open(self) -> None:
        """Connect, create or migrate the schema. Raises StoreError naming what failed."""
        ...

    async def close(self) -> None: ...

    async def load_sources(self) -> dict[str, SourceRecord]:
        """Every source the store knows, by `Source.id`."""
        ...

    async def load_issuer(self, issuer_id: str, source_ids: Sequence[str]) -> StoredIssuer:
        """The newest accepted CRL among `source_ids` (CRL number, then thisUpdate), with its
        index, and the issuer's sticky revocations."""
        ...

    async def load_der(self, source_id: str) -> bytes | None:
        """The raw DER of the source's accepted CRL, exactly as accepted (None: none yet).
        Not read at start-up: for pass-through, audit and re-indexing."""
        ...

    async def accept_crl(
        self,
        issuer_id: str,
        source_id: str,
        evidence: CrlEvidence,
        validators: Validators,
        sticky: Sequence[StickyRevocation],
    ) -> None:
        """Persist an accepted CRL for a source (replacing its previous one) and add sticky
        revocations for the issuer, atomically and durably."""
        ...

    async def record_success(self, source_id: str, at: datetime) -> None:
        """A fetch succeeded without new evidence (HTTP 304 or identical bytes)."""
        ...

    async def record_failure(self, source_id: str, at: datetime, error: str) -> None:
        """A fetch failed or its CRL was rejected; the accepted evidence is untouched."""
        ...

    async def save_upstream(
        self, issuer_id: str, url: str, answer: UpstreamAnswer, at: datetime
    ) -> None:
        """Persist an accepted upstream answer for (issuer, its serial), durably, replacing
        the previous one unless that one was revoked (and not a hold released by a good)
        or is newer."""
        ...

    async def load_upstream(self, issuer_id: str) -> list[StoredUpstream]:
        """Every upstream answer persisted for the issuer."""
        ...

    async def prune_upstream(self, issuer_id: str, expired_before: datetime) -> int:
        """Delete the issuer's persisted answers that are not `revoked` and whose
        nextUpdate is before `expired_before` (past their grace: never fresh again, so
        never served again); return how many. Revoked answers are kept: they are what
        survives a partner's responder being down."""
        ...
