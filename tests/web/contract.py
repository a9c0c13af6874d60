"""Validate JSON responses against revocd/web/openapi.json (the published contract)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any
from urllib.parse import quote

from jsonschema import Draft202012Validator

DOC: dict[str, Any] = json.loads((resources.files("revocd.web") / "openapi.json").read_text())


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(quote(p.replace("~", "~0").replace("/", "~1"), safe="~") for p in parts)


def validate(path: str, method: str, status: int, body: Any) -> None:
    """Raise jsonschema.ValidationError unless `body` is what the document promises."""
    responses = DOC["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} documents no {status} response"
    root = dict(DOC)
    root["$ref"] = _pointer(
        "paths", path, method, "responses", str(status), "content", "application/json", "schema"
    )
    Draft202012Validator(root).validate(body)
