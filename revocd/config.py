"""TOML -> frozen dataclasses, once. Nothing after this module reads TOML or the environment.

`load_config` collects *every* problem it finds and raises one `ConfigProblems` (a
`ConfigError`) that lists them, one per line, each naming the file, the key and the way
out: an operator fixing a file wants all of them at once. Relative paths are resolved
against the config file's directory, so a config and its PKI can be moved together.
`check_config` adds the checks that only `revocd check-config` runs (key pairs, delegated
responder certificates). docs/configuration.md documents every key read here.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography import x509

from revocd.clock import Clock, SystemClock
from revocd.config_checks import (
    KEYS,
    ConfigProblems,
    Problem,
    Problems,
    TableReader,
    check_delegated_responder,
    check_key_pair,
    check_name,
    load_issuer_certificate,
    toml_type,
)
from revocd.errors import ConfigError
from revocd.model import Issuer, IssuerKey, OcspPolicy, Partner, Policy, SigningMode, Source

__all__ = [
    "ALERTS_KEYS",
    "DEFAULT_POLICY",
    "ISSUER_KEYS",
    "KEYS",
    "LOGGING_KEYS",
    "PARTNER_KEYS",
    "RESPONDER_KEYS",
    "SERVER_KEYS",
    "STORE_KEYS",
    "TOP_KEYS",
    "AlertsConfig",
    "Config",
    "ConfigProblems",
    "LoggingConfig",
    "Problem",
    "ResponderConfig",
    "ServerConfig",
    "StoreConfig",
    "check_config",
    "load_config",
]

DEFAULT_POLICY = Policy(
    poll_interval=timedelta(minutes=5),
    grace=timedelta(hours=1),
    timeout=timedelta(seconds=10),
    max_crl_bytes=200 * 1024 * 1024,
    clock_skew=timedelta(minutes=5),
)
DEFAULT_LISTEN = "127.0.0.1:8080"
DEFAULT_SQLITE_PATH = "revocd.db"
DEFAULT_MAX_AGE = timedelta(hours=1)
# The keys of each table, by name (KEYS has them all, by table).
TOP_KEYS = KEYS[""]
SERVER_KEYS = KEYS["server"]
STORE_KEYS = KEYS["store"]
RESPONDER_KEYS = KEYS["responder"]
LOGGING_KEYS = KEYS["logging"]
ALERTS_KEYS = KEYS["alerts"]
PARTNER_KEYS = KEYS["partner"]
ISSUER_KEYS = KEYS["partner.issuer"]
# Polling a partner more than once a second is a denial of service, not a policy.
MIN_POLL_INTERVAL = timedelta(seconds=1)
LOG_LEVELS = ("debug", "info", "warning", "error")
MAX_WORKERS = 256
# Upstream OCSP: in-flight requests per source beyond this are a flood, not a policy; a
# signed OCSP response below 1 KiB does not exist.
MAX_OCSP_CONCURRENCY = 1024
MIN_OCSP_BYTES = 1024
MAX_ALERT_QUEUE = 1_000_000
# Labels revocd sets on every alert itself; [alerts] labels may not replace them.
ALERT_LABELS = ("alertname", "severity", "partner", "issuer", "source", "reason")
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """`[server]`: `listen` as written, and the host and port it names (port 0: any free);
    `workers`: how many processes answer requests (`"auto"`: one per CPU core)."""

    listen: str = DEFAULT_LISTEN
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """`[store]`: `path` (absolute) is set for sqlite only, `dsn` for postgres only."""

    backend: str = "sqlite"
    path: Path | None = None
    dsn: str | None = None


@dataclass(frozen=True, slots=True)
class ResponderConfig:
    """`[responder]`: revocd's own OCSP signing identity ("trusted" signing)."""

    cert: Path
    key: Path
    max_age: timedelta = DEFAULT_MAX_AGE
    nonce: str = "echo"


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    """`[logging]`: the CLI's --log-format / --log-level win over these."""

    format: str = "json"
    level: str = "info"


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    """`[alerts]`: where alerts go (no `alertmanager` URLs: log and metrics only) and when
    a source counts as expiring or failing. Present even without the section, because
    `expiring_before` and `failing_after` shape the events that logs and metrics show."""

    alertmanager: tuple[str, ...] = ()
    resend_interval: timedelta = timedelta(minutes=1)
    expiring_before: timedelta = timedelta(minutes=15)
    failing_after: timedelta = timedelta(minutes=15)
    timeout: timedelta = timedelta(seconds=5)
    queue_size: int = 1000
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Config:
    """The whole file, checked. `path` is the file as given; every path inside is absolute.

    `defaults` is `[defaults]` over the built-in defaults; each partner's `policy` is its
    own overrides over `defaults`.
    """

    path: Path
    server: ServerConfig
    store: StoreConfig
    responder: ResponderConfig | None
    defaults: Policy
    partners: tuple[Partner, ...]
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)

    def issuers(self) -> tuple[Issuer, ...]:
        """Every configured issuer, partner by partner, in file order."""
        return tuple(issuer for partner in self.partners for issuer in partner.issuers)

    def sources(self) -> tuple[Source, ...]:
        """Every source (CRL URLs, then OCSP URLs, issuer by issuer), in file order."""
        return tuple(source for issuer in self.issuers() for source in issuer.sources)

    def policies(self) -> dict[str, Policy]:
        """Each issuer's policy (its partner's), by issuer name."""
        return {i.name: p.policy for p in self.partners for i in p.issuers}


