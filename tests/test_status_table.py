"""`revocd status`: the table an operator reads, with colours only where they help."""

from __future__ import annotations

import io

import pytest

from revocd.commands import status_table, use_colour

BODY = {
    "partners": [
        {
            "name": "acme",
            "issuers": [
                {
                    "name": "acme-issuing",
                    "sources": [
                        {
                            "type": "crl",
                            "url": "http://pki.acme.example/issuing.crl",
                            "freshness": "fresh",
                            "failing": False,
                            "crl_number": 42,
                            "entry_count": 4,
                            "next_update": "2026-01-02T00:00:00Z",
                        },
                        {
                            "type": "crl",
                            "url": "http://mirror.acme.example/issuing.crl",
                            "freshness": "stale",
                            "failing": True,
                            "last_error": "connection refused",
                        },
                        {
                            "type": "ocsp",
                            "url": "http://ocsp.acme.example/",
                            "health": "ok",
                        },
                    ],
                }
            ],
        }
    ]
}
GREEN, YELLOW, RED, RESET = "\x1b[32m", "\x1b[33m", "\x1b[1;31m", "\x1b[0m"


def test_plain_table_lines_up_and_says_every_state_in_words():
    lines, worst = status_table(BODY, colour=False)
    assert lines[0].split() == [
        "PARTNER", "ISSUER", "SOURCE", "STATE", "CRL#", "ENTRIES", "NEXT", "UPDATE", "LAST",
        "ERROR",
    ]  # fmt: skip
    assert "\x1b" not in "".join(lines)
    state_column = lines[0].index("STATE")
    assert [line[state_column:].split("  ")[0] for line in lines[1:]] == [
        "fresh",
        "stale failing",
        "ocsp ok",
    ]
    assert worst == 1  # a failing source is something to fix


def test_colours_mark_states_without_moving_the_columns():
    plain, _ = status_table(BODY, colour=False)
    coloured, _ = status_table(BODY, colour=True)
    assert f"{GREEN}fresh{RESET}" in coloured[1]
    assert f"{YELLOW}stale{RESET} {RED}failing{RESET}" in coloured[2]
    assert f"ocsp {GREEN}ok{RESET}" in coloured[3]
    assert "\x1b" not in coloured[0]  # the header stays plain
    for before, after in zip(plain, coloured, strict=True):
        visible = after
        for code in (GREEN, YELLOW, RED, RESET):
            visible = visible.replace(code, "")
        assert visible == before


def test_an_expiring_source_says_so_louder_than_stale_and_still_exits_zero():
    source = {
        "type": "crl",
        "url": "http://pki.acme.example/issuing.crl",
        "freshness": "stale",
        "state": "expiring",
        "failing": False,
    }
    body = {"partners": [{"name": "acme", "issuers": [{"name": "i", "sources": [source]}]}]}
    plain, worst = status_table(body, colour=False)
    assert "expiring" in plain[1]
    coloured, _ = status_table(body, colour=True)
    assert "\x1b[1;33mexpiring\x1b[0m" in coloured[1]
    assert worst == 0  # still answering: the alert says it, the exit code is for outages


def test_a_healthy_federation_exits_zero():
    healthy = {"partners": [BODY["partners"][0] | {"issuers": []}]}
    assert status_table(healthy, colour=False)[1] == 0


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("choice", "env", "tty", "expected"),
    [
        ("auto", {}, True, True),
        ("auto", {}, False, False),  # piped into a file or grep: no escape codes
        ("auto", {"NO_COLOR": "1"}, True, False),
        ("auto", {"TERM": "dumb"}, True, False),
        ("always", {"NO_COLOR": "1"}, False, True),
        ("never", {}, True, False),
    ],
)
def test_colour_choice(monkeypatch, choice, env, tty, expected):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    stream = _Tty() if tty else io.StringIO()
    assert use_colour(choice, stream) is expected
