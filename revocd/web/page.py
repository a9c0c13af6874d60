"""The freshness page for people: every partner, issuer and source at a glance.

Server-rendered HTML from the same data as `/v1/partners`, with the times that matter
made relative to the injected clock ("in 3h 12m", "2m ago"): time to nextUpdate, to the
end of the grace (nextUpdate + the partner's grace), since the last success and the last
error. Each state is a colour *and* its name, so colour is never the only signal.

Nothing comes from elsewhere: the page's style and its one script (templates/page.css,
templates/page.js) are inlined, and the Content-Security-Policy allows exactly those two
texts by their SHA-256 hashes plus same-origin `fetch`, nothing else: no
'unsafe-inline', no other script, no image, frame or form target. Every value is
escaped, so a hostile partner name renders as text, and would still not run if it
escaped escaping.

The script adds a filter box and refreshes the table in place every `refresh` seconds
(default 30, `GET /?refresh=N` for 1..3600). Without scripts the page degrades to a
plain table that a `<noscript>` meta refresh reloads, with no filter box.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta
from html import escape
from importlib import resources
from string import Template
from typing import Any

DEFAULT_REFRESH = 30
MAX_REFRESH = 3600
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def _asset(name: str) -> str:
    return (resources.files("revocd.web") / "templates" / name).read_text("utf-8")


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


_TEMPLATE = Template(_asset("index.html"))
SCRIPT = _asset("page.js")
STYLE = _asset("page.css")

PAGE_HEADERS = {
    "Content-Security-Policy": f"default-src 'none'; script-src {_csp_hash(SCRIPT)}; "
    f"style-src {_csp_hash(STYLE)}; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def refresh_interval(requested: str | None) -> int:
    """`?refresh=N` seconds, clamped to 1..3600; anything else is the default 30."""
    if requested is None or not requested.isdigit():
        return DEFAULT_REFRESH
    return min(max(int(requested), 1), MAX_REFRESH)


def span(seconds: int) -> str:
    """A duration in its two largest units: 45s, 12m 5s, 3h 12m, 2d 4h (3h, not 3h 0m)."""
    for i, (name, size) in enumerate(_UNITS):
        if seconds >= size or size == 1:
            major, rest = divmod(seconds, size)
            text = f"{major}{name}"
            if i + 1 < len(_UNITS):
                minor_name, minor_size = _UNITS[i + 1]
                if rest // minor_size:
                    text += f" {rest // minor_size}{minor_name}"
            return text
    raise AssertionError("unreachable")  # pragma: no cover


def relative(when: datetime, now: datetime) -> str:
    seconds = int((when - now).total_seconds())
    if seconds == 0:
        return "now"
    return f"in {span(seconds)}" if seconds > 0 else f"{span(-seconds)} ago"


def _parse(iso: str | None) -> datetime | None:
    return datetime.fromisoformat(iso) if iso else None


def _cell(label: str, html: str, css: str = "") -> str:
    klass = f' class="{css}"' if css else ""
    return f'<td data-label="{label}"{klass}>{html}</td>'


def _time(when: datetime | None, now: datetime, prefix: str = "") -> str:
    """Relative time first (what a person reads), the absolute time under it."""
    if when is None:
        return '<span class="sub">—</span>'
    iso = escape(when.isoformat().replace("+00:00", "Z"))
    return (
        f'<time datetime="{iso}" title="{iso}">{prefix}{escape(relative(when, now))}</time>'
        f'<br><span class="sub">{iso}</span>'
    )


def _state(source: dict[str, Any]) -> tuple[str, str]:
    """(badge class, badge text): a CRL source's freshness, an OCSP source's health."""
    if source["type"] == "ocsp" and "health" in source:
        return source["health"], f"ocsp {source['health']}"
    return source["state"], source["state"]


def _error(source: dict[str, Any], reason: str | None, now: datetime) -> str:
    if not source["last_error"] and not reason:
        return ""
    code = f'<span class="reason">{escape(reason)}</span>: ' if reason else ""
    text = f"{code}{escape(source['last_error'] or '')}"
    at = _parse(source["last_error_at"])
    if at is not None:
        iso = escape(source["last_error_at"])
        text += f'<br><span class="when">at {iso} ({escape(relative(at, now))})</span>'
    return text


def _row(
    partner: dict[str, Any], issuer: dict[str, Any], source: dict[str, Any], now: datetime
) -> str:
    klass, state = _state(source)
    reason = source.get("reason") or source.get("last_reject_reason")
    flags = [f for f in ("failing", "behind") if source.get(f)]
    next_update = _parse(source["next_update"])
    this_update = _parse(source["this_update"])
    grace_end = next_update + timedelta(seconds=partner["grace_seconds"]) if next_update else None
    words = [partner["name"], issuer["name"], source["url"], source["type"], state, *flags]
    words += [reason] if reason else []
    number = "" if source["crl_number"] is None else str(source["crl_number"])
    issued = (
        f'<br><span class="sub">issued {escape(relative(this_update, now))}</span>'
        if this_update
        else ""
    )
    badges = f'<span class="badge {escape(klass)}">{escape(state)}</span>' + "".join(
        f'<span class="flag {f}">{f}</span>' for f in flags
    )
    entries = source["entry_count"]
    row_class = f' class="{" ".join(flags)}"' if flags else ""
    return (
        f'<tr{row_class} data-state="{escape(klass)}" '
        f'data-filter="{escape(" ".join(words).lower())}">'
        + _cell("partner", escape(partner["name"]))
        + _cell("issuer", escape(issuer["name"]))
        + _cell(
            "source",
            f'<span class="kind">{escape(source["type"])}</span> '
            f'<span class="url">{escape(source["url"])}</span>',
        )
        + _cell("state", badges, "state")
        + _cell("nextUpdate", _time(next_update, now))
        + _cell("grace ends", _time(grace_end, now))
        + _cell("CRL #", escape(number) + issued)
        + _cell("entries", "" if entries is None else escape(str(entries)))
        + _cell("last success", _time(_parse(source["last_success"]), now))
        + _cell("last error", _error(source, reason, now), "error")
        + "</tr>"
    )


def render_page(data: dict[str, Any], now: datetime, refresh: int = DEFAULT_REFRESH) -> str:
    """The page for `data` (what `/v1/partners` returns), with times relative to `now`."""
    rows: list[str] = []
    counts: dict[str, int] = {}
    for partner in data["partners"]:
        for issuer in partner["issuers"]:
            for source in issuer["sources"]:
                for word in (_state(source)[1], *(["failing"] if source["failing"] else [])):
                    counts[word] = counts.get(word, 0) + 1
                rows.append(_row(partner, issuer, source, now))
    summary = ", ".join(f"{n} {escape(s)}" for s, n in sorted(counts.items())) or "no sources"
    return _TEMPLATE.substitute(
        rows="\n".join(rows) or '<tr><td colspan="10">no partners configured</td></tr>',
        summary=summary,
        checked_at=escape(data["checked_at"] or ""),
        refresh=str(refresh),
        style=STYLE,
        script=SCRIPT,
    )
