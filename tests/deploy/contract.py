"""What the services promise the deployment, in one place (see the project's deployment brief)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
POSTGRES_INIT_SQL = REPO_ROOT / "deploy" / "postgres" / "init-databases.sql"
K8S_BASE = REPO_ROOT / "k8s" / "base"
K8S_OVERLAYS = {"base": K8S_BASE, "dev": REPO_ROOT / "k8s" / "overlays" / "dev"}

# The six stateful services: each owns a database and consumes Kafka.
SERVICES = ("ingest", "asr", "quality", "dispatch", "annotate", "feedback")
# The seventh process: the linguists' browser client on HTTP and its JSON bridge to dispatch
# (and quality). No database, no topic, no volume; gRPC health and metrics like the others.
GATEWAY = "gateway"
HTTP_PORT = 8080
HEALTHZ_PATH = "/healthz"
# Where the gateway forwards to, as the deployments name the two services (variable: service).
GATEWAY_UPSTREAMS = {"GATEWAY_DISPATCH_TARGET": "dispatch", "GATEWAY_QUALITY_TARGET": "quality"}
GRPC_PORT = 50051
METRICS_PORT = 9100
KAFKA_BOOTSTRAP = "kafka:9092"
BLOB_URL = "file:///data/blobs"
BLOBS_MOUNT = "/data/blobs"
HEALTHCHECK = ["python", "-m", "shared.grpc.healthcheck", f"127.0.0.1:{GRPC_PORT}"]
TOPICS_CREATE = ["voxloop", "topics", "create", "--bootstrap", KAFKA_BOOTSTRAP]

# Oldest Kubernetes the manifests target (native gRPC probes are GA since 1.27; 1.30 is a
# conservative floor), checked together with the newest schemas kubernetes-validate ships.
K8S_MIN_VERSION = "1.30"


def env_prefix(service: str) -> str:
    return service.upper() + "_"


def run_command(service: str) -> list[str]:
    return ["python", "-m", f"services.{service}"]
