"""`signing = "passthrough"`: what check-config requires (ocsp URLs, no upstream nonce, a
fallback signer) and what the loader refuses (responder files without a delegated mode)."""

from __future__ import annotations

from pathlib import Path

import pytest

from revocd.config import check_config, load_config
from revocd.errors import ConfigError
from revocd.model import SigningMode
from tests.support.pki import CA, issue, make_ca

RESPONDER = '[responder]\ncert = "responder.pem"\nkey = "responder.key"\n'


def write(tmp_path: Path, partner: str, issuer: str, *, responder: bool = True) -> Path:
    ca = make_ca("Upstream CA")
    ca.write(tmp_path, "ca")
    make_ca("revocd responder").write(tmp_path, "responder")
    cert, key = issue(ca, "acme revocd ocsp", ocsp_signing=True)
    CA(cert, key).write(tmp_path, "delegated")
    config = tmp_path / "revocd.toml"
    config.write_text(
        (RESPONDER if responder else "")
        + f'[[partner]]\nname = "acme"\n{partner}\n[[partner.issuer]]\nname = "acme-issuing"\n'
        + f'cert = "ca.pem"\n{issuer}\n'
    )
    return config


def test_passthrough_of_an_ocsp_only_issuer_is_accepted(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "ocsp_nonce = false",
        'ocsp = ["http://ocsp.acme.example/"]\nsigning = "passthrough"',
    )
    issuer = check_config(config).issuers()[0]
    assert issuer.signing is SigningMode.PASSTHROUGH
    assert issuer.passthrough_fallback is SigningMode.TRUSTED
    assert issuer.signer_mode is SigningMode.TRUSTED
    assert issuer.crl_urls == ()


def test_delegated_fallback_takes_the_responder_files(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "ocsp_nonce = false",
        'ocsp = ["http://ocsp.acme.example/"]\nsigning = "passthrough"\n'
        'passthrough_fallback = "delegated"\nresponder_cert = "delegated.pem"\n'
        'responder_key = "delegated.key"',
        responder=False,
    )
    issuer = check_config(config).issuers()[0]
    assert issuer.signer_mode is SigningMode.DELEGATED
    assert issuer.responder_cert is not None


@pytest.mark.parametrize(
    ("partner", "issuer", "responder", "key", "problem"),
    [
        (
            "ocsp_nonce = false",
            'crl = ["http://pki.acme.example/a.crl"]\nsigning = "passthrough"',
            True,
            "signing",
            "this issuer has no ocsp URLs",
        ),
        (
            "",
            'ocsp = ["http://ocsp.acme.example/"]\nsigning = "passthrough"',
            True,
            "signing",
            "set ocsp_nonce = false",
        ),
        (
            "ocsp_nonce = false",
            'ocsp = ["http://ocsp.acme.example/"]\nsigning = "passthrough"',
            False,
            "passthrough_fallback",
            "add [responder]",
        ),
        (
            "ocsp_nonce = false",
            'ocsp = ["http://ocsp.acme.example/"]\nsigning = "passthrough"\n'
            'passthrough_fallback = "delegated"',
            True,
            "responder_cert",
            "responder_cert",
        ),
    ],
    ids=["no-ocsp-urls", "upstream-nonce", "trusted-without-responder", "delegated-without-files"],
)
def test_check_config_refuses_with_the_way_out(
    tmp_path: Path, partner: str, issuer: str, responder: bool, key: str, problem: str
) -> None:
    config = write(tmp_path, partner, issuer, responder=responder)
    with pytest.raises(ConfigError) as error:
        check_config(config)
    message = str(error.value)
    assert f"partner 'acme' issuer 'acme-issuing' {key}" in message, message
    assert problem in message, message


def test_fallback_is_refused_without_passthrough(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "",
        'ocsp = ["http://ocsp.acme.example/"]\npassthrough_fallback = "delegated"',
    )
    with pytest.raises(ConfigError) as error:
        load_config(config)
    assert 'passthrough_fallback: is only used with signing = "passthrough"' in str(error.value)
