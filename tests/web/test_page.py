"""The freshness page at GET /, as HTML: what it says, what it escapes, what it may load.

The browser test (test_page_browser.py) checks what a person sees; these check the
markup and headers behind it, against the world of conftest.py (clock at T0 + 2 h, acme's
CRL T0 .. T0 + 1 day, grace 1 h).
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from revocd.web.page import PAGE_HEADERS, SCRIPT, STYLE, relative, render_page, span
from tests.support.pki import T0
from tests.web.conftest import ACME_MIRROR, ACME_URL, GLOBEX_URL, ClientFactory, World, build_world

Client = TestClient[Any, Any]


def row(page: str, url: str) -> str:
    """The table row of the source at `url`."""
    rows = [r for r in re.findall(r"<tr .*?</tr>", page, re.S) if f">{url}</span>" in r]
    assert len(rows) == 1, f"{url}: {len(rows)} rows"
    found: str = rows[0]
    return found


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


async def get_page(client: Client, path: str = "/") -> str:
    response = await client.get(path)
    assert (response.status, response.content_type) == (200, "text/html")
    return await response.text()


async def test_a_source_shows_its_times_relative_to_the_clock(client: Client) -> None:
    acme = row(await get_page(client), ACME_URL)
    assert 'data-state="fresh"' in acme
    assert '<span class="badge fresh">fresh</span>' in acme
    assert 'data-label="nextUpdate"><time datetime="2026-01-02T00:00:00Z"' in acme
    assert ">in 22h</time>" in acme  # nextUpdate T0 + 1 day, now T0 + 2 h
    assert ">in 23h</time>" in acme  # grace ends an hour later
    assert ">2h ago</time>" in acme  # last success at T0
    assert '<td data-label="CRL #">42<br><span class="sub">issued 2h ago</span>' in acme
    assert '<td data-label="entries">4</td>' in acme
    never = row(await get_page(client), GLOBEX_URL)
    assert '<span class="badge none">none</span>' in never
    assert "<time" not in never


@pytest.mark.parametrize(
    ("after", "state", "next_update", "grace_end"),
    [
        (timedelta(hours=21, minutes=48), "fresh", "in 12m", "in 1h 12m"),
        (timedelta(hours=22, minutes=30), "stale", "30m ago", "in 30m"),
        (timedelta(hours=22, minutes=50), "expiring", "50m ago", "in 10m"),
        (timedelta(hours=23, minutes=0, seconds=5), "expired", "1h ago", "5s ago"),
    ],
    ids=["fresh", "stale", "expiring", "expired"],
)
async def test_the_state_follows_the_clock(
    client: Client, world: World, after: timedelta, state: str, next_update: str, grace_end: str
) -> None:
    world.clock.set(world.clock.now() + after)
    acme = row(await get_page(client), ACME_URL)
    assert f'data-state="{state}"' in acme
    assert f'<span class="badge {state}">{state}</span>' in acme
    assert f">{next_update}</time>" in acme
    assert f">{grace_end}</time>" in acme


async def test_the_last_error_shows_its_reason_and_failing_is_marked(
    client: Client, world: World
) -> None:
    world.board.update(
        world.source("acme-issuing", ACME_MIRROR),
        failing=True,
        behind=True,
        last_error="CRL number 41 is lower than accepted 42",
        last_error_at=T0,
        last_reject_reason="rollback",
    )
    page = await get_page(client)
    mirror = row(page, ACME_MIRROR)
    assert mirror.startswith('<tr class="failing behind" data-state="none"')
    assert '<span class="flag failing">failing</span><span class="flag behind">behind</span>' in (
        mirror
    )
    assert (
        '<span class="reason">rollback</span>: CRL number 41 is lower than accepted 42'
        '<br><span class="when">at 2026-01-01T00:00:00Z (2h ago)</span>'
    ) in mirror
    assert "rollback" in re.search(r'data-filter="([^"]*)"', mirror).group(1)  # type: ignore[union-attr]
    assert "Sources: 1 failing, 1 fresh, 2 none." in page


def test_an_ocsp_source_shows_its_health() -> None:
    source = {
        "type": "ocsp",
        "url": "http://ocsp.acme.example/",
        "freshness": "none",
        "failing": True,
        "behind": False,
        "last_success": None,
        "last_error": "no answer in 5s",
        "last_error_at": "2026-01-01T00:00:00Z",
        "last_reject_reason": None,
        "crl_number": None,
        "this_update": None,
        "next_update": None,
        "entry_count": None,
        "health": "failing",
        "reason": "timeout",
    }
    data = {
        "partners": [
            {"name": "acme", "grace_seconds": 3600, "issuers": [{"name": "a", "sources": [source]}]}
        ],
        "checked_at": "2026-01-01T00:01:00Z",
    }
    page = render_page(data, T0 + timedelta(minutes=1))
    assert '<span class="badge failing">ocsp failing</span>' in page
    assert '<span class="reason">timeout</span>: no answer in 5s' in page
    assert "Sources: 1 failing, 1 ocsp failing." in page


async def test_hostile_names_are_text(aiohttp_client: ClientFactory) -> None:
    hostile = '<script>alert("acme")</script>'
    world = build_world(acme_name=hostile, globex_name="globex & <b>co</b>")
    world.board.update(
        world.source("acme-issuing", ACME_URL),
        last_error="<img src=x onerror=alert(1)>",
        last_reject_reason='"><svg onload=alert(1)>',
    )
    page = await get_page(await aiohttp_client(world.app))
    assert page.count("<script") == 1  # the page's own, and it is exactly the hashed text
    assert f"<script>{SCRIPT}</script>" in page
    for markup in ("<b>", "<img", "<svg"):
        assert markup not in page
    assert '<td data-label="partner">&lt;script&gt;alert(&quot;acme&quot;)&lt;/script&gt;' in page
    assert "globex &amp; &lt;b&gt;co&lt;/b&gt;" in page
    assert 'data-filter="&lt;script&gt;alert(&quot;acme&quot;)&lt;/script&gt; acme-issuing' in page
    assert '<span class="reason">&quot;&gt;&lt;svg onload=alert(1)&gt;</span>' in page


async def test_the_csp_allows_exactly_the_inline_style_and_script(client: Client) -> None:
    response = await client.get("/")
    page = await response.text()
    policy = dict(
        [*d.split(" ", 1), ""][:2] for d in response.headers["Content-Security-Policy"].split("; ")
    )
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    styles = re.findall(r"<style>(.*?)</style>", page, re.S)
    assert (scripts, styles) == ([SCRIPT], [STYLE])
    assert policy == {
        "default-src": "'none'",
        "script-src": csp_hash(scripts[0]),
        "style-src": csp_hash(styles[0]),
        "connect-src": "'self'",  # the script refreshes the table from this same page
        "frame-ancestors": "'none'",
        "base-uri": "'none'",
        "form-action": "'none'",
    }
    assert "unsafe" not in response.headers["Content-Security-Policy"]
    markup = re.sub(r"<script>.*?</script>", "", page, flags=re.S)
    assert not re.search(r"\s(?:style|on\w+)=", markup)  # no inline style or handler
    for header in ("X-Content-Type-Options", "Cache-Control", "Referrer-Policy"):
        assert response.headers[header] == PAGE_HEADERS[header]


async def test_nothing_comes_from_elsewhere(client: Client) -> None:
    page = await get_page(client)
    targets = re.findall(r'\b(?:href|src|action)="([^"]*)"', page)
    assert targets == ["/v1/partners", "/openapi.json", "/metrics"]
    assert "@import" not in STYLE
    assert "url(" not in STYLE
    assert "http" not in SCRIPT  # fetches only this page's own path


async def test_without_scripts_it_reloads_itself_and_has_no_filter_box(client: Client) -> None:
    page = await get_page(client)
    assert '<noscript><meta http-equiv="refresh" content="30"></noscript>' in page
    assert '<body data-refresh="30">' in page
    assert "<input" not in page  # page.js adds the filter box
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page


@pytest.mark.parametrize(
    ("query", "seconds"),
    [("5", 5), ("0", 1), ("99999", 3600), ("-3", 30), ("soon", 30), ("", 30)],
    ids=["5s", "floor", "ceiling", "negative", "word", "empty"],
)
async def test_the_refresh_interval_is_a_bounded_parameter(
    client: Client, query: str, seconds: int
) -> None:
    page = await get_page(client, f"/?refresh={query}")
    assert f'<body data-refresh="{seconds}">' in page
    assert f'<meta http-equiv="refresh" content="{seconds}">' in page


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(0), "now"),
        (timedelta(seconds=45), "in 45s"),
        (timedelta(seconds=-45), "45s ago"),
        (timedelta(minutes=12, seconds=5), "in 12m 5s"),
        (timedelta(hours=3, minutes=12, seconds=59), "in 3h 12m"),
        (timedelta(hours=3), "in 3h"),
        (-timedelta(days=2, hours=4, minutes=1), "2d 4h ago"),
        (timedelta(days=400), "in 400d"),
    ],
    ids=str,
)
def test_relative_times(delta: timedelta, text: str) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert relative(now + delta, now) == text


def test_span_uses_two_units_at_most() -> None:
    assert [span(s) for s in (0, 59, 60, 3599, 3600, 86399, 86400)] == [
        "0s",
        "59s",
        "1m",
        "59m 59s",
        "1h",
        "23h 59m",
        "1d",
    ]
