"""Check JSON bodies against revocd/web/openapi.json, the published contract.

`validate` picks the response schema the document gives for (path template, method,
status), falling back to the operation's `default` response, and validates with Draft
2020-12 *including* `format: date-time` (jsonschema skips formats unless asked, and its
own date-time check needs an optional package, so one is registered here).
`call` sends a request, insists on a JSON body, validates it and returns it.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator, FormatChecker

ERROR_SCHEMA = "#/components/schemas/Error"


@cache
def document() -> dict[str, Any]:
    text = (resources.files("revocd.web") / "openapi.json").read_text("utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


def _format_checker() -> FormatChecker:
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def _rfc3339(value: object) -> bool:
        if not isinstance(value, str):
            return True  # `type` judges non-strings
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return "T" in value and parsed.tzinfo is not None

    return checker


def _pointer(*parts: str) -> str:
    escaped = (quote(p.replace("~", "~0").replace("/", "~1"), safe="~") for p in parts)
    return "#/" + "/".join(escaped)


def schema_ref(path_template: str, method: str, status: int) -> str:
    """The JSON pointer of the response schema for `status`, or of the `default` one."""
    operation = document()["paths"][path_template][method.lower()]
    key = str(status) if str(status) in operation["responses"] else "default"
    assert key in operation["responses"], (
        f"{method.upper()} {path_template} documents neither {status} nor a default response"
    )
    if key == "default":
        return ERROR_SCHEMA
    return _pointer(
        "paths",
        path_template,
        method.lower(),
        "responses",
        key,
        "content",
        "application/json",
        "schema",
    )


def validate_ref(ref: str, body: Any) -> None:
    root = {**document(), "$ref": ref}
    Draft202012Validator(root, format_checker=_format_checker()).validate(body)


def validate(path_template: str, method: str, status: int, body: Any) -> None:
    """Raise jsonschema.ValidationError unless `body` is what the document promises."""
    validate_ref(schema_ref(path_template, method, status), body)


async def call(
    client: TestClient[Any, Any],
    method: str,
    path: str,
    template: str | None,
    **kwargs: Any,
) -> tuple[int, Any]:
    """Send a request; the response must be JSON that the document allows for it.

    `template` is the documented path the request targets, or None for a route that
    does not exist (whose answer must still be the documented error object).
    """
    response = await client.request(method, path, **kwargs)
    assert response.content_type == "application/json", (method, path, response.content_type)
    body = await response.json()
    if template is None:
        validate_ref(ERROR_SCHEMA, body)
    else:
        validate(template, method, response.status, body)
    return response.status, body
