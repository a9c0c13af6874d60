"""The checks an experienced operator expects beyond the basics (names usable in URLs,
certificates that can do their job, settings that only fit one mode), and the extra
checks only `check-config` runs. Each problem names the file, the key and the way out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from revocd.clock import ManualClock
from revocd.config import ConfigProblems, Problem, check_config, load_config
from revocd.errors import ConfigError
from tests.config.conftest import ACME, NOW, Workdir

ISSUER = "partner 'acme' issuer 'acme-issuing'"
GLOBEX = """
[[partner]]
name = "globex"
  [[partner.issuer]]
  name = "globex-root"
  cert = "pki/globex.pem"
  crl = ["http://crl.globex.example/root.crl"]
"""


def acme(**changes: str) -> str:
    """ACME's config with issuer lines replaced or added: acme(crl='[]', signing='"x"')."""
    lines = ACME.strip("\n").splitlines()
    body = {
        line.split("=")[0].strip(): line for line in lines if line.startswith("  ") and "=" in line
    }
    for key, value in changes.items():
        body[key] = f"  {key} = {value}"
    head = [line for line in lines if not (line.startswith("  ") and "=" in line)]
    return "\n".join(head + list(body.values())) + "\n"


def problems_of(path: Path, *, check: bool = False) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        (check_config(path, ManualClock(NOW)) if check else load_config(path))
    return str(caught.value).splitlines()


# (id, config text, key, words of the problem)
LOAD_PROBLEMS = [
    (
        "issuer-name-with-slash",
        acme(name='"acme/issuing"'),
        "partner 'acme' issuer 'acme/issuing' name",
        "'acme/issuing' is not a usable issuer name: use 1 to 64 letters",
    ),
    (
        "issuer-name-like-a-key-hash",
        acme(name='"' + "ab" * 20 + '"'),
        f"partner 'acme' issuer '{'ab' * 20}' name",
        "looks like a hex key hash",
    ),
    (
        "partner-name-with-space",
        ACME.replace('name = "acme"', 'name = "acme corp"'),
        "partner 'acme corp' name",
        "is not a usable partner name",
    ),
    (
        "ca-without-crl-sign-but-crl-sources",
        acme(cert='"pki/no_crl_sign.pem"'),
        f"{ISSUER} cert",
        "keyUsage without cRLSign, so every CRL it signs would be rejected",
    ),
    (
        "two-certificates-in-one-file",
        acme(cert='"pki/two.pem"'),
        f"{ISSUER} cert",
        "holds 2 certificates; put exactly one",
    ),
    (
        "empty-der",
        acme(cert='"pki/empty.der"'),
        f"{ISSUER} cert",
        "is not a PEM or DER certificate",
    ),
    (
        "broken-pem",
        acme(cert='"pki/garbage.pem"'),
        f"{ISSUER} cert",
        "is not a PEM or DER certificate",
    ),
    ("cert-is-a-directory", acme(cert='"pki"'), f"{ISSUER} cert", "is not a regular file"),
    (
        "cross-signed-copy-of-a-configured-ca",
        ACME + GLOBEX.replace("pki/globex.pem", "pki/acme-cross.pem"),
        "partner 'globex' issuer 'globex-root' cert",
        "is the same CA (same subject and key) as partner 'acme' issuer 'acme-issuing'; "
        "cross-signed copies of one CA are one issuer",
    ),
    (
        "responder-files-without-delegated",
        acme(responder_cert='"pki/acme_ocsp.pem"'),
        f"{ISSUER} responder_cert",
        'is only used with signing = "delegated" (this issuer is "trusted")',
    ),
    (
        "delegated-without-responder-key",
        acme(signing='"delegated"', responder_cert='"pki/acme_ocsp.pem"'),
        f"{ISSUER} responder_key",
        "is required",
    ),
    (
        "one-crl-url-for-two-issuers",
        ACME
        + GLOBEX.replace(
            "http://crl.globex.example/root.crl", "http://pki.acme.example/issuing.crl"
        ),
        "partner 'globex' issuer 'globex-root' crl[0]",
        "is also a crl source of partner 'acme' issuer 'acme-issuing'",
    ),
    ("crl-not-a-list", acme(crl="5"), f"{ISSUER} crl", "must be a list of URLs, not an integer"),
    (
        "url-with-space",
        acme(crl='["http://pki.acme.example/my crl.crl"]'),
        f"{ISSUER} crl[0]",
        "contains whitespace",
    ),
    (
        "url-without-scheme",
        acme(crl='["pki.acme.example/issuing.crl"]'),
        f"{ISSUER} crl[0]",
        "unsupported URL scheme '(none)'",
    ),
    ("url-bad-port", acme(ocsp='["http://ocsp.acme.example:99999/"]'), f"{ISSUER} ocsp[0]", "port"),
    (
        "misplaced-issuer-table",
        ACME.replace("[[partner.issuer]]", "[[partner.issuers]]"),
        "partner 'acme' issuers",
        "unknown key; did you mean 'issuer'?",
    ),
    (
        "policy-key-in-server",
        '[server]\ngrace = "1h"\n' + ACME,
        "server.grace",
        "'grace' belongs in [defaults] or [[partner]]",
    ),
    (
        "ipv6-without-brackets",
        '[server]\nlisten = "::1:8080"\n' + ACME,
        "server.listen",
        "put an IPv6 address in brackets",
    ),
    (
        "port-too-big",
        '[server]\nlisten = "0.0.0.0:65536"\n' + ACME,
        "server.listen",
        "the port must be 0 to 65535",
    ),
    (
        "poll-faster-than-1s",
        '[defaults]\npoll_interval = "250ms"\n' + ACME,
        "defaults.poll_interval",
        "'250ms' is too short",
    ),
    (
        "negative-duration",
        '[defaults]\ngrace = "-5m"\n' + ACME,
        "defaults.grace",
        "'-5m' is not a duration",
    ),
    (
        "duration-overflow",
        '[defaults]\ngrace = "99999999999d"\n' + ACME,
        "defaults.grace",
        "too long a duration",
    ),
    (
        "size-overflow",
        f'[defaults]\nmax_crl_bytes = "{"9" * 400}GiB"\n' + ACME,
        "defaults.max_crl_bytes",
        "too large a size",
    ),
    (
        "float-size",
        "[defaults]\nmax_crl_bytes = 1.5\n" + ACME,
        "defaults.max_crl_bytes",
        "1.5 is not a size",
    ),
    (
        "zero-max-age",
        '[responder]\ncert = "pki/leaf.pem"\nkey = "pki/leaf.key"\nmax_age = "0s"\n' + ACME,
        "responder.max_age",
        "must be more than 0",
    ),
    (
        "responder-not-a-table",
        'responder = "pki/leaf.pem"\n' + ACME,
        "responder",
        "must be a table ([responder])",
    ),
    (
        "dsn-with-sqlite",
        '[store]\ndsn = "postgresql://db/revocd"\n' + ACME,
        "store.dsn",
        'is only used with backend = "postgres"',
    ),
    (
        "path-with-postgres",
        '[store]\nbackend = "postgres"\ndsn = "postgresql://db/revocd"\npath = "x.db"\n' + ACME,
        "store.path",
        'is only used with backend = "sqlite"',
    ),
    (
        "dsn-not-libpq",
        '[store]\nbackend = "postgres"\ndsn = "db.example"\n' + ACME,
        "store.dsn",
        "is not a libpq connection string",
    ),
    ("store-path-is-a-directory", '[store]\npath = "pki"\n' + ACME, "store.path", "is a directory"),
]


