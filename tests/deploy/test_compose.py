"""docker-compose.yml: valid against the Compose Specification, and wired as the services need."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections import Counter
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from .contract import (
    BLOB_URL,
    BLOBS_MOUNT,
    GATEWAY,
    GATEWAY_UPSTREAMS,
    GRPC_PORT,
    HEALTHCHECK,
    HTTP_PORT,
    KAFKA_BOOTSTRAP,
    METRICS_PORT,
    POSTGRES_INIT_SQL,
    REPO_ROOT,
    SERVICES,
    TOPICS_CREATE,
    env_prefix,
    run_command,
)
from .render import interpolate, substitute

INFRA = ("kafka", "postgres", "topics-init")


def schema_errors(validator: Any, document: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def parse_port(spec: str | dict[str, Any]) -> tuple[str, int, int, str]:
    """(host_ip, published, target, protocol) from the short or long port syntax."""
    if isinstance(spec, dict):
        return (
            spec.get("host_ip", "0.0.0.0"),
            int(spec["published"]),
            int(spec["target"]),
            spec.get("protocol", "tcp"),
        )
    match = re.fullmatch(r"(?:(?P<ip>[\d.]+):)?(?P<pub>\d+):(?P<target>\d+)(?:/(?P<proto>\w+))?", spec)
    assert match, f"port {spec!r}: use HOST_IP:PUBLISHED:TARGET (ranges are not used here)"
    return (
        match["ip"] or "0.0.0.0",
        int(match["pub"]),
        int(match["target"]),
        match["proto"] or "tcp",
    )


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


# --- the Compose Specification ---------------------------------------------------------------


def test_file_matches_the_compose_specification(compose: dict[str, Any], compose_validator: Any):
    assert schema_errors(compose_validator, compose) == []


def test_file_matches_with_variables_set(compose_raw: dict[str, Any], compose_validator: Any):
    env = {"VOXLOOP_TAG": "1.2.3", "POSTGRES_PASSWORD": "s3cret", "VOXLOOP_AUTH_TOKENS": "[]"}
    document = interpolate(compose_raw, env)
    assert schema_errors(compose_validator, document) == []
    assert document["services"]["asr"]["image"] == "voxloop:1.2.3"
    url = make_url(environment(document["services"]["asr"])["ASR_DATABASE_URL"])
    assert url.password == "s3cret"


@pytest.mark.parametrize(
    "breakage",
    [
        pytest.param(
            lambda d: d["services"]["asr"]["depends_on"]["kafka"].update(condition="service_healty"),
            id="misspelled-condition",
        ),
        pytest.param(
            lambda d: d["services"]["ingest"]["healthcheck"].update(tset=["CMD"]),
            id="unknown-healthcheck-key",
        ),
        pytest.param(
            lambda d: d["services"]["dispatch"].update(ports={"50054": 50051}),
            id="ports-as-mapping",
        ),
        pytest.param(lambda d: d["services"]["kafka"].update(restart=["always"]), id="restart-not-a-string"),
        pytest.param(lambda d: d.update(servics={}), id="unknown-top-level-key"),
    ],
)
def test_a_broken_copy_is_rejected(compose: dict[str, Any], compose_validator: Any, breakage):
    broken = copy.deepcopy(compose)
    breakage(broken)
    assert schema_errors(compose_validator, broken), "the schema accepted a broken file"


# --- what the services need ------------------------------------------------------------------


def test_the_six_services_run_their_module_from_one_image(compose: dict[str, Any]):
    services = compose["services"]
    assert set(SERVICES) <= set(services)
    images = {services[name]["image"] for name in (*SERVICES, "topics-init")}
    assert images == {"voxloop:dev"}, "one image for every service and the topics job"
    for name in SERVICES:
        assert services[name]["command"] == run_command(name)
        assert services[name]["build"]["context"] == "."


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_has_the_grpc_healthcheck(compose: dict[str, Any], name: str):
    check = compose["services"][name]["healthcheck"]
    assert not check.get("disable", False)
    assert check["test"] == ["CMD", *HEALTHCHECK]
    assert check.get("retries", 3) >= 1


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_waits_for_healthy_infrastructure_and_topics(compose: dict[str, Any], name: str):
    depends_on = compose["services"][name]["depends_on"]
    assert isinstance(depends_on, dict), "use the long syntax: conditions matter here"
    assert depends_on["kafka"]["condition"] == "service_healthy"
    assert depends_on["postgres"]["condition"] == "service_healthy"
    assert depends_on["topics-init"]["condition"] == "service_completed_successfully"


def test_infrastructure_that_services_wait_on_has_healthchecks(compose: dict[str, Any]):
    for name in ("kafka", "postgres"):
        check = compose["services"][name]["healthcheck"]
        assert check["test"] and not check.get("disable", False), name


def test_topics_init_creates_topics_once_kafka_is_healthy(compose: dict[str, Any]):
    job = compose["services"]["topics-init"]
    assert job["command"] == TOPICS_CREATE
    assert job["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert job.get("restart", "no") == "no", "a one-shot must not be restarted"


def test_kafka_is_pinned_apache_kafka_in_kraft_mode(compose: dict[str, Any]):
    kafka = compose["services"]["kafka"]
    assert re.fullmatch(r"apache/kafka:\d+\.\d+\.\d+", kafka["image"])
    env = environment(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in key for key in env)
    assert env["CLUSTER_ID"]
    # What the services bootstrap with must be what the broker advertises to containers.
    assert f"PLAINTEXT://{KAFKA_BOOTSTRAP}" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    data_dir = env["KAFKA_LOG_DIRS"]
    assert any(v.split(":")[1] == data_dir for v in kafka["volumes"]), "broker data on a volume"


def test_postgres_15_creates_one_database_per_service(compose: dict[str, Any]):
    postgres = compose["services"]["postgres"]
    assert re.fullmatch(r"postgres:15(\.\d+)*(-[a-z0-9]+)?", postgres["image"])
    mounts = {v.split(":")[1]: v.split(":")[0] for v in postgres["volumes"]}
    init = [target for target in mounts if target.startswith("/docker-entrypoint-initdb.d/")]
    assert len(init) == 1, "the init script is mounted into the image's init folder"
    assert (REPO_ROOT / mounts[init[0]]).resolve() == POSTGRES_INIT_SQL
    created = re.findall(r"^CREATE DATABASE (\w+);", POSTGRES_INIT_SQL.read_text(), re.M)
    assert sorted(created) == sorted(SERVICES)


def test_each_service_has_its_own_database(compose: dict[str, Any]):
    databases = {}
    for name in SERVICES:
        env = environment(compose["services"][name])
        key = env_prefix(name) + "DATABASE_URL"
        assert key in env, f"{name} needs {key}"
        assert "VOXLOOP_DATABASE_URL" not in env, "a shared URL would put services in one db"
        url = make_url(env[key])
        assert url.drivername == "postgresql+psycopg"
        assert (url.host, url.port) == ("postgres", 5432)
        databases[name] = url.database
    assert databases == {name: name for name in SERVICES}


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_gets_the_common_settings(compose: dict[str, Any], name: str):
    service = compose["services"][name]
    env = environment(service)
    assert env["VOXLOOP_KAFKA_BOOTSTRAP"] == KAFKA_BOOTSTRAP
    assert env["VOXLOOP_GRPC_PORT"] == str(GRPC_PORT)
    assert env["VOXLOOP_METRICS_PORT"] == str(METRICS_PORT)
    assert env["VOXLOOP_BLOB_URL"] == BLOB_URL
    assert env["VOXLOOP_LOG_FORMAT"] in {"json", "console"}
    mounts = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
    assert mounts.get(BLOBS_MOUNT) == "blobs", "every service shares the blobs volume"
    assert "blobs" in compose["volumes"]


def test_secrets_come_from_the_environment(compose_raw: dict[str, Any]):
    for name in SERVICES:
        env = environment(compose_raw["services"][name])
        assert env["VOXLOOP_AUTH_TOKENS"].startswith("${VOXLOOP_AUTH_TOKENS")
        assert "${POSTGRES_PASSWORD" in env[env_prefix(name) + "DATABASE_URL"]
    assert environment(compose_raw["services"]["postgres"])["POSTGRES_PASSWORD"].startswith(
        "${POSTGRES_PASSWORD"
    )


def test_published_ports_are_local_and_do_not_collide(compose: dict[str, Any]):
    published = []
    for name, service in compose["services"].items():
        for spec in service.get("ports", []):
            host_ip, port, target, protocol = parse_port(spec)
            assert host_ip == "127.0.0.1", f"{name}: publish on loopback only"
            published.append((port, protocol))
            if name in SERVICES:
                assert target in {GRPC_PORT, METRICS_PORT}, f"{name}: unexpected port {target}"
    duplicates = [p for p, count in Counter(published).items() if count > 1]
    assert duplicates == []
    for name in SERVICES:
        targets = {parse_port(p)[2] for p in compose["services"][name]["ports"]}
        assert targets == {GRPC_PORT, METRICS_PORT}, name


@pytest.mark.parametrize("name", SERVICES)
def test_the_service_accepts_its_environment(compose: dict[str, Any], load_service_settings, name: str):
    settings = load_service_settings(name, environment(compose["services"][name]))
    assert settings.grpc_port == GRPC_PORT
    assert settings.metrics_port == METRICS_PORT
    assert settings.kafka_bootstrap == KAFKA_BOOTSTRAP
    assert make_url(settings.resolved_database_url).database == name
    assert settings.resolved_blob_url == BLOB_URL


def test_annotate_and_feedback_share_the_classifier_registry(compose: dict[str, Any]):
    # feedback promotes a better classifier into the registry; annotate reloads it from there.
    services = compose["services"]
    mounts = {name: services[name]["volumes"] for name in ("annotate", "feedback")}
    for name, volumes in mounts.items():
        assert "classifiers:/opt/voxloop/models/annotate" in volumes, name
        assert "blobs:/data/blobs" in volumes, name
    assert "classifiers" in compose["volumes"]


# --- the gateway (no database, no topic: it serves the page and forwards calls) --------------


def test_the_gateway_runs_its_module_from_the_same_image(compose: dict[str, Any]):
    gateway = compose["services"][GATEWAY]
    assert gateway["image"] == compose["services"]["dispatch"]["image"] == "voxloop:dev"
    assert gateway["build"]["context"] == "."
    assert gateway["command"] == run_command(GATEWAY)
    assert gateway["restart"] == "unless-stopped"
    assert gateway.get("init") is True


def test_the_gateway_has_the_grpc_healthcheck(compose: dict[str, Any]):
    check = compose["services"][GATEWAY]["healthcheck"]
    assert not check.get("disable", False)
    assert check["test"] == ["CMD", *HEALTHCHECK]


def test_the_gateway_waits_for_healthy_dispatch_and_quality(compose: dict[str, Any]):
    depends_on = compose["services"][GATEWAY]["depends_on"]
    assert isinstance(depends_on, dict), "use the long syntax: conditions matter here"
    assert {name: d["condition"] for name, d in depends_on.items()} == {
        upstream: "service_healthy" for upstream in GATEWAY_UPSTREAMS.values()
    }


def test_the_gateway_forwards_to_dispatch_and_quality(compose: dict[str, Any]):
    services = compose["services"]
    env = environment(services[GATEWAY])
    for variable, upstream in GATEWAY_UPSTREAMS.items():
        host, _, port = env[variable].rpartition(":")
        assert host == upstream and upstream in services, f"{variable}={env[variable]}"
        # The port inside the network, where the upstream listens (not its published one).
        assert environment(services[upstream])["VOXLOOP_GRPC_PORT"] == port == str(GRPC_PORT)


def test_the_gateway_has_no_database_no_topic_and_no_volume(compose: dict[str, Any]):
    gateway = compose["services"][GATEWAY]
    env = environment(gateway)
    assert not [key for key in env if key.endswith("DATABASE_URL")]
    assert gateway.get("volumes", []) == [], "no blobs, no registry: it only forwards calls"
    assert not {"kafka", "postgres", "topics-init"} & set(gateway["depends_on"])
    created = re.findall(r"^CREATE DATABASE (\w+);", POSTGRES_INIT_SQL.read_text(), re.M)
    assert GATEWAY not in created


def test_the_gateway_publishes_its_page_and_the_usual_ports(compose: dict[str, Any]):
    ports = [parse_port(p) for p in compose["services"][GATEWAY]["ports"]]
    assert {target for _, _, target, _ in ports} == {HTTP_PORT, GRPC_PORT, METRICS_PORT}
    assert ("127.0.0.1", HTTP_PORT, HTTP_PORT, "tcp") in ports, "the page on 127.0.0.1:8080"
    env = environment(compose["services"][GATEWAY])
    assert env["GATEWAY_HTTP_PORT"] == str(HTTP_PORT)


def test_the_gateway_accepts_its_environment(compose: dict[str, Any], load_service_settings):
    settings = load_service_settings(GATEWAY, environment(compose["services"][GATEWAY]))
    assert settings.grpc_port == GRPC_PORT
    assert settings.metrics_port == METRICS_PORT
    assert settings.http_port == HTTP_PORT
    assert settings.dispatch_target == f"dispatch:{GRPC_PORT}"
    assert settings.quality_target == f"quality:{GRPC_PORT}"
    assert settings.quality_token == "", "no token unless one is configured"


def test_the_gateway_token_comes_from_the_environment(compose_raw: dict[str, Any]):
    services = compose_raw["services"]
    assert environment(services[GATEWAY])["GATEWAY_QUALITY_TOKEN"].startswith("${GATEWAY_QUALITY_TOKEN")
    tokens = environment(services["quality"])["QUALITY_AUTH_TOKENS"]
    assert tokens.startswith("${QUALITY_AUTH_TOKENS"), tokens
    others = [name for name in (*SERVICES, GATEWAY) if name != "quality"]
    assert not [n for n in others if "QUALITY_AUTH_TOKENS" in environment(services[n])]


def test_quality_accepts_the_gateway_token_and_every_service_token(
    compose_raw: dict[str, Any], load_service_settings
):
    token = "vxl_test-gateway"
    admin = {"sha256": hashlib.sha256(b"vxl_test-admin").hexdigest(), "subject": "a", "roles": ["admin"]}
    gateway = {"sha256": hashlib.sha256(token.encode()).hexdigest(), "subject": "gateway", "roles": []}
    env = {
        "VOXLOOP_AUTH_TOKENS": json.dumps([admin]),
        "QUALITY_AUTH_TOKENS": json.dumps([admin, gateway]),
        "GATEWAY_QUALITY_TOKEN": token,
    }
    services = interpolate(compose_raw, env)["services"]
    quality = load_service_settings("quality", environment(services["quality"]))
    assert {t.sha256 for t in quality.auth_tokens} == {admin["sha256"], gateway["sha256"]}
    sent = load_service_settings(GATEWAY, environment(services[GATEWAY])).quality_token
    assert hashlib.sha256(sent.encode()).hexdigest() == gateway["sha256"]
    dispatch = load_service_settings("dispatch", environment(services["dispatch"]))
    assert [t.sha256 for t in dispatch.auth_tokens] == [admin["sha256"]], "only quality knows it"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param({}, "[]", id="nothing-set"),
        pytest.param({"VOXLOOP_AUTH_TOKENS": '[{"a": 1}]'}, '[{"a": 1}]', id="common-list"),
        pytest.param({"VOXLOOP_AUTH_TOKENS": "[1]", "QUALITY_AUTH_TOKENS": ""}, "[1]", id="empty-own"),
        pytest.param({"VOXLOOP_AUTH_TOKENS": "[1]", "QUALITY_AUTH_TOKENS": "[2]"}, "[2]", id="own-list"),
    ],
)
def test_quality_falls_back_to_every_service_tokens(compose_raw: dict[str, Any], env, expected):
    """Without QUALITY_AUTH_TOKENS, quality accepts what every service accepts (and the
    gateway's linguist-figure calls are refused), as before the gateway existed."""
    quality = interpolate(compose_raw, env)["services"]["quality"]
    assert environment(quality)["QUALITY_AUTH_TOKENS"] == expected


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A:-${B:-x}}", {}, "x"),
        ("${A:-${B:-x}}", {"B": "b"}, "b"),
        ("${A:-${B:-x}}", {"A": "a", "B": "b"}, "a"),
        ("${A-x}", {"A": ""}, ""),
        ("${A:-x}", {"A": ""}, "x"),
        ("$$A-$A-${A}", {"A": "1"}, "$A-1-1"),
        # A default ends at its first plain "}"; what follows is text: no JSON defaults.
        ('${A:-{"k": 1}}', {}, '{"k": 1}'),
        ('${A:-[{"k": 1}]}', {}, '[{"k": 1]}'),
    ],
)
def test_interpolation_follows_compose(text: str, env: dict[str, str], expected: str):
    assert substitute(text, env) == expected


@pytest.mark.parametrize("text", ["${A:?needed}", "${A", "a $ b", "${1A}"])
def test_interpolation_errors_as_compose_does(text: str):
    with pytest.raises(ValueError):
        substitute(text, {})
