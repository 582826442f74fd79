"""k8s/: every rendered manifest is valid Kubernetes, and the services are wired as they need."""

from __future__ import annotations

import copy
import hashlib
import json
import re

import kubernetes_validate
import pytest
import yaml
from sqlalchemy.engine import make_url

from .contract import (
    BLOB_URL,
    BLOBS_MOUNT,
    GATEWAY,
    GATEWAY_UPSTREAMS,
    GRPC_PORT,
    HEALTHZ_PATH,
    HTTP_PORT,
    K8S_BASE,
    K8S_MIN_VERSION,
    K8S_OVERLAYS,
    KAFKA_BOOTSTRAP,
    METRICS_PORT,
    POSTGRES_INIT_SQL,
    SERVICES,
    TOPICS_CREATE,
    env_prefix,
    run_command,
)
from .render import (
    KustomizeError,
    Manifest,
    container_environment,
    containers,
    expand_references,
    find,
    pod_spec,
    render_kustomization,
    secret_data,
    strategic_merge,
)

K8S_VERSIONS = (K8S_MIN_VERSION, kubernetes_validate.utils.latest_version())


def schema_problems(manifest: Manifest, version: str) -> list[str]:
    """kubernetes-validate in strict mode (unknown fields are errors); a kind without a schema
    is a problem too, not something to skip."""
    try:
        kubernetes_validate.validate(manifest, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{'.'.join(map(str, e.path))}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError as e:
        return [e.message]
    return []


def grpc_probe_problems(deployment: Manifest) -> list[str]:
    """What is wrong with a service Deployment's probes, ports and command."""
    name = deployment["metadata"]["name"]
    problems = []
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    if container.get("command") != run_command(name):
        problems.append(f"{name}: command is not {run_command(name)}")
    for probe in ("readinessProbe", "livenessProbe"):
        grpc = container.get(probe, {}).get("grpc")
        if not grpc or grpc.get("port") != GRPC_PORT or grpc.get("service", "") != "":
            problems.append(f"{name}: {probe} must be a grpc probe on {GRPC_PORT}, service ''")
    ports = {p["containerPort"] for p in container.get("ports", [])}
    if not {GRPC_PORT, METRICS_PORT} <= ports:
        problems.append(f"{name}: container ports {sorted(ports)}")
    return problems


def service_problems(manifests: list[Manifest], deployment: Manifest) -> list[str]:
    """What is wrong with the Service in front of a service Deployment."""
    name = deployment["metadata"]["name"]
    try:
        service = find(manifests, "Service", name)
    except LookupError as e:
        return [str(e)]
    problems = []
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = service["spec"].get("selector", {})
    if not selector or any(pod_labels.get(k) != v for k, v in selector.items()):
        problems.append(f"{name}: Service selector {selector} does not select the pods")
    exposed = exposed_ports(service, deployment)
    for wanted in (GRPC_PORT, METRICS_PORT):
        if exposed.get(wanted) != wanted:
            problems.append(f"{name}: Service must expose {wanted} to container port {wanted}")
    return problems


def exposed_ports(service: Manifest, deployment: Manifest) -> dict[int, int | None]:
    """Service port -> the container port it reaches (named target ports resolved)."""
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    named = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    exposed = {}
    for port in service["spec"]["ports"]:
        target = port.get("targetPort", port["port"])
        exposed[port["port"]] = named.get(target) if isinstance(target, str) else target
    return exposed


def gateway_problems(manifests: list[Manifest], deployment: Manifest) -> list[str]:
    """What is wrong with the gateway's Deployment: command, ports, probes, upstreams, state."""
    problems = []
    spec = pod_spec(deployment)
    (container,) = spec["containers"]
    if container.get("command") != run_command(GATEWAY):
        problems.append(f"command is not {run_command(GATEWAY)}")
    named = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    if not {HTTP_PORT, GRPC_PORT, METRICS_PORT} <= set(named.values()):
        problems.append(f"container ports {sorted(named.values())}")
    for probe in ("startupProbe", "livenessProbe"):
        grpc = container.get(probe, {}).get("grpc")
        if not grpc or grpc.get("port") != GRPC_PORT or grpc.get("service", "") != "":
            problems.append(f"{probe} must be a grpc probe on {GRPC_PORT}, service ''")
    readiness = container.get("readinessProbe", {})
    if "httpGet" in readiness:
        port = readiness["httpGet"]["port"]
        port = named.get(port) if isinstance(port, str) else port
        if readiness["httpGet"].get("path") != HEALTHZ_PATH or port != HTTP_PORT:
            problems.append(f"readinessProbe must ask {HEALTHZ_PATH} on {HTTP_PORT}")
    elif readiness.get("grpc", {}).get("port") != GRPC_PORT:
        problems.append(f"readinessProbe must be {HEALTHZ_PATH} on {HTTP_PORT} or grpc on {GRPC_PORT}")
    env = container_environment(container, manifests)
    for variable, upstream in GATEWAY_UPSTREAMS.items():
        host, _, port = env.get(variable, "").rpartition(":")
        if host != upstream or not port.isdigit():
            problems.append(f"{variable}={env.get(variable)!r}, not {upstream}:<port>")
            continue
        try:
            service = find(manifests, "Service", host)
            target = find(manifests, "Deployment", upstream)
        except LookupError as e:
            problems.append(f"{variable}: {e}")
            continue
        if exposed_ports(service, target).get(int(port)) != GRPC_PORT:
            problems.append(f"{variable}: Service {host} port {port} does not reach its gRPC port")
    if [e["name"] for e in container.get("env", []) if e["name"].endswith("DATABASE_URL")]:
        problems.append("a database URL: the gateway owns no tables")
    kept = [v["name"] for v in spec.get("volumes", []) if set(v) != {"name", "emptyDir"}]
    if kept:
        problems.append(f"volumes {kept}: the gateway keeps nothing")
    return problems


def deployments(manifests: list[Manifest]) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Deployment"}


# --- Kubernetes schemas ------------------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_manifest_is_valid_kubernetes(overlay, version: str):
    name, manifests = overlay
    problems = {f"{m['kind']}/{m['metadata']['name']}": schema_problems(m, version) for m in manifests}
    assert {k: v for k, v in problems.items() if v} == {}, f"{name} against {version}"


@pytest.mark.parametrize(
    "breakage",
    [
        pytest.param(lambda c: c.update(readinessProbes=c.pop("readinessProbe")), id="misspelled-field"),
        pytest.param(lambda c: c["ports"][0].update(containerPort="50051"), id="port-as-string"),
        pytest.param(lambda c: c["readinessProbe"]["grpc"].pop("port"), id="probe-without-port"),
        pytest.param(lambda c: c["resources"]["limits"].update(memory=["4Gi"]), id="quantity-as-list"),
    ],
)
def test_a_broken_copy_is_rejected_by_the_schema(rendered, breakage):
    broken = copy.deepcopy(deployments(rendered["base"])["asr"])
    breakage(broken["spec"]["template"]["spec"]["containers"][0])
    assert schema_problems(broken, K8S_MIN_VERSION), "the schema accepted a broken Deployment"


def test_a_broken_copy_is_rejected_by_the_service_checks(rendered):
    manifests = copy.deepcopy(rendered["base"])
    asr = deployments(manifests)["asr"]
    container = asr["spec"]["template"]["spec"]["containers"][0]
    container["livenessProbe"] = {"tcpSocket": {"port": GRPC_PORT}}  # valid, but not gRPC
    find(manifests, "Service", "asr")["spec"]["selector"] = {"app.kubernetes.io/name": "ars"}
    assert schema_problems(asr, K8S_MIN_VERSION) == []
    assert grpc_probe_problems(asr) and service_problems(manifests, asr)


# --- the services --------------------------------------------------------------------------------


def test_each_service_has_a_deployment_with_grpc_probes_and_a_service(overlay):
    _, manifests = overlay
    found = deployments(manifests)
    assert sorted(found) == sorted((*SERVICES, GATEWAY))
    for name in SERVICES:
        assert grpc_probe_problems(found[name]) == []
    for deployment in found.values():
        assert service_problems(manifests, deployment) == []


def test_every_container_has_resource_requests_and_limits(overlay):
    _, manifests = overlay
    for m in manifests:
        for c in containers(m):
            resources = c.get("resources", {})
            for section in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(section, {})), (
                    f"{m['kind']}/{m['metadata']['name']}: {c['name']} needs {section}"
                )


