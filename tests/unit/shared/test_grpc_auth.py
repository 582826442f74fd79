"""Auth interceptor on a real gRPC server: tokens, roles, public health, metrics per code."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import REGISTRY

from protos import dispatch_pb2, dispatch_pb2_grpc
from shared.grpc.auth import AccessPolicy, StaticTokens, current_principal, hash_token
from shared.grpc.server import GrpcService, RunningServer, start_server
from shared.settings import TokenSpec

STATS = "/voxloop.v1.DispatchService/GetQueueStats"


class EchoDispatch(dispatch_pb2_grpc.DispatchServiceServicer):
    def GetQueueStats(self, request, context):  # type: ignore[no-untyped-def]
        return dispatch_pb2.QueueStats(by_state={current_principal().subject: 1})

    def GetTask(self, request, context):  # type: ignore[no-untyped-def]
        return dispatch_pb2.Task(task_id=current_principal().subject)


@pytest.fixture
def server() -> Iterator[RunningServer]:
    tokens = StaticTokens(
        [
            TokenSpec(sha256=hash_token("lead-token"), subject="lea", roles=["qa_lead"]),
            TokenSpec(sha256=hash_token("annotator-token"), subject="ann", roles=["annotator"]),
        ]
    )
    running = start_server(
        "test",
        [
            GrpcService.of(
                dispatch_pb2,
                "DispatchService",
                EchoDispatch(),
                dispatch_pb2_grpc.add_DispatchServiceServicer_to_server,
            )
        ],
        "127.0.0.1",
        0,
        AccessPolicy(method_roles={STATS: frozenset({"qa_lead"})}),
        tokens,
    )
    yield running
    running.stop(0)


def call(server: RunningServer, token: str | None, method: str = "stats"):  # type: ignore[no-untyped-def]
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = dispatch_pb2_grpc.DispatchServiceStub(channel)
        if method == "stats":
            return stub.GetQueueStats(dispatch_pb2.QueueStatsRequest(), metadata=metadata, timeout=5)
        return stub.GetTask(dispatch_pb2.GetTaskRequest(), metadata=metadata, timeout=5)


def test_roles_and_tokens(server: RunningServer) -> None:
    assert dict(call(server, "lead-token").by_state) == {"lea": 1}
    assert call(server, "annotator-token", "task").task_id == "ann"
    for token, code in [
        (None, grpc.StatusCode.UNAUTHENTICATED),
        ("forged", grpc.StatusCode.UNAUTHENTICATED),
        ("annotator-token", grpc.StatusCode.PERMISSION_DENIED),
    ]:
        with pytest.raises(grpc.RpcError) as err:
            call(server, token)
        assert err.value.code() == code
    denied = REGISTRY.get_sample_value(
        "voxloop_grpc_requests_total", {"service": "test", "method": STATS, "code": "PERMISSION_DENIED"}
    )
    assert denied == 1


def test_health_needs_no_token(server: RunningServer) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
