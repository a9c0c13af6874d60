"""Fetching one CRL source with its partner's limits; errors name the source.

Thin on purpose: the policy supplies the cap (`max_crl_bytes`) and the deadline
(`timeout`); the transport does the bounded work. What this adds is the operator's view
of a failure: "partner acme / issuer acme-issuing / http://...: HTTP 503 ...".
"""

from __future__ import annotations

from revocd.errors import FetchError
from revocd.fetch.transport import FetchResult, Transport
from revocd.model import Policy, Source
from revocd.store.base import Validators


class SourceFetchError(FetchError):
    """A FetchError that knows its source: `str()` starts with `source.describe()`.

    `kind`, `url` and `detail` are those of the transport's error (detail unprefixed, so
    a caller that builds its own line does not repeat the source).
    """

    def __init__(self, source: Source, error: FetchError) -> None:
        super().__init__(error.kind, error.url, error.detail)
        self.source = source
        # FetchError's message is "url: detail"; describe() already names the URL.
        self.args = (f"{source.describe()}: {error.detail}",)


async def fetch_crl(
    transport: Transport, source: Source, policy: Policy, validators: Validators | None
) -> FetchResult:
    """Fetch `source` within `policy`'s size cap and timeout.

    Raises `SourceFetchError` (a FetchError) whose message names the source.
    """
    try:
        return await transport.get(
            source.url,
            max_bytes=policy.max_crl_bytes,
            timeout=policy.timeout,
            validators=validators,
        )
    except FetchError as error:
        raise SourceFetchError(source, error) from error