def test_service_pods_run_as_non_root(overlay):
    _, manifests = overlay
    for name, deployment in deployments(manifests).items():
        spec = pod_spec(deployment)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec.get("enableServiceLinks") is False, (
            f"{name}: service links add {name.upper()}_* variables beside the settings"
        )
        for c in spec["containers"]:
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, name


def test_every_reference_resolves(overlay):
    """ConfigMaps, Secrets and keys, claims and governing Services that pods refer to exist."""
    _, manifests = overlay
    for m in manifests:
        spec = pod_spec(m)
        if spec is None:
            continue
        for c in containers(m):
            container_environment(c, manifests)  # raises on a missing ConfigMap/Secret/key
        for volume in spec.get("volumes", []):
            if "persistentVolumeClaim" in volume:
                find(manifests, "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
            if "configMap" in volume:
                find(manifests, "ConfigMap", volume["configMap"]["name"])
            if "secret" in volume:
                find(manifests, "Secret", volume["secret"]["secretName"])
        templates = {t["metadata"]["name"] for t in m["spec"].get("volumeClaimTemplates", [])}
        declared = {v["name"] for v in spec.get("volumes", [])} | templates
        for c in containers(m):
            for mount in c.get("volumeMounts", []):
                assert mount["name"] in declared, f"{m['metadata']['name']}: {mount['name']}"
        if m["kind"] == "StatefulSet":
            governing = find(manifests, "Service", m["spec"]["serviceName"])
            assert governing["spec"].get("clusterIP") == "None", "StatefulSets need a headless one"


def test_each_service_reads_its_own_database_url_from_the_secret(overlay):
    _, manifests = overlay
    secret_names = {}
    found = deployments(manifests)
    for name in SERVICES:
        (container,) = pod_spec(found[name])["containers"]
        variable = env_prefix(name) + "DATABASE_URL"
        (entry,) = [e for e in container["env"] if e["name"] == variable]
        secret_names[name] = entry["valueFrom"]["secretKeyRef"]["name"]
        url = make_url(container_environment(container, manifests)[variable])
        assert url.drivername == "postgresql+psycopg"
        assert (url.host, url.port, url.database) == ("postgres", 5432, name)
        others = [e["name"] for e in container["env"] if e["name"].endswith("_DATABASE_URL")]
        assert others == [variable], f"{name} must see no other service's database"
    created = re.findall(r"^CREATE DATABASE (\w+);", POSTGRES_INIT_SQL.read_text(), re.M)
    assert sorted(created) == sorted(SERVICES)
    assert len(set(secret_names.values())) == 1


def test_common_settings_are_in_the_configmap_and_secrets_are_not(overlay):
    _, manifests = overlay
    config = find(manifests, "ConfigMap", "voxloop-config")["data"]
    assert config["VOXLOOP_KAFKA_BOOTSTRAP"] == KAFKA_BOOTSTRAP
    assert config["VOXLOOP_GRPC_PORT"] == str(GRPC_PORT)
    assert config["VOXLOOP_METRICS_PORT"] == str(METRICS_PORT)
    assert config["VOXLOOP_BLOB_URL"] == BLOB_URL
    assert all(key.startswith("VOXLOOP_") for key in config)
    assert not any(word in key for key in config for word in ("TOKEN", "DATABASE_URL", "PASSWORD"))
    secret = secret_data(find(manifests, "Secret", "voxloop-secrets"))
    assert isinstance(json.loads(secret["auth-tokens"]), list), "a JSON list of token entries"
    found = deployments(manifests)
    for name in SERVICES:
        deployment = found[name]
        (container,) = pod_spec(deployment)["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["VOXLOOP_AUTH_TOKENS"]["valueFrom"]["secretKeyRef"]["key"] == "auth-tokens"
        mounts = {v["mountPath"]: v["name"] for v in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
        claim = volumes[mounts[BLOBS_MOUNT]]["persistentVolumeClaim"]["claimName"]
        assert claim == "voxloop-blobs", f"{name} shares the blobs volume"


def test_the_topics_job_runs_the_topics_command(overlay):
    _, manifests = overlay
    (job,) = [m for m in manifests if m["kind"] == "Job"]
    (container,) = pod_spec(job)["containers"]
    env = container_environment(container, manifests)
    assert [expand_references(arg, env) for arg in container["command"]] == TOPICS_CREATE
    assert pod_spec(job)["restartPolicy"] in {"OnFailure", "Never"}
    assert job["spec"]["backoffLimit"] >= 3, "Kafka may still be starting: retry"


def test_kafka_is_a_single_kraft_node_behind_a_headless_service(overlay):
    _, manifests = overlay
    kafka = find(manifests, "StatefulSet", "kafka")
    (container,) = pod_spec(kafka)["containers"]
    assert re.fullmatch(r"apache/kafka:\d+\.\d+\.\d+", container["image"])
    env = container_environment(container, manifests)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in key for key in env)
    assert kafka["spec"]["replicas"] == 1 == len(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(","))
    service = find(manifests, "Service", kafka["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None"
    # The broker advertises its pod's stable name under the headless Service...
    advertised = f"PLAINTEXT://kafka-0.{service['metadata']['name']}:9092"
    assert advertised in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    # ...and the services bootstrap through that Service.
    assert f"{service['metadata']['name']}:9092" == KAFKA_BOOTSTRAP
    assert 9092 in {p["port"] for p in service["spec"]["ports"]}
    mounts = {v["mountPath"] for v in container["volumeMounts"]}
    assert env["KAFKA_LOG_DIRS"] in mounts
    assert pod_spec(kafka).get("enableServiceLinks") is False, "KAFKA_* variables become settings"


def test_postgres_runs_the_same_init_script_as_compose(overlay):
    _, manifests = overlay
    postgres = find(manifests, "StatefulSet", "postgres")
    (container,) = pod_spec(postgres)["containers"]
    assert re.fullmatch(r"postgres:15(\.\d+)*(-[a-z0-9]+)?", container["image"])
    init = find(manifests, "ConfigMap", "postgres-init")["data"]
    assert list(init.values()) == [POSTGRES_INIT_SQL.read_text()]
    mounts = {v["name"]: v["mountPath"] for v in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec(postgres)["volumes"]}
    (init_volume,) = [n for n, v in volumes.items() if v.get("configMap", {}).get("name") == "postgres-init"]
    assert mounts[init_volume] == "/docker-entrypoint-initdb.d"
    find(manifests, "Service", "postgres")


def test_images_are_pinned(overlay):
    _, manifests = overlay
    for m in manifests:
        for c in containers(m):
            assert re.search(r":[\w.-]+$", c["image"]) and not c["image"].endswith(":latest"), (
                f"{m['metadata']['name']}: {c['image']}"
            )


@pytest.mark.parametrize("name", SERVICES)
def test_the_service_accepts_its_environment(overlay, load_service_settings, name: str):
    _, manifests = overlay
    (container,) = pod_spec(deployments(manifests)[name])["containers"]
    settings = load_service_settings(name, container_environment(container, manifests, f"{name}-0"))
    assert settings.grpc_port == GRPC_PORT
    assert settings.metrics_port == METRICS_PORT
    assert settings.kafka_bootstrap == KAFKA_BOOTSTRAP
    assert settings.instance_id == f"{name}-0"
    assert make_url(settings.resolved_database_url).database == name


# --- the dev overlay -----------------------------------------------------------------------------


def test_dev_overlay_runs_one_local_replica_of_each_service(rendered):
    base, dev = deployments(rendered["base"]), deployments(rendered["dev"])
    for name in SERVICES:
        assert base[name]["spec"]["replicas"] >= 2, "the base runs replicas that share a group"
        assert dev[name]["spec"]["replicas"] == 1
        assert pod_spec(dev[name])["containers"][0]["image"] == "voxloop:dev"
    pvc = find(rendered["dev"], "PersistentVolumeClaim", "voxloop-blobs")
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert find(rendered["base"], "PersistentVolumeClaim", "voxloop-blobs")["spec"]["accessModes"] == [
        "ReadWriteMany"
    ]
    config = find(rendered["dev"], "ConfigMap", "voxloop-config")["data"]
    assert config["VOXLOOP_LOG_FORMAT"] == "console"
    assert config["VOXLOOP_KAFKA_BOOTSTRAP"] == KAFKA_BOOTSTRAP, "a patch merges, not replaces"


def test_everything_lands_in_one_namespace(overlay):
    _, manifests = overlay
    (namespace,) = [m for m in manifests if m["kind"] == "Namespace"]
    for m in manifests:
        if m["kind"] != "Namespace":
            assert m["metadata"]["namespace"] == namespace["metadata"]["name"]


# --- the renderer itself -------------------------------------------------------------------------


def test_renderer_refuses_kustomize_features_it_does_not_implement(tmp_path):
    (tmp_path / "kustomization.yaml").write_text(
        "resources: [../base]\nconfigMapGenerator:\n  - name: x\n    literals: [a=b]\n"
    )
    with pytest.raises(KustomizeError, match="configMapGenerator"):
        render_kustomization(tmp_path)


def test_renderer_refuses_a_patch_that_matches_nothing(tmp_path):
    (tmp_path / "kustomization.yaml").write_text(f"resources: [{K8S_BASE}]\npatches:\n  - path: patch.yaml\n")
    (tmp_path / "patch.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: asr-typo}\nspec: {replicas: 3}\n"
    )
    with pytest.raises(KustomizeError, match="matches 0 resources"):
        render_kustomization(tmp_path)


def test_strategic_merge_merges_named_lists_and_replaces_others():
    base = {
        "containers": [{"name": "a", "image": "x", "args": ["1"]}, {"name": "b"}],
        "accessModes": ["ReadWriteMany"],
    }
    patch = {"containers": [{"name": "a", "args": ["2"]}], "accessModes": ["ReadWriteOnce"]}
    assert strategic_merge(base, patch) == {
        "containers": [{"name": "a", "image": "x", "args": ["2"]}, {"name": "b"}],
        "accessModes": ["ReadWriteOnce"],
    }


def test_annotate_and_feedback_share_a_seeded_classifier_registry(overlay):
    _, manifests = overlay
    found = deployments(manifests)
    claims = {m["metadata"]["name"] for m in manifests if m["kind"] == "PersistentVolumeClaim"}
    assert "voxloop-classifiers" in claims
    for name in ("annotate", "feedback"):
        spec = pod_spec(found[name])
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["classifiers"]["persistentVolumeClaim"]["claimName"] == "voxloop-classifiers"
        (main,) = [c for c in spec["containers"] if c["name"] == name]
        assert {"name": "classifiers", "mountPath": "/opt/voxloop/models/annotate"} in [
            {k: m[k] for k in ("name", "mountPath")} for m in main["volumeMounts"]
        ]
        (seed,) = spec["initContainers"]
        assert "cp -Rn /opt/voxloop/models/annotate/. /registry/" in seed["command"][-1], name


# --- the gateway (no database, no topic: it serves the page and forwards calls) ----------------


def test_every_manifest_file_is_rendered(overlay):
    """A file under k8s/ that no kustomization lists is never applied nor validated."""
    name, _ = overlay
    directory = K8S_OVERLAYS[name]
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    used = {(directory / entry).resolve() for entry in spec.get("resources", [])}
    used |= {(directory / patch["path"]).resolve() for patch in spec.get("patches", [])}
    files = {p.resolve() for p in directory.rglob("*.yaml") if p.name != "kustomization.yaml"}
    assert sorted(str(p) for p in files - used) == []


def test_the_gateway_is_a_stateless_deployment_behind_a_service(overlay):
    _, manifests = overlay
    gateway = deployments(manifests)[GATEWAY]
    assert gateway_problems(manifests, gateway) == []
    assert service_problems(manifests, gateway) == []
    exposed = exposed_ports(find(manifests, "Service", GATEWAY), gateway)
    assert exposed.get(HTTP_PORT) == HTTP_PORT, "the Service serves the page on 8080"


def test_a_broken_gateway_is_rejected_by_the_gateway_checks(rendered):
    manifests = copy.deepcopy(rendered["base"])
    gateway = deployments(manifests)[GATEWAY]
    container = pod_spec(gateway)["containers"][0]
    container["readinessProbe"] = {"httpGet": {"path": "/health", "port": "http"}}
    (target,) = [e for e in container["env"] if e["name"] == "GATEWAY_DISPATCH_TARGET"]
    target["value"] = "dispatch:50054"  # the compose stack's published port, not the Service's
    pod_spec(gateway)["volumes"].append({"name": "blobs", "persistentVolumeClaim": {"claimName": "x"}})
    assert schema_problems(gateway, K8S_MIN_VERSION) == []
    problems = gateway_problems(manifests, gateway)
    assert len(problems) == 3, problems


def test_the_gateway_runs_replicas_with_the_services_security_context(overlay):
    name, manifests = overlay
    found = deployments(manifests)
    gateway, dispatch = pod_spec(found[GATEWAY]), pod_spec(found["dispatch"])
    if name == "base":
        assert found[GATEWAY]["spec"]["replicas"] >= 2, "stateless: replicas share nothing"
    without_fs_group = {k: v for k, v in dispatch["securityContext"].items() if k != "fsGroup"}
    assert {k: v for k, v in gateway["securityContext"].items() if k != "fsGroup"} == without_fs_group
    (container,) = gateway["containers"]
    assert container["securityContext"] == dispatch["containers"][0]["securityContext"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert gateway["terminationGracePeriodSeconds"] >= 10, "in-flight calls finish on SIGTERM"


def test_the_gateway_reads_only_its_own_token_from_the_secret(overlay):
    _, manifests = overlay
    (container,) = pod_spec(deployments(manifests)[GATEWAY])["containers"]
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]["key"]
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert refs == {"GATEWAY_QUALITY_TOKEN": "gateway-quality-token"}
    assert not container.get("envFrom", []) or all("secretRef" not in s for s in container["envFrom"])


def test_quality_accepts_the_gateway_token_and_every_service_token(overlay, load_service_settings):
    _, manifests = overlay
    found = deployments(manifests)
    secret = secret_data(find(manifests, "Secret", "voxloop-secrets"))
    common = {entry["sha256"] for entry in json.loads(secret["auth-tokens"])}
    (gateway,) = pod_spec(found[GATEWAY])["containers"]
    token = container_environment(gateway, manifests)["GATEWAY_QUALITY_TOKEN"]
    assert token, "the gateway needs a token for quality's linguist figures"
    (quality,) = pod_spec(found["quality"])["containers"]
    settings = load_service_settings("quality", container_environment(quality, manifests, "quality-0"))
    accepted = {spec.sha256: spec for spec in settings.auth_tokens}
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert digest in accepted, "quality must accept the gateway's token"
    assert accepted[digest].roles == [], "the gateway's token needs no role"
    assert common <= set(accepted), "quality still accepts every service token"
    for name in SERVICES:
        if name != "quality":
            (container,) = pod_spec(found[name])["containers"]
            assert "QUALITY_AUTH_TOKENS" not in container_environment(container, manifests), name


def test_the_gateway_accepts_its_environment(overlay, load_service_settings):
    _, manifests = overlay
    (container,) = pod_spec(deployments(manifests)[GATEWAY])["containers"]
    env = container_environment(container, manifests, "gateway-0")
    settings = load_service_settings(GATEWAY, env)
    assert settings.grpc_port == GRPC_PORT
    assert settings.metrics_port == METRICS_PORT
    assert settings.http_port == HTTP_PORT
    assert settings.instance_id == "gateway-0"
    assert settings.dispatch_target == f"dispatch:{GRPC_PORT}"
    assert settings.quality_target == f"quality:{GRPC_PORT}"
    assert (settings.static_dir / "index.html").is_file()


def test_dev_overlay_runs_one_local_gateway(rendered):
    dev = deployments(rendered["dev"])[GATEWAY]
    assert dev["spec"]["replicas"] == 1
    assert pod_spec(dev)["containers"][0]["image"] == "voxloop:dev"
