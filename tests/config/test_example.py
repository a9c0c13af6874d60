"""The shipped `config.example.toml`, its documentation, and `revocd check-config`."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from revocd import config as config_module
from revocd.cli import main
from revocd.config import load_config
from revocd.model import SigningMode

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config.example.toml"
DOC = REPO / "docs" / "configuration.md"
EXAMPLE_PKI = REPO / "examples" / "pki"


def test_example_loads() -> None:
    config = load_config(EXAMPLE)
    assert [p.name for p in config.partners] == ["acme", "globex"]
    acme, globex = config.partners
    assert acme.policy.poll_interval == timedelta(minutes=2)
    assert acme.policy.grace == timedelta(hours=4)
    assert acme.policy.timeout == config.defaults.timeout
    assert globex.policy == config.defaults
    assert acme.issuers[0].signing is SigningMode.DELEGATED
    assert acme.issuers[0].responder_cert == EXAMPLE_PKI / "acme-revocd-ocsp.pem"
    assert [s.url.split(":")[0] for s in globex.issuers[0].sources] == ["http", "file"]
    assert config.responder is not None
    assert config.responder.cert == EXAMPLE_PKI / "responder.pem"


def test_example_passes_check_config_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(EXAMPLE)]) == 0
    captured = capsys.readouterr()
    assert "OK: 2 partner(s), 2 issuer(s), 4 source(s)" in captured.out
    assert captured.err == ""


def test_check_config_cli_bad_file_exits_2_with_message_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "revocd.toml"
    path.write_text('[defaults]\npoll_interval = "0s"\n', encoding="utf-8")
    assert main(["check-config", "--config", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{path}: defaults.poll_interval: must be more than 0" in captured.err
    assert "Traceback" not in captured.err


def test_check_config_cli_missing_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nope.toml"
    assert main(["check-config", "--config", str(path)]) == 2
    assert f"{path}: no such file" in capsys.readouterr().err


def test_check_config_cli_catches_responder_key_mismatch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        'key = "examples/pki/responder.key"', 'key = "examples/pki/acme-revocd-ocsp.key"'
    )
    mismatched = tmp_path / "revocd.toml"
    # absolute paths: the copy lives elsewhere, relative ones would not resolve
    mismatched.write_text(text.replace('"examples/', f'"{REPO}/examples/'), encoding="utf-8")
    load_config(mismatched)  # loading alone does not open the key ...
    assert main(["check-config", "--config", str(mismatched)]) == 2  # ... check-config does
    err = capsys.readouterr().err
    assert f"{mismatched}: responder.key: " in err
    assert "does not match the public key of" in err


def _keys(table: dict[str, object]) -> Iterator[str]:
    for key, value in table.items():
        yield key
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                yield from _keys(item)


def documented(key: str, doc: str) -> bool:
    """`key` appears as code in the doc: `key`, or as a table heading `[key]`,
    `[[key]]`, `[[partner.key]]`."""
    return re.search(rf"`(?:\[\[?(?:partner\.)?)?{re.escape(key)}(?:\]\]?)?`", doc) is not None


def test_every_example_key_is_documented() -> None:
    example = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    doc = DOC.read_text(encoding="utf-8")
    missing = sorted({k for k in _keys(example) if not documented(k, doc)})
    assert not missing, f"keys in config.example.toml missing from {DOC.name}: {missing}"


def test_every_known_key_is_documented_and_shown_in_the_example() -> None:
    known = {key for keys in config_module.KEYS.values() for key in keys}
    doc = DOC.read_text(encoding="utf-8")
    example = EXAMPLE.read_text(encoding="utf-8")
    assert not sorted(k for k in known if not documented(k, doc))
    # dsn is shown commented out (it is for postgres only); every other key is live
    line = r"^\s*#?\s*\[*(?:partner\.)?{}\b"
    hidden = sorted(k for k in known if not re.search(line.format(k), example, re.M))
    assert not hidden, f"keys config.py knows but config.example.toml does not show: {hidden}"
