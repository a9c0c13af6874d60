"""fetch_crl: a partner's policy sets the cap and the deadline; errors name the source."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from revocd.errors import FetchError
from revocd.fetch.crl import SourceFetchError, fetch_crl
from revocd.model import Policy, Source, SourceKind
from tests.support.partner import Mode, PartnerServer

POLICY = Policy(
    poll_interval=timedelta(minutes=5),
    grace=timedelta(hours=1),
    timeout=timedelta(seconds=5),
    max_crl_bytes=4096,
    clock_skew=timedelta(minutes=5),
)
CRL = b"\x30\x82\x0f\xfc" + bytes(4092)  # exactly 4096 bytes


def source_for(url: str) -> Source:
    return Source("acme", "acme-issuing", SourceKind.CRL, url)


async def test_a_crl_within_the_policy_is_fetched(partner_server: PartnerServer, transport):
    source = source_for(partner_server.publish("/issuing.crl", CRL))
    result = await fetch_crl(transport, source, POLICY, None)
    assert result.body == CRL
    again = await fetch_crl(transport, source, POLICY, result.validators)
    assert again.body is None


@pytest.mark.parametrize(
    ("policy", "mode", "kind", "words"),
    [
        pytest.param(
            replace(POLICY, max_crl_bytes=4095),
            Mode.OK,
            "oversize",
            "max_crl_bytes 4095 bytes (Content-Length says 4 KiB)",
            id="max-crl-bytes",
        ),
        pytest.param(
            replace(POLICY, timeout=timedelta(seconds=0.2)),
            Mode.HANG,
            "timeout",
            "within timeout 0.2s",
            id="timeout",
        ),
        pytest.param(POLICY, Mode.HTTP_500, "http_status", "HTTP 500", id="http-status"),
    ],
)
async def test_errors_name_the_source(partner_server, transport, policy, mode, kind, words):
    url = partner_server.publish("/issuing.crl", CRL)
    partner_server.misbehave("/issuing.crl", mode)
    source = source_for(url)
    with pytest.raises(FetchError) as caught:
        await fetch_crl(transport, source, policy, None)
    error = caught.value
    assert isinstance(error, SourceFetchError)
    assert (error.kind, error.url, error.source) == (kind, url, source)
    assert str(error).startswith(f"partner acme / issuer acme-issuing / {url}: ")
    assert str(error).count(url) == 1
    assert words in str(error)
    # detail is unprefixed: a caller composing its own line does not repeat the source
    assert not error.detail.startswith("partner")
