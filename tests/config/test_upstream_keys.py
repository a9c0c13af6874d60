"""The upstream OCSP policy keys: built-in defaults, [defaults] over them, a partner over
[defaults], and each bad value named with its key and the way out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from revocd.config import load_config
from revocd.config_checks import ConfigProblems
from revocd.model import OcspPolicy
from tests.config.conftest import ACME, Workdir


def test_builtin_defaults(work: Workdir) -> None:
    config = load_config(work.write(ACME))
    assert config.defaults.ocsp == OcspPolicy(
        timeout=timedelta(seconds=5),
        concurrency=8,
        nonce=True,
        refresh_window=timedelta(hours=24),
        max_bytes=64 * 1024,
        probe_interval=timedelta(minutes=5),
        default_validity=timedelta(minutes=5),
    )
    assert config.partners[0].policy.ocsp == config.defaults.ocsp


def test_defaults_then_partner_override(work: Workdir) -> None:
    text = (
        "[defaults]\n"
        'ocsp_timeout = "3s"\nocsp_concurrency = 4\nocsp_nonce = false\n'
        'ocsp_refresh_window = "12h"\nmax_ocsp_bytes = "32KiB"\n'
        'ocsp_probe_interval = "1m"\nocsp_default_validity = "0s"\n'
        + ACME.replace(
            'name = "acme"\n', 'name = "acme"\nocsp_concurrency = 2\nocsp_nonce = true\n', 1
        )
    )
    config = load_config(work.write(text))
    assert config.defaults.ocsp == OcspPolicy(
        timedelta(seconds=3),
        4,
        False,
        timedelta(hours=12),
        32 * 1024,
        timedelta(minutes=1),
        timedelta(0),
    )
    partner = config.partners[0].policy.ocsp
    assert (partner.concurrency, partner.nonce) == (2, True)
    assert partner.timeout == timedelta(seconds=3)  # inherited from [defaults]
    assert partner.max_bytes == 32 * 1024


@pytest.mark.parametrize(
    ("line", "key", "words"),
    [
        ('ocsp_timeout = "0s"', "defaults.ocsp_timeout", "must be more than 0"),
        ("ocsp_timeout = 5", "defaults.ocsp_timeout", "not a duration"),
        ("ocsp_concurrency = 0", "defaults.ocsp_concurrency", "whole number from 1 to 1024"),
        ('ocsp_concurrency = "8"', "defaults.ocsp_concurrency", "whole number"),
        ("ocsp_concurrency = true", "defaults.ocsp_concurrency", "whole number"),
        ('ocsp_nonce = "yes"', "defaults.ocsp_nonce", "true or false"),
        ('max_ocsp_bytes = "100"', "defaults.max_ocsp_bytes", "too small"),
        ('max_ocsp_bytes = "lots"', "defaults.max_ocsp_bytes", "not a size"),
        ('ocsp_probe_interval = "10ms"', "defaults.ocsp_probe_interval", "too short"),
        ('ocsp_refresh_window = "a day"', "defaults.ocsp_refresh_window", "not a duration"),
        ('ocsp_default_validity = "soon"', "defaults.ocsp_default_validity", "not a duration"),
    ],
    ids=[
        "zero-timeout",
        "bare-number-timeout",
        "zero-concurrency",
        "string-concurrency",
        "bool-concurrency",
        "string-nonce",
        "tiny-cap",
        "bad-size",
        "probe-too-often",
        "bad-window",
        "bad-validity",
    ],
)
def test_bad_values_are_named(work: Workdir, line: str, key: str, words: str) -> None:
    with pytest.raises(ConfigProblems) as caught:
        load_config(work.write(f"[defaults]\n{line}\n" + ACME))
    problems = {p.key: p.problem for p in caught.value.problems}
    assert key in problems, problems
    assert words in problems[key]


def test_a_partner_value_is_named_by_partner(work: Workdir) -> None:
    text = ACME.replace('name = "acme"\n', 'name = "acme"\nocsp_nonce = 1\n', 1)
    with pytest.raises(ConfigProblems) as caught:
        load_config(work.write(text))
    assert [p.key for p in caught.value.problems] == ["partner 'acme' ocsp_nonce"]
