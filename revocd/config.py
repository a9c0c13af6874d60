"""TOML -> frozen dataclasses, once. Nothing after this module reads TOML or the environment.

`load_config` collects *every* problem it finds and raises one `ConfigError` that lists
them, one per line, each naming the file, the key and the way out; an operator fixing a
file wants all of them at once. Relative paths are resolved against the config file's
directory, so a config and its PKI can be moved together.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from revocd.config_checks import Problems, check_url, load_issuer_certificate
from revocd.errors import ConfigError
from revocd.model import Issuer, IssuerKey, Partner, Policy, SigningMode, Source
from revocd.units import parse_duration, parse_size

DEFAULT_POLICY = Policy(
    poll_interval=timedelta(minutes=5),
    grace=timedelta(hours=1),
    timeout=timedelta(seconds=10),
    max_crl_bytes=200 * 1024 * 1024,
    clock_skew=timedelta(minutes=5),
)
POLICY_KEYS = ("poll_interval", "grace", "timeout", "max_crl_bytes", "clock_skew")
TOP_KEYS = ("server", "store", "responder", "defaults", "partner", "logging")
SERVER_KEYS = ("listen",)
STORE_KEYS = ("backend", "path", "dsn")
RESPONDER_KEYS = ("cert", "key", "max_age", "nonce")
LOGGING_KEYS = ("format", "level")
PARTNER_KEYS = ("name", "issuer", *POLICY_KEYS)
ISSUER_KEYS = ("name", "cert", "crl", "ocsp", "signing", "responder_cert", "responder_key")
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    listen: str = "127.0.0.1:8080"
    host: str = "127.0.0.1"
    port: int = 8080


@dataclass(frozen=True, slots=True)
class StoreConfig:
    backend: str = "sqlite"
    path: Path | None = None
    dsn: str | None = None


@dataclass(frozen=True, slots=True)
class ResponderConfig:
    cert: Path
    key: Path
    max_age: timedelta = timedelta(hours=1)
    nonce: str = "echo"


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    format: str = "json"
    level: str = "info"


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    server: ServerConfig
    store: StoreConfig
    responder: ResponderConfig | None
    defaults: Policy
    partners: tuple[Partner, ...]
    logging: LoggingConfig = field(default_factory=LoggingConfig)

    def issuers(self) -> Iterator[Issuer]:
        for partner in self.partners:
            yield from partner.issuers

    def sources(self) -> Iterator[Source]:
        for issuer in self.issuers():
            yield from issuer.sources


def load_config(path: Path) -> Config:
    """Parse and validate `path`. Raises ConfigError listing every problem found."""
    problems = Problems(str(path))
    data = _read_toml(path)
    base = path.resolve().parent
    _unknown_keys(problems, data, TOP_KEYS, "")
    server = _server(problems, _table(problems, data, "server"))
    store = _store(problems, _table(problems, data, "store"), base)
    responder = _responder(problems, data.get("responder"), base)
    logging = _logging(problems, _table(problems, data, "logging"))
    defaults_table = _table(problems, data, "defaults")
    _unknown_keys(problems, defaults_table, POLICY_KEYS, "defaults")
    defaults = _policy(problems, defaults_table, DEFAULT_POLICY, "defaults")
    partners = _partners(problems, data.get("partner", []), defaults, base)
    problems.raise_if_any()
    return Config(path, server, store, responder, defaults, partners, logging)


def check_config(path: Path) -> Config:
    """`revocd check-config`: everything `load_config` checks, plus the responder key pair."""
    config = load_config(path)
    problems = Problems(str(path))
    if config.responder is not None:
        from revocd.config_checks import check_key_pair

        check_key_pair(problems, config.responder.cert, config.responder.key, "responder")
    for issuer in config.issuers():
        if issuer.responder_cert and issuer.responder_key:
            check_key_pair(
                problems,
                issuer.responder_cert,
                issuer.responder_key,
                f"partner '{issuer.partner}' issuer '{issuer.name}' responder_cert",
            )
    problems.raise_if_any()
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            str(path), "", "no such file (pass --config with the path to your revocd.toml)"
        ) from None
    except OSError as error:
        raise ConfigError(str(path), "", f"cannot read: {error.strerror}") from None
    try:
        return tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(str(path), "", "is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(str(path), "", f"not valid TOML: {error}") from None


def _table(problems: Problems, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        problems.add(key, f"must be a table ([{key}]), not {type(value).__name__}")
        return {}
    return value


def _unknown_keys(
    problems: Problems, table: Mapping[str, Any], known: tuple[str, ...], where: str
) -> None:
    for key in table:
        if key in known:
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(known)}"
        problems.add(_join(where, key), f"unknown key{hint}")


def _join(where: str, key: str) -> str:
    return f"{where} {key}" if where.startswith("partner") else (f"{where}.{key}" if where else key)


def _string(
    problems: Problems, table: Mapping[str, Any], key: str, where: str, default: str | None = None
) -> str | None:
    value = table.get(key, default)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        problems.add(_join(where, key), f"must be a non-empty string, not {value!r}")
        return None
    return value


def _choice(
    problems: Problems,
    table: Mapping[str, Any],
    key: str,
    where: str,
    choices: tuple[str, ...],
    default: str,
) -> str:
    value = table.get(key, default)
    if value not in choices:
        problems.add(
            _join(where, key), f"{value!r} is not one of {', '.join(repr(c) for c in choices)}"
        )
        return default
    return str(value)


def _server(problems: Problems, table: Mapping[str, Any]) -> ServerConfig:
    _unknown_keys(problems, table, SERVER_KEYS, "server")
    listen = _string(problems, table, "listen", "server", "127.0.0.1:8080") or "127.0.0.1:8080"
    host, sep, port_text = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        problems.add(
            "server.listen", f"{listen!r} is not HOST:PORT (use e.g. 127.0.0.1:8080 or [::1]:8080)"
        )
        return ServerConfig()
    return ServerConfig(listen, host, int(port_text))


def _store(problems: Problems, table: Mapping[str, Any], base: Path) -> StoreConfig:
    _unknown_keys(problems, table, STORE_KEYS, "store")
    backend = _choice(problems, table, "backend", "store", ("sqlite", "postgres"), "sqlite")
    dsn = _string(problems, table, "dsn", "store")
    path_text = _string(
        problems, table, "path", "store", "revocd.db" if backend == "sqlite" else None
    )
    if backend == "postgres" and not dsn:
        problems.add("store.dsn", 'backend "postgres" needs dsn = "postgresql://user@host/db"')
    path = base / path_text if path_text else None
    if backend == "sqlite" and path is not None and not path.parent.is_dir():
        problems.add(
            "store.path", f"directory {path.parent} does not exist (create it or change path)"
        )
    return StoreConfig(backend, path, dsn)


def _responder(problems: Problems, value: object, base: Path) -> ResponderConfig | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.add("responder", "must be a table ([responder])")
        return None
    _unknown_keys(problems, value, RESPONDER_KEYS, "responder")
    cert = _file(problems, value, "cert", "responder", base, required=True)
    key = _file(problems, value, "key", "responder", base, required=True)
    max_age = _duration(problems, value, "max_age", "responder", timedelta(hours=1))
    nonce = _choice(problems, value, "nonce", "responder", ("echo", "ignore"), "echo")
    if cert is None or key is None:
        return None
    return ResponderConfig(cert, key, max_age, nonce)


def _logging(problems: Problems, table: Mapping[str, Any]) -> LoggingConfig:
    _unknown_keys(problems, table, LOGGING_KEYS, "logging")
    return LoggingConfig(
        _choice(problems, table, "format", "logging", ("json", "console"), "json"),
        _choice(problems, table, "level", "logging", LOG_LEVELS, "info"),
    )


def _duration(
    problems: Problems, table: Mapping[str, Any], key: str, where: str, default: timedelta
) -> timedelta:
    if key not in table:
        return default
    try:
        value = parse_duration(table[key])
    except ValueError as error:
        problems.add(_join(where, key), str(error))
        return default
    return value


def _policy(problems: Problems, table: Mapping[str, Any], inherited: Policy, where: str) -> Policy:
    durations = {
        key: _duration(problems, table, key, where, getattr(inherited, key))
        for key in ("poll_interval", "grace", "timeout", "clock_skew")
    }
    max_bytes = inherited.max_crl_bytes
    if "max_crl_bytes" in table:
        try:
            max_bytes = parse_size(table["max_crl_bytes"])
        except ValueError as error:
            problems.add(_join(where, "max_crl_bytes"), str(error))
    for key in ("poll_interval", "timeout"):
        if key in table and durations[key] <= timedelta(0):
            problems.add(_join(where, key), f"must be more than 0 (got {table[key]!r})")
    if "max_crl_bytes" in table and max_bytes <= 0:
        problems.add(_join(where, "max_crl_bytes"), "must be more than 0 (use e.g. 200MiB)")
    return Policy(max_crl_bytes=max_bytes, **durations)


def _file(
    problems: Problems,
    table: Mapping[str, Any],
    key: str,
    where: str,
    base: Path,
    *,
    required: bool,
) -> Path | None:
    text = _string(problems, table, key, where)
    if text is None:
        if required and key not in table:
            problems.add(_join(where, key), "is required (a path to a PEM or DER file)")
        return None
    path = base / text
    if not path.is_file():
        problems.add(_join(where, key), f"file {path} does not exist")
        return None
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as error:
        problems.add(_join(where, key), f"file {path} is not readable: {error.strerror}")
        return None
    return path


def _partners(
    problems: Problems, value: object, defaults: Policy, base: Path
) -> tuple[Partner, ...]:
    if not isinstance(value, list):
        problems.add("partner", "must be an array of tables ([[partner]])")
        return ()
    partners: list[Partner] = []
    seen_partners: set[str] = set()
    seen_issuers: dict[str, str] = {}
    seen_keys: dict[IssuerKey, str] = {}
    for position, table in enumerate(value):
        if not isinstance(table, dict):
            problems.add(f"partner[{position}]", "must be a table")
            continue
        name = _string(problems, table, "name", f"partner[{position}]")
        label = f"partner '{name}'" if name else f"partner[{position}]"
        if name is None and "name" not in table:
            problems.add(label, "needs a name")
        if name in seen_partners:
            problems.add(f"{label} name", "duplicate partner name (partner names must be unique)")
        if name:
            seen_partners.add(name)
        _unknown_keys(problems, table, PARTNER_KEYS, label)
        policy = _policy(problems, table, defaults, label)
        issuers = _issuers(
            problems,
            table.get("issuer", []),
            label,
            name or f"partner{position}",
            base,
            seen_issuers,
            seen_keys,
        )
        if not issuers and "issuer" not in table:
            problems.add(label, "has no [[partner.issuer]]: declare at least one CA certificate")
        partners.append(Partner(name or f"partner{position}", policy, issuers))
    return tuple(partners)


def _issuers(
    problems: Problems,
    value: object,
    label: str,
    partner: str,
    base: Path,
    seen_names: dict[str, str],
    seen_keys: dict[IssuerKey, str],
) -> tuple[Issuer, ...]:
    if not isinstance(value, list):
        problems.add(f"{label} issuer", "must be an array of tables ([[partner.issuer]])")
        return ()
    issuers: list[Issuer] = []
    for position, table in enumerate(value):
        where = f"{label} issuer[{position}]"
        if not isinstance(table, dict):
            problems.add(where, "must be a table")
            continue
        name = _string(problems, table, "name", where)
        if name:
            where = f"{label} issuer '{name}'"
        elif "name" not in table:
            problems.add(where, "needs a name (used in URLs: /v1/status/NAME/SERIAL)")
        _unknown_keys(problems, table, ISSUER_KEYS, where)
        if name and name in seen_names:
            problems.add(
                f"{where} name",
                f"duplicate issuer name (already used by {seen_names[name]}); "
                "issuer names must be unique across partners",
            )
        elif name:
            seen_names[name] = label
        cert_path = _file(problems, table, "cert", where, base, required=True)
        cert = load_issuer_certificate(problems, cert_path, f"{where} cert") if cert_path else None
        crl = _urls(problems, table, "crl", where, base)
        ocsp = _urls(problems, table, "ocsp", where, base)
        if not crl and not ocsp and "crl" not in table and "ocsp" not in table:
            problems.add(where, "has no sources: give crl = [URL, ...] and/or ocsp = [URL, ...]")
        signing_text = _choice(
            problems, table, "signing", where, tuple(m.value for m in SigningMode), "trusted"
        )
        signing = SigningMode(signing_text)
        responder_cert = _file(
            problems,
            table,
            "responder_cert",
            where,
            base,
            required=signing is SigningMode.DELEGATED,
        )
        responder_key = _file(
            problems, table, "responder_key", where, base, required=signing is SigningMode.DELEGATED
        )
        if cert is None or not name:
            continue
        key = IssuerKey.from_certificate(cert)
        if key in seen_keys:
            problems.add(
                f"{where} cert",
                f"is the same CA (same subject and key) as {seen_keys[key]}; configure it once",
            )
        seen_keys[key] = where
        issuers.append(
            Issuer(
                name,
                partner,
                cert_path or Path(),
                cert,
                key,
                crl,
                ocsp,
                signing,
                responder_cert,
                responder_key,
            )
        )
    return tuple(issuers)


def _urls(
    problems: Problems, table: Mapping[str, Any], key: str, where: str, base: Path
) -> tuple[str, ...]:
    value = table.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        problems.add(f"{where} {key}", "must be a list of URLs")
        return ()
    urls: list[str] = []
    for position, url in enumerate(value):
        checked = check_url(problems, url, f"{where} {key}[{position}]", base)
        if checked and checked in urls:
            problems.add(f"{where} {key}[{position}]", f"{checked} is listed twice")
        elif checked:
            urls.append(checked)
    return tuple(urls)
