"""A real `openssl ca` directory in a temporary path: issue, revoke with reasons, `-gencrl`.

Everything runs through the openssl CLI (no cryptography), so the CRLs are exactly what a
partner running a plain OpenSSL CA publishes: its encoding choices, its extensions
(crlNumber, authorityKeyIdentifier, reasonCode, holdInstructionCode, invalidityDate).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.peers import need_binary

CONFIG = """
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
certificate = $dir/ca.pem
private_key = $dir/ca.key
serial = $dir/serial
crlnumber = $dir/crlnumber
crl_extensions = crl_ext
default_md = sha256
default_days = 365
default_crl_days = 7
policy = policy_any
unique_subject = no
copy_extensions = none
[ policy_any ]
commonName = supplied
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
O = revocd tests
CN = {common_name}
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ v3_leaf ]
basicConstraints = critical, CA:false
authorityKeyIdentifier = keyid
[ crl_ext ]
authorityKeyIdentifier = keyid:always
"""

KEY_OPTIONS = {
    "ec": ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
    "rsa": ("-newkey", "rsa:2048"),
}


@dataclass(frozen=True)
class OpensslCA:
    dir: Path
    openssl: str

    @classmethod
    def create(
        cls, directory: Path, *, key: str = "ec", common_name: str = "OpenSSL CA"
    ) -> OpensslCA:
        """A self-signed CA with an empty database; skips (or fails) without openssl."""
        openssl = need_binary("openssl")
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "newcerts").mkdir()
        (directory / "index.txt").write_text("")
        (directory / "serial").write_text("1000\n")
        (directory / "crlnumber").write_text("01\n")
        config = CONFIG.format(dir=directory, common_name=common_name)
        (directory / "openssl.cnf").write_text(config)
        ca = cls(directory, openssl)
        ca.run(
            "req", "-new", "-x509", *KEY_OPTIONS[key], "-nodes", "-keyout", "ca.key",
            "-out", "ca.pem", "-days", "3650", "-config", "openssl.cnf", "-extensions", "v3_ca",
        )  # fmt: skip
        return ca

    def run(self, *args: str) -> str:
        result = subprocess.run(
            [self.openssl, *args], cwd=self.dir, capture_output=True, text=True, check=False
        )
        if result.returncode:
            raise AssertionError(f"openssl {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout + result.stderr

    @property
    def cert_pem(self) -> bytes:
        return (self.dir / "ca.pem").read_bytes()

    def issue(self, name: str) -> int:
        """Issue a leaf certificate `<name>.pem` with `openssl req` + `openssl ca`; its serial."""
        self.run(
            "req", "-new", *KEY_OPTIONS["ec"], "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", f"/CN={name}",
        )  # fmt: skip
        self.run(
            "ca", "-batch", "-config", "openssl.cnf", "-extensions", "v3_leaf",
            "-in", f"{name}.csr", "-out", f"{name}.pem",
        )  # fmt: skip
        out = self.run("x509", "-in", f"{name}.pem", "-noout", "-serial")
        return int(out.strip().split("=")[1], 16)

    def revoke(self, name: str, reason: str, *extra: str) -> None:
        """`openssl ca -revoke` with `-crl_reason <reason>` (keyCompromise, certificateHold,
        ...); `extra` passes e.g. `-crl_hold holdInstructionReject`."""
        self.run(
            "ca", "-config", "openssl.cnf", "-revoke", f"{name}.pem", "-crl_reason", reason,
            *extra,
        )  # fmt: skip

    def revoke_compromised_at(self, name: str, when: str) -> None:
        """keyCompromise with an invalidityDate (`when` as YYYYMMDDHHMMSSZ)."""
        self.run("ca", "-config", "openssl.cnf", "-revoke", f"{name}.pem", "-crl_compromise", when)

    def gencrl(self) -> bytes:
        """A new CRL from `openssl ca -gencrl` (the next CRL number), as DER."""
        self.run("ca", "-config", "openssl.cnf", "-gencrl", "-out", "crl.pem")
        self.run("crl", "-in", "crl.pem", "-outform", "DER", "-out", "crl.der")
        return (self.dir / "crl.der").read_bytes()
