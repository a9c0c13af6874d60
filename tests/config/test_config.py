"""`load_config`: every problem names the file, the key and the problem (all problems at
once); valid files become the dataclasses the daemon runs on. The shipped example, the
docs and the `check-config` command are tested in test_example.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from revocd.config import DEFAULT_POLICY, load_config
from revocd.errors import ConfigError
from revocd.model import SigningMode
from tests.support.pki import issue, make_ca

Write = Callable[[str], Path]


@pytest.fixture(scope="module")
def pki_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with `pki/`: two CAs (PEM and DER), a leaf, a non-CA, a responder pair."""
    root = tmp_path_factory.mktemp("config")
    pki = root / "pki"
    ca = make_ca("ACME CA")
    ca.write(pki, "ca")
    (pki / "ca.der").write_bytes(ca.cert.public_bytes(serialization.Encoding.DER))
    make_ca("Globex CA").write(pki, "ca2")
    make_ca("Not A CA", is_ca=False).write(pki, "notca")
    leaf, _ = issue(ca, "leaf.example")
    (pki / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (pki / "garbage.pem").write_bytes(b"this is not a certificate\n")
    make_ca("revocd responder").write(pki, "responder")
    make_ca("someone else").write(pki, "other")
    return root


@pytest.fixture
def write(pki_root: Path, request: pytest.FixtureRequest) -> Write:
    """Write a config file next to `pki/` (a fresh name per test) and return its path."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)

    def _write(text: str) -> Path:
        path = pki_root / f"{stem}.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return _write


ISSUER = """
  [[partner.issuer]]
  name = "acme-ca"
  cert = "pki/ca.pem"
  crl = ["http://pki.acme.example/ca.crl"]
"""
PARTNER = '\n[[partner]]\nname = "acme"\n' + ISSUER
GLOBEX = """
[[partner]]
name = "globex"

  [[partner.issuer]]
  name = "globex-ca"
  cert = "pki/ca2.pem"
  crl = ["http://crl.globex.example/ca.crl"]
"""


def issuer_with(**lines: str) -> str:
    """The acme partner with its issuer's keys replaced/added (value '' drops the key)."""
    keys = {
        "name": '"acme-ca"',
        "cert": '"pki/ca.pem"',
        "crl": '["http://pki.acme.example/ca.crl"]',
    }
    keys.update(lines)
    body = "\n".join(f"  {k} = {v}" for k, v in keys.items() if v)
    return f'[[partner]]\nname = "acme"\n\n  [[partner.issuer]]\n{body}\n'


A_ISSUER = "partner 'acme' issuer 'acme-ca'"

# (id, config text, key the message must name, words of the problem)
BAD = [
    ("toml-syntax", "[server\nlisten = 1\n", "", "not valid TOML"),
    ("toml-syntax-line", PARTNER + "grace = \n", "", "line"),
    ("unknown-top", "[srever]\n" + PARTNER, "srever", "unknown key; did you mean 'server'?"),
    ("unknown-top-no-hint", "zzz = 1\n" + PARTNER, "zzz", "known keys: server, store"),
    ("unknown-server", '[server]\nlisen = "127.0.0.1:1"\n' + PARTNER, "server.lisen", "'listen'"),
    (
        "unknown-defaults",
        '[defaults]\npoll_intervall = "5m"\n' + PARTNER,
        "defaults.poll_intervall",
        "unknown key; did you mean 'poll_interval'?",
    ),
    (
        "unknown-partner",
        '[[partner]]\nname = "acme"\ngrase = "1h"\n' + ISSUER,
        "partner 'acme' grase",
        "unknown key; did you mean 'grace'?",
    ),
    (
        "unknown-issuer",
        issuer_with(ocps='["http://ocsp.acme.example/"]'),
        f"{A_ISSUER} ocps",
        "unknown key; did you mean 'ocsp'?",
    ),
    (
        "bad-duration-defaults",
        '[defaults]\npoll_interval = "5 minutes"\n' + PARTNER,
        "defaults.poll_interval",
        "'5 minutes' is not a duration (use 90s, 5m, 2h, 1d)",
    ),
    (
        "duration-as-number",
        "[defaults]\ntimeout = 10\n" + PARTNER,
        "defaults.timeout",
        "10 is not a duration",
    ),
    (
        "bad-duration-partner",
        '[[partner]]\nname = "acme"\ngrace = "1 hour"\n' + ISSUER,
        "partner 'acme' grace",
        "is not a duration",
    ),
    (
        "bad-size",
        '[defaults]\nmax_crl_bytes = "200 megs"\n' + PARTNER,
        "defaults.max_crl_bytes",
        "'200 megs' is not a size (use 512KiB, 200MiB, 1GiB)",
    ),
    (
        "zero-size",
        "[defaults]\nmax_crl_bytes = 0\n" + PARTNER,
        "defaults.max_crl_bytes",
        "must be more than 0",
    ),
    (
        "zero-poll-interval",
        '[defaults]\npoll_interval = "0s"\n' + PARTNER,
        "defaults.poll_interval",
        "must be more than 0 (got '0s')",
    ),
    (
        "zero-timeout-partner",
        '[[partner]]\nname = "acme"\ntimeout = "0ms"\n' + ISSUER,
        "partner 'acme' timeout",
        "must be more than 0",
    ),
    ("listen-no-port", '[server]\nlisten = "localhost"\n' + PARTNER, "server.listen", "HOST:PORT"),
    (
        "listen-port-range",
        '[server]\nlisten = "127.0.0.1:99999"\n' + PARTNER,
        "server.listen",
        "'127.0.0.1:99999' is not HOST:PORT",
    ),
    ("listen-no-host", '[server]\nlisten = ":8080"\n' + PARTNER, "server.listen", "HOST:PORT"),
    (
        "listen-number",
        "[server]\nlisten = 8080\n" + PARTNER,
        "server.listen",
        "must be a non-empty string",
    ),
    ("workers-zero", "[server]\nworkers = 0\n" + PARTNER, "server.workers", '"auto"'),
    ("workers-word", '[server]\nworkers = "many"\n' + PARTNER, "server.workers", "1 to 256"),
    ("workers-bool", "[server]\nworkers = true\n" + PARTNER, "server.workers", "1 to 256"),
    (
        "missing-cert",
        issuer_with(cert='"pki/missing.pem"'),
        f"{A_ISSUER} cert",
        "pki/missing.pem does not exist",
    ),
    ("no-cert", issuer_with(cert=""), f"{A_ISSUER} cert", "is required"),
    (
        "cert-not-ca",
        issuer_with(cert='"pki/notca.pem"'),
        f"{A_ISSUER} cert",
        "is not a CA certificate (basicConstraints cA is not true)",
    ),
    (
        "cert-is-leaf",
        issuer_with(cert='"pki/leaf.pem"'),
        f"{A_ISSUER} cert",
        "CN=leaf.example",
    ),
    (
        "cert-garbage",
        issuer_with(cert='"pki/garbage.pem"'),
        f"{A_ISSUER} cert",
        "is not a PEM or DER certificate",
    ),
    (
        "duplicate-partner",
        PARTNER + '\n[[partner]]\nname = "acme"\n',
        "partner 'acme' name",
        "duplicate partner name",
    ),
    (
        "duplicate-issuer-name",
        PARTNER + GLOBEX.replace('"globex-ca"', '"acme-ca"'),
        "partner 'globex' issuer 'acme-ca' name",
        "duplicate issuer name (already used by partner 'acme')",
    ),
    (
        "same-ca-twice",
        PARTNER + GLOBEX.replace("pki/ca2.pem", "pki/ca.der"),
        "partner 'globex' issuer 'globex-ca' cert",
        "is the same CA (same subject and key) as partner 'acme' issuer 'acme-ca'",
    ),
    (
        "ldap-url",
        issuer_with(crl='["ldap://ldap.acme.example/cn=CA?certificateRevocationList"]'),
        f"{A_ISSUER} crl[0]",
        "LDAP distribution points are not supported yet",
    ),
    (
        "ftp-url",
        issuer_with(crl='["ftp://ftp.acme.example/ca.crl"]'),
        f"{A_ISSUER} crl[0]",
        "unsupported URL scheme 'ftp' (use http, https or file)",
    ),
    (
        "relative-file-url",
        issuer_with(crl='["file:pki/ca.crl"]'),
        f"{A_ISSUER} crl[0]",
        "file URLs must be absolute",
    ),
    (
        "file-url-with-host",
        issuer_with(crl='["file://pki/ca.crl"]'),
        f"{A_ISSUER} crl[0]",
        "file URLs must be absolute",
    ),
    (
        "url-without-host",
        issuer_with(ocsp='["http:///ocsp"]'),
        f"{A_ISSUER} ocsp[0]",
        "has no host",
    ),
    (
        "url-twice",
        issuer_with(crl='["http://a.example/c.crl", "http://a.example/c.crl"]'),
        f"{A_ISSUER} crl[1]",
        "is listed twice",
    ),
    ("no-sources", issuer_with(crl=""), A_ISSUER, "has no sources"),
    ("empty-sources", issuer_with(crl="[]"), A_ISSUER, "has no sources"),
    (
        "partner-without-issuer",
        '[[partner]]\nname = "acme"\n',
        "partner 'acme'",
        "has no [[partner.issuer]]",
    ),
    ("partner-without-name", "[[partner]]\n" + ISSUER, "partner[0]", "needs a name"),
    ("partner-not-array", '[partner]\nname = "acme"\n', "partner", "array of tables"),
    (
        "delegated-without-responder-cert",
        issuer_with(signing='"delegated"', responder_key='"pki/responder.key"'),
        f"{A_ISSUER} responder_cert",
        "is required",
    ),
    (
        "bad-signing",
        issuer_with(signing='"self"'),
        f"{A_ISSUER} signing",
        "'self' is not one of 'trusted', 'delegated', 'passthrough'",
    ),
    (
        "postgres-without-dsn",
        '[store]\nbackend = "postgres"\n' + PARTNER,
        "store.dsn",
        'backend "postgres" needs dsn',
    ),
    (
        "bad-backend",
        '[store]\nbackend = "mysql"\n' + PARTNER,
        "store.backend",
        "'mysql' is not one of 'sqlite', 'postgres'",
    ),
    (
        "sqlite-dir-missing",
        '[store]\npath = "nowhere/revocd.db"\n' + PARTNER,
        "store.path",
        "does not exist (create it or change path)",
    ),
    (
        "responder-without-key",
        '[responder]\ncert = "pki/responder.pem"\n' + PARTNER,
        "responder.key",
        "is required",
    ),
    (
        "bad-nonce",
        '[responder]\ncert = "pki/responder.pem"\nkey = "pki/responder.key"\nnonce = "yes"\n'
        + PARTNER,
        "responder.nonce",
        "'yes' is not one of 'echo', 'ignore'",
    ),
    (
        "bad-log-level",
        '[logging]\nlevel = "verbose"\n' + PARTNER,
        "logging.level",
        "'verbose' is not one of 'debug', 'info', 'warning', 'error'",
    ),
    ("server-not-table", 'server = "x"\n' + PARTNER, "server", "must be a table ([server])"),
]


def message_lines(error: ConfigError) -> list[str]:
    return str(error).splitlines()


@pytest.mark.parametrize(("text", "key", "problem"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_problem_names_file_key_and_problem(
    write: Write, text: str, key: str, problem: str
) -> None:
    path = write(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    prefix = f"{path}: {key}: " if key else f"{path}: "
    assert any(
        line.startswith(prefix) and problem in line for line in message_lines(caught.value)
    ), str(caught.value)


def test_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="no such file") as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_several_problems_are_reported_at_once(write: Write) -> None:
    path = write(
        '[server]\nlisten = "nope"\n[defaults]\ngrace = "soon"\n'
        + issuer_with(cert='"pki/missing.pem"', crl='["ftp://x.example/c.crl"]')
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    lines = message_lines(caught.value)
    assert "4 problems:" in lines[0]
    assert lines[1:] == [
        f"{path}: server.listen: 'nope' is not HOST:PORT (use e.g. 127.0.0.1:8080 or [::1]:8080)",
        f"{path}: defaults.grace: 'soon' is not a duration (use 90s, 5m, 2h, 1d)",
        f"{path}: {A_ISSUER} cert: file {path.parent / 'pki/missing.pem'} does not exist",
        f"{path}: {A_ISSUER} crl[0]: ftp://x.example/c.crl: unsupported URL scheme 'ftp' "
        "(use http, https or file)",
    ]


# ------------------------------------------------------------------ valid files


def test_defaults_merge_partner_override_wins(write: Write) -> None:
    path = write(
        '[defaults]\npoll_interval = "10m"\ngrace = "2h"\n\n'
        '[[partner]]\nname = "acme"\npoll_interval = "2m"\nmax_crl_bytes = "1MiB"\n'
        + ISSUER
        + GLOBEX
    )
    config = load_config(path)
    acme, globex = config.partners
    assert config.defaults == DEFAULT_POLICY.__class__(
        poll_interval=timedelta(minutes=10),
        grace=timedelta(hours=2),
        timeout=DEFAULT_POLICY.timeout,
        max_crl_bytes=DEFAULT_POLICY.max_crl_bytes,
        clock_skew=DEFAULT_POLICY.clock_skew,
    )
    # partner overrides win; the rest comes from [defaults]; what [defaults] omits is built in
    assert acme.policy.poll_interval == timedelta(minutes=2)
    assert acme.policy.max_crl_bytes == 1024 * 1024
    assert acme.policy.grace == timedelta(hours=2)
    assert acme.policy.timeout == timedelta(seconds=10)
    assert acme.policy.clock_skew == timedelta(minutes=5)
    assert globex.policy == config.defaults


def test_builtin_defaults_without_any_optional_section(write: Write) -> None:
    config = load_config(write(PARTNER))
    assert config.defaults == DEFAULT_POLICY
    assert config.partners[0].policy == DEFAULT_POLICY
    assert (config.server.host, config.server.port) == ("127.0.0.1", 8080)
    assert config.store.backend == "sqlite"
    assert config.responder is None
    assert (config.logging.format, config.logging.level) == ("json", "info")
    (issuer,) = config.issuers()
    assert issuer.signing is SigningMode.TRUSTED


def test_relative_paths_resolve_against_the_config_directory(
    write: Write, pki_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        '[store]\npath = "state.db"\n'
        '[responder]\ncert = "pki/responder.pem"\nkey = "pki/responder.key"\n' + PARTNER
    )
    monkeypatch.chdir(tmp_path)  # somewhere with no pki/ in it
    config = load_config(Path("..") / tmp_path.name / ".." / pki_root.name / path.name)
    root = pki_root.resolve()
    assert config.store.path == root / "state.db"
    assert config.responder is not None
    assert config.responder.cert == root / "pki/responder.pem"
    assert config.responder.key == root / "pki/responder.key"
    (issuer,) = config.issuers()
    assert issuer.cert_path == root / "pki/ca.pem"


def test_absolute_paths_are_kept(write: Write, pki_root: Path) -> None:
    absolute = pki_root.resolve() / "pki" / "ca.pem"
    (issuer,) = load_config(write(issuer_with(cert=f'"{absolute}"'))).issuers()
    assert issuer.cert_path == absolute


@pytest.mark.parametrize("cert", ["pki/ca.pem", "pki/ca.der"], ids=["pem", "der"])
def test_issuer_cert_pem_or_der(write: Write, pki_root: Path, cert: str) -> None:
    (issuer,) = load_config(write(issuer_with(cert=f'"{cert}"'))).issuers()
    expected = (pki_root / "pki/ca.pem").read_bytes()
    assert issuer.cert.public_bytes(serialization.Encoding.PEM) == expected
    assert issuer.key.hex_ids()[0] == issuer.key.key_sha1.hex()


def test_sources_in_declaration_order(write: Write) -> None:
    path = write(
        issuer_with(
            crl='["http://a.example/c.crl", "file:///srv/mirror/c.crl"]',
            ocsp='"http://ocsp.a.example/"',
        )
    )
    config = load_config(path)
    assert [s.id for s in config.sources()] == [
        "acme/acme-ca/crl/http://a.example/c.crl",
        "acme/acme-ca/crl/file:///srv/mirror/c.crl",
        "acme/acme-ca/ocsp/http://ocsp.a.example/",
    ]


def test_ipv6_listen(write: Write) -> None:
    config = load_config(write('[server]\nlisten = "[::1]:9090"\n' + PARTNER))
    assert (config.server.host, config.server.port) == ("::1", 9090)


def test_workers_auto_is_one_per_usable_core_and_numbers_are_kept(write: Write) -> None:
    import os

    assert load_config(write(PARTNER)).server.workers == len(os.sched_getaffinity(0))
    assert load_config(write('[server]\nworkers = "auto"\n' + PARTNER)).server.workers >= 1
    assert load_config(write("[server]\nworkers = 3\n" + PARTNER)).server.workers == 3
