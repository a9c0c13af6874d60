"""A real `openssl ca` in a temporary directory: issue, revoke with reasons, `-gencrl`."""

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
CN = OpenSSL Test CA
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ v3_leaf ]
basicConstraints = critical, CA:false
"""


@dataclass
class OpensslCA:
    dir: Path
    openssl: str

    @classmethod
    def create(cls, directory: Path) -> OpensslCA:
        openssl = need_binary("openssl")
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "newcerts").mkdir()
        (directory / "index.txt").write_text("")
        (directory / "serial").write_text("1000\n")
        (directory / "crlnumber").write_text("01\n")
        (directory / "openssl.cnf").write_text(CONFIG.format(dir=directory))
        ca = cls(directory, openssl)
        ca.run(
            "req",
            "-new",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "3650",
            "-config",
            "openssl.cnf",
            "-extensions",
            "v3_ca",
        )
        return ca

    def run(self, *args: str) -> str:
        result = subprocess.run(
            [self.openssl, *args], cwd=self.dir, capture_output=True, text=True, check=False
        )
        if result.returncode:
            raise AssertionError(f"openssl {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout + result.stderr

    @property
    def cert_pem(self) -> Path:
        return self.dir / "ca.pem"

    def issue(self, name: str) -> int:
        """Issue a leaf certificate; returns its serial."""
        self.run(
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            f"/CN={name}",
        )
        self.run(
            "ca",
            "-batch",
            "-config",
            "openssl.cnf",
            "-extensions",
            "v3_leaf",
            "-in",
            f"{name}.csr",
            "-out",
            f"{name}.pem",
        )
        out = self.run("x509", "-in", f"{name}.pem", "-noout", "-serial")
        return int(out.strip().split("=")[1], 16)

    def revoke(self, name: str, reason: str) -> None:
        self.run("ca", "-config", "openssl.cnf", "-revoke", f"{name}.pem", "-crl_reason", reason)

    def gencrl(self) -> bytes:
        """A CRL from `openssl ca -gencrl`, as DER."""
        self.run("ca", "-config", "openssl.cnf", "-gencrl", "-out", "crl.pem")
        self.run("crl", "-in", "crl.pem", "-outform", "DER", "-out", "crl.der")
        return (self.dir / "crl.der").read_bytes()
