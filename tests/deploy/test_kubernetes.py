"""deploy/kubernetes: what `kubectl apply -k` starts is a pod that revocd can run in.

The ConfigMap's revocd.toml passes revocd's own `check_config` once the pod's files are
in place; every file it names is mounted; the probes and the Prometheus annotations
point at routes and the port revocd serves; the security context leaves revocd the
one directory it writes.
"""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient

from revocd.config import ConfigProblems
from tests.deploy.conftest import (
    KUBERNETES,
    Live,
    PodFiles,
    configmap_toml,
    container,
    manifests,
    materialise,
    mounts,
    pod_config,
    projected_files,
    toml_paths,
    volumes,
)
from tests.support.peers import need_binary
from tests.web.conftest import build_world

PROBES = ("startupProbe", "livenessProbe", "readinessProbe")


def deployment_spec() -> dict[str, Any]:
    return dict(manifests()["Deployment"]["spec"])


def port_number(port: int | str) -> int:
    """A probe's or Service's port: a number or the name of a container port."""
    if isinstance(port, int):
        return port
    by_name = {p["name"]: p["containerPort"] for p in container()["ports"]}
    assert port in by_name, f"no container port named {port!r}"
    return int(by_name[port])


def test_kustomization_lists_every_manifest():
    listed = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())["resources"]
    present = sorted(p.name for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == present
    assert {"ConfigMap", "Deployment", "Service", "PersistentVolumeClaim"} <= set(manifests())


def test_the_configmap_passes_revocds_config_check(pod_files: PodFiles):
    config = pod_config(pod_files)
    assert [p.name for p in config.partners] == ["acme"]
    assert config.responder is not None
    assert config.store.backend == "sqlite"


def test_a_file_the_pod_lacks_fails_the_check(tmp_path: Path):
    """The check above is not vacuous: without the Secret's key revocd refuses to start."""
    files = materialise(tmp_path / "pod")
    key = next(p for p, i in projected_files().items() if i.kind == "secret" and "key" in i.key)
    files.in_pod(key).unlink()
    with pytest.raises(ConfigProblems, match=r"responder\.key"):
        pod_config(files)


def test_every_file_the_config_names_is_mounted():
    """An absolute path outside every mount, or a file under the config mount that no
    projected item provides, is a pod that crash-loops on a missing file."""
    mount_paths = [m["mountPath"].rstrip("/") for m in mounts().values()]
    provided = set(projected_files())
    config = tomllib.loads(configmap_toml())
    store = config["store"]["path"]
    for path in toml_paths(configmap_toml()):
        assert any(path.startswith(f"{m}/") for m in mount_paths), f"{path} is not mounted"
        if path != store:
            assert path in provided, f"{path} is not in the projected volume's items"


def test_the_store_lives_on_a_writable_volume():
    """The root file system is read-only: the sqlite file, its journal and WAL must be on
    the data volume, mounted writable, backed by the PersistentVolumeClaim."""
    store = Path(tomllib.loads(configmap_toml())["store"]["path"])
    (mount,) = [m for m in mounts().values() if Path(m["mountPath"]) == store.parent]
    assert not mount.get("readOnly", False)
    volume = volumes()[mount["name"]]
    claim = volume["persistentVolumeClaim"]["claimName"]
    assert claim == manifests()["PersistentVolumeClaim"]["metadata"]["name"]


def test_one_pod_for_the_embedded_store():
    """sqlite is single-process: no second pod, not even during a rollout."""
    assert tomllib.loads(configmap_toml())["store"]["backend"] == "sqlite"
    spec = deployment_spec()
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"
    claim = manifests()["PersistentVolumeClaim"]["spec"]
    assert claim["accessModes"] == ["ReadWriteOnce"]


def test_the_container_port_is_the_port_revocd_listens_on(pod_files: PodFiles):
    config = pod_config(pod_files)
    assert config.server.host == "0.0.0.0"  # the kubelet's probes come from outside the pod
    assert port_number("http") == config.server.port
    service = manifests()["Service"]
    (port,) = service["spec"]["ports"]
    assert (port["name"], port["port"]) == ("http", 80)
    assert port_number(port["targetPort"]) == config.server.port
    labels = deployment_spec()["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment_spec()["selector"]["matchLabels"].items() <= labels.items()


def test_probes_name_the_right_routes():
    probes = {name: container()[name]["httpGet"] for name in PROBES}
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["startupProbe"]["path"] == "/healthz"
    for name, probe in probes.items():
        assert port_number(probe["port"]) == port_number("http"), name


async def test_probes_while_the_store_loads(aiohttp_client: Any):
    """Liveness and start-up must pass while a large store loads (or the kubelet kills a
    healthy pod); readiness must not, until it has loaded."""
    world = build_world()
    client: TestClient[Any, Any] = await aiohttp_client(world.app)
    paths = {name: container()[name]["httpGet"]["path"] for name in PROBES}
    assert (await client.get(paths["startupProbe"])).status == 200
    assert (await client.get(paths["livenessProbe"])).status == 200
    assert (await client.get(paths["readinessProbe"])).status == 503
    world.cache.ready = True
    assert (await client.get(paths["readinessProbe"])).status == 200


async def test_the_configured_pod_answers_its_probes_and_scrapes(live: Live):
    for name in PROBES:
        response = await live.client.get(container()[name]["httpGet"]["path"])
        assert response.status == 200, name
    annotations = deployment_spec()["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == live.config.server.port
    response = await live.client.get(annotations["prometheus.io/path"])
    assert response.status == 200
    assert response.content_type == "text/plain"
    assert "revocd_source_freshness{" in await response.text()


def test_the_pod_runs_unprivileged():
    pod = deployment_spec()["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    security = container()["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert "add" not in security["capabilities"]
    resources = container()["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "memory" in resources["limits"]


def test_the_responder_key_comes_from_a_secret():
    config = tomllib.loads(configmap_toml())
    files = projected_files()
    for key in ("cert", "key"):
        item = files[config["responder"][key]]
        assert item.kind == "secret", f"responder {key} must come from the Secret"
    assert "PRIVATE KEY" not in yaml.safe_dump(manifests()["ConfigMap"])


def test_the_responder_key_is_not_world_readable():
    config = tomllib.loads(configmap_toml())
    (volume,) = [v["projected"] for v in volumes().values() if "projected" in v]
    items = [i for s in volume["sources"] for i in next(iter(s.values()))["items"]]
    key_path = config["responder"]["key"].removeprefix(mounts()["config"]["mountPath"] + "/")
    (item,) = [i for i in items if i["path"] == key_path]
    mode = item.get("mode", volume.get("defaultMode", 0o644))
    assert mode & 0o007 == 0, f"responder key mode {mode:o} is readable by every user"


@pytest.mark.peer
def test_kustomize_builds_the_manifests():
    kubectl = need_binary("kubectl")
    result = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    built = {d["kind"]: d for d in yaml.safe_load_all(result.stdout)}
    assert set(built) == set(manifests())
    for document in built.values():
        assert document["metadata"]["labels"]["app.kubernetes.io/part-of"] == "revocd"
    (pod_container,) = built["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert pod_container["image"].startswith("revocd:")
