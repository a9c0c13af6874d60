"""The one exception tree of revocd.

::

    RevocdError                      anything revocd raises on purpose
     ├── ConfigError                 the TOML file is wrong: names file, key, problem   (exit 2)
     ├── Rejected                    a CRL/OCSP response failed a named check (RejectReason)
     ├── FetchError                  a source could not be fetched (timeout, HTTP status, ...)
     ├── StoreError                  the store could not be opened, migrated or written   (exit 3)
     └── RequestError                a client's request is unusable (HTTP 4xx, never 500)
          ├── BadRequest             400: malformed body, bad hex, bad JSON
          ├── NotFound               404: unknown issuer or route
          ├── PayloadTooLarge        413: body over the cap
          └── UnsupportedMediaType   415: wrong Content-Type

Mapping to exit codes and HTTP statuses happens here, once; the edges (cli.py and the
web routes) call `exit_code()` / read `RequestError.http_status` and nothing else.
"""

from __future__ import annotations

from typing import ClassVar

from revocd.evidence import RejectReason


class RevocdError(Exception):
    """Base of every error revocd raises on purpose."""

    exit_code: ClassVar[int] = 1


class ConfigError(RevocdError):
    """The configuration cannot be used. `str()` names the file, the key and the problem."""

    exit_code: ClassVar[int] = 2

    def __init__(self, path: str, key: str, problem: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        where = f"{path}: {key}: " if key else f"{path}: "
        super().__init__(f"{where}{problem}")


class Rejected(RevocdError):
    """Evidence failed one named acceptance check; the previous evidence stays in force."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{detail} ({reason.value})")


class FetchError(RevocdError):
    """A source could not be fetched. `kind` is a stable snake_case label for metrics.

    Kinds: ``timeout``, ``connection``, ``http_status``, ``too_many_redirects``,
    ``bad_url``, ``file_error``, ``oversize`` (the body passed ``max_crl_bytes``).
    """

    def __init__(self, kind: str, url: str, detail: str) -> None:
        self.kind = kind
        self.url = url
        self.detail = detail
        super().__init__(f"{url}: {detail}")


class StoreError(RevocdError):
    """The store failed; the daemon cannot promise persistence, so it stops."""

    exit_code: ClassVar[int] = 3


class RequestError(RevocdError):
    """A client sent something unusable. `code` is a stable snake_case error code."""

    http_status: ClassVar[int] = 400

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


class BadRequest(RequestError):
    http_status: ClassVar[int] = 400


class NotFound(RequestError):
    http_status: ClassVar[int] = 404


class PayloadTooLarge(RequestError):
    http_status: ClassVar[int] = 413


class UnsupportedMediaType(RequestError):
    http_status: ClassVar[int] = 415


def exit_code(error: BaseException) -> int:
    """The process exit code for an error that reached the CLI."""
    if isinstance(error, RevocdError):
        return error.exit_code
    return 1