def load_config(path: Path) -> Config:
    """Parse and validate `path`. Raises ConfigError (ConfigProblems) listing every problem."""
    problems = Problems(str(path))
    data = _read_toml(path)
    root = TableReader(problems, data, "", path.resolve().parent)
    root.only(KEYS[""])
    server = _server(root.table("server"))
    store = _store(root.table("store"))
    responder_table = root.table("responder")  # optional: absent means no OCSP signing key
    responder = _responder(responder_table) if isinstance(data.get("responder"), dict) else None
    logging = _logging(root.table("logging"))
    alerts = _alerts(root.table("alerts"))
    defaults_table = root.table("defaults")
    defaults_table.only(KEYS["defaults"])
    defaults = _policy(defaults_table, DEFAULT_POLICY)
    partners = _Partners(root, defaults).parse(data.get("partner", []))
    problems.raise_if_any()
    return Config(path, server, store, responder, defaults, partners, logging, alerts)


def check_config(path: Path, clock: Clock | None = None) -> Config:
    """`revocd check-config`: everything `load_config` checks, plus what only an operator
    asking for a full check wants run: key pairs match their certificates, which are valid
    now, and delegated responder certificates are usable OCSP signers for their issuer."""
    config = load_config(path)
    now = (clock or SystemClock()).now()
    problems = Problems(str(path))
    if not config.partners:
        problems.add(
            "partner",
            "no [[partner]] is configured, so every query would be answered "
            "unknown_issuer; add one (see config.example.toml)",
        )
    if config.responder is not None:
        keys = ("responder.cert", "responder.key")
        check_key_pair(problems, config.responder.cert, config.responder.key, keys, now)
    for issuer in config.issuers():
        where = f"partner '{issuer.partner}' issuer '{issuer.name}'"
        check_passthrough(problems, config, issuer, where)
        if issuer.responder_cert is None or issuer.responder_key is None:
            continue
        keys = (f"{where} responder_cert", f"{where} responder_key")
        cert = check_key_pair(problems, issuer.responder_cert, issuer.responder_key, keys, now)
        if cert is not None:
            check_delegated_responder(problems, cert, issuer.cert, keys[0])
    problems.raise_if_any()
    return config


def check_passthrough(problems: Problems, config: Config, issuer: Issuer, where: str) -> None:
    """Pass-through needs something to relay (`ocsp` URLs, asked without a nonce, since a
    response carrying revocd's nonce may not go to another client) and a fallback signer."""
    if issuer.signing is not SigningMode.PASSTHROUGH:
        return
    if not issuer.ocsp_urls:
        problems.add(
            f"{where} signing",
            '"passthrough" relays the partner\'s own OCSP responses, and this issuer has no '
            'ocsp URLs; add ocsp = ["http://..."] or use "trusted" or "delegated"',
        )
    policy = next(p.policy for p in config.partners if p.name == issuer.partner)
    if issuer.ocsp_urls and policy.ocsp.nonce:
        problems.add(
            f"{where} signing",
            '"passthrough" relays only responses without a nonce (a response to revocd\'s '
            f"nonce is no answer to a client's), and partner '{issuer.partner}' sends one "
            "upstream: set ocsp_nonce = false in that [[partner]] (replayed older responses "
            "are still refused)",
        )
    if issuer.passthrough_fallback is SigningMode.TRUSTED and config.responder is None:
        problems.add(
            f"{where} passthrough_fallback",
            '"trusted" signs with [responder] cert/key, which is not configured; add '
            '[responder] or use passthrough_fallback = "delegated" with responder_cert and '
            "responder_key",
        )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            str(path), "", "no such file (pass --config with the path to your revocd.toml)"
        ) from None
    except OSError as error:
        raise ConfigError(str(path), "", f"cannot read it: {error.strerror}") from None
    try:
        return tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(str(path), "", "is not UTF-8 text (TOML files are UTF-8)") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(str(path), "", f"is not valid TOML: {error}") from None