@pytest.mark.parametrize(
    ("text", "key", "problem"), [c[1:] for c in LOAD_PROBLEMS], ids=[c[0] for c in LOAD_PROBLEMS]
)
def test_load_problem(work: Workdir, text: str, key: str, problem: str) -> None:
    path = work.write(text)
    lines = problems_of(path)
    assert any(line.startswith(f"{path}: {key}: ") and problem in line for line in lines), lines


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_certificate(work: Workdir) -> None:
    (work.root / "pki" / "acme.pem").chmod(0)
    path = work.write(ACME)
    assert any(f"{ISSUER} cert: cannot read" in line for line in problems_of(path))


VALID = [
    (
        "ca-without-crl-sign-ocsp-only",
        acme(cert='"pki/no_crl_sign.pem"', crl="[]", ocsp='["http://ocsp.acme.example/"]'),
    ),
    ("ca-without-key-usage", acme(cert='"pki/no_key_usage.pem"')),
    ("one-url-as-a-string", acme(crl='"http://pki.acme.example/issuing.crl"')),
    ("file-url-on-localhost", acme(crl='["file://localhost/srv/acme.crl"]')),
    ("log-level-in-capitals", '[logging]\nlevel = "DEBUG"\n' + ACME),
    ("libpq-keyword-dsn", '[store]\nbackend = "postgres"\ndsn = "host=db dbname=revocd"\n' + ACME),
    ("grace-zero", '[defaults]\ngrace = "0s"\nclock_skew = "0s"\n' + ACME),
    ("timeout-longer-than-poll", '[defaults]\npoll_interval = "5s"\ntimeout = "30s"\n' + ACME),
    ("size-as-byte-count", "[defaults]\nmax_crl_bytes = 1048576\n" + ACME),
]


@pytest.mark.parametrize("text", [c[1] for c in VALID], ids=[c[0] for c in VALID])
def test_accepted(work: Workdir, text: str) -> None:
    config = check_config(work.write(text), ManualClock(NOW))
    assert [i.name for i in config.issuers()] == ["acme-issuing"]


