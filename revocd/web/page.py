"""The freshness page for people: every partner, issuer and source at a glance.

Plain server-rendered HTML from the same data as `/v1/partners`; no scripts, no external
assets, everything escaped (and the route's Content-Security-Policy forbids scripts, so a
hostile partner name that escaped escaping would still not run). It refreshes itself
every 30 seconds.
"""

from __future__ import annotations

from html import escape
from importlib import resources
from string import Template
from typing import Any


def _cell(value: Any) -> str:
    return f"<td>{escape('' if value is None else str(value))}</td>"


def _badge(state: str, extra: str = "") -> str:
    return f'<td><span class="badge {escape(state)}">{escape(state)}</span>{escape(extra)}</td>'


def _error_cell(source: dict[str, Any]) -> str:
    if not source["last_error"]:
        return '<td class="error"></td>'
    when = source["last_error_at"]
    at = f'<br><span class="when">at {escape(when)}</span>' if when else ""
    return f'<td class="error">{escape(source["last_error"])}{at}</td>'


def render_page(data: dict[str, Any]) -> str:
    rows: list[str] = []
    counts: dict[str, int] = {}
    for partner in data["partners"]:
        for issuer in partner["issuers"]:
            for source in issuer["sources"]:
                state = source["freshness"]
                counts[state] = counts.get(state, 0) + 1
                flags = (" failing" if source["failing"] else "") + (
                    " behind" if source["behind"] else ""
                )
                rows.append(
                    "<tr>"
                    + _cell(partner["name"])
                    + _cell(issuer["name"])
                    + f'<td class="url">{escape(source["url"])}</td>'
                    + _badge(state, flags)
                    + _cell(source["crl_number"])
                    + _cell(source["entry_count"])
                    + _cell(source["this_update"])
                    + _cell(source["next_update"])
                    + _cell(source["last_success"])
                    + _error_cell(source)
                    + "</tr>"
                )
    summary = ", ".join(f"{n} {escape(s)}" for s, n in sorted(counts.items())) or "no sources"
    template = Template((resources.files("revocd.web") / "templates" / "index.html").read_text())
    return template.substitute(
        rows="\n".join(rows) or '<tr><td colspan="10">no partners configured</td></tr>',
        summary=summary,
        checked_at=escape(data["checked_at"] or ""),
    )
