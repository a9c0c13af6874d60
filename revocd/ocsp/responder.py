"""The OCSP responder: request bytes -> signed response bytes. No aiohttp here.

Answers come from the same status cache and rules as the JSON API. Times (SPEC.md):
thisUpdate is the evidence's thisUpdate; nextUpdate is the evidence's nextUpdate while
fresh, and min(nextUpdate + grace, now + max_age) while stale, so strict clients keep
working through the operator's grace. `unknown` answers (no usable evidence) claim nothing:
thisUpdate now, nextUpdate one minute later (nextUpdate is always set: Envoy treats a
response without one as expired). A revoked answer from expired evidence is still revoked
(revocation is permanent) and is valid for max_age.

Answers come from `Answers` (upstream/answers.py): the CRL evidence combined with a
partner's own OCSP responder, so an OCSP-only issuer is answered from upstream and revoked
in any evidence wins. A SingleResponse decided by an upstream answer carries that answer's
thisUpdate and nextUpdate (stale: the same grace rule as CRLs), never more.

Pass-through issuers (`signing = "passthrough"`): a request with one CertID whose
upstream answer is fresh, says what revocd would say, and answers exactly that CertID
with no nonce (ocsp/passthrough.py) gets the partner's response byte for byte; any other
request is signed by the issuer's `passthrough_fallback` signer.

Responses without a nonce are signed once and reused (see `_presigned`): signing per
request is the slow path. A pre-signed response is reused only while the evidence objects
it was decided from (the issuer's IssuerEvidence, and the upstream answer for each
serial of an issuer with `ocsp` URLs) are still the ones in force. Concurrent requests
for the same uncached CertIDs wait for one signature instead of each making their own;
RSA signatures are made in a thread so the event loop keeps serving meanwhile. One
response has one signer. A request whose CertIDs belong to
issuers with different signers, to an issuer revocd does not serve, or to an issuer with
no signing identity gets `unauthorized`.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from revocd.model import Issuer, SigningMode
from revocd.ocsp.asn1 import CertId, MalformedRequest, OcspRequest, parse_request
from revocd.ocsp.encode import (
    ResponseStatus,
    Single,
    error_response,
    ocsp_response,
    response_data,
)
from revocd.ocsp.passthrough import relayable
from revocd.ocsp.signing import Signer
from revocd.status.answer import Answer, CertStatus, IssuerEvidence
from revocd.status.cache import StatusCache
from revocd.status.freshness import Freshness
from revocd.upstream.answers import Answers, Decided

# What a pre-signed response was made from, compared with `is`: per CertID, the issuer's
# IssuerEvidence, then (issuers with ocsp URLs) the upstream answer or None.
Identity = tuple[object, ...]
Targets = tuple[tuple[Issuer, bytes], ...]  # (issuer, serial) per CertID

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


# The response another process (the primary) made for exactly these request bytes, or
# None when it could not say in time.
SignerOfRecord = Callable[[bytes], Awaitable["Reply | None"]]


class Responder:
    def __init__(
        self,
        cache: StatusCache,
        signers: Mapping[str, Signer],
        grace: Mapping[str, timedelta],
        policy: ResponderPolicy,
        max_presigned: int = 100_000,
        answers: Answers | None = None,
        signer_of_record: SignerOfRecord | None = None,
    ) -> None:
        """`signer_of_record`: a replica's way to the primary, which makes every response
        a replica would pre-sign, so that every process serves the same bytes for a
        response (one ETag, whichever process a client's revalidation reaches)."""
        self._cache = cache
        self._signer_of_record = signer_of_record
        self._answers = answers or Answers(cache, {})
        self._signers = signers
        self._grace = grace
        self._policy = policy
        self._max_presigned = max_presigned
        # Pre-signed responses by exact CertIDs, with the evidence objects they were signed
        # from: a new CRL for an issuer installs a new IssuerEvidence, so exactly the
        # responses it affects stop matching. Reused only until their nextUpdate.
        self._presigned: OrderedDict[tuple[bytes, ...], tuple[Identity, Reply]] = OrderedDict()
        self._signing: dict[tuple[tuple[bytes, ...], tuple[int, ...]], asyncio.Future[Reply]] = {}
        # The same, by the request's exact bytes (requests without a nonce only): most
        # clients send byte-identical requests for a certificate, and a hit here skips
        # parsing too. Checked against the current evidence exactly like `_presigned`.
        self._by_request: OrderedDict[bytes, tuple[Targets, Identity, Reply]] = OrderedDict()

    def reconfigure(
        self,
        signers: Mapping[str, Signer],
        grace: Mapping[str, timedelta],
        policy: ResponderPolicy,
        forget: Iterable[str],
    ) -> None:
        """A reload: new signers, graces and policy, all at once. Pre-signed responses of
        the issuers in `forget` (signer changed, removed, certificate replaced) are dropped;
        all of them when the policy (max_age, nonce) changed. The others stay valid: they
        are still checked against the evidence in force."""
        names = set(forget)
        if policy != self._policy:
            self._presigned.clear()
            self._by_request.clear()
        elif names:
            self._presigned = OrderedDict(
                (key, hit) for key, hit in self._presigned.items() if not _about(hit[0], names)
            )
            self._by_request = OrderedDict(
                (data, known)
                for data, known in self._by_request.items()
                if not any(issuer.name in names for issuer, _ in known[0])
            )
        self._signers, self._grace, self._policy = signers, grace, policy

    async def respond(self, data: bytes, now: datetime) -> Reply:
        if not self._cache.ready:
            return Reply(error_response(ResponseStatus.TRY_LATER), ResponseStatus.TRY_LATER)
        return self.presigned_reply(data, now) or await self._respond(data, now)

    def presigned_reply(self, data: bytes, now: datetime) -> Reply | None:
        """The pre-signed response to exactly these request bytes, if one is still in
        force; None when the request must go through `respond`. Never signs, never waits:
        the hot path (web/hot_get.py) calls it straight from a connection's protocol."""
        known = self._by_request.get(data)
        if known is None or not self._cache.ready:
            return None
        targets, signed_from, reply = known
        if (
            reply.next_update is not None
            and now < reply.next_update
            and _same(self._identity(targets), signed_from)
        ):
            self._by_request.move_to_end(data)
            return reply
        return None

    def _identity(self, targets: Targets) -> Identity:
        """The evidence objects in force now for each (issuer, serial)."""
        out: list[object] = []
        for issuer, serial in targets:
            out.append(self._cache.evidence(issuer.name))
            if issuer.ocsp_urls:
                out.append(self._answers.upstream_answer(issuer, serial))
        return tuple(out)

    def _remember(
        self,
        data: bytes,
        targets: tuple[tuple[Issuer, bytes], ...],
        evidence: Identity,
        reply: Reply,
    ) -> None:
        self._by_request[data] = (targets, evidence, reply)
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
        relay = len(issuers) == 1 and issuers[0].signing is SigningMode.PASSTHROUGH
        if (signer is None and not relay) or len(signers) != 1:
            return _error(ResponseStatus.UNAUTHORIZED)
        nonce = request.nonce_extension if self._policy.nonce == "echo" else None
        key = tuple(c.der for c in request.cert_ids)
        targets = tuple((i, c.serial) for i, c in zip(issuers, request.cert_ids, strict=True))
        if nonce is None:
            hit = self._presigned.get(key)
            # `is`: the very evidence objects it was signed from (new evidence: new objects)
            if hit is not None and _same(self._identity(targets), hit[0]):
                cached = hit[1]
                if cached.next_update is not None and now < cached.next_update:
                    self._presigned.move_to_end(key)
                    if request.nonce_extension is None:  # the same bytes will come again
                        self._remember(data, targets, hit[0], cached)
                    return cached
        decided = await self._decide(request, issuers, now)
        evidence = _identity_of(issuers, decided)
        if relay:
            relayed = self._relay(request, decided[0], nonce, now)
            if relayed is not None:
                if relayed.cacheable:  # the same bytes, for the same request, from now on
                    self._keep(key, evidence, replace(relayed, presigned=True))
                    if request.nonce_extension is None:
                        self._remember(data, targets, evidence, replace(relayed, presigned=True))
                return relayed
            if signer is None:  # passthrough without a usable fallback signer
                return _error(ResponseStatus.UNAUTHORIZED)
        assert signer is not None
        if nonce is not None:
            return await self._sign(request, decided, issuers, signer, nonce, now)
        flight = (key, tuple(id(e) for e in evidence))
        task = self._signing.get(flight)
        if task is not None:  # someone else is signing exactly this: share it
            return replace(await asyncio.shield(task), presigned=True)
        # A task, not this request's coroutine: a client that hangs up must not cancel the
        # signature that other requests are waiting for.
        task = asyncio.ensure_future(self._presign(data, request, decided, issuers, signer, now))
        self._signing[flight] = task
        task.add_done_callback(lambda done: self._signed(flight, evidence, done))
        reply = await asyncio.shield(task)
        if request.nonce_extension is None:  # the same bytes will come again
            self._remember(data, targets, evidence, replace(reply, presigned=True))
        return reply

    async def _decide(
        self, request: OcspRequest, issuers: list[Issuer], now: datetime
    ) -> list[Decided]:
        """Each CertID's answer; several may wait on upstream at once."""
        asks = [
            self._answers.decide(issuer, cert_id.serial, now, hash_algorithm=cert_id.hash_algorithm)
            for cert_id, issuer in zip(request.cert_ids, issuers, strict=True)
        ]
        if len(asks) == 1:
            return [await asks[0]]
        return list(await asyncio.gather(*asks))

    def _relay(
        self, request: OcspRequest, decided: Decided, nonce: bytes | None, now: datetime
    ) -> Reply | None:
        """The partner's own response, when it answers exactly this request and says what
        revocd would say (a CRL revocation the partner does not know about is signed by
        revocd instead)."""
        upstream, answer = decided.upstream, decided.answer
        cert_id: CertId = request.cert_ids[0]
        if (
            upstream is None
            or upstream.status is not answer.status
            or not upstream.next_update_given
            or not upstream.this_update <= now < upstream.next_update
            or not relayable(upstream.der, cert_id, request.nonce if nonce is not None else None)
        ):
            return None
        return Reply(
            upstream.der,
            ResponseStatus.SUCCESSFUL,
            cacheable=not upstream.has_nonce,
            this_update=upstream.this_update,
            next_update=upstream.next_update,
        )

    def _signed(
        self,
        flight: tuple[tuple[bytes, ...], tuple[int, ...]],
        evidence: Identity,
        task: asyncio.Future[Reply],
    ) -> None:
        del self._signing[flight]
        if task.cancelled() or task.exception() is not None:
            return
        self._keep(flight[0], evidence, replace(task.result(), presigned=True))

    def _keep(self, key: tuple[bytes, ...], evidence: Identity, reply: Reply) -> None:
        self._presigned[key] = (evidence, reply)
        if len(self._presigned) > self._max_presigned:
            self._presigned.popitem(last=False)

    async def _presign(
        self,
        data: bytes,
        request: OcspRequest,
        decided: list[Decided],
        issuers: list[Issuer],
        signer: Signer,
        now: datetime,
    ) -> Reply:
        """A response to pre-sign: the signer of record's, when there is one and it gives
        a signed, reusable response still in force (made from evidence at least as new as
        ours: the primary is where evidence comes from); else signed here."""
        if self._signer_of_record is not None:
            made = await self._signer_of_record(data)
            if (
                made is not None
                and made.status is ResponseStatus.SUCCESSFUL
                and made.cacheable
                and made.next_update is not None
                and now < made.next_update
            ):
                return replace(made, presigned=False)
        return await self._sign(request, decided, issuers, signer, None, now)

    async def _sign(
        self,
        request: OcspRequest,
        decided: list[Decided],
        issuers: list[Issuer],
        signer: Signer,
        nonce: bytes | None,
        now: datetime,
    ) -> Reply:
        singles = [
            self._single(cert_id.der, issuer, d.answer, now)
            for cert_id, issuer, d in zip(request.cert_ids, issuers, decided, strict=True)
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
            grace = self._grace.get(issuer.name, timedelta(0))  # removed by a reload
            next_update = min(evidence_next + grace, now + self._policy.max_age)
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


def _same(current: Identity, signed_from: Identity) -> bool:
    return len(current) == len(signed_from) and all(
        a is b for a, b in zip(current, signed_from, strict=True)
    )


def _about(identity: Identity, names: set[str]) -> bool:
    return any(isinstance(o, IssuerEvidence) and o.issuer in names for o in identity)


def _identity_of(issuers: list[Issuer], decided: list[Decided]) -> Identity:
    out: list[object] = []
    for issuer, d in zip(issuers, decided, strict=True):
        out.append(d.evidence)
        if issuer.ocsp_urls:
            out.append(d.upstream)
    return tuple(out)


def _error(status: ResponseStatus) -> Reply:
    return Reply(error_response(status), status)