def test_all_problems_at_once_keep_a_meaningful_first_key_and_problem(work: Workdir) -> None:
    path = work.write(
        '[server]\nlisten = "nope"\n' + acme(cert='"pki/not_ca.pem"', crl='["ldap://x/"]')
    )
    with pytest.raises(ConfigProblems) as caught:
        load_config(path)
    error = caught.value
    assert isinstance(error, ConfigError)  # the CLI maps it to exit status 2
    assert (error.path, error.key) == (str(path), "server.listen")
    assert error.problem.startswith("'nope' is not HOST:PORT")
    assert [p.key for p in error.problems] == [
        "server.listen",
        f"{ISSUER} crl[0]",
        f"{ISSUER} cert",  # judged as a CA once its crl sources are known
    ]
    assert all(isinstance(p, Problem) for p in error.problems)
    assert str(error).splitlines()[0] == f"{path}: 3 problems:"


def test_one_problem_is_one_line(work: Workdir) -> None:
    path = work.write('[server]\nlisten = "nope"\n' + ACME)
    assert problems_of(path) == [
        f"{path}: server.listen: 'nope' is not HOST:PORT (use e.g. 127.0.0.1:8080 or [::1]:8080)"
    ]


def test_toml_syntax_error_names_line_and_column(work: Workdir) -> None:
    path = work.write(ACME + '\n[defaults]\ngrace = "1h\n')
    (line,) = problems_of(path)
    assert line.startswith(f"{path}: is not valid TOML: ")
    assert line.endswith("(at line 11, column 12)")  # the unterminated "1h


# ---------------------------------------------------------------- check-config only

DELEGATED = ACME.replace(
    'crl = ["http://pki.acme.example/issuing.crl"]',
    'crl = ["http://pki.acme.example/issuing.crl"]\n  signing = "delegated"\n'
    '  responder_cert = "pki/{stem}.pem"\n  responder_key = "pki/{key}.key"',
)
RESPONDER = '[responder]\ncert = "pki/{stem}.pem"\nkey = "pki/{key}.key"\n' + ACME

CHECK_PROBLEMS = [
    (
        "delegated-cert-from-another-ca",
        DELEGATED.format(stem="globex_ocsp", key="globex_ocsp"),
        f"{ISSUER} responder_cert",
        "is not issued by CN=ACME Issuing CA,O=revocd tests",
    ),
    (
        "delegated-cert-without-ocsp-signing-eku",
        DELEGATED.format(stem="acme_no_eku", key="acme_no_eku"),
        f"{ISSUER} responder_cert",
        "lacks the id-kp-OCSPSigning extended key usage",
    ),
    (
        "delegated-key-of-another-cert",
        DELEGATED.format(stem="acme_ocsp", key="leaf"),
        f"{ISSUER} responder_key",
        "does not match the public key of",
    ),
    (
        "responder-key-mismatch",
        RESPONDER.format(stem="leaf", key="acme"),
        "responder.key",
        "does not match the public key of",
    ),
    (
        "responder-cert-expired",
        RESPONDER.format(stem="expired", key="expired"),
        "responder.cert",
        "valid from 2020-01-01 to 2021-01-01, not now",
    ),
    (
        "responder-key-is-a-cert",
        RESPONDER.format(stem="leaf", key="leaf").replace("leaf.key", "leaf.pem"),
        "responder.key",
        "is not a PEM or DER private key",
    ),
    (
        "no-partners",
        '[server]\nlisten = "127.0.0.1:0"\n',
        "partner",
        "no [[partner]] is configured",
    ),
]


@pytest.mark.parametrize(
    ("text", "key", "problem"), [c[1:] for c in CHECK_PROBLEMS], ids=[c[0] for c in CHECK_PROBLEMS]
)
def test_check_config_problem(work: Workdir, text: str, key: str, problem: str) -> None:
    path = work.write(text)
    load_config(path)  # loading alone does not open keys or judge responder certificates
    lines = problems_of(path, check=True)
    assert any(line.startswith(f"{path}: {key}: ") and problem in line for line in lines), lines


def test_encrypted_responder_key(work: Workdir) -> None:
    key = serialization.load_pem_private_key((work.root / "pki/leaf.key").read_bytes(), None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    (work.root / "pki/locked.key").write_bytes(encrypted)
    path = work.write(RESPONDER.format(stem="leaf", key="locked"))
    assert any(
        "responder.key: " in line and "is encrypted" in line
        for line in problems_of(path, check=True)
    )


def test_a_good_delegated_responder_passes(work: Workdir) -> None:
    path = work.write(DELEGATED.format(stem="acme_ocsp", key="acme_ocsp"))
    (issuer,) = check_config(path, ManualClock(NOW)).issuers()
    assert issuer.responder_cert == work.root / "pki" / "acme_ocsp.pem"
    assert issuer.responder_key == work.root / "pki" / "acme_ocsp.key"
