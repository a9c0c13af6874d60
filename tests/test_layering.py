"""Imports point inward (STYLE.md): the pure modules import no I/O, and layers don't loop.

Checked with `ast`, so a violation fails here with the file and the import named.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "revocd"

IO_MODULES = {
    "aiohttp",
    "asyncio",
    "asyncpg",
    "sqlite3",
    "socket",
    "subprocess",
    "urllib.request",
    "http",
    "os",
    "shutil",
    "structlog",
    "revocd.fetch",
    "revocd.store",
    "revocd.web",
    "revocd.poll",
    "revocd.daemon",
    "revocd.cli",
}

PURE = [
    "verify",
    "status/freshness.py",
    "status/answer.py",
    "poll/backoff.py",
    "revoked.py",
    "serials.py",
    "der.py",
    "units.py",
    "evidence.py",
    "upstream/verify.py",
    "upstream/outcome.py",
    "upstream/combine.py",
]

# layer -> modules it must never import (outward or sideways edges)
FORBIDDEN = {
    "web": {"revocd.poll", "revocd.store", "revocd.fetch", "revocd.daemon", "revocd.cli"},
    "status": {"revocd.poll", "revocd.store", "revocd.fetch", "revocd.web", "revocd.daemon"},
    "verify": {"revocd.poll", "revocd.store", "revocd.fetch", "revocd.web", "revocd.status.cache"},
    "fetch": {"revocd.poll", "revocd.web", "revocd.verify", "revocd.daemon"},
    "store": {"revocd.poll", "revocd.web", "revocd.fetch", "revocd.daemon"},
    "poll": {"revocd.web", "revocd.daemon", "revocd.cli"},
    "upstream": {"revocd.poll", "revocd.store", "revocd.web", "revocd.daemon", "revocd.cli"},
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def files(target: str) -> list[Path]:
    path = ROOT / target
    return sorted(path.rglob("*.py")) if path.is_dir() else [path]


def hits(imported: set[str], banned: set[str]) -> set[str]:
    return {m for m in imported for b in banned if m == b or m.startswith(b + ".")}


@pytest.mark.parametrize("target", PURE, ids=PURE)
def test_pure_modules_import_no_io(target):
    for path in files(target):
        bad = hits(imports_of(path), IO_MODULES)
        assert not bad, f"{path.relative_to(ROOT.parent)} imports {sorted(bad)}: keep it pure"


@pytest.mark.parametrize("layer", sorted(FORBIDDEN), ids=sorted(FORBIDDEN))
def test_layers_import_inward_only(layer):
    for path in files(layer):
        bad = hits(imports_of(path), FORBIDDEN[layer])
        assert not bad, f"{path.relative_to(ROOT.parent)} imports {sorted(bad)} (outward edge)"