def _server(table: TableReader) -> ServerConfig:
    table.only(KEYS["server"])
    listen = table.string("listen", DEFAULT_LISTEN) or DEFAULT_LISTEN
    workers = _workers(table)
    host, port, problem = _split_listen(listen)
    if problem:
        table.add("listen", f"{listen!r} {problem}")
        return ServerConfig(workers=workers)
    return ServerConfig(listen, host, port, workers)


def _workers(table: TableReader) -> int:
    """`"auto"` (the default): one serving process per core this process may run on."""
    value = table.data.get("workers", "auto")
    if value == "auto":
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_WORKERS:
        return value
    table.add(
        "workers",
        f'{value!r} is not a number of processes: write "auto" (one per core) '
        f"or a whole number from 1 to {MAX_WORKERS}",
    )
    return 1


def _split_listen(listen: str) -> tuple[str, int, str]:
    """HOST:PORT or [IPv6]:PORT -> (host, port, problem); problem is "" when usable."""
    usage = "(use e.g. 127.0.0.1:8080 or [::1]:8080)"
    if listen.startswith("["):
        host, sep, port_text = listen[1:].partition("]:")
    else:
        host, sep, port_text = listen.rpartition(":")
        if ":" in host:
            return "", 0, f"is not HOST:PORT: put an IPv6 address in brackets {usage}"
    if not sep or not port_text:
        return "", 0, f"is not HOST:PORT {usage}"
    if not host:
        return "", 0, f"is not HOST:PORT: 0.0.0.0 listens on every interface {usage}"
    if not port_text.isdigit() or int(port_text) > 65535:
        return "", 0, f"is not HOST:PORT: the port must be 0 to 65535 (0: any free) {usage}"
    return host, int(port_text), ""


def _store(table: TableReader) -> StoreConfig:
    table.only(KEYS["store"])
    backend = table.choice("backend", ("sqlite", "postgres"), "sqlite")
    if backend == "postgres":
        if "path" in table.data:
            table.add("path", 'is only used with backend = "sqlite"; remove it')
        dsn = table.string("dsn")
        if "dsn" not in table.data:
            table.add(
                "dsn",
                'backend "postgres" needs dsn = "postgresql://revocd@db.example/revocd"',
            )
        elif dsn and not (dsn.startswith(("postgresql://", "postgres://")) or "=" in dsn):
            table.add(
                "dsn",
                f"{dsn!r} is not a libpq connection string "
                '(postgresql://USER@HOST/DB or "host=... dbname=...")',
            )
        return StoreConfig(backend, None, dsn)
    if "dsn" in table.data:
        table.add("dsn", 'is only used with backend = "postgres"; remove it')
    path = table.path("path", DEFAULT_SQLITE_PATH)
    if path is not None and not path.parent.is_dir():
        table.add("path", f"directory {path.parent} does not exist (create it or change path)")
    elif path is not None and path.is_dir():
        table.add("path", f"{path} is a directory; name the database file inside it")
    return StoreConfig(backend, path, None)


def _responder(table: TableReader) -> ResponderConfig | None:
    table.only(KEYS["responder"])
    cert = table.file("cert", required=True, what="revocd's OCSP signing certificate")
    key = table.file("key", required=True, what="that certificate's unencrypted private key")
    max_age = table.duration("max_age", DEFAULT_MAX_AGE)
    if max_age <= timedelta(0):
        table.add("max_age", 'must be more than 0 (OCSP responses need a lifetime), e.g. "1h"')
    nonce = table.choice("nonce", ("echo", "ignore"), "echo")
    if cert is None or key is None:
        return None
    return ResponderConfig(cert, key, max_age, nonce)


