"""Fetching one CRL source with its partner's limits; errors name the source."""

from __future__ import annotations

from revocd.fetch.transport import FetchResult, Transport
from revocd.model import Policy, Source
from revocd.store.base import Validators


async def fetch_crl(
    transport: Transport, source: Source, policy: Policy, validators: Validators | None
) -> FetchResult:
    """Raises FetchError; callers prefix `source.describe()` to its `detail`."""
    return await transport.get(
        source.url,
        max_bytes=policy.max_crl_bytes,
        timeout=policy.timeout,
        validators=validators,
    )
