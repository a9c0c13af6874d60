"""The OCSP responder: request bytes -> signed response bytes. No aiohttp here.

Answers come from the same status cache and rules as the JSON API. Times (SPEC.md):
thisUpdate is the evidence's thisUpdate; nextUpdate is the evidence's nextUpdate while
fresh, and min(nextUpdate + grace, now + max_age) while stale, so strict clients keep
working through the operator's grace. `unknown` answers (no usable evidence) claim nothing:
thisUpdate now, nextUpdate one minute later (nextUpdate is always set: Envoy treats a
response without one as expired). A revoked answer from expired evidence is still revoked
(revocation is permanent) and is valid for max_age.

Responses without a nonce are signed once and reused (see `_presigned`): signing per
request is the slow path. Concurrent requests for the same uncached CertIDs wait for one
signature instead of each making their own; RSA signatures are made in a thread so the
event loop keeps serving meanwhile. One response has one signer. A request whose CertIDs belong to
issuers with different signers, to an issuer revocd does not serve, or to an issuer with
no signing identity gets `unauthorized`.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from revocd.model import Issuer
from revocd.ocsp.asn1 import MalformedRequest, OcspRequest, parse_request
from revocd.ocsp.encode import (
    ResponseStatus,
    Single,
    error_response,
    ocsp_response,
    response_data,
)
from revocd.ocsp.signing import Signer
from revocd.status.answer import Answer, CertStatus, IssuerEvidence
from revocd.status.cache import StatusCache
from revocd.status.freshness import Freshness

UNKNOWN_VALIDITY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class ResponderPolicy:
    max_age: timedelta = timedelta(hours=1)
    nonce: str = "echo"  # echo | ignore


@dataclass(frozen=True, slots=True)
class Reply:
    body: bytes
    status: ResponseStatus
    cacheable: bool = False  # signed, without a nonce: may be cached and reused
    presigned: bool = False  # served from the pre-signed cache, no signature made
    this_update: datetime | None = None
    next_update: datetime | None = None  # the earliest among the SingleResponses


class Responder:
    def __init__(
        self,
        cache: StatusCache,
        signers: Mapping[str, Signer],
        grace: Mapping[str, timedelta],
        policy: ResponderPolicy,
        max_presigned: int = 100_000,
    ) -> None:
        self._cache = cache
        self._signers = signers
        self._grace = grace
        self._policy = policy
        self._max_presigned = max_presigned
        # Pre-signed responses by exact CertIDs, with the evidence objects they were signed
        # from: a new CRL for an issuer installs a new IssuerEvidence, so exactly the
        # responses it affects stop matching. Reused only until their nextUpdate.
        self._presigned: OrderedDict[
            tuple[bytes, ...], tuple[tuple[IssuerEvidence, ...], Reply]
        ] = OrderedDict()
        self._signing: dict[tuple[tuple[bytes, ...], tuple[int, ...]], asyncio.Future[Reply]] = {}
        # The same, by the request's exact bytes (requests without a nonce only): most
        # clients send byte-identical requests for a certificate, and a hit here skips
        # parsing too. Checked against the current evidence exactly like `_presigned`.
        self._by_request: OrderedDict[
            bytes, tuple[tuple[str, ...], tuple[IssuerEvidence, ...], Reply]
        ] = OrderedDict()

    async def respond(self, data: bytes, now: datetime) -> Reply:
        if not self._cache.ready:
            return Reply(error_response(ResponseStatus.TRY_LATER), ResponseStatus.TRY_LATER)
        known = self._by_request.get(data)
        if known is not None:
            names, signed_from, reply = known
            if (
                reply.next_update is not None
                and now < reply.next_update
                and all(
                    self._cache.evidence(n) is e for n, e in zip(names, signed_from, strict=True)
                )
            ):
                self._by_request.move_to_end(data)
                return reply
        return await self._respond(data, now)

    def _remember(
        self, data: bytes, issuers: list[Issuer], evidence: tuple[IssuerEvidence, ...], reply: Reply
    ) -> None:
        names = tuple(i.name for i in issuers)
        self._by_request[data] = (names, evidence, reply)
        if len(self._by_request) > self._max_presigned:
            self._by_request.popitem(last=False)

    async def _respond(self, data: bytes, now: datetime) -> Reply:
        try:
            request = parse_request(data)
        except MalformedRequest:
            return _error(ResponseStatus.MALFORMED_REQUEST)
        issuers = self._issuers(request)
        if issuers is None:
            return _error(ResponseStatus.UNAUTHORIZED)
        signers = {id(self._signers.get(i.name)) for i in issuers}
        signer = self._signers.get(issuers[0].name)
        if signer is None or len(signers) != 1:
            return _error(ResponseStatus.UNAUTHORIZED)
        nonce = request.nonce_extension if self._policy.nonce == "echo" else None
        key = tuple(c.der for c in request.cert_ids)
        evidence = tuple(self._cache.evidence(i.name) for i in issuers)
        if nonce is not None:
            return await self._sign(request, issuers, signer, nonce, now)
        hit = self._presigned.get(key)
        # `is`: the very evidence objects it was signed from (a new CRL makes new ones)
        if hit is not None and all(a is b for a, b in zip(hit[0], evidence, strict=True)):
            cached = hit[1]
            if cached.next_update is not None and now < cached.next_update:
                self._presigned.move_to_end(key)
                if request.nonce_extension is None:  # the same bytes will come again
                    self._remember(data, issuers, evidence, cached)
                return cached
        flight = (key, tuple(id(e) for e in evidence))
        task = self._signing.get(flight)
        if task is not None:  # someone else is signing exactly this: share it
            return replace(await asyncio.shield(task), presigned=True)
        # A task, not this request's coroutine: a client that hangs up must not cancel the
        # signature that other requests are waiting for.
        task = asyncio.ensure_future(self._sign(request, issuers, signer, None, now))
        self._signing[flight] = task
        task.add_done_callback(lambda done: self._signed(flight, evidence, done))
        return await asyncio.shield(task)

    def _signed(
        self,
        flight: tuple[tuple[bytes, ...], tuple[int, ...]],
        evidence: tuple[IssuerEvidence, ...],
        task: asyncio.Future[Reply],
    ) -> None:
        del self._signing[flight]
        if task.cancelled() or task.exception() is not None:
            return
        self._presigned[flight[0]] = (evidence, replace(task.result(), presigned=True))
        if len(self._presigned) > self._max_presigned:
            self._presigned.popitem(last=False)

    async def _sign(
        self,
        request: OcspRequest,
        issuers: list[Issuer],
        signer: Signer,
        nonce: bytes | None,
        now: datetime,
    ) -> Reply:
        singles = [
            self._single(cert_id.der, issuer, self._cache.answer(issuer, cert_id.serial, now), now)
            for cert_id, issuer in zip(request.cert_ids, issuers, strict=True)
        ]
        tbs = response_data(signer.key_hash, now, singles, nonce)
        if signer.slow:
            signature = await asyncio.to_thread(signer.sign, tbs)
        else:
            signature = signer.sign(tbs)
        return Reply(
            ocsp_response(tbs, signer.algorithm, signature, signer.certs()),
            ResponseStatus.SUCCESSFUL,
            cacheable=nonce is None,
            this_update=max(s.this_update for s in singles),
            next_update=min(s.next_update for s in singles),
        )

    def _issuers(self, request: OcspRequest) -> list[Issuer] | None:
        found = []
        for cert_id in request.cert_ids:
            issuer = self._cache.find_by_ocsp_id(cert_id.name_hash, cert_id.key_hash)
            if issuer is None:
                return None
            found.append(issuer)
        return found

    def _single(self, cert_id: bytes, issuer: Issuer, answer: Answer, now: datetime) -> Single:
        this, evidence_next = answer.this_update, answer.next_update
        if answer.status is CertStatus.UNKNOWN:
            return Single(cert_id, "unknown", now, now + UNKNOWN_VALIDITY)
        if this is None or evidence_next is None:  # sticky revocation, no CRL in force
            this, next_update = now, now + self._policy.max_age
        elif answer.freshness is Freshness.FRESH:
            next_update = evidence_next
        elif answer.freshness is Freshness.STALE:
            next_update = min(evidence_next + self._grace[issuer.name], now + self._policy.max_age)
        else:  # revoked from expired evidence: revocation does not expire
            next_update = now + self._policy.max_age
        return Single(
            cert_id,
            answer.status.value,
            this,
            max(next_update, this),
            revoked_at=answer.revoked_at,
            reason=answer.reason,
        )


def _error(status: ResponseStatus) -> Reply:
    return Reply(error_response(status), status)
