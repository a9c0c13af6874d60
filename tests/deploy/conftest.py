"""The deploy/ artefacts as a pod would see them, and a real revocd app built from them.

`pod_files` materialises the pod's file system from deploy/kubernetes: the ConfigMap's
revocd.toml and the Secret's key under the projected volume's mount path, the data
volume's directory, all rooted in tmp_path (absolute paths in revocd.toml are rewritten
to match). The partner CA and the responder key pair are generated, because the
ConfigMap holds a placeholder and the Secret is created by the operator.

`live` builds the app `revocd run` would build from that configuration
(`daemon.build_app`), with the issuer's CRL URLs pointed at a partner on 127.0.0.1 that
serves one good CRL, one with a bad signature and one 404, waits until the poller has
seen all three, and sends one JSON and a few OCSP requests, so every series the
dashboard and the alerts read exists in /metrics.
"""

from __future__ import annotations

import asyncio
import re
import time
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from revocd.config import Config, check_config
from revocd.daemon import Overrides, build_app
from tests.support.httpd import StaticPartner
from tests.support.pki import CA, issue, make_ca, make_crl, new_key

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
REVOKED_SERIAL = 0x1001


def manifests() -> dict[str, dict[str, Any]]:
    """Every object in deploy/kubernetes/*.yaml except the kustomization, by kind."""
    objects: dict[str, dict[str, Any]] = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            assert document["kind"] not in objects, f"two {document['kind']}s"
            objects[document["kind"]] = document
    return objects


def container() -> dict[str, Any]:
    (only,) = manifests()["Deployment"]["spec"]["template"]["spec"]["containers"]
    return dict(only)


def mounts() -> dict[str, dict[str, Any]]:
    """The revocd container's volume mounts, by volume name."""
    return {m["name"]: m for m in container()["volumeMounts"]}


def volumes() -> dict[str, dict[str, Any]]:
    spec = manifests()["Deployment"]["spec"]["template"]["spec"]
    return {v["name"]: v for v in spec["volumes"]}


def configmap_toml() -> str:
    return str(manifests()["ConfigMap"]["data"]["revocd.toml"])


@dataclass(frozen=True)
class Projected:
    """One file of a projected volume: where it appears in the pod, and where from."""

    pod_path: str  # absolute, as revocd.toml names it
    kind: str  # configMap | secret
    name: str
    key: str


def projected_files() -> dict[str, Projected]:
    """Every file the pod sees under a projected volume's mount path, by pod path."""
    files: dict[str, Projected] = {}
    for name, volume in volumes().items():
        if "projected" not in volume:
            continue
        base = mounts()[name]["mountPath"].rstrip("/")
        for source in volume["projected"]["sources"]:
            ((kind, ref),) = source.items()
            for item in ref["items"]:
                pod_path = f"{base}/{item['path']}"
                files[pod_path] = Projected(pod_path, kind, ref["name"], item["key"])
    return files