def _logging(table: TableReader) -> LoggingConfig:
    table.only(KEYS["logging"])
    level = table.data.get("level")
    if isinstance(level, str):  # "INFO" is what people type after years of Python logging
        table = dataclasses.replace(table, data={**table.data, "level": level.lower()})
    return LoggingConfig(
        table.choice("format", ("json", "console"), "json"),
        table.choice("level", LOG_LEVELS, "info"),
    )


def _alerts(table: TableReader) -> AlertsConfig:
    table.only(KEYS["alerts"])
    default = AlertsConfig()
    urls, _ = table.urls("alertmanager")
    for position, url in enumerate(urls):
        if not url.lower().startswith(("http://", "https://")):
            table.add(
                f"alertmanager[{position}]",
                f"{url}: Alertmanager is reached over http(s); give its base URL, "
                'like "http://127.0.0.1:9093"',
            )
    durations = {
        key: table.duration(key, getattr(default, key))
        for key in ("resend_interval", "expiring_before", "failing_after", "timeout")
    }
    for key in ("resend_interval", "expiring_before", "timeout"):
        if durations[key] <= timedelta(0):
            example = {"resend_interval": "1m", "expiring_before": "15m", "timeout": "5s"}[key]
            table.add(key, f'must be more than 0 (got {table.data[key]!r}), e.g. "{example}"')
    queue_size = table.data.get("queue_size", default.queue_size)
    if not (
        isinstance(queue_size, int)
        and not isinstance(queue_size, bool)
        and 1 <= queue_size <= MAX_ALERT_QUEUE
    ):
        table.add(
            "queue_size",
            f"{queue_size!r} is not a number of alerts: write a whole number from 1 to "
            f"{MAX_ALERT_QUEUE} (1000 is plenty)",
        )
        queue_size = default.queue_size
    return AlertsConfig(
        alertmanager=urls,
        resend_interval=durations["resend_interval"],
        expiring_before=durations["expiring_before"],
        failing_after=durations["failing_after"],
        timeout=durations["timeout"],
        queue_size=queue_size,
        labels=_alert_labels(table),
    )


def _alert_labels(table: TableReader) -> tuple[tuple[str, str], ...]:
    value = table.data.get("labels", {})
    if not isinstance(value, dict):
        table.add("labels", 'must be a table of strings, like labels = { cluster = "eu-1" }')
        return ()
    labels: list[tuple[str, str]] = []
    for name, text in value.items():
        key = f"labels.{name}"
        if not _LABEL_NAME.match(name):
            table.add(key, "is not a Prometheus label name (letters, digits and '_')")
        elif name in ALERT_LABELS:
            table.add(key, f"revocd sets {name!r} on every alert itself; choose another name")
        elif not isinstance(text, str) or not text:
            table.add(key, f"must be a non-empty string, not {text!r}")
        else:
            labels.append((name, text))
    return tuple(labels)


def _policy(table: TableReader, inherited: Policy) -> Policy:
    """The policy keys present in `table`, each checked, over `inherited` for the rest."""
    policy = Policy(
        poll_interval=table.duration("poll_interval", inherited.poll_interval),
        grace=table.duration("grace", inherited.grace),
        timeout=table.duration("timeout", inherited.timeout),
        max_crl_bytes=table.size("max_crl_bytes", inherited.max_crl_bytes),
        clock_skew=table.duration("clock_skew", inherited.clock_skew),
        ocsp=_ocsp_policy(table, inherited.ocsp),
    )
    # Only values written in this table are judged here: inherited ones were judged (and
    # reported) where they were written.
    written = table.data
    if "poll_interval" in written and policy.poll_interval <= timedelta(0):
        table.add("poll_interval", f"must be more than 0 (got {written['poll_interval']!r})")
    elif "poll_interval" in written and policy.poll_interval < MIN_POLL_INTERVAL:
        table.add(
            "poll_interval",
            f"{written['poll_interval']!r} is too short: poll at most once a second "
            "(a few minutes is usual)",
        )
    if "timeout" in written and policy.timeout <= timedelta(0):
        table.add("timeout", f'must be more than 0 (got {written["timeout"]!r}), e.g. "10s"')
    if "max_crl_bytes" in written and policy.max_crl_bytes <= 0:
        table.add(
            "max_crl_bytes",
            f"must be more than 0 (got {written['max_crl_bytes']!r}); allow a few times "
            'the partner\'s CRL size, e.g. "200MiB"',
        )
    return policy


