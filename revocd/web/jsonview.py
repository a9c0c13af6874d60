"""Answers and partner state as JSON-ready dicts (the field names are a public interface)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from revocd.evidence import CrlMeta, RevocationReason
from revocd.model import Partner, Source, SourceKind
from revocd.serials import serial_hex
from revocd.status.answer import Answer
from revocd.status.board import SourceBoard, SourceState
from revocd.status.cache import StatusCache
from revocd.status.freshness import condition, freshness
from revocd.upstream.health import HealthBoard, SourceHealth


def iso(when: datetime | None) -> str | None:
    """RFC 3339 in UTC with `Z`, whole seconds (what CRLs and OCSP carry)."""
    if when is None:
        return None
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def reason_name(code: int | None) -> str | None:
    if code is None:
        return None
    try:
        return RevocationReason(code).rfc_name
    except ValueError:
        return f"reason{code}"


def answer_json(answer: Answer, partner: str, now: datetime) -> dict[str, Any]:
    source = answer.source
    return {
        "status": answer.status.value,
        "issuer": answer.issuer,
        "partner": partner,
        "serial": serial_hex(answer.serial),
        "revoked_at": iso(answer.revoked_at),
        "reason": reason_name(answer.reason),
        "this_update": iso(answer.this_update),
        "next_update": iso(answer.next_update),
        "freshness": answer.freshness.value,
        "unknown_reason": answer.unknown_reason.value if answer.unknown_reason else None,
        "source": (
            {"type": source.type.value, "url": source.url, "crl_number": source.crl_number}
            if source
            else None
        ),
        "checked_at": iso(now),
    }


def error_json(code: str, message: str) -> dict[str, Any]:
    return {"error": code, "message": message}


def _meta_fields(meta: CrlMeta | None) -> dict[str, Any]:
    return {
        "crl_number": meta.crl_number if meta else None,
        "this_update": iso(meta.this_update) if meta else None,
        "next_update": iso(meta.next_update) if meta else None,
        "entry_count": meta.entry_count if meta else None,
    }


def source_json(
    state: SourceState, partner: Partner, now: datetime, expiring_before: timedelta
) -> dict[str, Any]:
    """`state` is `freshness` with `expiring` (the last `expiring_before` of the grace):
    what the alerts, the metrics and the page call the source."""
    meta = state.meta
    next_update, grace = (meta.next_update if meta else None), partner.policy.grace
    return {
        "type": state.source.kind.value,
        "url": state.source.url,
        "freshness": freshness(next_update, now, grace).value,
        "state": condition(next_update, now, grace, expiring_before).value,
        "failing": state.failing,
        "behind": state.behind,
        "last_success": iso(state.last_success),
        "last_error": state.last_error,
        "last_error_at": iso(state.last_error_at),
        "last_reject_reason": state.last_reject_reason,
        **_meta_fields(meta),
    }


def ocsp_source_json(
    state: SourceState,
    partner: Partner,
    now: datetime,
    expiring_before: timedelta,
    health: SourceHealth | None,
) -> dict[str, Any]:
    """An upstream OCSP source: the CRL source's fields (no CRL: freshness none), with its
    health (`ok`, `failing`, `unknown`: not asked yet) from real queries and probes."""
    out = source_json(state, partner, now, expiring_before)
    if health is None:  # upstream not running (yet): say nothing we do not know
        return {**out, "health": "unknown", "reason": None}
    return {
        **out,
        "failing": health.state.value == "failing",
        "last_success": iso(health.last_success),
        "last_error": health.last_error,
        "last_error_at": iso(health.last_error_at),
        "health": health.state.value,
        "reason": health.last_reason,
        "consecutive_failures": health.consecutive_failures,
    }


def partners_json(
    partners: tuple[Partner, ...],
    cache: StatusCache,
    board: SourceBoard,
    now: datetime,
    expiring_before: timedelta,
    health: HealthBoard | None = None,
) -> dict[str, Any]:
    out = []
    for partner in partners:
        issuers = []
        for issuer in partner.issuers:
            evidence = cache.evidence(issuer.name)
            sources: list[Source] = list(issuer.sources)
            issuers.append(
                {
                    "name": issuer.name,
                    "subject": issuer.cert.subject.rfc4514_string(),
                    "key_sha1": issuer.key.key_sha1.hex(),
                    "key_sha256": issuer.key.key_sha256.hex(),
                    "freshness": evidence.freshness(now).value,
                    **_meta_fields(evidence.crl),
                    "sticky_count": len(evidence.sticky),
                    "sources": [
                        ocsp_source_json(
                            board.get(s),
                            partner,
                            now,
                            expiring_before,
                            health.get(s) if health else None,
                        )
                        if s.kind is SourceKind.OCSP
                        else source_json(board.get(s), partner, now, expiring_before)
                        for s in sources
                    ],
                }
            )
        out.append(
            {
                "name": partner.name,
                "grace_seconds": int(partner.policy.grace.total_seconds()),
                "poll_interval_seconds": int(partner.policy.poll_interval.total_seconds()),
                "issuers": issuers,
            }
        )
    return {"partners": out, "checked_at": iso(now)}
