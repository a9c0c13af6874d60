"""The offline checks behind `load_config` and `check_config`: problems, files, certs, URLs.

Every check here *records* a problem instead of raising, so that one run of
`check-config` reports everything wrong with a file at once. A problem's key is the TOML
path of the value (`server.listen`, `defaults.grace`), except that `[[partner]]` and
`[[partner.issuer]]` elements are named by their `name`, or by position when they have
none, and followed by a space: `partner 'acme' issuer 'acme-issuing' crl[1]`,
`partner[2] grace`. List items carry their index (`crl[1]`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from revocd.eku import allows_ocsp_signing
from revocd.errors import ConfigError
from revocd.units import DURATION_HINT, parse_duration, parse_size

SUPPORTED_SCHEMES = ("http", "https", "file")

POLICY_KEYS = (
    "poll_interval",
    "grace",
    "timeout",
    "max_crl_bytes",
    "clock_skew",
    # upstream OCSP sources (revocd/upstream/)
    "ocsp_timeout",
    "ocsp_concurrency",
    "ocsp_nonce",
    "ocsp_refresh_window",
    "max_ocsp_bytes",
    "ocsp_probe_interval",
    "ocsp_default_validity",
)
# Every key the loader reads, by table ("" is the top level). docs/configuration.md has a
# section per table documenting each one; a test holds the two together.
KEYS: Mapping[str, tuple[str, ...]] = {
    "": ("server", "store", "responder", "logging", "alerts", "defaults", "partner"),
    "server": ("listen", "workers"),
    "store": ("backend", "path", "dsn"),
    "responder": ("cert", "key", "max_age", "nonce"),
    "logging": ("format", "level"),
    "alerts": (
        "alertmanager",
        "resend_interval",
        "expiring_before",
        "failing_after",
        "timeout",
        "queue_size",
        "labels",
    ),
    "defaults": POLICY_KEYS,
    "partner": ("name", *POLICY_KEYS, "issuer"),
    "partner.issuer": (
        "name",
        "cert",
        "crl",
        "ocsp",
        "signing",
        "passthrough_fallback",
        "responder_cert",
        "responder_key",
    ),
}
# Names travel in URLs (/v1/status/NAME/SERIAL), source ids ("partner/issuer/crl/url"),
# metric labels and log fields: keep them to characters that need no escaping anywhere.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# The status API also accepts an issuer as its hex SHA-1 or SHA-256 key hash.
_HASH_LIKE = re.compile(r"^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a config file: where (`key`) and what, with the way out."""

    key: str
    problem: str

    def line(self, path: str) -> str:
        return f"{path}: {self.key}: {self.problem}" if self.key else f"{path}: {self.problem}"