def _ocsp_policy(table: TableReader, inherited: OcspPolicy) -> OcspPolicy:
    """The upstream OCSP keys (`ocsp_*`, `max_ocsp_bytes`) of a policy table."""
    policy = OcspPolicy(
        timeout=table.duration("ocsp_timeout", inherited.timeout),
        concurrency=_whole_number(
            table, "ocsp_concurrency", inherited.concurrency, MAX_OCSP_CONCURRENCY
        ),
        nonce=_boolean(table, "ocsp_nonce", inherited.nonce),
        refresh_window=table.duration("ocsp_refresh_window", inherited.refresh_window),
        max_bytes=table.size("max_ocsp_bytes", inherited.max_bytes),
        probe_interval=table.duration("ocsp_probe_interval", inherited.probe_interval),
        default_validity=table.duration("ocsp_default_validity", inherited.default_validity),
    )
    written = table.data
    if "ocsp_timeout" in written and policy.timeout <= timedelta(0):
        table.add(
            "ocsp_timeout",
            f"must be more than 0 (got {written['ocsp_timeout']!r}); a relying party waits "
            'this long at most per upstream source, e.g. "5s"',
        )
    if "max_ocsp_bytes" in written and policy.max_bytes < MIN_OCSP_BYTES:
        table.add(
            "max_ocsp_bytes",
            f"{written['max_ocsp_bytes']!r} is too small for any signed OCSP response "
            '(at least "1KiB"; "64KiB" leaves room for a responder certificate chain)',
        )
    if "ocsp_probe_interval" in written and policy.probe_interval < MIN_POLL_INTERVAL:
        table.add(
            "ocsp_probe_interval",
            f"{written['ocsp_probe_interval']!r} is too short: probe at most once a second "
            '(a few minutes is usual, e.g. "5m")',
        )
    return policy


def _whole_number(table: TableReader, key: str, default: int, most: int) -> int:
    value = table.data.get(key, default)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= most:
        return value
    table.add(key, f"{value!r} is not a whole number from 1 to {most}")
    return default


def _boolean(table: TableReader, key: str, default: bool) -> bool:
    value = table.data.get(key, default)
    if isinstance(value, bool):
        return value
    table.add(key, f"must be true or false (unquoted), not {toml_type(value)} {value!r}")
    return default