def toml_paths(text: str) -> set[str]:
    """Every absolute file path revocd.toml names (certificates, keys, the store)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str) and node.startswith("/"):
            found.add(node)

    walk(tomllib.loads(text))
    return found


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class PodFiles:
    root: Path
    config_path: Path  # the rewritten revocd.toml, inside root
    issuer: CA  # the partner CA written where the ConfigMap's placeholder would be

    def in_pod(self, pod_path: str) -> Path:
        return self.root / pod_path.lstrip("/")


def materialise(root: Path, rewrite: Callable[[str], str] = lambda text: text) -> PodFiles:
    """Write what the pod sees under root, with revocd.toml's paths moved under root too."""
    toml = configmap_toml()
    config = tomllib.loads(toml)
    issuer_certs = {i["cert"] for p in config.get("partner", []) for i in p["issuer"]}
    issuer = make_ca("Acme Issuing CA")
    responder_ca = make_ca(
        "revocd OCSP responder",
        not_before=now() - timedelta(days=1),
        not_after=now() + timedelta(days=365),
    )
    secret_data = {"tls.crt": responder_ca.pem(), "tls.key": responder_ca.key_pem()}
    configmap = manifests()["ConfigMap"]
    for volume_name, mount in mounts().items():
        (root / mount["mountPath"].lstrip("/")).mkdir(parents=True, exist_ok=True)
        assert volume_name in volumes(), f"mount of undeclared volume {volume_name}"

    bases = sorted((m["mountPath"].rstrip("/") for m in mounts().values()), key=len, reverse=True)
    under_a_mount = re.compile('"(' + "|".join(map(re.escape, bases)) + ")/")

    def moved(text: str) -> str:
        return rewrite(under_a_mount.sub(lambda m: f'"{root}{m[1]}/', text))

    for pod_path, item in projected_files().items():
        target = root / pod_path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if item.kind == "secret":
            target.write_bytes(secret_data[item.key])
        elif item.key == "revocd.toml":
            target.write_text(moved(configmap["data"][item.key]))
        elif pod_path in issuer_certs:
            target.write_bytes(issuer.pem())  # the ConfigMap holds a placeholder
        else:
            target.write_text(configmap["data"][item.key])
    config_path = next(
        root / p.lstrip("/") for p, i in projected_files().items() if i.key == "revocd.toml"
    )
    return PodFiles(root, config_path, issuer)


def pod_config(files: PodFiles) -> Config:
    return check_config(files.config_path)


@pytest.fixture
def pod_files(tmp_path: Path) -> PodFiles:
    return materialise(tmp_path / "pod")


@pytest.fixture
def partner() -> Iterator[StaticPartner]:
    with StaticPartner() as server:
        yield server


@dataclass
class Live:
    client: TestClient[Any, Any]
    files: PodFiles
    config: Config
    exposition: str  # /metrics once the poller has seen every source and requests were made


def ocsp_request(issuer: CA) -> bytes:
    leaf, _ = issue(issuer, serial=REVOKED_SERIAL, not_before=now() - timedelta(days=1))
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer.cert, hashes.SHA1()).build()
    return request.public_bytes(serialization.Encoding.DER)


async def eventually(what: str, check: Callable[[], Any], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def live(tmp_path: Path, partner: StaticPartner, aiohttp_client: Callable[..., Any]) -> Live:
    urls = [partner.url("/good.crl"), partner.url("/forged.crl"), partner.url("/missing.crl")]
    listed = ", ".join(f'"{u}"' for u in urls)
    files = materialise(
        tmp_path / "pod", lambda text: re.sub(r"crl = \[[^\]]*\]", f"crl = [{listed}]", text)
    )
    window = {"this_update": now() - timedelta(minutes=1), "next_update": now() + timedelta(days=1)}
    partner.files["/good.crl"] = make_crl(files.issuer, [REVOKED_SERIAL], number=7, **window)
    partner.files["/forged.crl"] = make_crl(files.issuer, [], number=8, signer=new_key(), **window)
    config = pod_config(files)
    app = build_app(config, Overrides(executor_factory=lambda: ThreadPoolExecutor(2)))
    client: TestClient[Any, Any] = await aiohttp_client(app)

    async def every_source_polled() -> bool:
        text = await (await client.get("/metrics")).text()
        return all(f'outcome="{o}"' in text for o in ("accepted", "rejected", "failed"))

    await eventually("the poller to fetch every source", every_source_polled)
    await eventually("/readyz", lambda: _status_is(client, "/readyz", 200))
    assert (await client.get(f"/v1/status/acme-issuing/{REVOKED_SERIAL:x}")).status == 200
    request = ocsp_request(files.issuer)
    for _ in range(2):  # a miss, then a pre-signed hit
        response = await client.post(
            "/ocsp", data=request, headers={"Content-Type": "application/ocsp-request"}
        )
        answer = ocsp.load_der_ocsp_response(await response.read())
        assert answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
        assert answer.certificate_status is ocsp.OCSPCertStatus.REVOKED
    exposition = await (await client.get("/metrics")).text()
    return Live(client, files, config, exposition)


async def _status_is(client: TestClient[Any, Any], path: str, status: int) -> bool:
    return (await client.get(path)).status == status
