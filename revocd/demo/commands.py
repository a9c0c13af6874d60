"""What `revocd demo` prints: the commands to try, each under a heading that says what
it shows. tests/e2e/test_demo.py runs them exactly as printed, grouped by heading.
"""

from __future__ import annotations

import shlex
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from revocd.demo.partners import PartnerResponder
from revocd.demo.pki import DemoCA, Federation
from revocd.model import IssuerKey


def revocd_command() -> str:
    """How the person running the demo runs revocd: the console script, or -m."""
    if Path(sys.argv[0]).name == "__main__.py":
        return f"{shlex.quote(sys.executable)} -m revocd"
    return shlex.quote(sys.argv[0])


@dataclass(frozen=True)
class Example:
    """One thing to try: `label` is what it shows (tests look it up), then commands."""

    label: str
    what: str
    commands: tuple[str, ...]


def examples(port: int, directory: Path, fed: Federation, fabrikam_url: str) -> list[Example]:
    url = f"http://127.0.0.1:{port}"
    certs = directory / "certs"
    pki = directory / "pki"
    revocd = revocd_command()

    def serial(ca: DemoCA, i: int) -> str:
        return f"{ca.leaves[i - 1][1].serial_number:x}"

    def ocsp_via_revocd(issuer: str, leaf: str) -> str:
        return (
            f"openssl ocsp -issuer {pki / issuer} -cert {certs / leaf} \\\n"
            f"       -url {url}/ocsp -VAfile {pki / 'responder.pem'}"
        )

    contoso_key = IssuerKey.from_certificate(fed.contoso.cert).key_sha1.hex()
    batch = ", ".join(
        f'{{"issuer": "{issuer}", "serial": "{serial(ca, i)}"}}'
        for issuer, ca in (
            ("northwind-root", fed.northwind),
            ("contoso-issuing", fed.contoso),
            ("fabrikam-issuing", fed.fabrikam),
        )
        for i in (1, 2)
    )
    return [
        Example(
            "partners",
            "every partner, issuer and source, with its freshness",
            (f"curl -s {url}/v1/partners | python3 -m json.tool", f"{revocd} status --url {url}"),
        ),
        Example(
            "good",
            "northwind-1, from northwind's CRL (CRL-only partner), by JSON and by OCSP",
            (
                f"curl -s {url}/v1/status/northwind-root/{serial(fed.northwind, 1)}",
                ocsp_via_revocd("northwind-root.pem", "northwind-1.pem"),
            ),
        ),
        Example(
            "revoked",
            "northwind-2, listed on northwind's CRL",
            (
                f"curl -s {url}/v1/status/northwind-root/{serial(fed.northwind, 2)}",
                ocsp_via_revocd("northwind-root.pem", "northwind-2.pem"),
            ),
        ),
        Example(
            "upstream good",
            "fabrikam-1 (OCSP-only partner): revocd asks fabrikam's responder, "
            'the JSON says "source": {"type": "ocsp", ...}',
            (
                f"curl -s {url}/v1/status/fabrikam-issuing/{serial(fed.fabrikam, 1)}",
                ocsp_via_revocd("fabrikam-issuing.pem", "fabrikam-1.pem"),
            ),
        ),
        Example(
            "upstream revoked",
            "fabrikam-2, revoked in fabrikam's responder",
            (
                f"curl -s {url}/v1/status/fabrikam-issuing/{serial(fed.fabrikam, 2)}",
                ocsp_via_revocd("fabrikam-issuing.pem", "fabrikam-2.pem"),
            ),
        ),
        Example(
            "passthrough",
            "fabrikam-1 asked without a nonce: revocd relays fabrikam's own signed answer, "
            "which verifies against fabrikam's CA alone",
            (
                f"openssl ocsp -no_nonce -issuer {pki / 'fabrikam-issuing.pem'} "
                f"-cert {certs / 'fabrikam-1.pem'} \\\n"
                f"       -url {url}/ocsp -CAfile {pki / 'fabrikam-issuing.pem'}",
            ),
        ),
        Example(
            "partner responder",
            "the same question put to fabrikam's own responder, which revocd relies on",
            (
                f"openssl ocsp -issuer {pki / 'fabrikam-issuing.pem'} "
                f"-cert {certs / 'fabrikam-2.pem'} \\\n"
                f"       -url {fabrikam_url} -CAfile {pki / 'fabrikam-issuing.pem'}",
            ),
        ),
        Example(
            "cross-certified",
            "contoso-1, trusted by a northwind relying party through northwind's "
            "cross-certificate; that copy has contoso's subject and key, so revocd answers "
            "as for contoso-issuing (also by key hash, and found from the certificate)",
            (
                f"openssl verify -CAfile {pki / 'northwind-root.pem'} \\\n"
                f"       -untrusted {pki / 'contoso-issuing-by-northwind.pem'} "
                f"{certs / 'contoso-1.pem'}",
                ocsp_via_revocd("contoso-issuing-by-northwind.pem", "contoso-1.pem"),
                f"curl -s {url}/v1/status/{contoso_key}/{serial(fed.contoso, 1)}",
                f"{revocd} query --url {url} --cert {certs / 'contoso-1.pem'}",
            ),
        ),
        Example(
            "cross-certified revoked",
            "contoso-2 through the same cross-certificate",
            (ocsp_via_revocd("contoso-issuing-by-northwind.pem", "contoso-2.pem"),),
        ),
        Example(
            "batch",
            "one POST for the good and the revoked certificate of every partner",
            (
                "curl -s -X POST -H 'Content-Type: application/json' \\\n"
                f"       -d '{{\"queries\": [{batch}]}}' {url}/v1/status",
            ),
        ),
    ]


def commands_to_try(
    port: int, directory: Path, fed: Federation, partner_url: str, responder: PartnerResponder
) -> str:
    fabrikam_url = responder.url
    url = f"http://127.0.0.1:{port}"
    tries = "\n\n".join(
        textwrap.fill(f"{e.label}: {e.what}", 88, initial_indent="  # ", subsequent_indent="  #   ")
        + "\n"
        + "\n".join(f"  {c}" for c in e.commands)
        for e in examples(port, directory, fed, fabrikam_url)
    )
    revocd = revocd_command()
    return f"""
revocd demo is running: revocd on {url}
Partners:
  northwind  CRL-only         {partner_url}/northwind/root.crl
  contoso    CRL + file: mirror, cross-certified with northwind
                              {partner_url}/contoso/issuing.crl
  fabrikam   OCSP-only        {fabrikam_url}
                              its own responder (openssl ocsp, pid {responder.pid})
Files (PKI, certificates, config, store): {directory}
Every few seconds a partner revokes its next certificate (lines starting "demo:");
ask about that serial again and watch the answer change.

{tries}

  # more
  {revocd} fetch --config {directory / "revocd.toml"}
  open {url}/ in a browser for the freshness page

Ctrl-C to stop.
"""