class _Partners:
    """`[[partner]]` and `[[partner.issuer]]`, with the checks that span the whole file:
    names are unique (issuer names globally: they are used in URLs), each CA is configured
    once, and a CRL URL belongs to one issuer."""

    def __init__(self, root: TableReader, defaults: Policy) -> None:
        self.root = root
        self.defaults = defaults
        self.partner_names: set[str] = set()
        self.issuer_names: dict[str, str] = {}
        self.issuer_keys: dict[IssuerKey, str] = {}
        self.crl_urls: dict[str, str] = {}

    def parse(self, value: object) -> tuple[Partner, ...]:
        if not isinstance(value, list):
            self.root.add("partner", "must be an array of tables: write [[partner]]")
            return ()
        partners = (self._partner(position, item) for position, item in enumerate(value))
        return tuple(p for p in partners if p is not None)

    def _element(self, parent: str, kind: str, position: int, item: object) -> TableReader | None:
        """A [[partner]] or [[partner.issuer]] element, labelled by its name when it has one."""
        where = f"{parent} {kind}" if parent else kind
        if not isinstance(item, dict):
            self.root.problems.add(f"{where}[{position}]", "must be a table")
            return None
        name = item.get("name")
        label = f"{where} '{name}'" if isinstance(name, str) and name else f"{where}[{position}]"
        return TableReader(self.root.problems, item, label, self.root.base, separator=" ")

    def _name(self, table: TableReader, kind: str) -> str | None:
        if "name" not in table.data:
            table.problems.add(
                table.where, f'needs a name = "..." (the {kind}\'s id in URLs, logs and metrics)'
            )
            return None
        name = table.string("name")
        return name if name and check_name(table.problems, name, table.key("name"), kind) else None

    def _partner(self, position: int, item: object) -> Partner | None:
        table = self._element("", "partner", position, item)
        if table is None:
            return None
        table.only(KEYS["partner"])
        name = self._name(table, "partner")
        if name in self.partner_names:
            table.add("name", "duplicate partner name (partner names must be unique)")
        policy = _policy(table, self.defaults)
        value = table.data.get("issuer", [])
        if not isinstance(value, list):
            table.add("issuer", "must be an array of tables: write [[partner.issuer]]")
            value = []
        elif not value:
            table.problems.add(table.where, "has no [[partner.issuer]]: declare at least one CA")
        issuers = tuple(
            issuer
            for index, entry in enumerate(value)
            if (issuer := self._issuer(table.where, name, index, entry)) is not None
        )
        if name is None or name in self.partner_names:
            return None
        self.partner_names.add(name)
        return Partner(name, policy, issuers)

    def _issuer(
        self, parent: str, partner: str | None, position: int, item: object
    ) -> Issuer | None:
        table = self._element(parent, "issuer", position, item)
        if table is None:
            return None
        table.only(KEYS["partner.issuer"])
        name = self._name(table, "issuer")
        if name is not None and name in self.issuer_names:
            table.add(
                "name",
                f"duplicate issuer name (already used by {self.issuer_names[name]}); issuer "
                "names must be unique across partners (they are used in URLs)",
            )
            name = None
        elif name is not None:
            self.issuer_names[name] = parent
        cert_path = table.file("cert", required=True, what="the CA certificate (PEM or DER)")
        crl, crl_ok = table.urls("crl")
        ocsp, ocsp_ok = table.urls("ocsp")
        if not crl and not ocsp and crl_ok and ocsp_ok:
            table.problems.add(
                table.where, "has no sources: give crl = [URL, ...] and/or ocsp = [URL, ...]"
            )
        self._claim_crl_urls(table, crl)
        cert = None
        if cert_path is not None:  # judged once the crl sources are known: cRLSign matters
            cert = load_issuer_certificate(
                table.problems, cert_path, table.key("cert"), signs_crls=bool(crl)
            )
        signing = SigningMode(
            table.choice("signing", tuple(m.value for m in SigningMode), "trusted")
        )
        fallback = self._passthrough_fallback(table, signing)
        responder_cert, responder_key = self._responder_files(table, signing, fallback)
        if cert_path is None or cert is None:
            return None
        key = self._claim_issuer_key(table, cert)
        if name is None or partner is None or key is None:
            return None
        return Issuer(
            name,
            partner,
            cert_path,
            cert,
            key,
            crl,
            ocsp,
            signing,
            responder_cert,
            responder_key,
            fallback,
        )

    def _passthrough_fallback(self, table: TableReader, signing: SigningMode) -> SigningMode | None:
        """`passthrough_fallback`: who signs what cannot be relayed (passthrough only)."""
        if signing is not SigningMode.PASSTHROUGH:
            if "passthrough_fallback" in table.data:
                table.add(
                    "passthrough_fallback",
                    f'is only used with signing = "passthrough" (this issuer is "{signing}"); '
                    "remove it",
                )
            return None
        choices = (SigningMode.TRUSTED.value, SigningMode.DELEGATED.value)
        return SigningMode(table.choice("passthrough_fallback", choices, "trusted"))

    def _responder_files(
        self, table: TableReader, signing: SigningMode, fallback: SigningMode | None
    ) -> tuple[Path | None, Path | None]:
        delegated = signing is SigningMode.DELEGATED or fallback is SigningMode.DELEGATED
        if not delegated:
            for key in ("responder_cert", "responder_key"):
                if key in table.data:
                    table.add(
                        key,
                        f'is only used with signing = "delegated" (this issuer is "{signing}") '
                        'or passthrough_fallback = "delegated"; set signing = "delegated" or '
                        "remove it",
                    )
            return None, None
        what = "the OCSP signing certificate this CA issued to revocd"
        cert = table.file("responder_cert", required=True, what=what)
        key_file = table.file("responder_key", required=True, what="its unencrypted private key")
        return cert, key_file

    def _claim_issuer_key(self, table: TableReader, cert: x509.Certificate) -> IssuerKey | None:
        key = IssuerKey.from_certificate(cert)
        if key in self.issuer_keys:
            table.add(
                "cert",
                f"is the same CA (same subject and key) as {self.issuer_keys[key]}; "
                "cross-signed copies of one CA are one issuer: configure it once, "
                "with all its URLs",
            )
            return None
        self.issuer_keys[key] = table.where
        return key

    def _claim_crl_urls(self, table: TableReader, urls: tuple[str, ...]) -> None:
        for position, url in enumerate(urls):
            owner = self.crl_urls.setdefault(url, table.where)
            if owner != table.where:
                table.add(
                    f"crl[{position}]",
                    f"{url} is also a crl source of {owner}; a CRL is "
                    "signed by one CA, so its URL belongs to one issuer",
                )
