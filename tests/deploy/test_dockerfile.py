"""deploy/docker: the image runs revocd the way the Kubernetes manifests expect.

No image is built here (that needs a Docker daemon and the base image); instead the
Dockerfile's instructions are read and checked against the package, the CLI and the
manifests, and its HEALTHCHECK command is run against a real revocd.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import shlex
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from revocd.cli import build_parser
from tests.deploy.conftest import (
    DEPLOY,
    REPO,
    Live,
    configmap_toml,
    container,
    manifests,
    mounts,
    projected_files,
)

DOCKERFILE = DEPLOY / "docker" / "Dockerfile"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def every(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.every(keyword)
        assert found, f"stage {self.name or self.base} has no {keyword}"
        return found[-1]


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in logical]


def stages() -> list[Stage]:
    args: dict[str, str] = {}
    found: list[Stage] = []
    for keyword, rest in instructions(DOCKERFILE.read_text()):
        if keyword == "ARG" and not found:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            words = rest.split()
            base = words[0]
            for name, value in args.items():
                base = base.replace(f"${{{name}}}", value).replace(f"${name}", value)
            alias = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            found.append(Stage(base, alias))
        else:
            assert found, f"{keyword} before FROM"
            found[-1].instructions.append((keyword, rest))
    return found


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"not the exec (JSON) form: {args}"
    return [str(v) for v in value]


def final() -> Stage:
    return stages()[-1]


def test_multi_stage_on_python_311_slim():
    built = stages()
    assert len(built) >= 2
    assert {s.base for s in built} == {"python:3.11-slim"}
    build = built[0]
    # the tested dependency versions, as `make test` installs them
    assert any("pip install -c constraints.txt ." in run for run in build.every("RUN"))
    copied = " ".join(final().every("COPY"))
    assert f"--from={build.name}" in copied
    assert not any("pip install" in run for run in final().every("RUN")), "no build in runtime"


def test_runs_as_the_pods_unprivileged_user():
    user = final().last("USER").split(":")[0]
    assert user not in ("root", "0")
    pod_user = manifests()["Deployment"]["spec"]["template"]["spec"]["securityContext"]
    assert user == str(pod_user["runAsUser"]), "the image's user differs from the pod's"


def test_cmd_is_revocd_run_with_the_configmaps_config():
    command = exec_form(final().last("CMD"))
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert command[0] in scripts
    args = build_parser().parse_args(command[1:])
    assert args.command == "run"
    config_files = [p for p, item in projected_files().items() if item.key == "revocd.toml"]
    assert [str(args.config)] == config_files
    overrides = {"command", "args"} & set(container())
    assert not overrides, "the Deployment overrides the image's CMD"


def test_exposes_the_configured_port_and_declares_the_store_volume():
    listen = tomllib.loads(configmap_toml())["server"]["listen"]
    assert final().last("EXPOSE") == listen.rpartition(":")[2]
    store = Path(tomllib.loads(configmap_toml())["store"]["path"]).parent
    assert str(store) in exec_form(final().last("VOLUME"))
    assert str(store) in {m["mountPath"] for m in mounts().values()}


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last matching pattern wins; `!` re-includes."""
    result = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        bare = pattern.removeprefix("!").rstrip("/")
        if bare.startswith("**/"):
            hit = any(fnmatch.fnmatch(part, bare[3:]) for part in parts)
        else:
            hit = any(fnmatch.fnmatch(prefix, bare) for prefix in prefixes)
        if hit:
            result = not negate
    return result


def test_the_build_context_has_what_copy_needs_and_no_secrets():
    lines = (REPO / ".dockerignore").read_text().splitlines()
    patterns = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    for copy in stages()[0].every("COPY"):
        *sources, _ = shlex.split(copy)
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
            assert not ignored(source, patterns), f"COPY {source} is excluded by .dockerignore"
    assert not ignored("revocd/web/openapi.json", patterns)
    assert not ignored("revocd/store/migrations/sqlite/0001.sql", patterns)
    for unwanted in (".git/config", ".venv/bin/python", "tests/vectors/x.der", "revocd.db"):
        assert ignored(unwanted, patterns), unwanted
    assert ignored("revocd/__pycache__/cli.cpython-311.pyc", patterns)


def healthcheck() -> list[str]:
    args = final().last("HEALTHCHECK")
    _, _, command = args.partition("CMD ")
    argv = exec_form(command)
    assert argv[0] == "python", "slim images have no curl: use the image's Python"
    return argv


def test_healthcheck_asks_healthz_on_the_exposed_port():
    code = healthcheck()[-1]
    assert f"http://127.0.0.1:{final().last('EXPOSE')}/healthz" in code


async def run_healthcheck(url: str) -> int:
    argv = healthcheck()
    code = argv[-1].replace(f"http://127.0.0.1:{final().last('EXPOSE')}", url)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *argv[1:-1],
        code,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(process.wait(), 30)


async def test_healthcheck_passes_against_revocd_and_fails_without_it(live: Live):
    url = str(live.client.make_url("")).rstrip("/")
    assert await run_healthcheck(url) == 0
    await live.client.close()
    assert await run_healthcheck(url) != 0