class ConfigProblems(ConfigError):
    """Every problem found in one config file, raised together.

    `key` and `problem` are those of the first problem (so code that handles a plain
    `ConfigError` still reads something true); `problems` holds all of them, and `str()`
    prints one line per problem, each naming the file, the key and the way out.
    """

    def __init__(self, path: str, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("ConfigProblems needs at least one problem")
        super().__init__(path, problems[0].key, problems[0].problem)
        self.problems = tuple(problems)
        lines = [p.line(path) for p in self.problems]
        if len(lines) > 1:
            lines.insert(0, f"{path}: {len(lines)} problems:")
        self.args = ("\n".join(lines),)


class Problems:
    """Collects the problems of one config file; `raise_if_any` raises them together."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.items: list[Problem] = []

    def add(self, key: str, problem: str) -> None:
        self.items.append(Problem(key, problem))

    def __len__(self) -> int:
        return len(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigProblems(self.path, self.items)


def toml_type(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}
    names |= {list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


@dataclass(slots=True)
class TableReader:
    """One TOML table being read: its values, where it is (for messages), the base dir.

    Each getter checks its value, records a problem and returns a usable default
    instead of raising, so that parsing goes on and finds the next problem too.
    """

    problems: Problems
    data: Mapping[str, Any]
    where: str
    base: Path
    # A plain table's keys are dotted (`server.listen`); a named element's follow a space
    # (`partner 'acme' grace`), which reads better than `partner 'acme'.grace`.
    separator: str = "."

    def key(self, key: str) -> str:
        return f"{self.where}{self.separator}{key}" if self.where else key

    def add(self, key: str, problem: str) -> None:
        self.problems.add(self.key(key), problem)

    def table(self, key: str) -> TableReader:
        value = self.data.get(key, {})
        if not isinstance(value, dict):
            self.add(key, f"must be a table ([{key}]), not {toml_type(value)}")
            value = {}
        return TableReader(self.problems, value, self.key(key), self.base)

    def only(self, known: tuple[str, ...]) -> None:
        for key in self.data:
            if key not in known:
                self.add(key, f"unknown key; {_suggest(key, known)}")

    def string(self, key: str, default: str | None = None) -> str | None:
        value = self.data.get(key, default)
        if value is None or (isinstance(value, str) and value.strip()):
            return value
        self.add(key, f"must be a non-empty string, not {toml_type(value)} {value!r}")
        return None

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.data.get(key, default)
        if value in choices:
            return str(value)
        self.add(key, f"{value!r} is not one of {', '.join(repr(c) for c in choices)}")
        return default

    def duration(self, key: str, default: timedelta) -> timedelta:
        if key not in self.data:
            return default
        value = self.data[key]
        if isinstance(value, int | float) and not isinstance(value, bool):
            self.add(
                key, f"{value!r} is not a duration: write a string with a unit ({DURATION_HINT})"
            )
            return default
        try:
            return parse_duration(value)
        except ValueError as error:
            self.add(key, str(error))
        except OverflowError:
            self.add(key, f"{value!r} is too long a duration")
        return default

    def size(self, key: str, default: int) -> int:
        if key not in self.data:
            return default
        value = self.data[key]
        try:
            return parse_size(value)
        except ValueError as error:
            self.add(key, str(error))
        except OverflowError:
            self.add(key, f"{value!r} is too large a size")
        return default

    def path(self, key: str, default: str | None = None) -> Path | None:
        text = self.string(key, default)
        return self.base / text if text else None

    def file(self, key: str, *, required: bool, what: str = "a PEM or DER file") -> Path | None:
        """A file that must exist and be readable; relative to the config file."""
        if required and key not in self.data:
            self.add(key, f"is required: the path to {what}")
            return None
        path = self.path(key)
        if path is None or not readable_file(self.problems, path, self.key(key)):
            return None
        return path

    def urls(self, key: str) -> tuple[tuple[str, ...], bool]:
        """The list of URLs under `key` and whether all of them were usable."""
        value = self.data.get(key, [])
        if isinstance(value, str):
            value = [value]  # one URL without brackets: a kindness, not a different meaning
        if not isinstance(value, list):
            self.add(key, f"must be a list of URLs, not {toml_type(value)}")
            return (), False
        urls: list[str] = []
        ok = True
        for position, item in enumerate(value):
            url = check_url(self.problems, item, self.key(f"{key}[{position}]"))
            if url is not None and url in urls:
                self.add(f"{key}[{position}]", f"{url} is listed twice; list it once")
            elif url is not None:
                urls.append(url)
            ok = ok and url is not None
        return tuple(urls), ok


def _suggest(key: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    homes = [table for table, keys in KEYS.items() if table and key in keys]
    if homes:
        return f"'{key}' belongs in {' or '.join(_header(t) for t in homes)}"
    return f"known keys: {', '.join(known)}"


def _header(table: str) -> str:
    return f"[[{table}]]" if table.startswith("partner") else f"[{table}]"


def check_name(problems: Problems, name: str, key: str, what: str) -> bool:
    if not _NAME.match(name):
        problems.add(
            key,
            f"{name!r} is not a usable {what} name: use 1 to 64 letters, digits, '.', '_' "
            "or '-', starting with a letter or digit",
        )
        return False
    if what == "issuer" and _HASH_LIKE.match(name):
        problems.add(
            key,
            f"{name!r} looks like a hex key hash, which the status API also accepts as an "
            "issuer id; choose a name that is not 40 or 64 hex digits",
        )
        return False
    return True


def readable_file(problems: Problems, path: Path, key: str) -> bool:
    """True when `path` is a regular file this process can read; else records why not."""
    if not path.exists():
        problems.add(key, f"file {path} does not exist")
        return False
    if not path.is_file():
        problems.add(key, f"{path} is not a regular file")
        return False
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as error:
        problems.add(
            key, f"cannot read {path}: {error.strerror} (let the user running revocd read it)"
        )
        return False
    return True


def load_certificate(path: Path) -> x509.Certificate:
    """Exactly one certificate, PEM or DER. Raises ValueError naming what is wrong."""
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError:
            raise ValueError("is not a PEM or DER certificate (no readable PEM block)") from None
        if len(certs) != 1:
            raise ValueError(f"holds {len(certs)} certificates; put exactly one in the file")
        return certs[0]
    try:
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise ValueError("is not a PEM or DER certificate") from None


def load_issuer_certificate(
    problems: Problems, path: Path, key: str, *, signs_crls: bool
) -> x509.Certificate | None:
    """The issuer's CA certificate, or None after recording why it cannot be one."""
    try:
        cert = load_certificate(path)
    except ValueError as error:
        problems.add(key, f"{path} {error}")
        return None
    subject = cert.subject.rfc4514_string()
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        problems.add(
            key,
            f"{path} ({subject}) is not a CA certificate (basicConstraints cA is not true); "
            "configure the CA certificate that issues the partner's certificates",
        )
        return None
    if signs_crls and not _may_sign_crls(cert):
        problems.add(
            key,
            f"{path} ({subject}) has keyUsage without cRLSign, so every CRL it signs would be "
            "rejected; configure the CA that signs the CRLs, or drop the crl sources",
        )
        return None
    return cert


def _may_sign_crls(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value.crl_sign
    except x509.ExtensionNotFound:
        return True  # RFC 5280: no keyUsage means no restriction


def check_url(problems: Problems, url: object, key: str) -> str | None:
    """The URL when revocd can fetch it (http, https, absolute file), else None."""
    if not isinstance(url, str) or not url.strip():
        problems.add(key, f"must be a URL string, not {url!r}")
        return None
    if any(c.isspace() or ord(c) < 0x20 for c in url):
        problems.add(key, f"{url!r} contains whitespace; percent-encode it (%20)")
        return None
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("ldap", "ldaps"):
        problems.add(
            key,
            f"{url}: LDAP distribution points are not supported yet; publish the CRL over "
            "http(s) or mirror it to a file: URL",
        )
        return None
    if scheme not in SUPPORTED_SCHEMES:
        problems.add(
            key, f"{url}: unsupported URL scheme {scheme or '(none)'!r} (use http, https or file)"
        )
        return None
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            problems.add(
                key, f"{url}: file URLs must be absolute, like file:///var/lib/revocd/issuing.crl"
            )
            return None
        return url
    if not parts.hostname:
        problems.add(key, f"{url}: has no host (write {scheme}://HOST/PATH)")
        return None
    try:
        _ = parts.port
    except ValueError:
        problems.add(key, f"{url}: the port is not a number from 1 to 65535")
        return None
    return url


def load_private_key(path: Path) -> PrivateKeyTypes:
    """An unencrypted private key, PEM or DER. Raises ValueError naming what is wrong."""
    data = path.read_bytes()
    try:
        if b"-----BEGIN" in data:
            return serialization.load_pem_private_key(data, password=None)
        return serialization.load_der_private_key(data, password=None)
    except TypeError:
        raise ValueError("is encrypted; revocd needs an unencrypted key file (mode 0600)") from None
    except ValueError:
        raise ValueError("is not a PEM or DER private key") from None


def check_key_pair(
    problems: Problems, cert_path: Path, key_path: Path, keys: tuple[str, str], now: datetime
) -> x509.Certificate | None:
    """check-config only: the certificate is valid now and the key file is its private key.

    `keys` names the two config keys (certificate, private key) for the messages.
    """
    cert_key, key_key = keys
    try:
        cert = load_certificate(cert_path)
    except ValueError as error:
        problems.add(cert_key, f"{cert_path} {error}")
        return None
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        problems.add(
            cert_key,
            f"{cert_path} is valid from {cert.not_valid_before_utc:%Y-%m-%d} to "
            f"{cert.not_valid_after_utc:%Y-%m-%d}, not now; OCSP clients would reject "
            "responses signed with it: renew it",
        )
    try:
        private = load_private_key(key_path)
    except ValueError as error:
        problems.add(key_key, f"{key_path} {error}")
        return cert
    if _spki(private.public_key()) != _spki(cert.public_key()):
        problems.add(
            key_key,
            f"{key_path} does not match the public key of {cert_path}; configure the pair",
        )
    return cert


def check_delegated_responder(
    problems: Problems, responder: x509.Certificate, issuer: x509.Certificate, key: str
) -> None:
    """check-config only: a delegated OCSP certificate must be issued by the issuer itself
    with the id-kp-OCSPSigning EKU (RFC 6960 4.2.2.2), or no client accepts it."""
    try:
        responder.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        problems.add(
            key,
            f"is not issued by {issuer.subject.rfc4514_string()}: a delegated responder "
            "certificate must be signed by the issuer it answers for",
        )
    if not allows_ocsp_signing(responder):
        problems.add(
            key,
            "lacks the id-kp-OCSPSigning extended key usage, so OCSP clients will not accept "
            "its signatures; ask the partner to issue it with that EKU",
        )


def _spki(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
